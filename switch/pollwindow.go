package vswitch

import "time"

// pollWindow is the adaptive busy-poll window of the single loop
// (Config.BusyPoll): how long the loop polls after its last work before it
// waits. It follows KVM's halt polling (virt/kvm/kvm_main.c, halt_poll_ns):
// a poll window only pays when the next event comes within it, so the
// window grows while events come soon after the window it had would have
// ended but within max (a longer window would have caught them), and
// shrinks when they come later than max (polling was wasted). Dense
// request/response traffic, where each reply or next request follows
// within tens of microseconds, keeps the window at max; traffic paced
// slower than max, or a node at rest, brings it to zero, so polling costs
// nothing there.
//
// The zero value with max 0 never polls. Not safe for concurrent use: the
// loop goroutine owns it.
type pollWindow struct {
	cur   time.Duration // the window the loop polls for now
	max   time.Duration // Config.BusyPoll
	fixed bool          // Config.BusyPollFixed: cur is always max
}

// Growth and shrinking of pollWindow, as KVM's halt_poll_ns_grow_start,
// halt_poll_ns_grow and halt_poll_ns_shrink: from zero the window starts
// at pollGrowStart (or max if smaller) and doubles per growth; a shrink
// halves it, and a window below pollGrowStart becomes zero.
const (
	pollGrowStart = 10 * time.Microsecond
	pollGrow      = 2
	pollShrink    = 2
)

func newPollWindow(max time.Duration, fixed bool) pollWindow {
	w := pollWindow{max: max, fixed: fixed}
	if fixed {
		w.cur = max
	}
	return w
}

// window is how long to poll now.
func (w *pollWindow) window() time.Duration { return w.cur }

// observe adjusts the window to an event that came waited after the
// loop's last work (the wait, and any poll within it, lasted that long).
func (w *pollWindow) observe(waited time.Duration) {
	if w.fixed || w.max <= 0 {
		return
	}
	switch {
	case waited <= w.cur:
		// The poll found it: keep the window.
	case waited > w.max:
		w.cur /= pollShrink
		if w.cur < min(pollGrowStart, w.max) {
			w.cur = 0
		}
	default:
		// A window of waited would have found it.
		if w.cur == 0 {
			w.cur = min(pollGrowStart, w.max)
		} else {
			w.cur = min(w.cur*pollGrow, w.max)
		}
	}
}
