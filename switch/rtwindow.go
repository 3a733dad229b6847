package vswitch

import "time"

// rtHold is how long the single loop stays real-time (Config.RTPriority)
// after the last round in which it was behind. Long enough that a bulk
// stream, whose batches come every few hundred microseconds, keeps it
// real-time from one to the next; short enough that a flood of small
// packets, which a real-time loop drains one by one as each arrives (it
// preempts their sender), soon lets the loop fall back and batch again.
// (On the AMD test VM, against always real-time: ping beside a TCP stream
// p50 0.31 against 0.23 ms, 64-byte frames at <= 0.1 % loss 1.63 against
// 0.70 times the kernel's rate; README, "Latency under load".)
const rtHold = time.Millisecond

// rtWindow decides, round by round, whether the single loop's thread runs
// real-time: from a round in which the loop was behind (a source gave it
// a full batch, or holds more than its descriptor shows) until rtHold has
// passed without one; always if fixed (Config.RTPriorityFixed). It
// belongs to the loop.
type rtWindow struct {
	fixed  bool
	behind time.Time // the last round that was behind; zero: none yet
}

// want reports whether the thread should run real-time after a round
// that ended at now and was behind or not. A round that found nothing (a
// wait that timed out) counts as not behind.
func (w *rtWindow) want(behind bool, now time.Time) bool {
	if behind {
		w.behind = now
	}
	return w.fixed || (!w.behind.IsZero() && now.Sub(w.behind) < rtHold)
}

// left reports how long after now the hold runs out: the longest a wait
// that begins at now may last if the loop is to fall back on time (the
// round after the wait asks want again). It is 0 once the hold has run
// out, and -1 (no bound) if fixed or never behind.
func (w *rtWindow) left(now time.Time) time.Duration {
	if w.fixed || w.behind.IsZero() {
		return -1
	}
	return max(rtHold-now.Sub(w.behind), 0)
}
