package cni

import (
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestLoadConfErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		args string
		code uint // 0: no error
	}{
		{"valid", `{"cniVersion":"1.1.0","name":"n","type":"vxswitch","vni":100,"ipam":{"type":"host-local"}}`, "", 0},
		{"ipam type defaults to host-local", `{"name":"n","vni":0,"ipam":{}}`, "", 0},
		{"vni max", `{"name":"n","vni":16777215,"ipam":{}}`, "", 0},
		{"cni.dev keys injected by the runtime", `{"name":"n","vni":1,"ipam":{},"cni.dev/valid-attachments":[]}`, "", 0},
		{"CNI_ARGS MAC", `{"name":"n","vni":1,"ipam":{}}`, "IgnoreUnknown=1;MAC=02:00:00:00:00:01", 0},
		{"not JSON", `{"vni":`, "", types.ErrDecodingFailure},
		{"JSON array", `[1]`, "", types.ErrDecodingFailure},
		{"vni out of range", `{"name":"n","vni":16777216,"ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"vni negative", `{"name":"n","vni":-1,"ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"vni string", `{"name":"n","vni":"100","ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"vni missing", `{"name":"n","ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"mtu wrong type", `{"name":"n","vni":1,"mtu":"big","ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"mtu too small", `{"name":"n","vni":1,"mtu":20,"ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"ipMasq wrong type", `{"name":"n","vni":1,"ipMasq":"yes","ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"unknown key", `{"name":"n","vni":1,"vlan":3,"ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"no ipam", `{"name":"n","vni":1}`, "", types.ErrInvalidNetworkConfig},
		{"bad gateway", `{"name":"n","vni":1,"gateway":"gw","ipam":{}}`, "", types.ErrInvalidNetworkConfig},
		{"multicast runtime MAC", `{"name":"n","vni":1,"ipam":{},"runtimeConfig":{"mac":"01:00:5e:00:00:01"}}`, "", types.ErrInvalidNetworkConfig},
		{"bad CNI_ARGS MAC", `{"name":"n","vni":1,"ipam":{}}`, "MAC=zz", types.ErrInvalidNetworkConfig},
		{"other type", `{"name":"n","type":"bridge","vni":1,"ipam":{}}`, "", types.ErrInvalidNetworkConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConf([]byte(tt.in), tt.args)
			var got uint
			if err != nil {
				var te *types.Error
				if !errors.As(err, &te) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				got = te.Code
			}
			if got != tt.code {
				t.Errorf("unexpected error code:\n- want: %d\n-  got: %d (%v)", tt.code, got, err)
			}
		})
	}
}

func TestLoadConfValues(t *testing.T) {
	c, err := LoadConf([]byte(`{"name":"n","vni":7,"ipam":{},"gateway":"198.18.0.1","runtimeConfig":{"mac":"02:00:00:00:00:09"}}`), "MAC=02:00:00:00:00:01")
	if err != nil {
		t.Fatal(err)
	}
	if c.Socket != DefaultSocket || c.IPAM.Type != DefaultIPAM || *c.VNI != 7 || c.gateway.String() != "198.18.0.1" || c.mac.String() != "02:00:00:00:00:09" {
		t.Errorf("unexpected config: socket %s ipam %s vni %d gateway %s mac %s (runtimeConfig.mac wins over CNI_ARGS)",
			c.Socket, c.IPAM.Type, *c.VNI, c.gateway, c.mac)
	}
}

// FuzzLoadConf: any input gives a config or a *types.Error, never a panic.
func FuzzLoadConf(f *testing.F) {
	f.Add([]byte(`{"name":"n","vni":1,"ipam":{}}`), "")                            // minimal valid
	f.Add([]byte(`{"name":"n","vni":16777216,"ipam":{}}`), "")                     // VNI out of range
	f.Add([]byte(`{"vni":"x"}`), "MAC=02:00:00:00:00:01")                          // wrong type, CNI_ARGS
	f.Add([]byte(`{"name":"n","vni":1,"ipam":{},"args":{"cni":{"mac":"x"}}}`), "") // bad args MAC
	f.Fuzz(func(t *testing.T, data []byte, args string) {
		c, err := LoadConf(data, args)
		if err != nil {
			var te *types.Error
			if !errors.As(err, &te) {
				t.Fatalf("error is %T, not *types.Error: %v", err, err)
			}
			return
		}
		if c.VNI == nil || *c.VNI > 1<<24-1 || c.IPAM.Type == "" || c.Socket == "" {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
	})
}
