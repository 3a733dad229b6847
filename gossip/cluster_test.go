package gossip

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
)

const testVNI = 42

// addPortMAC installs mac on local port 1 of node tn, as the switch does
// for a TAP's MAC.
func addPortMAC(t testing.TB, tn *testNode, mac encap.MAC) {
	t.Helper()
	if err := tn.table.Add(fdb.Entry{Key: fdb.Key{VNI: testVNI, MAC: mac}, Dest: fdb.Dest{Port: 1}, Origin: fdb.OriginLocal}); err != nil {
		t.Fatal(err)
	}
}

// startCluster starts n nodes serving testVNI, each joining node 0, each
// with one local MAC testMAC(i, 0).
func startCluster(t testing.TB, n int, block bool, opts ...nodeOpt) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		var join []string
		if i > 0 {
			join = []string{nodes[0].Addr()}
		}
		nodes[i] = startNode(t, i, []uint32{testVNI}, join, block, opts...)
		addPortMAC(t, nodes[i], testMAC(i, 0))
	}
	return nodes
}

// clusterDiff explains the first way in which the live nodes' FDBs and
// flood lists differ from "every live node holds every other live node's
// MACs (owner → macs) as gossip entries behind its VTEP, and floods
// testVNI to every other live node's VTEP"; "" when they do not.
func clusterDiff(nodes []*testNode, live []int, macs map[int][]encap.MAC) string {
	for _, i := range live {
		tn := nodes[i]
		var wantFlood []netip.Addr
		for _, j := range live {
			if j != i {
				wantFlood = append(wantFlood, testVTEP(j))
			}
		}
		slices.SortFunc(wantFlood, netip.Addr.Compare)
		if got := tn.table.Flood(testVNI); !slices.Equal(got, wantFlood) {
			return fmt.Sprintf("n%d: unexpected flood list:\n- want: %v\n-  got: %v", i, wantFlood, got)
		}
		want := map[fdb.Key]fdb.Entry{}
		for j, ms := range macs {
			if j == i {
				continue
			}
			for _, m := range ms {
				want[fdb.Key{VNI: testVNI, MAC: m}] = fdb.Entry{Dest: fdb.Dest{Remote: testVTEP(j)}, Origin: fdb.OriginGossip, Owner: fmt.Sprintf("n%d", j)}
			}
		}
		got := map[fdb.Key]fdb.Entry{}
		for _, e := range tn.table.Entries(testVNI, false) {
			if e.Origin == fdb.OriginGossip {
				got[e.Key] = fdb.Entry{Dest: e.Dest, Origin: e.Origin, Owner: e.Owner}
			}
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || g != w {
				return fmt.Sprintf("n%d: unexpected entry for %s:\n- want: %v %v %s\n-  got: %v %v %q (present %v)", i, k, w.Dest, w.Origin, w.Owner, g.Dest, g.Origin, g.Owner, ok)
			}
		}
		for k, g := range got {
			if _, ok := want[k]; !ok {
				return fmt.Sprintf("n%d: unexpected extra entry %s → %v owned by %s", i, k, g.Dest, g.Owner)
			}
		}
	}
	return ""
}

func allMACs(live []int) map[int][]encap.MAC {
	m := map[int][]encap.MAC{}
	for _, i := range live {
		m[i] = []encap.MAC{testMAC(i, 0)}
	}
	return m
}

// TestClusterConverges: five nodes that only join node 0 end with every
// other node's MAC installed as a gossip entry owned by it, the flood list
// of the VNI holding every other node's VTEP, IsMember accepting exactly
// the members, and the neighbour bindings seen on one node known to all.
func TestClusterConverges(t *testing.T) {
	start := time.Now()
	nodes := startCluster(t, 5, false)
	live := []int{0, 1, 2, 3, 4}
	d := waitFor(t, 10*time.Second, "5-node convergence", func() string { return clusterDiff(nodes, live, allMACs(live)) })
	t.Logf("5 nodes converged %s after the last start (%s after the first)", d, time.Since(start))

	for _, tn := range nodes {
		for i := range nodes {
			want := tn.name != fmt.Sprintf("n%d", i)
			if got := tn.IsMember(testVTEP(i)); got != want {
				t.Errorf("%s: unexpected IsMember(%s):\n- want: %v\n-  got: %v", tn.name, testVTEP(i), want, got)
			}
		}
		if tn.IsMember(netip.MustParseAddr("203.0.113.99")) {
			t.Errorf("%s: IsMember accepts a stranger", tn.name)
		}
	}

	ip := netip.MustParseAddr("198.18.0.3")
	nodes[3].neigh.Observe(testVNI, ip, testMAC(3, 0), 1)
	d = waitFor(t, 5*time.Second, "binding distribution", func() string {
		for _, tn := range nodes {
			if got, ok := tn.neigh.Lookup(testVNI, ip); !ok || got != testMAC(3, 0) {
				return fmt.Sprintf("%s: unexpected binding of %s:\n- want: %s\n-  got: %s (%v)", tn.name, ip, testMAC(3, 0), got, ok)
			}
		}
		return ""
	})
	t.Logf("IP binding installed on all 5 nodes in %s", d)
	if nb, _ := nodes[0].neigh.Get(testVNI, ip); nb.Origin != fdb.OriginGossip || nb.Owner != "n3" {
		t.Errorf("unexpected binding origin/owner:\n- want: gossip n3\n-  got: %s %s", nb.Origin, nb.Owner)
	}

	peers := nodes[0].Peers()
	if len(peers) != 5 || !peers[0].Self || peers[0].Name != "n0" {
		t.Fatalf("unexpected peers of n0: %+v", peers)
	}
	for _, p := range peers[1:] {
		wantEntries := 1 // its MAC
		if p.Name == "n3" {
			wantEntries = 2 // and its binding
		}
		if p.State != "alive" || p.Entries != wantEntries || !slices.Equal(p.VNIs, []uint32{testVNI}) {
			t.Errorf("unexpected peer %+v:\n- want: alive, %d entries, VNIs [42]", p, wantEntries)
		}
	}
}

// TestMACMove: a MAC that moves from n1's port to n2's port points to n2
// on every node within 5 s (n2's announcement carries a larger version).
func TestMACMove(t *testing.T) {
	nodes := startCluster(t, 4, false)
	live := []int{0, 1, 2, 3}
	moving := testMAC(9, 9)
	addPortMAC(t, nodes[1], moving)
	macs := allMACs(live)
	macs[1] = append(macs[1], moving)
	waitFor(t, 10*time.Second, "convergence before the move", func() string { return clusterDiff(nodes, live, macs) })

	nodes[1].table.Delete(testVNI, moving) // the pod leaves n1...
	addPortMAC(t, nodes[2], moving)        // ...and comes up on n2
	macs[1] = macs[1][:1]
	macs[2] = append(macs[2], moving)
	d := waitFor(t, 5*time.Second, "MAC move", func() string { return clusterDiff(nodes, live, macs) })
	t.Logf("MAC move converged on 4 nodes in %s", d)

	// The reverse order (new port first, old withdrawn later) must give the
	// same result: a late withdrawal by n2 of a MAC now owned by n3 changes
	// nothing.
	addPortMAC(t, nodes[3], moving)
	nodes[2].table.Delete(testVNI, moving)
	macs[2] = macs[2][:1]
	macs[3] = append(macs[3], moving)
	d = waitFor(t, 5*time.Second, "second MAC move", func() string { return clusterDiff(nodes, live, macs) })
	t.Logf("second MAC move converged in %s", d)
}

// TestKillAndRestart: a node shut down without Leave loses its entries
// and flood-list place on every other node within 15 s; restarted with a
// new incarnation (and another MAC), its new entries arrive and the old
// ones stay gone.
func TestKillAndRestart(t *testing.T) {
	nodes := startCluster(t, 5, false)
	live := []int{0, 1, 2, 3, 4}
	waitFor(t, 10*time.Second, "convergence", func() string { return clusterDiff(nodes, live, allMACs(live)) })

	killed := time.Now()
	nodes[4].Shutdown()
	live = live[:4]
	d := waitFor(t, 15*time.Second, "purge of the killed node", func() string { return clusterDiff(nodes, live, allMACs(live)) })
	t.Logf("killed node purged from 4 nodes in %s", d)
	for _, tn := range nodes[:4] {
		if tn.IsMember(testVTEP(4)) {
			t.Errorf("%s: killed node still a member", tn.name)
		}
	}

	restarted := startNode(t, 4, []uint32{testVNI}, []string{nodes[0].Addr()}, false, withIncarnation(uint64(time.Now().UnixNano())))
	nodes[4] = restarted
	newMAC := testMAC(4, 1)
	addPortMAC(t, restarted, newMAC)
	live = append(live, 4)
	macs := allMACs(live)
	macs[4] = []encap.MAC{newMAC}
	d = waitFor(t, 15*time.Second, "rejoin after restart", func() string { return clusterDiff(nodes, live, macs) })
	t.Logf("restarted node's entries on all nodes %s after restart (%s after kill)", d, time.Since(killed))
}

// TestRestartWithoutDetection: a node restarted before the others noticed
// its death replaces its old entries through its new incarnation alone.
func TestRestartWithoutDetection(t *testing.T) {
	nodes := startCluster(t, 3, false)
	live := []int{0, 1, 2}
	waitFor(t, 10*time.Second, "convergence", func() string { return clusterDiff(nodes, live, allMACs(live)) })
	nodes[2].Shutdown()
	restarted := startNode(t, 2, []uint32{testVNI}, []string{nodes[0].Addr()}, false, withIncarnation(uint64(time.Now().UnixNano())))
	nodes[2] = restarted
	addPortMAC(t, restarted, testMAC(2, 7))
	macs := allMACs(live)
	macs[2] = []encap.MAC{testMAC(2, 7)}
	d := waitFor(t, 15*time.Second, "fast restart", func() string { return clusterDiff(nodes, live, macs) })
	t.Logf("fast restart converged in %s", d)
}

// TestWrongKey: a node with another key, or none, cannot join an
// encrypted cluster, and the members' FDBs never see its MAC.
func TestWrongKey(t *testing.T) {
	key := []byte("0123456789abcdef")
	nodes := startCluster(t, 2, false, withKeys(key))
	live := []int{0, 1}
	waitFor(t, 10*time.Second, "keyed convergence", func() string { return clusterDiff(nodes, live, allMACs(live)) })

	tests := []struct {
		name string
		opts []nodeOpt
	}{
		{name: "wrong key", opts: []nodeOpt{withKeys([]byte("fedcba9876543210"))}},
		{name: "no key"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			intruder := startNode(t, 5+i, []uint32{testVNI}, []string{nodes[0].Addr()}, false, tt.opts...)
			addPortMAC(t, intruder, testMAC(5+i, 0))
			time.Sleep(3 * time.Second) // several push/pull and gossip rounds
			if got := intruder.NumMembers(); got != 1 {
				t.Errorf("unexpected intruder cluster size:\n- want: 1\n-  got: %d", got)
			}
			if why := clusterDiff(nodes, live, allMACs(live)); why != "" {
				t.Errorf("members' FDB changed: %s", why)
			}
			for _, tn := range nodes {
				if tn.NumMembers() != 2 || tn.IsMember(testVTEP(5+i)) {
					t.Errorf("%s: intruder admitted (members %d)", tn.name, tn.NumMembers())
				}
			}
			intruder.Shutdown()
		})
	}
}

// TestPartitionHeal: a node cut off for longer than memberlist's dead-node
// memory is purged everywhere (and purges the others), and the periodic
// re-join makes one cluster again with every entry back.
func TestPartitionHeal(t *testing.T) {
	nodes := startCluster(t, 3, true)
	live := []int{0, 1, 2}
	waitFor(t, 10*time.Second, "convergence", func() string { return clusterDiff(nodes, live, allMACs(live)) })

	nodes[2].tr.blocked.Store(true)
	d := waitFor(t, 15*time.Second, "partition detected", func() string {
		if why := clusterDiff(nodes, []int{0, 1}, allMACs([]int{0, 1})); why != "" {
			return why
		}
		return clusterDiff(nodes, []int{2}, allMACs([]int{2}))
	})
	t.Logf("both sides purged each other %s after the partition", d)
	time.Sleep(3 * time.Second) // longer than GossipToTheDeadTime (2 s in tests)

	nodes[2].tr.blocked.Store(false)
	d = waitFor(t, 20*time.Second, "heal", func() string { return clusterDiff(nodes, live, allMACs(live)) })
	t.Logf("one cluster with all entries %s after the heal", d)
}

// TestPartitionHealLone: a node left alone by a partition longer than the
// dead-node memory retries its Join peers six times per RejoinInterval,
// so with a 60 s interval it is back within 15 s of the heal, long before
// the periodic re-join.
func TestPartitionHealLone(t *testing.T) {
	slow := func(c *Config) { c.RejoinInterval = time.Minute }
	nodes := startCluster(t, 3, true, slow)
	live := []int{0, 1, 2}
	waitFor(t, 10*time.Second, "convergence", func() string { return clusterDiff(nodes, live, allMACs(live)) })

	nodes[2].tr.blocked.Store(true)
	waitFor(t, 15*time.Second, "partition detected", func() string {
		if why := clusterDiff(nodes, []int{0, 1}, allMACs([]int{0, 1})); why != "" {
			return why
		}
		return clusterDiff(nodes, []int{2}, allMACs([]int{2}))
	})
	time.Sleep(3 * time.Second) // longer than GossipToTheDeadTime (2 s in tests)
	if got := nodes[2].NumMembers(); got != 1 {
		t.Fatalf("unexpected members of the cut node:\n- want: 1\n-  got: %d", got)
	}
	nodes[2].tr.blocked.Store(false)
	d := waitFor(t, 15*time.Second, "heal", func() string { return clusterDiff(nodes, live, allMACs(live)) })
	t.Logf("one cluster with all entries %s after the heal", d)
}

// TestConcurrentJoinsConverge: nodes that start at the same time, each
// with its local MAC in the table before Start (as the daemon starts) and
// each joining only node 0, learn every other node's MAC within seconds
// with periodic push/pull out of the picture (an hour apart). Before
// members greeted new members with their own entries, a joiner's
// announcements were spent on node 0 before it knew the other joiners, and
// some entries waited for the next push/pull.
func TestConcurrentJoinsConverge(t *testing.T) {
	const n = 12
	noPushPull := func(c *memberlist.Config) {
		fastTiming(c)
		c.PushPullInterval = time.Hour
		// memberlist's own alive messages have the same problem as our
		// announcements; retransmitted often enough, membership converges
		// by gossip alone, which is what this test needs to look past.
		c.RetransmitMult = 16
		// Failure detection is not under test, and a member wrongly
		// declared dead has its entries purged, which without push/pull
		// nothing restores within the test's time (12 nodes in one
		// process under the race detector and a busy CPU: 5 of 15 runs
		// failed so with fastTiming's 100 ms probe timeout).
		c.ProbeInterval = 2 * time.Second
		c.ProbeTimeout = time.Second
		c.SuspicionMult = 4
	}
	start := func(i int, join []string) (*testNode, error) {
		tn := &testNode{table: fdb.New(fdb.DefaultConfig()), neigh: fdb.NewNeighTable()}
		if err := tn.table.Add(fdb.Entry{Key: fdb.Key{VNI: testVNI, MAC: testMAC(i, 0)}, Dest: fdb.Dest{Port: 1}, Origin: fdb.OriginLocal}); err != nil {
			return nil, err
		}
		cfg := DefaultLocalConfig()
		cfg.Name = fmt.Sprintf("n%d", i)
		cfg.VTEP = testVTEP(i)
		cfg.BindAddr = netip.MustParseAddrPort("127.0.0.1:0")
		cfg.Join = join
		cfg.RejoinInterval = -1
		cfg.Memberlist = noPushPull
		nd, err := New(cfg, tn.table, tn.neigh)
		if err != nil {
			return nil, err
		}
		if err := nd.SetVNIs([]uint32{testVNI}); err != nil {
			return nil, err
		}
		if err := nd.Start(); err != nil {
			return nil, err
		}
		tn.Node = nd
		return tn, nil
	}
	nodes := make([]*testNode, n)
	var err error
	if nodes[0], err = start(0, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nodes[0].Shutdown() })
	join := []string{nodes[0].Addr()}
	errs := make(chan error, n)
	for i := 1; i < n; i++ {
		go func() {
			tn, err := start(i, join)
			nodes[i] = tn
			errs <- err
		}()
	}
	for i := 1; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, tn := range nodes[1:] {
		if tn != nil {
			t.Cleanup(func() { tn.Shutdown() })
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	live := make([]int, n)
	for i := range live {
		live[i] = i
	}
	took := waitFor(t, 10*time.Second, "every node holds every other node's MAC", func() string {
		return clusterDiff(nodes, live, allMACs(live))
	})
	t.Logf("%d nodes started at once converged in %v without push/pull", n, took.Round(time.Millisecond))
	var greetings uint64
	for _, tn := range nodes {
		greetings += tn.Stats().Greetings
	}
	if greetings == 0 {
		t.Errorf("unexpected greetings:\n- want: > 0\n-  got: 0")
	}
}

// TestGreetBackAfterFalseDeath: memberlist tells n0 that n1 died and then
// that it is alive again, as it does for a member wrongly declared dead
// that refuted it. n0 purges n1's entries and greets n1; n1, which never
// saw n0 leave, greets it back (greetBack), so n1's entries are back at n0
// within a round trip, not at the next push/pull (off here).
func TestGreetBackAfterFalseDeath(t *testing.T) {
	// Restored after the nodes shut down (cleanups run last in, first out).
	d := greetBackAfter
	t.Cleanup(func() { greetBackAfter = d })
	greetBackAfter = 300 * time.Millisecond
	noPushPull := func(c *Config) {
		c.RejoinInterval = -1 // a re-join is a push/pull too
		c.Memberlist = func(mc *memberlist.Config) {
			fastTiming(mc)
			mc.PushPullInterval = time.Hour
		}
	}
	nodes := startCluster(t, 2, false, noPushPull)
	live := []int{0, 1}
	waitFor(t, 10*time.Second, "convergence", func() string { return clusterDiff(nodes, live, allMACs(live)) })
	time.Sleep(2 * greetBackAfter) // the join's greetings are older than the window

	var n1 memberlist.Node
	for _, m := range nodes[0].ml.Load().Members() {
		if m.Name == "n1" {
			n1 = *m
		}
	}
	if n1.Name == "" {
		t.Fatal("n0 does not know n1")
	}
	ev := (*events)(nodes[0].Node)
	dead := n1
	dead.State = memberlist.StateDead
	ev.NotifyLeave(&dead)
	waitFor(t, 5*time.Second, "n0 purged n1's entries", func() string {
		if _, ok := nodes[0].table.Lookup(testVNI, testMAC(1, 0)); ok {
			return "n1's MAC still at n0"
		}
		return ""
	})
	alive := n1
	alive.State = memberlist.StateAlive
	ev.NotifyJoin(&alive)
	waitFor(t, 5*time.Second, "n1's entries back at n0", func() string { return clusterDiff(nodes, live, allMACs(live)) })
	if got := nodes[1].Stats().Greetings; got < 2 {
		t.Errorf("unexpected greetings by n1 (the join's and the greeting back):\n- want: >= 2\n-  got: %d", got)
	}
}
