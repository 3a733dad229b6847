package fdb

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFlood(t *testing.T) {
	a4in6 := netip.AddrFrom16(remoteA.As16()) // ::ffff:192.0.2.1
	type op func(tb *Table) bool
	add := func(vni uint32, a netip.Addr) op { return func(tb *Table) bool { return tb.AddFlood(vni, a) } }
	del := func(vni uint32, a netip.Addr) op { return func(tb *Table) bool { return tb.DelFlood(vni, a) } }
	set := func(vni uint32, as ...netip.Addr) op {
		return func(tb *Table) bool { tb.SetFlood(vni, as); return true }
	}
	tests := []struct {
		name      string
		ops       []op
		want      []bool // result of each op
		wantLists map[uint32][]netip.Addr
	}{
		{
			name:      "append keeps order",
			ops:       []op{add(1, remoteB), add(1, remoteA), add(1, remoteC)},
			want:      []bool{true, true, true},
			wantLists: map[uint32][]netip.Addr{1: {remoteB, remoteA, remoteC}},
		},
		{
			name:      "duplicates are refused, also 4-in-6",
			ops:       []op{add(1, remoteA), add(1, remoteA), add(1, a4in6)},
			want:      []bool{true, false, false},
			wantLists: map[uint32][]netip.Addr{1: {remoteA}},
		},
		{
			name:      "invalid, unspecified and out-of-range VNI are refused",
			ops:       []op{add(1, netip.Addr{}), add(1, netip.IPv4Unspecified()), add(MaxVNI+1, remoteA)},
			want:      []bool{false, false, false},
			wantLists: map[uint32][]netip.Addr{},
		},
		{
			name:      "lists are per VNI",
			ops:       []op{add(1, remoteA), add(2, remoteB), del(2, remoteA)},
			want:      []bool{true, true, false},
			wantLists: map[uint32][]netip.Addr{1: {remoteA}, 2: {remoteB}},
		},
		{
			name:      "deleting the last address forgets the VNI",
			ops:       []op{add(1, remoteA), add(1, remoteB), del(1, remoteA), del(1, a4in6), del(1, remoteB)},
			want:      []bool{true, true, true, false, true},
			wantLists: map[uint32][]netip.Addr{},
		},
		{
			name:      "set dedups, unmaps and drops invalid",
			ops:       []op{add(1, remoteC), set(1, remoteB, netip.Addr{}, a4in6, remoteB, remoteA)},
			want:      []bool{true, true},
			wantLists: map[uint32][]netip.Addr{1: {remoteB, remoteA}},
		},
		{
			name:      "set to empty removes",
			ops:       []op{add(1, remoteC), add(2, remoteC), set(1)},
			want:      []bool{true, true, true},
			wantLists: map[uint32][]netip.Addr{2: {remoteC}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, _ := newTestTable(0, 0)
			var got []bool
			for _, o := range tt.ops {
				got = append(got, o(tb))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected op results (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLists, tb.FloodLists(), cmpOpts...); diff != "" {
				t.Errorf("unexpected FloodLists (-want +got):\n%s", diff)
			}
			for vni, l := range tt.wantLists {
				if diff := cmp.Diff(l, tb.Flood(vni), cmpOpts...); diff != "" {
					t.Errorf("unexpected Flood(%d) (-want +got):\n%s", vni, diff)
				}
			}
		})
	}
}

func TestFloodSnapshots(t *testing.T) {
	tb, _ := newTestTable(0, 0)
	tb.AddFlood(1, remoteA)
	tb.AddFlood(1, remoteB)
	snap := tb.Flood(1)
	want := []netip.Addr{remoteA, remoteB}

	// Later changes do not show through an earlier snapshot.
	tb.AddFlood(1, remoteC)
	tb.DelFlood(1, remoteA)
	if diff := cmp.Diff(want, snap, cmpOpts...); diff != "" {
		t.Errorf("snapshot changed by later updates (-want +got):\n%s", diff)
	}
	// Appending to a snapshot does not write into the table's array.
	cur := tb.Flood(1)
	_ = append(cur, remoteA)
	if diff := cmp.Diff([]netip.Addr{remoteB, remoteC}, tb.Flood(1), cmpOpts...); diff != "" {
		t.Errorf("unexpected Flood after appending to a snapshot (-want +got):\n%s", diff)
	}
	// FloodLists and SetFlood copy.
	lists := tb.FloodLists()
	lists[1][0] = remoteA
	in := []netip.Addr{remoteC}
	tb.SetFlood(2, in)
	in[0] = remoteA
	wantLists := map[uint32][]netip.Addr{1: {remoteB, remoteC}, 2: {remoteC}}
	if diff := cmp.Diff(wantLists, tb.FloodLists(), cmpOpts...); diff != "" {
		t.Errorf("caller's slices alias the table (-want +got):\n%s", diff)
	}
	if got := tb.Flood(9); got != nil {
		t.Errorf("unexpected Flood for an unknown VNI: %v", got)
	}
}
