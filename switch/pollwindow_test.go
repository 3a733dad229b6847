package vswitch

import (
	"testing"
	"time"
)

// TestPollWindow walks the adaptive busy-poll window through sequences of
// waits (how long after the loop's last work each event came) and checks
// the window after each.
func TestPollWindow(t *testing.T) {
	const us = time.Microsecond
	type step struct {
		waited time.Duration
		want   time.Duration // the window after observing waited
	}
	tests := []struct {
		name  string
		max   time.Duration
		fixed bool
		steps []step
	}{
		{name: "off", max: 0, steps: []step{{5 * us, 0}, {time.Second, 0}}},
		{name: "off fixed", max: 0, fixed: true, steps: []step{{5 * us, 0}}},
		{name: "grows from the start value to max", max: 200 * us, steps: []step{
			{30 * us, 10 * us}, {30 * us, 20 * us}, {30 * us, 40 * us}, {30 * us, 40 * us}, // 30 µs found by 40
			{150 * us, 80 * us}, {150 * us, 160 * us}, {199 * us, 200 * us}, {200 * us, 200 * us},
		}},
		{name: "a wait longer than max halves it, below the start value it is off", max: 200 * us, steps: []step{
			{100 * us, 10 * us}, {100 * us, 20 * us}, {100 * us, 40 * us}, {100 * us, 80 * us}, {100 * us, 160 * us},
			{time.Millisecond, 80 * us}, {time.Hour, 40 * us}, {201 * us, 20 * us}, {201 * us, 10 * us}, {201 * us, 0},
			{201 * us, 0},
		}},
		{name: "sparse traffic never opens it", max: 50 * us, steps: []step{
			{80 * us, 0}, {5 * time.Millisecond, 0}, {51 * us, 0},
		}},
		{name: "a max below the start value", max: 6 * us, steps: []step{
			{5 * us, 6 * us}, {5 * us, 6 * us}, {7 * us, 0}, {6 * us, 6 * us},
		}},
		{name: "fixed stays at max", max: 50 * us, fixed: true, steps: []step{
			{time.Second, 50 * us}, {10 * us, 50 * us}, {80 * us, 50 * us},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPollWindow(tt.max, tt.fixed)
			if tt.fixed && w.window() != tt.max {
				t.Fatalf("fixed window starts at %v, want %v", w.window(), tt.max)
			}
			if !tt.fixed && w.window() != 0 {
				t.Fatalf("adaptive window starts at %v, want 0", w.window())
			}
			for i, s := range tt.steps {
				w.observe(s.waited)
				if got := w.window(); got != s.want {
					t.Fatalf("step %d (waited %v): window %v, want %v", i, s.waited, got, s.want)
				}
			}
		})
	}
}
