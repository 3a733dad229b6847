package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/api/apitest"
	"github.com/vxswitch/vxswitch/switch/tap"
)

var (
	mac0 = encap.MustParseMAC("02:00:00:00:00:01") // vxtap0's own address, VNI 42
	mac1 = encap.MustParseMAC("02:00:00:00:00:02") // vxtap1's own address, VNI 43
	macR = encap.MustParseMAC("02:00:00:00:00:aa") // a MAC behind the peer VTEP
	macS = encap.MustParseMAC("02:00:00:00:00:bb") // a static entry

	remote = netip.MustParseAddr("192.0.2.11")
)

// newEnv returns a switch with vxtap0 on VNI 42, vxtap1 on VNI 43 and VNI
// 44 served without a port.
func newEnv(t *testing.T) (*apitest.Env, *apitest.Port) {
	t.Helper()
	env := apitest.New(t, fdb.Config{})
	p0 := env.AddPort(t, "vxtap0", 42, mac0)
	env.AddPort(t, "vxtap1", 43, mac1)
	if err := env.Switch.AddVNI(44); err != nil {
		t.Fatalf("AddVNI: %v", err)
	}
	return env, p0
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// vxlanFrame returns a VXLAN packet for vni carrying a broadcast frame from
// src.
func vxlanFrame(vni uint32, src encap.MAC) []byte {
	pkt := make([]byte, encap.VXLANHeaderLen+60)
	encap.VXLAN(pkt[:encap.VXLANHeaderLen]).Encode(&encap.VXLANFields{VNI: vni})
	eth := pkt[encap.VXLANHeaderLen:]
	copy(eth[0:6], encap.BroadcastMAC[:])
	copy(eth[6:12], src[:])
	eth[12], eth[13] = 0x08, 0x06 // ARP
	return pkt
}

// ethFrame returns a broadcast Ethernet frame from src.
func ethFrame(src encap.MAC) []byte {
	eth := make([]byte, 60)
	copy(eth[0:6], encap.BroadcastMAC[:])
	copy(eth[6:12], src[:])
	eth[12], eth[13] = 0x08, 0x06
	return eth
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	ignoreAge = cmp.Options{cmpopts.IgnoreFields(api.FDBEntry{}, "AgeSeconds"), addrs}
	addrs     = cmpopts.EquateComparable(netip.Addr{})
)

func TestStatus(t *testing.T) {
	env, _ := newEnv(t)
	got, err := env.Client.Status(ctx(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	want := api.Status{Version: apitest.Version, Local: apitest.LocalIP.String(), Port: encap.VXLANPort, VNIs: []uint32{42, 43, 44}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(api.Status{}, "UptimeSeconds")); diff != "" {
		t.Errorf("unexpected status (-want +got):\n%s", diff)
	}
	if got.UptimeSeconds < 0 || got.UptimeSeconds > 60 {
		t.Errorf("unexpected uptime:\n- want: 0..60\n-  got: %v", got.UptimeSeconds)
	}
}

func TestPorts(t *testing.T) {
	env, p0 := newEnv(t)
	p0.SetOffloads(tap.Offloads{VnetHdr: true, Csum: true, TSO4: true, TSO6: true, Reason: "USO refused: invalid argument"})
	p0.Inbound <- ethFrame(mac0) // one frame read from vxtap0 (flooded to vxtap… nobody: VNI 42 has one port)
	waitFor(t, "vxtap0 rx", func() bool {
		ps, err := env.Client.Ports(ctx(t))
		return err == nil && len(ps) == 2 && ps[0].RxPackets == 1
	})
	got, err := env.Client.Ports(ctx(t))
	if err != nil {
		t.Fatalf("Ports: %v", err)
	}
	want := []api.PortInfo{
		{Name: "vxtap0", VNI: 42, MTU: 1450, MAC: mac0, RxPackets: 1, RxBytes: 60, Offloads: "csum,tso4,tso6 (USO refused: invalid argument)", Queues: 1, TAPGRO: ptr(true)},
		{Name: "vxtap1", VNI: 43, MTU: 1450, MAC: mac1, Offloads: "off", Queues: 1, TAPGRO: ptr(false)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected ports (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSettings: PATCH /v1/settings turns coalescing on write off and on
// again for every port that can do it; GET /v1/settings, the ports and the
// metrics show the change.
func TestSettings(t *testing.T) {
	env, p0 := newEnv(t)
	p0.SetOffloads(tap.Offloads{VnetHdr: true, Csum: true, TSO4: true, TSO6: true})
	check := func(want bool) {
		t.Helper()
		got, err := env.Client.Settings(ctx(t))
		if err != nil {
			t.Fatalf("Settings: %v", err)
		}
		if got.TAPGRO != want {
			t.Errorf("GET /v1/settings: tap_gro %v, want %v", got.TAPGRO, want)
		}
		ps, err := env.Client.Ports(ctx(t))
		if err != nil {
			t.Fatalf("Ports: %v", err)
		}
		if len(ps) != 2 || ps[0].TAPGRO == nil || *ps[0].TAPGRO != want || ps[1].TAPGRO == nil || *ps[1].TAPGRO {
			t.Errorf("ports after tap_gro %v: want vxtap0 %v and vxtap1 (no offloads) false, got %s", want, want, mustJSON(t, ps))
		}
		metric := "vxswitch_tap_gro 0\n"
		if want {
			metric = "vxswitch_tap_gro 1\n"
		}
		if m := scrape(t, env.Switch); !strings.Contains(m, metric) {
			t.Errorf("metrics after tap_gro %v: no %q", want, metric)
		}
	}
	check(true)
	for _, on := range []bool{false, false, true} {
		got, err := env.Client.UpdateSettings(ctx(t), api.SettingsUpdate{TAPGRO: &on})
		if err != nil {
			t.Fatalf("UpdateSettings(tap_gro %v): %v", on, err)
		}
		if got.TAPGRO != on {
			t.Errorf("PATCH /v1/settings tap_gro %v answered %v", on, got.TAPGRO)
		}
		check(on)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFDBRoundTrip(t *testing.T) {
	env, p0 := newEnv(t)
	c := ctx(t)

	// A learned entry: VXLAN from the peer VTEP with source macR.
	if err := env.Peer.Send([][]byte{vxlanFrame(42, macR)}, env.LocalAddr); err != nil {
		t.Fatalf("peer send: %v", err)
	}
	<-p0.Outbound // the broadcast reached vxtap0
	waitFor(t, "learned entry", func() bool {
		_, ok := env.Switch.FDB().Get(42, macR)
		return ok
	})

	added, err := env.Client.AddFDB(c, api.FDBRequest{VNI: 42, MAC: macS, Remote: remote})
	if err != nil {
		t.Fatalf("AddFDB remote: %v", err)
	}
	wantAdded := api.FDBEntry{VNI: 42, MAC: macS, Remote: remote, Origin: "static"}
	if diff := cmp.Diff(wantAdded, added, ignoreAge); diff != "" {
		t.Errorf("unexpected AddFDB result (-want +got):\n%s", diff)
	}
	macP := encap.MustParseMAC("02:00:00:00:00:cc")
	if _, err := env.Client.AddFDB(c, api.FDBRequest{VNI: 43, MAC: macP, Port: "vxtap1"}); err != nil {
		t.Fatalf("AddFDB port: %v", err)
	}

	all := []api.FDBEntry{
		{VNI: 42, MAC: mac0, Port: "vxtap0", Origin: "local"},
		{VNI: 42, MAC: macR, Remote: apitest.PeerIP, Origin: "learned"},
		{VNI: 42, MAC: macS, Remote: remote, Origin: "static"},
		{VNI: 43, MAC: mac1, Port: "vxtap1", Origin: "local"},
		{VNI: 43, MAC: macP, Port: "vxtap1", Origin: "static"},
	}
	tests := []struct {
		name string
		vni  uint32
		all  bool
		want []api.FDBEntry
	}{
		{name: "all", all: true, want: all},
		{name: "vni 42", vni: 42, want: all[:3]},
		{name: "vni 43", vni: 43, want: all[3:]},
		{name: "vni 44 empty", vni: 44, want: []api.FDBEntry{}},
		{name: "unserved vni empty", vni: 7, want: []api.FDBEntry{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.Client.FDB(c, tt.vni, tt.all)
			if err != nil {
				t.Fatalf("FDB: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreAge); diff != "" {
				t.Errorf("unexpected entries (-want +got):\n%s", diff)
			}
			for _, e := range got {
				if e.AgeSeconds < 0 || e.AgeSeconds > 60 {
					t.Errorf("unexpected age of %s:\n- want: 0..60\n-  got: %v", e.MAC, e.AgeSeconds)
				}
			}
		})
	}

	// The static entry forwards: a frame from vxtap0 to macS goes to remote.
	if d, ok := env.Switch.FDB().Lookup(42, macS); !ok || d.Remote != remote {
		t.Errorf("unexpected lookup of static entry:\n- want: %v\n-  got: %v (%v)", remote, d, ok)
	}

	if err := env.Client.DelFDB(c, 42, macS); err != nil {
		t.Fatalf("DelFDB: %v", err)
	}
	if err := env.Client.DelFDB(c, 42, macR); err != nil {
		t.Fatalf("DelFDB learned: %v", err)
	}
	got, err := env.Client.FDB(c, 42, false)
	if err != nil {
		t.Fatalf("FDB: %v", err)
	}
	if diff := cmp.Diff(all[:1], got, ignoreAge); diff != "" {
		t.Errorf("unexpected entries after delete (-want +got):\n%s", diff)
	}
	err = env.Client.DelFDB(c, 42, macS)
	if !api.IsNotFound(err) {
		t.Errorf("unexpected error deleting twice:\n- want: 404\n-  got: %v", err)
	}
}

func TestFloodRoundTrip(t *testing.T) {
	env, _ := newEnv(t)
	c := ctx(t)
	r2 := netip.MustParseAddr("2001:db8::11")

	for _, a := range []netip.Addr{remote, r2, remote} { // the second remote add is a no-op
		if _, err := env.Client.AddFlood(c, 42, a); err != nil {
			t.Fatalf("AddFlood %s: %v", a, err)
		}
	}
	got, err := env.Client.AddFlood(c, 44, remote)
	if err != nil {
		t.Fatalf("AddFlood: %v", err)
	}
	if diff := cmp.Diff(api.FloodList{VNI: 44, Remotes: []netip.Addr{remote}}, got, addrs); diff != "" {
		t.Errorf("unexpected AddFlood result (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		vni  uint32
		all  bool
		want []api.FloodList
	}{
		{name: "all", all: true, want: []api.FloodList{
			{VNI: 42, Remotes: []netip.Addr{remote, r2}},
			{VNI: 43, Remotes: []netip.Addr{}},
			{VNI: 44, Remotes: []netip.Addr{remote}},
		}},
		{name: "vni 42", vni: 42, want: []api.FloodList{{VNI: 42, Remotes: []netip.Addr{remote, r2}}}},
		{name: "vni 43 empty", vni: 43, want: []api.FloodList{{VNI: 43, Remotes: []netip.Addr{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.Client.Flood(c, tt.vni, tt.all)
			if err != nil {
				t.Fatalf("Flood: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, addrs); diff != "" {
				t.Errorf("unexpected flood lists (-want +got):\n%s", diff)
			}
		})
	}

	if err := env.Client.DelFlood(c, 42, r2); err != nil {
		t.Fatalf("DelFlood: %v", err)
	}
	if diff := cmp.Diff([]netip.Addr{remote}, env.Switch.FDB().Flood(42), addrs); diff != "" {
		t.Errorf("unexpected flood list in the table (-want +got):\n%s", diff)
	}
	if err := env.Client.DelFlood(c, 42, r2); !api.IsNotFound(err) {
		t.Errorf("unexpected error deleting twice:\n- want: 404\n-  got: %v", err)
	}
}

func TestStats(t *testing.T) {
	env, p0 := newEnv(t)
	c := ctx(t)
	// Unserved VNI 99: counted as unknown_vni.
	if err := env.Peer.Send([][]byte{vxlanFrame(99, macR)}, env.LocalAddr); err != nil {
		t.Fatalf("peer send: %v", err)
	}
	// Flooded from vxtap0 to the peer: VNI 42 tx.
	if _, err := env.Client.AddFlood(c, 42, apitest.PeerIP); err != nil {
		t.Fatalf("AddFlood: %v", err)
	}
	p0.Inbound <- ethFrame(mac0)
	waitFor(t, "counters", func() bool {
		st, err := env.Client.Stats(c)
		return err == nil && st.Drops["unknown_vni"] == 1 && len(st.VNIs) == 3 && st.VNIs[0].TxPackets == 1
	})
	got, err := env.Client.Stats(c)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if len(got.Drops) != len(vswitch.DropReasons()) {
		t.Errorf("unexpected number of drop reasons:\n- want: %d\n-  got: %d (%v)", len(vswitch.DropReasons()), len(got.Drops), got.Drops)
	}
	wantPorts := []vswitch.PortStats{
		{Name: "vxtap0", VNI: 42, MTU: 1450, RxPackets: 1, RxBytes: 60},
		{Name: "vxtap1", VNI: 43, MTU: 1450},
	}
	if diff := cmp.Diff(wantPorts, got.Ports); diff != "" {
		t.Errorf("unexpected port stats (-want +got):\n%s", diff)
	}
	wantVNIs := []vswitch.VNIStats{
		{VNI: 42, Ports: 1, TxPackets: 1, TxBytes: 68},
		{VNI: 43, Ports: 1},
		{VNI: 44},
	}
	if diff := cmp.Diff(wantVNIs, got.VNIs); diff != "" {
		t.Errorf("unexpected VNI stats (-want +got):\n%s", diff)
	}
	if want := 2; got.FDB.Entries != want {
		t.Errorf("unexpected fdb entries:\n- want: %d\n-  got: %d", want, got.FDB.Entries)
	}

	// The JSON carries the documented keys.
	raw := rawRequest(t, env.Socket, http.MethodGet, "/v1/stats", "")
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw.body, &m); err != nil {
		t.Fatalf("decode stats: %v", err)
	}
	for _, k := range []string{"ports", "vnis", "drops", "reserved_bits_accepted", "busy_poll", "rt_engaged", "gathered_segments", "fdb"} {
		if _, ok := m[k]; !ok {
			t.Errorf("unexpected stats JSON: missing key %q in %s", k, raw.body)
		}
	}
}

// response is a raw HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// rawRequest sends a request with an arbitrary body over the socket.
func rawRequest(t *testing.T, sock, method, path, body string) response {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://vxswitchd"+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func TestBadInput(t *testing.T) {
	env, _ := newEnv(t)
	tests := []struct {
		name         string
		method, path string
		body         string
		wantStatus   int
		wantMsg      string // substring of the error message
	}{
		{"bad mac", "POST", "/v1/fdb", `{"vni":42,"mac":"zz:00","remote":"192.0.2.9"}`, 400, `invalid mac "zz:00"`},
		{"multicast mac", "POST", "/v1/fdb", `{"vni":42,"mac":"01:00:5e:00:00:01","remote":"192.0.2.9"}`, 400, "multicast, broadcast or zero"},
		{"zero mac", "POST", "/v1/fdb", `{"vni":42,"mac":"00:00:00:00:00:00","remote":"192.0.2.9"}`, 400, "multicast, broadcast or zero"},
		{"missing mac", "POST", "/v1/fdb", `{"vni":42,"remote":"192.0.2.9"}`, 400, "missing mac"},
		{"vni out of range", "POST", "/v1/fdb", `{"vni":16777216,"mac":"02:00:00:00:00:09","remote":"192.0.2.9"}`, 400, "VNI 16777216 out of range"},
		{"vni negative", "POST", "/v1/fdb", `{"vni":-1,"mac":"02:00:00:00:00:09","remote":"192.0.2.9"}`, 400, `field "vni"`},
		{"vni wrong type", "POST", "/v1/fdb", `{"vni":"42","mac":"02:00:00:00:00:09","remote":"192.0.2.9"}`, 400, `field "vni": want a non-negative integer, got string`},
		{"mac wrong type", "POST", "/v1/fdb", `{"vni":42,"mac":7,"remote":"192.0.2.9"}`, 400, `field "mac": want a string, got number`},
		{"missing vni", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:09","remote":"192.0.2.9"}`, 400, `missing "vni"`},
		{"vni not served", "POST", "/v1/fdb", `{"vni":7,"mac":"02:00:00:00:00:09","remote":"192.0.2.9"}`, 404, "VNI 7 is not served"},
		{"unknown field", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","dst":"192.0.2.9"}`, 400, `unknown field "dst"`},
		{"bad json", "POST", "/v1/fdb", `{"vni":42,`, 400, "invalid JSON"},
		{"bad json syntax", "POST", "/v1/fdb", `{"vni":42 "mac":"x"}`, 400, "invalid JSON at byte"},
		{"trailing data", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","remote":"192.0.2.9"} {}`, 400, "unexpected data after the object"},
		{"empty body", "POST", "/v1/fdb", ``, 400, "empty request body"},
		{"array body", "POST", "/v1/fdb", `[]`, 400, "want an object"},
		{"unknown port", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","port":"nope"}`, 404, `no port "nope"`},
		{"port in other vni", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","port":"vxtap1"}`, 400, "port vxtap1 is in VNI 43, not VNI 42"},
		{"remote and port", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","port":"vxtap0","remote":"192.0.2.9"}`, 400, "not both"},
		{"no destination", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09"}`, 400, "missing destination"},
		{"bad remote", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","remote":"300.1.1.1"}`, 400, `invalid remote "300.1.1.1"`},
		{"multicast remote", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","remote":"239.1.1.1"}`, 400, "must be unicast"},
		{"replace local entry", "POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:01","remote":"192.0.2.9"}`, 409, "address of local port vxtap0"},
		{"delete local entry", "DELETE", "/v1/fdb?vni=42&mac=02:00:00:00:00:01", "", 409, "detach the port"},
		{"delete missing entry", "DELETE", "/v1/fdb?vni=42&mac=02:00:00:00:00:99", "", 404, "no FDB entry for 02:00:00:00:00:99 in VNI 42"},
		{"delete bad vni", "DELETE", "/v1/fdb?vni=abc&mac=02:00:00:00:00:99", "", 400, `invalid vni "abc"`},
		{"delete missing mac", "DELETE", "/v1/fdb?vni=42", "", 400, "missing mac"},
		{"get vni out of range", "GET", "/v1/fdb?vni=99999999", "", 400, "out of range"},
		{"get vni empty", "GET", "/v1/fdb?vni=", "", 400, "missing vni"},
		{"fdb wrong method", "PUT", "/v1/fdb", `{}`, 405, "method PUT not allowed"},
		{"ports wrong method", "POST", "/v1/ports", `{}`, 405, "method POST not allowed"},
		{"unknown path", "GET", "/v2/fdb", "", 404, "no endpoint /v2/fdb"},
		{"flood missing remote", "POST", "/v1/flood", `{"vni":42}`, 400, `missing "remote"`},
		{"flood bad remote", "POST", "/v1/flood", `{"vni":42,"remote":"fe80::1%eth0"}`, 400, "invalid remote"},
		{"flood unserved", "POST", "/v1/flood", `{"vni":8,"remote":"192.0.2.9"}`, 404, "VNI 8 is not served"},
		{"flood unknown field", "POST", "/v1/flood", `{"vni":42,"remote":"192.0.2.9","port":"x"}`, 400, `unknown field "port"`},
		{"flood delete missing", "DELETE", "/v1/flood?vni=42&remote=192.0.2.77", "", 404, "192.0.2.77 is not in the flood list of VNI 42"},
		{"flood delete bad remote", "DELETE", "/v1/flood?vni=42&remote=nope", "", 400, `invalid remote "nope"`},
		{"settings nothing", "PATCH", "/v1/settings", `{}`, 400, "nothing to change"},
		{"settings null", "PATCH", "/v1/settings", `{"tap_gro":null}`, 400, "nothing to change"},
		{"settings wrong type", "PATCH", "/v1/settings", `{"tap_gro":"off"}`, 400, `field "tap_gro": want true or false, got string`},
		{"settings unknown field", "PATCH", "/v1/settings", `{"tap_gro":false,"gso":false}`, 400, `unknown field "gso"`},
		{"settings wrong method", "POST", "/v1/settings", `{"tap_gro":false}`, 405, "method POST not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawRequest(t, env.Socket, tt.method, tt.path, tt.body)
			if got.status != tt.wantStatus {
				t.Errorf("unexpected status:\n- want: %d\n-  got: %d (%s)", tt.wantStatus, got.status, got.body)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("unexpected content type:\n- want: application/json\n-  got: %s", ct)
			}
			var eb struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(got.body, &eb); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, got.body)
			}
			if !strings.Contains(eb.Error, tt.wantMsg) {
				t.Errorf("unexpected error message:\n- want: …%s…\n-  got: %s", tt.wantMsg, eb.Error)
			}
		})
	}
	if got := rawRequest(t, env.Socket, "PUT", "/v1/fdb", "{}").header.Values("Allow"); !cmp.Equal(got, []string{"DELETE", "GET", "POST"}) {
		t.Errorf("unexpected Allow header:\n- want: [DELETE GET POST]\n-  got: %v", got)
	}
	if st, err := env.Client.Settings(ctx(t)); err != nil || !st.TAPGRO {
		t.Errorf("settings after bad requests: %+v, %v; want tap_gro true", st, err)
	}
	// Nothing of the above changed the table.
	if got := env.Switch.FDB().Len(); got != 2 {
		t.Errorf("unexpected FDB size after bad requests:\n- want: 2\n-  got: %d", got)
	}
}

func TestClientErrors(t *testing.T) {
	env, _ := newEnv(t)
	_, err := env.Client.AddFDB(ctx(t), api.FDBRequest{VNI: 42, MAC: macS, Port: "nope"})
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("unexpected error type:\n- want: *api.Error\n-  got: %T %v", err, err)
	}
	want := &api.Error{StatusCode: 404, Message: `no port "nope" attached (see GET /v1/ports)`}
	if diff := cmp.Diff(want, ae); diff != "" {
		t.Errorf("unexpected error (-want +got):\n%s", diff)
	}
}
