// Package rawfd keeps a descriptor out of the Go runtime's network poller
// and gives it the shape of a syscall.RawConn.
//
// Why: the runtime registers every socket and every non-blocking file it
// opens with its epoll instance, edge-triggered, whether or not a
// goroutine ever waits on it. Each datagram received, each TAP frame
// queued and each sent buffer freed then wakes the idle thread that
// blocks in epoll_pwait for the runtime, which finds nothing to run and
// blocks again. On the lab rig that was about half of a forwarding
// daemon's context switches (perf record -e sched:sched_switch -g) while
// its loops, which wait in ppoll(2) themselves (internal/fdwait, the
// switch's single loop), never use the poller. An FD holds a duplicate of
// the descriptor taken before the original is closed, which removes it
// from the runtime's epoll set.
//
// Read and Write call their function until it reports done, waiting in
// ppoll(2) for the descriptor in between (internal/fdwait); Close wakes such waits and
// waits for every call in progress to return before it closes the
// descriptor, so the number is never reused under a caller (what
// os.File.Close does for the runtime poller).
//
// The forwarding system calls made through such descriptors (and the
// runtime-polled ones of --wait=poller) are issued with RawSyscall: TAP
// read, write and writev in switch/tap, recvmmsg and sendmmsg in vtep.
// The descriptors are non-blocking, so the calls never block, and the
// scheduler need not be told (entersyscall/exitsyscall): told, it lets
// sysmon hand the goroutine's P to another thread during a long call (a
// TAP writev runs the receiving TCP stack) and the goroutine then takes a
// P back, often on another thread. Raw calls keep a forwarding loop and
// its P on one thread; with the single loop's raw waits (switch, rawPpoll)
// the daemons' context switches per 64 KiB of TCP on the lab rig fell
// from 2.7-2.9 to 2.3-2.4 and TCP throughput rose 14 % (README,
// Performance). The waits of internal/fdwait stay ordinary blocking
// system calls; the single loop's raw wait is bounded (switch, rawPpoll).
package rawfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/fdwait"
)

// ErrClosed is returned by Read, Write and Control after Close. It is
// both os.ErrClosed and net.ErrClosed for errors.Is, as an *os.File's or a
// net.Conn's error would be.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "rawfd: use of closed descriptor" }

func (closedError) Is(target error) bool { return target == os.ErrClosed || target == net.ErrClosed }

// FD is a non-blocking descriptor outside the runtime poller. Read, Write
// and Control may be called from any number of goroutines; Close from any
// goroutine, once or more.
type FD struct {
	fd int
	w  *fdwait.Waiter // waits in ppoll; Close wakes them

	refs    atomic.Int64 // calls in progress
	closing atomic.Bool
	closed  chan struct{}
	err     error // Close's result
}

var _ syscall.RawConn = (*FD)(nil)

// FromConn takes c's descriptor out of the runtime poller: it duplicates
// the descriptor (close-on-exec, non-blocking) and closes c, which
// deregisters the original. c may be an *os.File, *net.UDPConn or anything
// else with SyscallConn and Close. On error c is left open.
func FromConn(c interface {
	SyscallConn() (syscall.RawConn, error)
	Close() error
}) (*FD, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("rawfd: %w", err)
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("rawfd: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("rawfd: dup: %w", derr)
	}
	f, err := New(dup)
	if err != nil {
		unix.Close(dup)
		return nil, err
	}
	if err := c.Close(); err != nil {
		f.Close()
		return nil, fmt.Errorf("rawfd: close the original: %w", err)
	}
	return f, nil
}

// New takes ownership of fd, which it makes non-blocking.
func New(fd int) (*FD, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("rawfd: %w", err)
	}
	w, err := fdwait.New()
	if err != nil {
		return nil, fmt.Errorf("rawfd: %w", err)
	}
	return &FD{fd: fd, w: w, closed: make(chan struct{})}, nil
}

// Fd returns the descriptor number. It stays valid until Close.
func (f *FD) Fd() int { return f.fd }

func (f *FD) acquire() bool {
	f.refs.Add(1)
	if f.closing.Load() {
		f.refs.Add(-1)
		return false
	}
	return true
}

func (f *FD) release() { f.refs.Add(-1) }

// Control calls fn with the descriptor.
func (f *FD) Control(fn func(fd uintptr)) error {
	if !f.acquire() {
		return ErrClosed
	}
	defer f.release()
	fn(uintptr(f.fd))
	return nil
}

// Read calls fn until it returns true, waiting in ppoll(2) for the
// descriptor to be readable whenever it returns false. After Close it
// returns ErrClosed.
func (f *FD) Read(fn func(fd uintptr) bool) error { return f.do(fn, unix.POLLIN) }

// Write is Read for writability.
func (f *FD) Write(fn func(fd uintptr) bool) error { return f.do(fn, unix.POLLOUT) }

func (f *FD) do(fn func(fd uintptr) bool, events int16) error {
	if !f.acquire() {
		return ErrClosed
	}
	defer f.release()
	for {
		if fn(uintptr(f.fd)) {
			return nil
		}
		if err := f.wait(events); err != nil {
			return err
		}
	}
}

// wait blocks the calling thread until the descriptor has events (or an
// error or hang-up, which the next call reports) or Close begins.
func (f *FD) wait(events int16) error {
	if err := f.w.WaitEvents(uintptr(f.fd), events); err != nil {
		if errors.Is(err, fdwait.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("rawfd: %w", err)
	}
	return nil
}

// Close wakes every wait in progress, waits until no Read, Write or
// Control is inside a call, and closes the descriptor. Later calls return
// the first call's result.
func (f *FD) Close() error {
	if f.closing.Swap(true) {
		<-f.closed
		return f.err
	}
	f.w.Close()
	// A call in progress is a system call on a non-blocking descriptor
	// or a wait that the eventfd has just ended: it returns promptly.
	for f.refs.Load() != 0 {
		time.Sleep(50 * time.Microsecond)
	}
	if err := unix.Close(f.fd); err != nil {
		f.err = fmt.Errorf("rawfd: close: %w", err)
	}
	f.w.Release()
	close(f.closed)
	return f.err
}

// SyscallConn returns f itself, so that an FD can stand where a
// *net.UDPConn or *os.File is asked for its RawConn.
func (f *FD) SyscallConn() (syscall.RawConn, error) { return f, nil }
