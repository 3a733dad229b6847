package fdb

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vxswitch/vxswitch/encap"
)

func TestLearn(t *testing.T) {
	m1 := mac("02:00:00:00:00:01")
	port1 := Dest{Port: 1}
	vtepA := Dest{Remote: remoteA}
	vtepB := Dest{Remote: remoteB}

	tests := []struct {
		name      string
		cap       int
		setup     func(t *testing.T, tb *Table, c *fakeClock)
		vni       uint32
		mac       encap.MAC
		dest      Dest
		want      LearnResult
		wantEntry *Entry // nil: no entry for (vni, mac) afterwards
		wantStats Stats
	}{
		{
			name: "new MAC is added",
			vni:  10, mac: m1, dest: vtepA,
			want:      LearnAdded,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 1, Learned: 1},
		},
		{
			name: "same dest refreshes the timestamp",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, m1, vtepA)
			},
			vni: 10, mac: m1, dest: vtepA,
			want:      LearnRefreshed,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 1, Learned: 1},
		},
		{
			name: "new remote moves a learned entry",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, m1, vtepA)
			},
			vni: 10, mac: m1, dest: vtepB,
			want:      LearnMoved,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepB, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 1, Learned: 1, Moves: 1},
		},
		{
			name: "remote to local port is a move",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, m1, vtepA)
			},
			vni: 10, mac: m1, dest: port1,
			want:      LearnMoved,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: port1, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 1, Learned: 1, Moves: 1},
		},
		{
			name: "same MAC in another VNI is a separate entry",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, m1, vtepA)
			},
			vni: 11, mac: m1, dest: vtepB,
			want:      LearnAdded,
			wantEntry: &Entry{Key: Key{11, m1}, Dest: vtepB, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 2, Learned: 2},
		},
		{
			name: "static entry is never moved",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				mustAdd(t, tb, Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginStatic})
			},
			vni: 10, mac: m1, dest: vtepB,
			want:      LearnIgnoredControlPlane,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginStatic, Updated: epoch},
			wantStats: Stats{Entries: 1},
		},
		{
			name: "static entry is not refreshed by traffic",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				mustAdd(t, tb, Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginStatic})
			},
			vni: 10, mac: m1, dest: vtepA,
			want:      LearnIgnoredControlPlane,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginStatic, Updated: epoch},
			wantStats: Stats{Entries: 1},
		},
		{
			name: "local entry is never moved",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				mustAdd(t, tb, Entry{Key: Key{10, m1}, Dest: port1, Origin: OriginLocal})
			},
			vni: 10, mac: m1, dest: vtepA,
			want:      LearnIgnoredControlPlane,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: port1, Origin: OriginLocal, Updated: epoch},
			wantStats: Stats{Entries: 1},
		},
		{
			name: "gossip entry is never moved",
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				mustAdd(t, tb, Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginGossip, Owner: "node-a", Version: 7, Incarnation: 2})
			},
			vni: 10, mac: m1, dest: vtepB,
			want:      LearnIgnoredControlPlane,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginGossip, Updated: epoch, Owner: "node-a", Version: 7, Incarnation: 2},
			wantStats: Stats{Entries: 1},
		},
		{
			name: "broadcast source is rejected",
			vni:  10, mac: encap.BroadcastMAC, dest: vtepA,
			want:      LearnRejectedMAC,
			wantStats: Stats{LearnRejectedMAC: 1},
		},
		{
			name: "multicast source is rejected",
			vni:  10, mac: mac("01:00:5e:00:00:01"), dest: vtepA,
			want:      LearnRejectedMAC,
			wantStats: Stats{LearnRejectedMAC: 1},
		},
		{
			name: "zero source is rejected",
			vni:  10, mac: encap.MAC{}, dest: vtepA,
			want:      LearnRejectedMAC,
			wantStats: Stats{LearnRejectedMAC: 1},
		},
		{
			name: "zero dest is rejected",
			vni:  10, mac: m1, dest: Dest{},
			want:      LearnRejectedInvalid,
			wantStats: Stats{LearnRejectedInvalid: 1},
		},
		{
			name: "port and remote together are rejected",
			vni:  10, mac: m1, dest: Dest{Port: 1, Remote: remoteA},
			want:      LearnRejectedInvalid,
			wantStats: Stats{LearnRejectedInvalid: 1},
		},
		{
			name: "unspecified remote is rejected",
			vni:  10, mac: m1, dest: Dest{Remote: netip.IPv4Unspecified()},
			want:      LearnRejectedInvalid,
			wantStats: Stats{LearnRejectedInvalid: 1},
		},
		{
			name: "VNI above 24 bits is rejected",
			vni:  MaxVNI + 1, mac: m1, dest: vtepA,
			want:      LearnRejectedInvalid,
			wantStats: Stats{LearnRejectedInvalid: 1},
		},
		{
			name: "cap reached: not added, counted",
			cap:  2,
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, macN(100), vtepA)
				tb.Learn(10, macN(101), vtepA)
			},
			vni: 10, mac: m1, dest: vtepA,
			want:      LearnRejectedCap,
			wantStats: Stats{Entries: 2, Learned: 2, LearnRejectedCap: 1},
		},
		{
			name: "cap is per VNI",
			cap:  2,
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, macN(100), vtepA)
				tb.Learn(10, macN(101), vtepA)
			},
			vni: 11, mac: m1, dest: vtepA,
			want:      LearnAdded,
			wantEntry: &Entry{Key: Key{11, m1}, Dest: vtepA, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 3, Learned: 3},
		},
		{
			name: "control-plane entries do not count against the cap",
			cap:  1,
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				mustAdd(t, tb, Entry{Key: Key{10, macN(100)}, Dest: port1, Origin: OriginLocal})
				mustAdd(t, tb, Entry{Key: Key{10, macN(101)}, Dest: vtepB, Origin: OriginStatic})
			},
			vni: 10, mac: m1, dest: vtepA,
			want:      LearnAdded,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 3, Learned: 1},
		},
		{
			name: "at the cap an existing entry still moves",
			cap:  1,
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, m1, vtepA)
			},
			vni: 10, mac: m1, dest: vtepB,
			want:      LearnMoved,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepB, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 1, Learned: 1, Moves: 1},
		},
		{
			name: "ageing frees room under the cap",
			cap:  1,
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, macN(100), vtepA)
				c.Advance(DefaultAgeing + time.Second)
				tb.Age()
				c.ns.Store(epoch.UnixNano())
			},
			vni: 10, mac: m1, dest: vtepA,
			want:      LearnAdded,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 1, Learned: 1, Aged: 1},
		},
		{
			name: "a static entry replacing a learned one frees room under the cap",
			cap:  1,
			setup: func(t *testing.T, tb *Table, c *fakeClock) {
				tb.Learn(10, macN(100), vtepA)
				mustAdd(t, tb, Entry{Key: Key{10, macN(100)}, Dest: vtepB, Origin: OriginStatic})
			},
			vni: 10, mac: m1, dest: vtepA,
			want:      LearnAdded,
			wantEntry: &Entry{Key: Key{10, m1}, Dest: vtepA, Origin: OriginLearned, Updated: epoch.Add(time.Second)},
			wantStats: Stats{Entries: 2, Learned: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, c := newTestTable(0, tt.cap)
			if tt.setup != nil {
				tt.setup(t, tb, c)
			}
			c.Advance(time.Second)
			if got := tb.Learn(tt.vni, tt.mac, tt.dest); got != tt.want {
				t.Fatalf("unexpected Learn result:\n- want: %v\n-  got: %v", tt.want, got)
			}
			got, ok := tb.Get(tt.vni, tt.mac)
			if (tt.wantEntry != nil) != ok {
				t.Fatalf("unexpected entry presence:\n- want: %v\n-  got: %v (%v)", tt.wantEntry != nil, ok, got)
			}
			if ok {
				if diff := cmp.Diff(*tt.wantEntry, got, cmpOpts...); diff != "" {
					t.Errorf("unexpected entry (-want +got):\n%s", diff)
				}
				d, lok := tb.Lookup(tt.vni, tt.mac)
				if !lok || d != tt.wantEntry.Dest {
					t.Errorf("unexpected Lookup:\n- want: %v true\n-  got: %v %v", tt.wantEntry.Dest, d, lok)
				}
			}
			if diff := cmp.Diff(tt.wantStats, tb.Stats()); diff != "" {
				t.Errorf("unexpected stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLearnDefaultCap(t *testing.T) {
	tb, _ := newTestTable(0, 0)
	for i := range DefaultMaxLearnedPerVNI {
		if r := tb.Learn(1, macN(i+1), Dest{Remote: remoteA}); r != LearnAdded {
			t.Fatalf("unexpected result for MAC %d:\n- want: %v\n-  got: %v", i, LearnAdded, r)
		}
	}
	if r := tb.Learn(1, macN(DefaultMaxLearnedPerVNI+1), Dest{Remote: remoteA}); r != LearnRejectedCap {
		t.Fatalf("unexpected result beyond the default cap:\n- want: %v\n-  got: %v", LearnRejectedCap, r)
	}
	if got := tb.LearnedInVNI(1); got != DefaultMaxLearnedPerVNI {
		t.Errorf("unexpected LearnedInVNI:\n- want: %v\n-  got: %v", DefaultMaxLearnedPerVNI, got)
	}
}

func TestLearnUnlimited(t *testing.T) {
	tb, _ := newTestTable(0, -1)
	const n = DefaultMaxLearnedPerVNI + 10
	for i := range n {
		if r := tb.Learn(1, macN(i+1), Dest{Port: 1}); r != LearnAdded {
			t.Fatalf("unexpected result for MAC %d:\n- want: %v\n-  got: %v", i, LearnAdded, r)
		}
	}
	if got := tb.Len(); got != n {
		t.Errorf("unexpected Len:\n- want: %v\n-  got: %v", n, got)
	}
}

func TestAdd(t *testing.T) {
	m1 := mac("02:00:00:00:00:01")
	tests := []struct {
		name    string
		in      Entry
		wantErr error
	}{
		{name: "static remote", in: Entry{Key: Key{1, m1}, Dest: Dest{Remote: remoteA}, Origin: OriginStatic}},
		{name: "static IPv6 remote", in: Entry{Key: Key{1, m1}, Dest: Dest{Remote: remoteC}, Origin: OriginStatic}},
		{name: "local port", in: Entry{Key: Key{1, m1}, Dest: Dest{Port: 3}, Origin: OriginLocal}},
		{name: "gossip with owner", in: Entry{Key: Key{1, m1}, Dest: Dest{Remote: remoteB}, Origin: OriginGossip, Owner: "b", Version: 3, Incarnation: 1}},
		{name: "VNI 0", in: Entry{Key: Key{0, m1}, Dest: Dest{Port: 3}, Origin: OriginLocal}},
		{name: "largest VNI", in: Entry{Key: Key{MaxVNI, m1}, Dest: Dest{Port: 3}, Origin: OriginLocal}},
		{name: "VNI above 24 bits", in: Entry{Key: Key{MaxVNI + 1, m1}, Dest: Dest{Port: 3}, Origin: OriginLocal}, wantErr: ErrInvalidVNI},
		{name: "broadcast MAC", in: Entry{Key: Key{1, encap.BroadcastMAC}, Dest: Dest{Port: 3}, Origin: OriginStatic}, wantErr: ErrInvalidMAC},
		{name: "multicast MAC", in: Entry{Key: Key{1, mac("33:33:00:00:00:01")}, Dest: Dest{Port: 3}, Origin: OriginStatic}, wantErr: ErrInvalidMAC},
		{name: "zero MAC", in: Entry{Key: Key{1, encap.MAC{}}, Dest: Dest{Port: 3}, Origin: OriginStatic}, wantErr: ErrInvalidMAC},
		{name: "no dest", in: Entry{Key: Key{1, m1}, Origin: OriginStatic}, wantErr: ErrInvalidDest},
		{name: "port and remote", in: Entry{Key: Key{1, m1}, Dest: Dest{Port: 1, Remote: remoteA}, Origin: OriginStatic}, wantErr: ErrInvalidDest},
		{name: "unspecified remote", in: Entry{Key: Key{1, m1}, Dest: Dest{Remote: netip.IPv6Unspecified()}, Origin: OriginStatic}, wantErr: ErrInvalidDest},
		{name: "learned origin", in: Entry{Key: Key{1, m1}, Dest: Dest{Port: 1}, Origin: OriginLearned}, wantErr: ErrInvalidOrigin},
		{name: "zero origin", in: Entry{Key: Key{1, m1}, Dest: Dest{Port: 1}}, wantErr: ErrInvalidOrigin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, _ := newTestTable(0, 0)
			err := tb.Add(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
			got, ok := tb.Get(tt.in.VNI, tt.in.MAC)
			if tt.wantErr != nil {
				if ok || tb.Len() != 0 {
					t.Fatalf("invalid entry was installed: %v", got)
				}
				return
			}
			want := tt.in
			want.Updated = epoch
			if diff := cmp.Diff(want, got, cmpOpts...); !ok || diff != "" {
				t.Errorf("unexpected entry (ok=%v) (-want +got):\n%s", ok, diff)
			}
		})
	}
}

func TestAddReplaces(t *testing.T) {
	m1 := mac("02:00:00:00:00:01")
	tb, c := newTestTable(0, 0)
	tb.Learn(1, m1, Dest{Remote: remoteA})
	c.Advance(time.Minute)
	given := epoch.Add(-time.Hour)
	mustAdd(t, tb, Entry{Key: Key{1, m1}, Dest: Dest{Remote: remoteB}, Origin: OriginGossip, Owner: "b", Updated: given})
	mustAdd(t, tb, Entry{Key: Key{1, m1}, Dest: Dest{Port: 4}, Origin: OriginLocal})
	want := Entry{Key: Key{1, m1}, Dest: Dest{Port: 4}, Origin: OriginLocal, Updated: epoch.Add(time.Minute)}
	got, _ := tb.Get(1, m1)
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("unexpected entry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{Entries: 1}, tb.Stats()); diff != "" {
		t.Errorf("unexpected stats (-want +got):\n%s", diff)
	}
}

func TestAge(t *testing.T) {
	const ageing = 10 * time.Second
	m1, m2, m3 := macN(1), macN(2), macN(3)
	tests := []struct {
		name     string
		ageing   time.Duration
		run      func(tb *Table, c *fakeClock)
		wantAged int
		wantKeys []Key
	}{
		{
			name:   "idle exactly Ageing is kept",
			ageing: ageing,
			run: func(tb *Table, c *fakeClock) {
				tb.Learn(1, m1, Dest{Port: 1})
				c.Advance(ageing)
			},
			wantKeys: []Key{{1, m1}},
		},
		{
			name:   "idle longer than Ageing is removed",
			ageing: ageing,
			run: func(tb *Table, c *fakeClock) {
				tb.Learn(1, m1, Dest{Port: 1})
				c.Advance(ageing + 1)
			},
			wantAged: 1,
		},
		{
			name:   "traffic refreshes",
			ageing: ageing,
			run: func(tb *Table, c *fakeClock) {
				tb.Learn(1, m1, Dest{Port: 1})
				tb.Learn(1, m2, Dest{Port: 1})
				c.Advance(ageing / 2)
				tb.Learn(1, m1, Dest{Port: 1})
				c.Advance(ageing/2 + 1)
			},
			wantAged: 1,
			wantKeys: []Key{{1, m1}},
		},
		{
			name:   "a move restarts the idle time",
			ageing: ageing,
			run: func(tb *Table, c *fakeClock) {
				tb.Learn(1, m1, Dest{Port: 1})
				c.Advance(ageing)
				tb.Learn(1, m1, Dest{Port: 2})
				c.Advance(1)
			},
			wantKeys: []Key{{1, m1}},
		},
		{
			name:   "control-plane entries never age",
			ageing: ageing,
			run: func(tb *Table, c *fakeClock) {
				tb.Add(Entry{Key: Key{1, m1}, Dest: Dest{Port: 1}, Origin: OriginLocal})
				tb.Add(Entry{Key: Key{1, m2}, Dest: Dest{Remote: remoteA}, Origin: OriginStatic})
				tb.Add(Entry{Key: Key{2, m3}, Dest: Dest{Remote: remoteB}, Origin: OriginGossip, Owner: "n"})
				tb.Learn(2, m1, Dest{Remote: remoteA})
				c.Advance(1000 * ageing)
			},
			wantAged: 1,
			wantKeys: []Key{{1, m1}, {1, m2}, {2, m3}},
		},
		{
			name: "default ageing is 300s",
			run: func(tb *Table, c *fakeClock) {
				tb.Learn(1, m1, Dest{Port: 1})
				tb.Learn(1, m2, Dest{Port: 1})
				c.Advance(time.Second)
				tb.Learn(1, m2, Dest{Port: 1})
				c.Advance(300*time.Second - time.Second + 1)
			},
			wantAged: 1,
			wantKeys: []Key{{1, m2}},
		},
		{
			name:   "negative ageing disables ageing",
			ageing: -1,
			run: func(tb *Table, c *fakeClock) {
				tb.Learn(1, m1, Dest{Port: 1})
				c.Advance(24 * time.Hour)
			},
			wantKeys: []Key{{1, m1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, c := newTestTable(tt.ageing, 0)
			tt.run(tb, c)
			if got := tb.Age(); got != tt.wantAged {
				t.Errorf("unexpected Age result:\n- want: %v\n-  got: %v", tt.wantAged, got)
			}
			var gotKeys []Key
			for _, e := range tb.Entries(0, true) {
				gotKeys = append(gotKeys, e.Key)
			}
			if diff := cmp.Diff(tt.wantKeys, gotKeys); diff != "" {
				t.Errorf("unexpected keys after Age (-want +got):\n%s", diff)
			}
			if got := tb.Stats().Aged; got != uint64(tt.wantAged) {
				t.Errorf("unexpected Stats.Aged:\n- want: %v\n-  got: %v", tt.wantAged, got)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tb, _ := newTestTable(0, 1)
	m1 := macN(1)
	tb.Learn(1, m1, Dest{Port: 1})
	mustAdd(t, tb, Entry{Key: Key{2, m1}, Dest: Dest{Port: 1}, Origin: OriginStatic})
	tests := []struct {
		name string
		vni  uint32
		want bool
	}{
		{"learned", 1, true},
		{"learned again", 1, false},
		{"static", 2, true},
		{"never there", 3, false},
	}
	for _, tt := range tests {
		if got := tb.Delete(tt.vni, m1); got != tt.want {
			t.Errorf("%s: unexpected Delete result:\n- want: %v\n-  got: %v", tt.name, tt.want, got)
		}
		if _, ok := tb.Lookup(tt.vni, m1); ok {
			t.Errorf("%s: entry still found after Delete", tt.name)
		}
	}
	// The deleted learned entry no longer counts against the cap of 1.
	if r := tb.Learn(1, macN(2), Dest{Port: 1}); r != LearnAdded {
		t.Errorf("unexpected Learn after Delete:\n- want: %v\n-  got: %v", LearnAdded, r)
	}
}

func TestDeleteIf(t *testing.T) {
	tb, _ := newTestTable(0, 0)
	tb.Learn(1, macN(1), Dest{Port: 1})
	tb.Learn(1, macN(2), Dest{Port: 2})
	tb.Learn(2, macN(3), Dest{Port: 1})
	mustAdd(t, tb, Entry{Key: Key{1, macN(4)}, Dest: Dest{Port: 1}, Origin: OriginLocal})
	mustAdd(t, tb, Entry{Key: Key{1, macN(5)}, Dest: Dest{Remote: remoteA}, Origin: OriginGossip, Owner: "a"})
	mustAdd(t, tb, Entry{Key: Key{2, macN(6)}, Dest: Dest{Remote: remoteB}, Origin: OriginGossip, Owner: "b"})

	if got := tb.DeleteIf(func(e Entry) bool { return e.Port == 1 }); got != 3 {
		t.Errorf("unexpected count removing port 1:\n- want: %v\n-  got: %v", 3, got)
	}
	if got := tb.DeleteIf(func(e Entry) bool { return e.Origin == OriginGossip && e.Owner == "a" }); got != 1 {
		t.Errorf("unexpected count removing owner a:\n- want: %v\n-  got: %v", 1, got)
	}
	var got []Key
	for _, e := range tb.Entries(0, true) {
		got = append(got, e.Key)
	}
	want := []Key{{1, macN(2)}, {2, macN(6)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected remaining keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{Entries: 2, Learned: 1}, tb.Stats()); diff != "" {
		t.Errorf("unexpected stats (-want +got):\n%s", diff)
	}
}

func TestEntries(t *testing.T) {
	tb, _ := newTestTable(0, 0)
	// Insert in scrambled order; many keys so they land in many shards.
	var want1, wantAll []Key
	for vni := uint32(3); vni >= 1; vni-- {
		for i := 40; i >= 1; i-- {
			tb.Learn(vni, macN(i*37%41+1), Dest{Port: vni})
		}
	}
	for vni := uint32(1); vni <= 3; vni++ {
		for i := 1; i <= 41; i++ {
			if _, ok := tb.Get(vni, macN(i)); ok {
				wantAll = append(wantAll, Key{vni, macN(i)})
				if vni == 2 {
					want1 = append(want1, Key{vni, macN(i)})
				}
			}
		}
	}
	keys := func(es []Entry) []Key {
		var ks []Key
		for _, e := range es {
			ks = append(ks, e.Key)
		}
		return ks
	}
	if diff := cmp.Diff(want1, keys(tb.Entries(2, false))); diff != "" {
		t.Errorf("unexpected Entries(2, false) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAll, keys(tb.Entries(2, true))); diff != "" {
		t.Errorf("unexpected Entries(2, true) (-want +got):\n%s", diff)
	}
	if got := tb.Entries(9, false); len(got) != 0 {
		t.Errorf("unexpected entries for an unknown VNI: %v", got)
	}
	if got := tb.Len(); got != len(wantAll) || len(wantAll) != 120 {
		t.Errorf("unexpected Len:\n- want: %v\n-  got: %v", 120, got)
	}
	// The snapshot belongs to the caller.
	es := tb.Entries(1, false)
	es[0].Dest = Dest{Port: 99}
	if d, _ := tb.Lookup(1, es[0].MAC); d.Port == 99 {
		t.Errorf("changing a snapshot changed the table")
	}
}

func TestOnChange(t *testing.T) {
	tb, c := newTestTable(10*time.Second, 1)
	var got []string
	tb.OnChange(func(ev Event) {
		// Subscribers may call back into the table: no lock is held.
		_, _ = tb.Lookup(ev.Entry.VNI, ev.Entry.MAC)
		got = append(got, fmt.Sprintf("%v %v %v %v", ev.Kind, ev.Entry.Key, ev.Entry.Dest, ev.Entry.Origin))
	})
	m1, m2 := macN(1), macN(2)
	tb.Learn(1, m1, Dest{Port: 1})                                                    // added
	tb.Learn(1, m1, Dest{Port: 1})                                                    // refresh: no event
	tb.Learn(1, m1, Dest{Remote: remoteA})                                            // moved
	tb.Learn(1, m2, Dest{Port: 1})                                                    // cap: no event
	tb.Learn(1, encap.BroadcastMAC, Dest{Port: 1})                                    // rejected: no event
	mustAdd(t, tb, Entry{Key: Key{1, m2}, Dest: Dest{Port: 2}, Origin: OriginLocal})  // added
	mustAdd(t, tb, Entry{Key: Key{1, m2}, Dest: Dest{Port: 2}, Origin: OriginStatic}) // replaced, same dest: added
	mustAdd(t, tb, Entry{Key: Key{1, m2}, Dest: Dest{Port: 3}, Origin: OriginStatic}) // moved
	tb.Delete(1, m2)                                                                  // deleted
	tb.Delete(1, m2)                                                                  // nothing
	c.Advance(11 * time.Second)
	tb.Age() // aged
	want := []string{
		"added 1/02:00:00:00:00:01 port:1 learned",
		"moved 1/02:00:00:00:00:01 remote:192.0.2.1 learned",
		"added 1/02:00:00:00:00:02 port:2 local",
		"added 1/02:00:00:00:00:02 port:2 static",
		"moved 1/02:00:00:00:00:02 port:3 static",
		"deleted 1/02:00:00:00:00:02 port:3 static",
		"aged 1/02:00:00:00:00:01 remote:192.0.2.1 learned",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected events (-want +got):\n%s", diff)
	}
}

func TestConfigDefaults(t *testing.T) {
	dc := DefaultConfig()
	if dc.Ageing != 300*time.Second || dc.MaxLearnedPerVNI != 16384 || dc.Now == nil {
		t.Errorf("unexpected DefaultConfig: %+v", dc)
	}
	tb := New(Config{})
	if tb.ageing != DefaultAgeing || tb.maxLearned != DefaultMaxLearnedPerVNI || tb.now == nil {
		t.Errorf("unexpected zero-Config table: ageing %v cap %v", tb.ageing, tb.maxLearned)
	}
	// The real clock works: a fresh learned entry is not aged.
	tb.Learn(1, macN(1), Dest{Port: 1})
	if n := tb.Age(); n != 0 {
		t.Errorf("unexpected Age with the real clock:\n- want: %v\n-  got: %v", 0, n)
	}
}
