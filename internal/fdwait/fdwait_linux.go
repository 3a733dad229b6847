package fdwait

import (
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Wait after Close.
var ErrClosed = errors.New("fdwait: closed")

// Waiter waits for descriptors to become readable. Wait may be called from
// several goroutines at once; Close and Release from any goroutine.
type Waiter struct {
	efd    int // eventfd, readable once Close has run
	closed atomic.Bool
}

// New returns a Waiter with its own eventfd.
func New() (*Waiter, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("fdwait: eventfd: %w", err)
	}
	return &Waiter{efd: efd}, nil
}

// Wait blocks the calling OS thread until fd is readable (or has an error
// or hang-up condition, which the following read reports) and returns nil,
// or returns ErrClosed once Close has been called. It is meant to be
// called from inside syscall.RawConn.Read's callback after a read returned
// EAGAIN; on ErrClosed the callback should return false so the runtime
// reports the descriptor's closing.
func (w *Waiter) Wait(fd uintptr) error { return w.WaitEvents(fd, unix.POLLIN) }

// WaitEvents is Wait for the poll(2) events given (POLLOUT to wait until
// fd is writable, for example).
func (w *Waiter) WaitEvents(fd uintptr, events int16) error {
	fds := [2]unix.PollFd{
		{Fd: int32(fd), Events: events},
		{Fd: int32(w.efd), Events: unix.POLLIN},
	}
	for {
		if w.closed.Load() {
			return ErrClosed
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		_, err := unix.Ppoll(fds[:], nil, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("fdwait: ppoll: %w", err)
		case fds[1].Revents != 0 || w.closed.Load():
			return ErrClosed
		case fds[0].Revents != 0:
			return nil
		}
	}
}

// Close wakes every Wait in progress and makes every later Wait return
// ErrClosed. It is idempotent.
func (w *Waiter) Close() {
	if w.closed.Swap(true) {
		return
	}
	var one = [8]byte{1}
	unix.Write(w.efd, one[:])
}

// Release closes the eventfd. Call it after Close, once no goroutine can
// be inside Wait (after the watched descriptor has been closed).
func (w *Waiter) Release() {
	w.Close()
	unix.Close(w.efd)
}
