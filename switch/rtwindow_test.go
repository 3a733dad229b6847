package vswitch

import (
	"testing"
	"time"
)

// TestRTWindow: real-time from a round that was behind until rtHold has
// passed without one; a loop that was never behind never goes real-time;
// a fixed window always is.
func TestRTWindow(t *testing.T) {
	type round struct {
		at     time.Duration // since the start
		behind bool
		want   bool
	}
	tests := []struct {
		name   string
		fixed  bool
		rounds []round
	}{
		{name: "never behind", rounds: []round{{0, false, false}, {time.Microsecond, false, false}, {time.Second, false, false}}},
		{name: "behind, then caught up", rounds: []round{
			{0, false, false},
			{10 * time.Microsecond, true, true},
			{20 * time.Microsecond, false, true},        // within the hold
			{rtHold, false, true},                       // 990 µs after: still
			{rtHold + 10*time.Microsecond, false, true}, // exactly rtHold after
			{rtHold + 11*time.Microsecond, false, false},
			{time.Second, false, false},
		}},
		{name: "behind again renews the hold", rounds: []round{
			{0, true, true},
			{rtHold / 2, false, true},
			{rtHold, true, true},
			{rtHold * 3 / 2, false, true},
			{2 * rtHold, false, true},
			{2*rtHold + time.Microsecond, false, false},
		}},
		{name: "fixed", fixed: true, rounds: []round{{0, false, true}, {time.Second, false, true}, {2 * time.Second, true, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := rtWindow{fixed: tt.fixed}
			start := time.Unix(1000, 0)
			for i, r := range tt.rounds {
				if got := w.want(r.behind, start.Add(r.at)); got != r.want {
					t.Errorf("round %d (at %v, behind %v): want real-time %v, got %v", i, r.at, r.behind, r.want, got)
				}
			}
		})
	}
}
