package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/api/apitest"
)

func TestPeers(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	now := time.Now().Truncate(time.Second)
	peers := []api.PeerInfo{
		{Name: "h0", Addr: "192.0.2.10:7946", State: "alive", Self: true, VTEP: "192.0.2.10", VXLANPort: 4789, VNIs: []uint32{42}, Entries: 1, LastContact: now},
		{Name: "h1", Addr: "192.0.2.11:7946", State: "dead", VTEP: "192.0.2.11", VXLANPort: 4789, VNIs: []uint32{}, LastContact: now.Add(-3 * time.Second)},
	}
	env.Server.Handle("/v1/peers", api.PeersHandler(func() []api.PeerInfo { return peers }))

	code, out, errOut := vxctl(t, nil, "--api", env.Socket, "peers", "-o", "json")
	if code != 0 {
		t.Fatalf("vxctl peers -o json: exit %d: %s", code, errOut)
	}
	var got []api.PeerInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON array of peers: %v\n%s", err, out)
	}
	if diff := cmp.Diff(peers, got); diff != "" {
		t.Errorf("unexpected peers (-want +got):\n%s", diff)
	}

	code, out, errOut = vxctl(t, nil, "--api", env.Socket, "peers")
	if code != 0 {
		t.Fatalf("vxctl peers: exit %d: %s", code, errOut)
	}
	want := "NAME  STATE  VTEP        VNIS  ENTRIES  LAST_CONTACT\n" +
		"*h0   alive  192.0.2.10  42    1        " // the ages depend on the clock
	if len(out) < len(want) || out[:len(want)] != want {
		t.Errorf("unexpected table:\n- want prefix: %q\n-          got: %q", want, out)
	}
}

// TestPeersGossipOff: a daemon without gossip serves an empty array.
func TestPeersGossipOff(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	env.Server.Handle("/v1/peers", api.PeersHandler(nil))
	code, out, errOut := vxctl(t, nil, "--api", env.Socket, "peers", "-o", "json")
	if code != 0 || out != "[]\n" {
		t.Errorf("unexpected output:\n- want: exit 0, \"[]\\n\"\n-  got: exit %d, %q %s", code, out, errOut)
	}
}
