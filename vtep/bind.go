package vtep

import (
	"net/netip"
)

// ReceiveFunc receives a batch of UDP payloads (each a VXLAN header followed
// by the inner Ethernet frame) into bufs. On return, sizes[i] is the length
// of the payload in bufs[i] and eps[i] the outer source address and port it
// came from, for i < n. len(bufs), len(sizes) and len(eps) must all be at
// least the Bind's BatchSize. A payload longer than its buffer is reported
// with sizes[i] = len(bufs[i])+1 so the caller can count it as oversize.
//
// A ReceiveFunc may, instead of copying a payload into bufs[i], set bufs[i]
// to a slice of memory it owns holding the payload (zero copy; StdBind
// does so for the packets of a UDP_GRO datagram when Config.ZeroCopy is
// set). Such a slice is valid only until the next call of that
// ReceiveFunc, and the caller must not write past its length. A caller
// that reuses bufs should put its own buffers back before the next call,
// since their lengths bound what it accepts.
//
// After the Bind is closed, a ReceiveFunc returns an error that satisfies
// errors.Is(err, net.ErrClosed). Any other error is transient (for example
// an ICMP-induced ECONNREFUSED) and should not cause reads to cease.
//
// A ReceiveFunc is not safe for concurrent use; each is driven by one
// goroutine.
type ReceiveFunc func(bufs [][]byte, sizes []int, eps []netip.AddrPort) (n int, err error)

// Bind is the UDP side of a VTEP: the sockets VXLAN travels over. It has the
// shape of wireguard-go's conn.Bind.
type Bind interface {
	// Open puts the Bind into a listening state on the given UDP port (0
	// picks one) and returns one ReceiveFunc per socket. Open fails if the
	// Bind is already open.
	Open(port uint16) (fns []ReceiveFunc, actualPort uint16, err error)

	// Close closes the Bind. ReceiveFuncs return net.ErrClosed afterwards.
	Close() error

	// Send writes each bufs[i] (a VXLAN header followed by the inner
	// Ethernet frame) as one UDP datagram to dst. The Bind chooses the outer
	// UDP source port from a hash of the inner frame (RFC 7348 §5), so one
	// inner flow always leaves from one source port. Send does not retain
	// bufs. It is safe for concurrent use.
	Send(bufs [][]byte, dst netip.AddrPort) error

	// BatchSize is the number of buffers expected to be passed to the
	// ReceiveFuncs and the maximum useful len(bufs) for Send. It never
	// changes over the Bind's lifetime.
	BatchSize() int
}

// GatherSender is implemented by a Bind that sends datagrams gathered from
// two pieces each (StdBind on Linux), so that the switch can send the
// segments of a TSO super-frame as their own headers followed by slices
// of the super-frame's payload, without copying the payload into a buffer
// per segment.
type GatherSender interface {
	// SendGather sends datagram i as heads[i] followed by tails[i] (tails
	// may be empty; len(tails) == len(heads)), as Send would send the two
	// joined. The datagrams carry frames of one inner flow and leave from
	// the source port the first one picks. It does not retain heads or
	// tails and is safe for concurrent use.
	SendGather(heads, tails [][]byte, dst netip.AddrPort) error
}
