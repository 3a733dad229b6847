//go:build !linux

package vtep

import (
	"errors"
	"fmt"
	"net/netip"
)

// sendBatch is Linux-only scratch space; elsewhere Send never gets far
// enough to need it.
type sendBatch struct{}

func newSendBatch(sockets, batch int) *sendBatch { return &sendBatch{} }

// receiver is the Linux ReceiveFunc state; elsewhere Open never succeeds.
type receiver struct{}

func (r *receiver) close() {}

// Open is only implemented on Linux (recvmmsg/sendmmsg, UDP offloads and
// the don't-fragment socket options); elsewhere it returns an error
// wrapping errors.ErrUnsupported.
func (b *StdBind) Open(port uint16) ([]ReceiveFunc, uint16, error) {
	return nil, 0, fmt.Errorf("vtep: listen %s: %w", netip.AddrPortFrom(b.cfg.Local, port), errors.ErrUnsupported)
}

// ReceiveFDs returns nil off Linux: Open never succeeds there.
func (b *StdBind) ReceiveFDs() []int { return nil }

// Close does nothing off Linux: Open never succeeds there.
func (b *StdBind) Close() error { return nil }

// Send is only implemented on Linux; see Open.
func (b *StdBind) Send(bufs [][]byte, dst netip.AddrPort) error {
	return fmt.Errorf("vtep: send %s: %w", dst, errors.ErrUnsupported)
}

// SendGather is only implemented on Linux; see Open.
func (b *StdBind) SendGather(heads, tails [][]byte, dst netip.AddrPort) error {
	return fmt.Errorf("vtep: send %s: %w", dst, errors.ErrUnsupported)
}

// ReceiveBuffered returns nil off Linux: Open never succeeds there.
func (b *StdBind) ReceiveBuffered() []func() bool { return nil }
