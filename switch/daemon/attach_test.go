package daemon

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/switch/api"
)

func TestParseGateway(t *testing.T) {
	tests := []struct {
		in      string
		want    string // Gateway.Prefix, "" for an error
		wantVNI uint32
	}{
		{"100:198.18.100.1/24", "198.18.100.1/24", 100},
		{"0:2001:db8::1/64", "2001:db8::1/64", 0},
		{"100:198.18.100.0/24", "", 0}, // network address
		{"16777216:198.18.0.1/24", "", 0},
		{"x:198.18.0.1/24", "", 0},
		{"100:198.18.0.1", "", 0}, // no prefix length
		{"100", "", 0},
	}
	for _, tt := range tests {
		g, err := ParseGateway(tt.in)
		got := ""
		if err == nil {
			got = g.Prefix.String()
		}
		if got != tt.want || (err == nil && g.VNI != tt.wantVNI) {
			t.Errorf("ParseGateway(%q): unexpected result:\n- want: %q vni %d\n-  got: %q vni %d (err %v)", tt.in, tt.want, tt.wantVNI, got, g.VNI, err)
		}
	}
	a, _ := ParseGateway("100:198.18.100.1/24")
	b, _ := ParseGateway("100:198.18.100.1/24")
	if GatewayMAC(a) != GatewayMAC(b) || !GatewayMAC(a).IsUnicast() || GatewayMAC(a)[0]&2 == 0 {
		t.Errorf("gateway MAC %s: want the same locally administered unicast MAC on every node", GatewayMAC(a))
	}
}

func TestPortNameAndMAC(t *testing.T) {
	n := PortName("abc", "eth0")
	if len(n) != 15 || n != PortName("abc", "eth0") || n == PortName("abc", "eth1") {
		t.Errorf("unexpected port name %q: want 15 bytes, stable, distinct per ifname", n)
	}
	m := PodMAC("abc", "eth0")
	if !m.IsUnicast() || m[0]&2 == 0 || m == PodMAC("abd", "eth0") {
		t.Errorf("unexpected pod MAC %s", m)
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := StatePath(dir, "/run/vxswitch/vxswitchd.sock")
	if want := filepath.Join(dir, "vxswitchd.state.json"); path != want {
		t.Errorf("unexpected state path:\n- want: %s\n-  got: %s", want, path)
	}
	if got := StatePath("", "/tmp/lab/h1.sock"); got != "/tmp/lab/h1.state.json" {
		t.Errorf("unexpected default state path:\n- want: /tmp/lab/h1.state.json\n-  got: %s", got)
	}
	empty, err := LoadState(path)
	if err != nil || len(empty.Attachments) != 0 {
		t.Fatalf("missing state file: %v %+v", err, empty)
	}
	want := State{Version: stateVersion, Attachments: []api.Attachment{{
		ContainerID: "c1", IfName: "eth0", Netns: "/run/netns/p", VNI: 100, Port: PortName("c1", "eth0"),
		MAC: PodMAC("c1", "eth0"), MTU: 1450, Attached: true,
	}}}
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("unexpected state (-want +got):\n%s", d)
	}
}

func TestAttachValidate(t *testing.T) {
	a := &Attacher{}
	ok := api.AttachRequest{ContainerID: "c", IfName: "eth0", Netns: "/run/netns/p", VNI: 1}
	tests := []struct {
		name string
		mod  func(*api.AttachRequest)
		ok   bool
	}{
		{"valid", func(*api.AttachRequest) {}, true},
		{"no container", func(r *api.AttachRequest) { r.ContainerID = "" }, false},
		{"slash in container", func(r *api.AttachRequest) { r.ContainerID = "a/b" }, false},
		{"long ifname", func(r *api.AttachRequest) { r.IfName = "0123456789abcdef" }, false},
		{"relative netns", func(r *api.AttachRequest) { r.Netns = "p" }, false},
		{"vni", func(r *api.AttachRequest) { r.VNI = 1 << 24 }, false},
		{"mtu", func(r *api.AttachRequest) { r.MTU = 10 }, false},
	}
	for _, tt := range tests {
		r := ok
		tt.mod(&r)
		if err := a.validate(&r); (err == nil) != tt.ok {
			t.Errorf("%s: unexpected validation result:\n- want: ok=%v\n-  got: %v", tt.name, tt.ok, err)
		}
	}
}
