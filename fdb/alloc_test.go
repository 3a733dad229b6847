package fdb

import (
	"testing"
)

func TestAllocs(t *testing.T) {
	tb, _ := newTestTable(0, 0)
	real := New(DefaultConfig()) // the real clock must not allocate either
	hit, miss := macN(1), macN(2)
	d := Dest{Remote: remoteA}
	tb.Learn(7, hit, d)
	real.Learn(7, hit, d)
	tb.AddFlood(7, remoteA)
	tb.AddFlood(7, remoteB)
	mustAdd(t, tb, Entry{Key: Key{8, hit}, Dest: Dest{Port: 1}, Origin: OriginLocal})
	var sink int
	tb.OnChange(func(Event) { sink++ }) // a subscriber must not make refreshes allocate

	tests := []struct {
		name string
		fn   func()
	}{
		{"Lookup hit", func() { tb.Lookup(7, hit) }},
		{"Lookup miss", func() { tb.Lookup(7, miss) }},
		{"Learn refresh", func() { tb.Learn(7, hit, d) }},
		{"Learn refresh, real clock", func() { real.Learn(7, hit, d) }},
		{"Learn ignored control plane", func() { tb.Learn(8, hit, d) }},
		{"Learn rejected MAC", func() { tb.Learn(7, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, d) }},
		{"Flood", func() { _ = tb.Flood(7) }},
		{"Flood unknown VNI", func() { _ = tb.Flood(9) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tt.fn); got != 0 {
				t.Errorf("unexpected allocations per run:\n- want: %v\n-  got: %v", 0, got)
			}
		})
	}
	if sink != 0 {
		t.Errorf("refreshes produced %d events", sink)
	}
}
