package vswitch

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// MaxRTPriority is the highest Config.RTPriority: Linux's SCHED_FIFO
// priorities are 1-99.
const MaxRTPriority = 99

// lockRealtime locks the calling goroutine to its OS thread and runs that
// thread under SCHED_FIFO at priority prio (sched_setattr(2), with
// SCHED_FLAG_RESET_ON_FORK so that no thread it creates inherits the
// policy). The caller must call restore before it returns, which puts the
// thread's previous policy back, and must not unlock the thread: a
// goroutine that ends locked ends its thread too, so the thread does not
// go back to the runtime's pool. (The restore is for the one thread the
// runtime does not end, the process's main thread, on which any goroutine
// may run: it is parked for good instead, and must not stay real-time.)
// On error the thread is locked with its policy unchanged, and restore
// does nothing.
func lockRealtime(prio int) (restore func(), err error) {
	runtime.LockOSThread()
	prev, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return func() {}, fmt.Errorf("vswitch: sched_getattr: %w", err)
	}
	attr := unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   unix.SCHED_FIFO,
		Flags:    unix.SCHED_FLAG_RESET_ON_FORK,
		Priority: uint32(prio),
	}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return func() {}, fmt.Errorf("vswitch: SCHED_FIFO priority %d for the forwarding loop: %w (needs CAP_SYS_NICE or RLIMIT_RTPRIO >= %d, and real-time runtime in the process's cgroup where the kernel has RT group scheduling)", prio, err, prio)
	}
	return func() { unix.SchedSetAttr(0, prev, 0) }, nil
}

// probeRealtime reports whether a thread of this process may run under
// SCHED_FIFO at prio, by setting it on a thread that ends right after
// (New's check, so that a missing privilege is a configuration error and
// not a log line from the loop).
func probeRealtime(prio int) error {
	errc := make(chan error, 1)
	go func() {
		restore, err := lockRealtime(prio) // the thread ends with this goroutine
		restore()
		errc <- err
	}()
	return <-errc
}
