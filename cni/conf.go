package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/vxswitch/vxswitch/encap"
)

// DefaultSocket is vxswitchd's default API socket (daemon.DefaultAPISocket).
const DefaultSocket = "/run/vxswitch/vxswitchd.sock"

// DefaultIPAM is the IPAM plugin used when "ipam" has no "type".
const DefaultIPAM = "host-local"

// SupportedVersions are the CNI spec versions the plugin speaks.
var SupportedVersions = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// PluginInfo is what VERSION reports.
var PluginInfo = version.PluginSupports(SupportedVersions...)

// NetConf is the plugin's network configuration. It is a plain value; the
// caller owns it.
type NetConf struct {
	types.PluginConf

	// VNI is the VXLAN segment of the network's Pods (required).
	VNI *uint32 `json:"vni"`
	// MTU of the Pod interface; 0 means the daemon's overlay MTU.
	MTU int `json:"mtu,omitempty"`
	// Socket is the daemon's API socket; DefaultSocket when empty.
	Socket string `json:"socket,omitempty"`
	// Gateway is the Pods' default gateway (the daemon's --gateway
	// address); empty means the gateway of the IPAM result, if any.
	Gateway string `json:"gateway,omitempty"`
	// IPMasq masquerades traffic from the Pod leaving the Pod subnet.
	IPMasq bool `json:"ipMasq,omitempty"`
	// RuntimeConfig carries the "mac" capability.
	RuntimeConfig struct {
		MAC string `json:"mac,omitempty"`
	} `json:"runtimeConfig,omitzero"`
	// Args is the conventional "args" key; only args.cni.mac is used.
	Args *struct {
		CNI struct {
			MAC string `json:"mac,omitempty"`
		} `json:"cni"`
	} `json:"args,omitempty"`

	gateway netip.Addr // parsed Gateway
	mac     encap.MAC  // parsed MAC (runtimeConfig, args or CNI_ARGS)
}

// knownKeys are the top-level keys LoadConf accepts, besides "cni.dev/…".
var knownKeys = []string{
	"cniVersion", "name", "type", "capabilities", "ipam", "dns", "prevResult",
	"runtimeConfig", "args", "vni", "mtu", "socket", "gateway", "ipMasq",
}

// LoadConf decodes and validates a network configuration. cniArgs is
// CNI_ARGS (e.g. "IgnoreUnknown=1;MAC=02:…"); only MAC is used from it.
// Errors are *types.Error with code 6 (not JSON) or 7 (invalid).
func LoadConf(data []byte, cniArgs string) (*NetConf, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "vxswitch: network configuration is not a JSON object", err.Error())
	}
	for k := range raw {
		if !slices.Contains(knownKeys, k) && !strings.HasPrefix(k, "cni.dev/") {
			return nil, invalidConf("unknown key %q (known keys: %s)", k, strings.Join(knownKeys, ", "))
		}
	}
	conf := &NetConf{}
	if err := json.Unmarshal(data, conf); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, invalidConf("key %q: want a JSON %s, got %s", te.Field, te.Type, te.Value)
		}
		return nil, invalidConf("%v", err)
	}
	if conf.Type != "" && conf.Type != "vxswitch" {
		// A runtime never does this; a hand-written test might.
		return nil, invalidConf("type %q: this plugin is \"vxswitch\"", conf.Type)
	}
	if conf.VNI == nil {
		return nil, invalidConf(`missing "vni": the VXLAN segment (0-%d) of this network's Pods`, encap.MaxVNI)
	}
	if *conf.VNI > encap.MaxVNI {
		return nil, invalidConf("vni %d out of range: a VNI is 24 bits (0-%d)", *conf.VNI, encap.MaxVNI)
	}
	if conf.MTU != 0 && (conf.MTU < 68 || conf.MTU > 65521) {
		return nil, invalidConf("mtu %d: want 68-65521 (or leave it out for the daemon's overlay MTU)", conf.MTU)
	}
	if conf.Socket == "" {
		conf.Socket = DefaultSocket
	}
	if conf.IPAM.Type == "" {
		if _, ok := raw["ipam"]; !ok {
			return nil, invalidConf(`missing "ipam": e.g. {"type": "host-local", "ranges": [[{"subnet": "198.18.100.0/24"}]]}`)
		}
		conf.IPAM.Type = DefaultIPAM
	}
	if conf.Gateway != "" {
		a, err := netip.ParseAddr(conf.Gateway)
		if err != nil {
			return nil, invalidConf("gateway %q: not an IP address", conf.Gateway)
		}
		conf.gateway = a
	}
	macs := []struct{ from, s string }{{"runtimeConfig.mac", conf.RuntimeConfig.MAC}}
	if conf.Args != nil {
		macs = append(macs, struct{ from, s string }{"args.cni.mac", conf.Args.CNI.MAC})
	}
	for _, kv := range strings.Split(cniArgs, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "MAC" {
			macs = append(macs, struct{ from, s string }{"CNI_ARGS MAC", v})
		}
	}
	for _, m := range macs {
		if m.s == "" {
			continue
		}
		mac, err := encap.ParseMAC(m.s)
		if err != nil || !mac.IsUnicast() {
			return nil, invalidConf("%s %q: want a unicast MAC like 02:00:00:00:00:01", m.from, m.s)
		}
		conf.mac = mac
		break
	}
	return conf, nil
}

func invalidConf(format string, args ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, "vxswitch: invalid network configuration: "+fmt.Sprintf(format, args...), "")
}
