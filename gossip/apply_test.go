package gossip

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vxswitch/vxswitch/fdb"
)

// newIdleNode returns a Node that is not started, for driving the apply
// logic directly. Static remote 203.0.113.1 floods VNI 42.
func newIdleNode(t testing.TB) (*Node, *fdb.Table, *fdb.NeighTable) {
	t.Helper()
	table := fdb.New(fdb.DefaultConfig())
	table.AddFlood(testVNI, netip.MustParseAddr("203.0.113.1"))
	neigh := fdb.NewNeighTable()
	cfg := DefaultLocalConfig()
	cfg.Name, cfg.VTEP, cfg.Incarnation = "me", testVTEP(0), 1
	n, err := New(cfg, table, neigh)
	if err != nil {
		t.Fatal(err)
	}
	return n, table, neigh
}

func macRec(owner string, inc, v uint64, j int) record {
	return record{kind: kindMAC, vni: testVNI, mac: testMAC(9, j), version: v, incarnation: inc, owner: owner, vtep: testVTEP(5)}
}

// entriesSummary renders the gossip entries as "mac→owner/inc/v".
func entriesSummary(table *fdb.Table) []string {
	var out []string
	for _, e := range table.Entries(0, true) {
		out = append(out, fmt.Sprintf("%s→%s/%d/%d/%s", e.MAC, e.Owner, e.Incarnation, e.Version, e.Origin))
	}
	return out
}

func TestApplyRecords(t *testing.T) {
	m := func(j int) string { return testMAC(9, j).String() }
	del := func(r record) record { r.deleted = true; return r }
	tests := []struct {
		name string
		pre  func(table *fdb.Table)
		in   []record
		want []string
	}{
		{name: "install", in: []record{macRec("a", 1, 5, 0)}, want: []string{m(0) + "→a/1/5/gossip"}},
		{name: "newer version from another owner wins (move)", in: []record{macRec("a", 1, 5, 0), macRec("b", 1, 6, 0)}, want: []string{m(0) + "→b/1/6/gossip"}},
		{name: "older version loses", in: []record{macRec("b", 1, 6, 0), macRec("a", 1, 5, 0)}, want: []string{m(0) + "→b/1/6/gossip"}},
		{name: "tombstone of the owner removes", in: []record{macRec("a", 1, 5, 0), del(macRec("a", 1, 6, 0))}, want: nil},
		{name: "tombstone of a former owner changes nothing", in: []record{macRec("b", 1, 6, 0), del(macRec("a", 1, 7, 0))}, want: []string{m(0) + "→b/1/6/gossip"}},
		{name: "new incarnation purges the old one's entries", in: []record{macRec("a", 1, 5, 0), macRec("a", 1, 6, 1), macRec("a", 2, 1, 2)}, want: []string{m(2) + "→a/2/1/gossip"}},
		{name: "older incarnation is ignored", in: []record{macRec("a", 2, 1, 0), macRec("a", 1, 9, 1)}, want: []string{m(0) + "→a/2/1/gossip"}},
		{name: "own announcements are ignored", in: []record{macRec("me", 1, 5, 0)}, want: nil},
		{
			name: "static entry is never overridden",
			pre: func(table *fdb.Table) {
				table.Add(fdb.Entry{Key: fdb.Key{VNI: testVNI, MAC: testMAC(9, 0)}, Dest: fdb.Dest{Remote: testVTEP(7)}, Origin: fdb.OriginStatic})
			},
			in: []record{macRec("a", 1, 5, 0)}, want: []string{m(0) + "→/0/0/static"},
		},
		{
			name: "learned remote entry is replaced",
			pre: func(table *fdb.Table) {
				table.Learn(testVNI, testMAC(9, 0), fdb.Dest{Remote: testVTEP(7)})
			},
			in: []record{macRec("a", 1, 5, 0)}, want: []string{m(0) + "→a/1/5/gossip"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, table, _ := newIdleNode(t)
			if tt.pre != nil {
				tt.pre(table)
			}
			for i := range tt.in {
				n.applyRecord(&tt.in[i])
			}
			got := entriesSummary(table)
			if fmt.Sprint(tt.want) != fmt.Sprint(got) {
				t.Errorf("unexpected entries:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

// TestApplyStateAuthoritative: a complete state removes the sender's
// entries it no longer lists (unless newer than its snapshot) and adds
// the others'; a truncated one only adds.
func TestApplyStateAuthoritative(t *testing.T) {
	for _, truncated := range []bool{false, true} {
		t.Run(fmt.Sprint("truncated=", truncated), func(t *testing.T) {
			n, table, _ := newIdleNode(t)
			for _, r := range []record{macRec("a", 1, 5, 0), macRec("a", 1, 6, 1), macRec("a", 1, 50, 2)} {
				n.applyRecord(&r)
			}
			st := &state{owner: "a", incarnation: 1, clock: 20, truncated: truncated,
				own: []record{macRec("a", 1, 5, 0)}, others: []record{macRec("b", 1, 7, 3)}}
			n.applyState(st, true)
			want := []string{testMAC(9, 0).String() + "→a/1/5/gossip"}
			if truncated {
				want = append(want, testMAC(9, 1).String()+"→a/1/6/gossip")
			}
			want = append(want, testMAC(9, 2).String()+"→a/1/50/gossip", testMAC(9, 3).String()+"→b/1/7/gossip")
			if got := entriesSummary(table); fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("unexpected entries:\n- want: %v\n-  got: %v", want, got)
			}
		})
	}
}

// TestLocalEntriesAnnounced: local entries of any origin are queued as
// broadcasts with increasing versions, deletions as tombstones, and
// remote or gossip entries are not announced.
func TestLocalEntriesAnnounced(t *testing.T) {
	n, table, neigh := newIdleNode(t)
	table.OnChange(n.onFDBEvent)
	neigh.OnChange(n.onNeighEvent)
	table.Add(fdb.Entry{Key: fdb.Key{VNI: testVNI, MAC: testMAC(0, 1)}, Dest: fdb.Dest{Port: 3}, Origin: fdb.OriginLocal})
	table.Learn(testVNI, testMAC(0, 2), fdb.Dest{Port: 3})
	table.Learn(testVNI, testMAC(0, 3), fdb.Dest{Remote: testVTEP(3)})
	neigh.Observe(testVNI, netip.MustParseAddr("198.18.0.9"), testMAC(0, 2), 3)
	if got := n.Stats().OwnEntries; got != 3 {
		t.Fatalf("unexpected own entries:\n- want: 3\n-  got: %d", got)
	}
	v1 := n.ownVersion(fdb.Key{VNI: testVNI, MAC: testMAC(0, 1)}.String())
	v2 := n.ownVersion(fdb.Key{VNI: testVNI, MAC: testMAC(0, 2)}.String())
	if v1 == 0 || v2 <= v1 {
		t.Errorf("versions do not increase: %d then %d", v1, v2)
	}
	table.Delete(testVNI, testMAC(0, 1))
	if got := n.Stats().OwnEntries; got != 2 {
		t.Errorf("unexpected own entries after delete:\n- want: 2\n-  got: %d", got)
	}
	msgs := n.queue.GetBroadcasts(0, 1<<20)
	var tombstones int
	for _, b := range msgs {
		r, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if r.deleted {
			tombstones++
		}
	}
	// Three entries announced, one replaced by its tombstone in the queue
	// (same name).
	if len(msgs) != 3 || tombstones != 1 {
		t.Errorf("unexpected broadcasts:\n- want: 3 with 1 tombstone\n-  got: %d with %d", len(msgs), tombstones)
	}
}

// TestFloodAndMembers: flood lists are the static remotes plus the live
// members serving the VNI, and follow leaves.
func TestFloodAndMembers(t *testing.T) {
	n, table, _ := newIdleNode(t)
	static := netip.MustParseAddr("203.0.113.1")
	setPeer := func(name string, vtep netip.Addr, state string, vnis ...uint32) {
		n.peers.m[name] = &peer{name: name, meta: Meta{VTEP: vtep, VXLANPort: 4789, VNIs: vnis}, metaOK: true, state: state}
	}
	setPeer("a", testVTEP(1), "alive", testVNI, 7)
	setPeer("b", testVTEP(2), "alive", 7)
	n.recomputeMembership()
	tests := []struct {
		vni  uint32
		want []netip.Addr
	}{
		{testVNI, []netip.Addr{static, testVTEP(1)}},
		{7, []netip.Addr{testVTEP(1), testVTEP(2)}},
	}
	for _, tt := range tests {
		if got := table.Flood(tt.vni); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("VNI %d: unexpected flood list:\n- want: %v\n-  got: %v", tt.vni, tt.want, got)
		}
	}
	if !n.IsMember(testVTEP(2)) || !n.IsMember(static) || n.IsMember(testVTEP(3)) {
		t.Errorf("unexpected member set")
	}
	setPeer("b", testVTEP(2), "dead", 7)
	n.recomputeMembership()
	if got := table.Flood(7); fmt.Sprint(got) != fmt.Sprint([]netip.Addr{testVTEP(1)}) {
		t.Errorf("unexpected flood list after leave:\n- want: [%s]\n-  got: %v", testVTEP(1), got)
	}
	if n.IsMember(testVTEP(2)) {
		t.Errorf("dead member still accepted")
	}
}

func TestAllocsIsMember(t *testing.T) {
	n, _, _ := newIdleNode(t)
	a := netip.MustParseAddr("203.0.113.1")
	if got := testing.AllocsPerRun(1000, func() { n.IsMember(a) }); got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
}

func BenchmarkIsMember(b *testing.B) {
	n, _, _ := newIdleNode(b)
	a := netip.MustParseAddr("203.0.113.1")
	b.ReportAllocs()
	for b.Loop() {
		n.IsMember(a)
	}
}
