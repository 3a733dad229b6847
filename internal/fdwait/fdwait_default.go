//go:build !linux

package fdwait

import "errors"

// ErrClosed is returned by Wait after Close.
var ErrClosed = errors.New("fdwait: closed")

// Waiter is unavailable off Linux: New fails, and callers fall back to the
// runtime poller.
type Waiter struct{}

// New returns an error off Linux.
func New() (*Waiter, error) { return nil, errors.New("fdwait: needs Linux") }

// Wait returns ErrClosed.
func (w *Waiter) Wait(fd uintptr) error { return ErrClosed }

// WaitEvents returns ErrClosed.
func (w *Waiter) WaitEvents(fd uintptr, events int16) error { return ErrClosed }

// Close does nothing.
func (w *Waiter) Close() {}

// Release does nothing.
func (w *Waiter) Release() {}
