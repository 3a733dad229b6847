package vswitch

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// MaxRTPriority is the highest Config.RTPriority: Linux's SCHED_FIFO
// priorities are 1-99.
const MaxRTPriority = 99

// rtThread switches the calling goroutine's OS thread between SCHED_FIFO
// at prio and the policy it had (lockThread). It belongs to that
// goroutine, which must not unlock its thread: a goroutine that ends
// locked ends its thread too, so a thread that was real-time does not go
// back to the runtime's pool. The goroutine calls restore before it
// returns, for the one thread the runtime does not end: the process's
// main thread, on which any goroutine may run, is parked for good
// instead, and must not stay real-time.
type rtThread struct {
	prio int
	prev *unix.SchedAttr // the policy to go back to
	on   bool            // the thread runs SCHED_FIFO
}

// lockThread locks the calling goroutine to its OS thread and returns the
// thread's scheduling, not yet real-time. On error the thread is locked
// all the same.
func lockThread(prio int) (*rtThread, error) {
	runtime.LockOSThread()
	prev, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return nil, fmt.Errorf("vswitch: sched_getattr: %w", err)
	}
	return &rtThread{prio: prio, prev: prev}, nil
}

// set makes the thread real-time (SCHED_FIFO at prio, with
// SCHED_FLAG_RESET_ON_FORK so that no thread it creates inherits it) or
// puts its previous policy back.
func (t *rtThread) set(on bool) error {
	if on == t.on {
		return nil
	}
	attr := t.prev
	if on {
		attr = &unix.SchedAttr{
			Size:     unix.SizeofSchedAttr,
			Policy:   unix.SCHED_FIFO,
			Flags:    unix.SCHED_FLAG_RESET_ON_FORK,
			Priority: uint32(t.prio),
		}
	}
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		if on {
			return fmt.Errorf("vswitch: SCHED_FIFO priority %d for the forwarding loop: %w (needs CAP_SYS_NICE or RLIMIT_RTPRIO >= %d, and real-time runtime in the process's cgroup where the kernel has RT group scheduling)", t.prio, err, t.prio)
		}
		return fmt.Errorf("vswitch: leaving SCHED_FIFO: %w", err)
	}
	t.on = on
	return nil
}

// restore puts the thread's previous policy back (see rtThread).
func (t *rtThread) restore() { t.set(false) }

// probeRealtime reports whether a thread of this process may run under
// SCHED_FIFO at prio, by setting it on a thread that ends right after
// (New's check, so that a missing privilege is a configuration error and
// not a log line from the loop).
func probeRealtime(prio int) error {
	errc := make(chan error, 1)
	go func() {
		// The thread ends with this goroutine (never unlocked).
		t, err := lockThread(prio)
		if err == nil {
			err = t.set(true)
			t.restore()
		}
		errc <- err
	}()
	return <-errc
}
