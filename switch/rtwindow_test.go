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
			{20 * time.Microsecond, false, true},         // within the hold
			{rtHold, false, true},                        // 990 µs after: still
			{rtHold + 9*time.Microsecond, false, true},   // 1 µs before the hold runs out
			{rtHold + 10*time.Microsecond, false, false}, // exactly rtHold after
			{time.Second, false, false},
		}},
		{name: "behind again renews the hold", rounds: []round{
			{0, true, true},
			{rtHold / 2, false, true},
			{rtHold, true, true},
			{rtHold * 3 / 2, false, true},
			{2*rtHold - time.Microsecond, false, true},
			{2 * rtHold, false, false},
		}},
		{name: "fixed", fixed: true, rounds: []round{{0, false, true}, {time.Second, false, true}, {2 * time.Second, true, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := rtWindow{fixed: tt.fixed}
			if got := w.left(time.Unix(1000, 0)); got != -1 {
				t.Errorf("before any round: left %v, want -1 (no bound)", got)
			}
			start := time.Unix(1000, 0)
			for i, r := range tt.rounds {
				if got := w.want(r.behind, start.Add(r.at)); got != r.want {
					t.Errorf("round %d (at %v, behind %v): want real-time %v, got %v", i, r.at, r.behind, r.want, got)
				}
			}
		})
	}
}

// TestRTWindowLeft: how long a wait may last so that the round after it
// falls back on time. Each row: a round that was behind at behindAt (if
// any), then left at at; a round when that much more has passed no
// longer wants real-time.
func TestRTWindowLeft(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name         string
		fixed        bool
		behindAt, at time.Duration // behindAt < 0: never behind
		want         time.Duration
	}{
		{name: "never behind", behindAt: -1, at: time.Second, want: -1},
		{name: "fixed", fixed: true, behindAt: 0, at: time.Microsecond, want: -1},
		{name: "just behind", behindAt: 0, at: 0, want: rtHold},
		{name: "within the hold", behindAt: 0, at: 300 * time.Microsecond, want: rtHold - 300*time.Microsecond},
		{name: "hold ran out", behindAt: 0, at: rtHold, want: 0},
		{name: "long after", behindAt: 0, at: time.Hour, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := rtWindow{fixed: tt.fixed}
			if tt.behindAt >= 0 {
				w.want(true, start.Add(tt.behindAt))
			}
			now := start.Add(tt.at)
			got := w.left(now)
			if got != tt.want {
				t.Fatalf("left at %v: %v, want %v", tt.at, got, tt.want)
			}
			if got >= 0 {
				if on := w.want(false, now.Add(got)); on && !tt.fixed {
					t.Errorf("a round %v after %v (when the hold runs out) still wants real-time", got, tt.at)
				}
			}
		})
	}
}
