package testutil

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFIFOThreads: none in a plain test process; one, at its priority,
// while a locked thread runs SCHED_FIFO (as root); an error for a process
// that does not exist.
func TestFIFOThreads(t *testing.T) {
	if n, err := FIFOThreads(0, -1); err != nil || n != 0 {
		t.Fatalf("FIFOThreads(self, any) = %d, %v; want 0, nil", n, err)
	}
	if _, err := FIFOThreads(1<<30, -1); err == nil {
		t.Error("FIFOThreads of a process that does not exist: want an error, got nil")
	}
	if os.Geteuid() != 0 {
		t.Skip("the SCHED_FIFO part needs root")
	}
	done, counted, restored := make(chan struct{}), make(chan [3]int), make(chan struct{})
	// Wait for the policy to be put back, so that the next test (or the
	// next run of this one, -count) finds none.
	defer func() { <-restored }()
	go func() {
		defer close(restored)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 3}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			t.Errorf("sched_setattr: %v", err)
			close(counted)
			return
		}
		var c [3]int
		c[0], _ = FIFOThreads(0, -1)
		c[1], _ = FIFOThreads(0, 3)
		c[2], _ = FIFOThreads(os.Getpid(), 4)
		counted <- c
		<-done
		attr.Policy, attr.Priority = unix.SCHED_NORMAL, 0
		unix.SchedSetAttr(0, &attr, 0)
	}()
	c, ok := <-counted
	close(done)
	if ok && c != [3]int{1, 1, 0} {
		t.Errorf("with one thread at SCHED_FIFO 3: counts (any, 3, 4) = %v, want [1 1 0]", c)
	}
}
