package gossip

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"github.com/vxswitch/vxswitch/switch/api"
)

// TestPrivilegedGossipLab runs real vxswitchd daemons in network
// namespaces (bench/lab) with only --join, no --remote: every pair of TAP
// addresses must ping, every FDB must hold the other hosts' port MACs as
// gossip entries owned by them, and vxctl peers must list every host. Then
// one daemon is killed with SIGKILL: its entries and its flood-list place
// vanish from the others within 15 s while the others keep pinging each
// other; restarted, it rejoins and its entries return. It builds
// cmd/vxswitchd first.
func TestPrivilegedGossipLab(t *testing.T) {
	testutil.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds and runs vxswitchd")
	}
	const hosts = 5
	bin := filepath.Join(t.TempDir(), "vxswitchd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vxswitch/vxswitch/cmd/vxswitchd").CombinedOutput(); err != nil {
		t.Fatalf("build vxswitchd: %v\n%s", err, out)
	}
	name := testutil.UniqueName("vxg")
	// The namespaces share the host name: name each node after its
	// underlay address ($2 is the --local value, see lab.Host.DaemonArgs).
	cmd := []string{"/bin/sh", "-c", `exec "$0" "$@" --node "node-$2"`, bin}
	l, err := lab.New(lab.Config{
		Name: name, Hosts: hosts, DaemonCmd: cmd, NoRemotes: true, Dir: t.TempDir(), Logf: t.Logf,
		ExtraArgs: []string{"--join", "192.0.2.10"}, // h0's underlay address
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("Down: %v", err)
		}
		if err := lab.Cleanup(name); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	hs := l.Hosts()
	macs := map[string]string{} // owner node name → its TAP MAC
	for _, h := range hs {
		ports, err := api.NewClient(h.APISocket).Ports(ctx)
		if err != nil || len(ports) != 1 {
			t.Fatalf("%s: ports %v, %v", h.Name, ports, err)
		}
		macs["node-"+h.Underlay.String()] = ports[0].MAC.String()
	}
	fdbDiff := func(live []*lab.Host) string {
		for _, h := range live {
			entries, err := api.NewClient(h.APISocket).FDB(ctx, 0, true)
			if err != nil {
				return err.Error()
			}
			got := map[string]string{}
			for _, e := range entries {
				if e.Origin == "gossip" {
					got[e.Owner] = e.MAC.String()
				}
			}
			for _, o := range live {
				owner := "node-" + o.Underlay.String()
				if o != h && got[owner] != macs[owner] {
					return fmt.Sprintf("%s: unexpected gossip entry of %s:\n- want: %s\n-  got: %q", h.Name, owner, macs[owner], got[owner])
				}
				delete(got, owner)
			}
			if len(got) != 0 {
				return fmt.Sprintf("%s: unexpected gossip entries %v", h.Name, got)
			}
		}
		return ""
	}
	d := waitFor(t, 30*time.Second, "FDBs", func() string { return fdbDiff(hs) })
	t.Logf("FDBs converged %s after the daemons were up (%s after Up began)", d, time.Since(start))

	var res []lab.PairResult
	waitFor(t, 30*time.Second, "all pairs ping", func() string {
		res, err = l.PingAll(ctx)
		if err != nil {
			var sum bytes.Buffer
			lab.Summary(&sum, res)
			return err.Error() + "\n" + sum.String()
		}
		return ""
	})
	peers, err := api.NewClient(hs[1].APISocket).Peers(ctx)
	if err != nil || len(peers) != hosts {
		t.Fatalf("unexpected peers of h1:\n- want: %d\n-  got: %+v (%v)", hosts, peers, err)
	}
	for _, p := range peers {
		if p.State != "alive" {
			t.Errorf("unexpected peer state: %+v", p)
		}
	}

	killed := hs[hosts-1]
	if err := killed.StopDaemon(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d = waitFor(t, 15*time.Second, "purge after kill -9", func() string {
		if diff := fdbDiff(hs[:hosts-1]); diff != "" {
			return diff
		}
		for _, h := range hs[:hosts-1] {
			lists, err := api.NewClient(h.APISocket).Flood(ctx, 42, false)
			if err != nil {
				return err.Error()
			}
			for _, fl := range lists {
				for _, r := range fl.Remotes {
					if r == killed.Underlay {
						return fmt.Sprintf("%s: killed host %s still in the flood list of VNI %d", h.Name, r, fl.VNI)
					}
				}
			}
		}
		return ""
	})
	t.Logf("killed host's entries and flood-list place gone from the others in %s", d)
	for _, a := range hs[:hosts-1] {
		for _, b := range hs[:hosts-1] {
			if a == b {
				continue
			}
			r, err := a.Ping(ctx, b.Overlay.Addr(), 3, 2*time.Second)
			if err != nil || r.Loss() > 0 {
				t.Errorf("%s → %s after the kill: loss %v, %v", a.Name, b.Name, r.Loss(), err)
			}
		}
	}

	if err := killed.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	d = waitFor(t, 30*time.Second, "rejoin after restart", func() string { return fdbDiff(hs) })
	t.Logf("restarted host rejoined, entries everywhere again in %s", d)
}
