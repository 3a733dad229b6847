package vteptest

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vxswitch/vxswitch/vtep"
)

// BatchSize is the BatchSize of every ChannelBind.
const BatchSize = 32

// queueLen is the number of datagrams a ChannelBind buffers before Send to
// it blocks.
const queueLen = 1024

// firstEphemeralPort is where Open(0) starts handing out fake ports.
const firstEphemeralPort = 40000

// datagram is one delivered UDP payload, owned by the receiving bind.
type datagram struct {
	src  netip.AddrPort
	data []byte
}

// Fabric is a fake underlay: a set of ChannelBinds that reach each other by
// address. A datagram sent to an address and port where no open bind
// listens is dropped and counted. A Fabric is safe for concurrent use.
type Fabric struct {
	mu       sync.Mutex
	binds    map[netip.AddrPort]*ChannelBind // open binds by listening address
	nextPort uint16                          // for Open(0)

	dropped atomic.Uint64
}

// NewFabric returns an empty fabric.
func NewFabric() *Fabric {
	return &Fabric{binds: make(map[netip.AddrPort]*ChannelBind), nextPort: firstEphemeralPort}
}

// Bind returns a new, closed ChannelBind with underlay address addr on f.
// Several binds may share an address if they listen on different ports.
func (f *Fabric) Bind(addr netip.Addr) *ChannelBind {
	return &ChannelBind{fabric: f, addr: addr.Unmap()}
}

// Dropped returns the number of datagrams sent to an address and port where
// no bind was open, or to a bind that closed before taking them.
func (f *Fabric) Dropped() uint64 { return f.dropped.Load() }

// ChannelBinds returns two closed ChannelBinds on a new Fabric, a at
// 192.0.2.1 and b at 192.0.2.2 (RFC 5737 TEST-NET-1). After both are
// opened, what a sends to b's LocalAddr arrives at b's ReceiveFunc with a's
// LocalAddr as source, and the other way round.
func ChannelBinds() (a, b *ChannelBind) {
	f := NewFabric()
	return f.Bind(netip.MustParseAddr("192.0.2.1")), f.Bind(netip.MustParseAddr("192.0.2.2"))
}

// ChannelBind is an in-memory vtep.Bind on a Fabric. Send copies each
// buffer, so callers may reuse theirs at once. The source address of a
// delivered datagram is the sender's LocalAddr (address and listening
// port); unlike vtep.StdBind it does not vary the source port per flow.
//
// Send, BatchSize, Addr, LocalAddr and the counters are safe for concurrent
// use; Close is safe concurrently with Send and the ReceiveFunc. As the
// vtep.Bind contract says, the ReceiveFunc is driven by one goroutine.
type ChannelBind struct {
	fabric *Fabric

	mu     sync.Mutex
	addr   netip.Addr
	port   uint16        // listening port while open
	rx     chan datagram // nil while closed
	closed chan struct{} // closed by Close; nil while closed

	sent, received, oversize atomic.Uint64
}

var _ vtep.Bind = (*ChannelBind)(nil)

// SetAddr changes the bind's underlay address. It fails while the bind is
// open.
func (c *ChannelBind) SetAddr(addr netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rx != nil {
		return fmt.Errorf("vteptest: set address %s: bind is open", addr)
	}
	c.addr = addr.Unmap()
	return nil
}

// Addr returns the bind's underlay address.
func (c *ChannelBind) Addr() netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// LocalAddr returns the address and listening port while open, and the
// address with port 0 while closed.
func (c *ChannelBind) LocalAddr() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return netip.AddrPortFrom(c.addr, c.port)
}

// Sent returns the number of datagrams this bind has handed to the fabric
// (delivered or dropped).
func (c *ChannelBind) Sent() uint64 { return c.sent.Load() }

// Received returns the number of datagrams its ReceiveFunc has returned.
func (c *ChannelBind) Received() uint64 { return c.received.Load() }

// Oversize returns the number of received datagrams longer than their
// buffer (reported with sizes[i] = len(bufs[i])+1).
func (c *ChannelBind) Oversize() uint64 { return c.oversize.Load() }

// BatchSize implements vtep.Bind.
func (c *ChannelBind) BatchSize() int { return BatchSize }

// Open implements vtep.Bind. Port 0 picks an unused fake port. It fails if
// the bind is open or another bind on the fabric listens on the same
// address and port.
func (c *ChannelBind) Open(port uint16) ([]vtep.ReceiveFunc, uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rx != nil {
		return nil, 0, vtep.ErrBindAlreadyOpen
	}
	f := c.fabric
	f.mu.Lock()
	defer f.mu.Unlock()
	if port == 0 {
		for {
			port = f.nextPort
			f.nextPort++
			if f.nextPort == 0 {
				f.nextPort = firstEphemeralPort
			}
			if _, ok := f.binds[netip.AddrPortFrom(c.addr, port)]; !ok {
				break
			}
		}
	}
	ap := netip.AddrPortFrom(c.addr, port)
	if _, ok := f.binds[ap]; ok {
		return nil, 0, fmt.Errorf("vtep: listen %s: address already in use", ap)
	}
	f.binds[ap] = c
	c.port = port
	rx := make(chan datagram, queueLen)
	closed := make(chan struct{})
	c.rx, c.closed = rx, closed
	return []vtep.ReceiveFunc{c.receiveFunc(rx, closed)}, port, nil
}

// Close implements vtep.Bind. It is idempotent. Datagrams still queued are
// discarded and counted as dropped.
func (c *ChannelBind) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rx == nil {
		return nil
	}
	f := c.fabric
	f.mu.Lock()
	delete(f.binds, netip.AddrPortFrom(c.addr, c.port))
	f.mu.Unlock()
	close(c.closed)
	f.dropped.Add(uint64(len(c.rx)))
	c.rx, c.closed, c.port = nil, nil, 0
	return nil
}

// Send implements vtep.Bind. It copies every buffer and queues it at the
// bind listening on dst, blocking while that bind's queue is full (the
// fabric is lossless except for unknown or closed destinations, which are
// dropped and counted in Fabric.Dropped). After Close it returns an error
// satisfying errors.Is(err, net.ErrClosed).
func (c *ChannelBind) Send(bufs [][]byte, dst netip.AddrPort) error {
	c.mu.Lock()
	src := netip.AddrPortFrom(c.addr, c.port)
	myClosed := c.closed
	c.mu.Unlock()
	if myClosed == nil {
		return fmt.Errorf("vtep: send %s: %w", dst, net.ErrClosed)
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	f := c.fabric
	f.mu.Lock()
	peer := f.binds[dst]
	f.mu.Unlock()
	var rx chan datagram
	var peerClosed chan struct{}
	if peer != nil {
		peer.mu.Lock()
		rx, peerClosed = peer.rx, peer.closed
		peer.mu.Unlock()
	}
	for _, b := range bufs {
		c.sent.Add(1)
		if rx == nil {
			f.dropped.Add(1)
			continue
		}
		d := datagram{src: src, data: append([]byte(nil), b...)}
		select {
		case rx <- d:
		case <-peerClosed:
			f.dropped.Add(1)
		case <-myClosed:
			return fmt.Errorf("vtep: send %s: %w", dst, net.ErrClosed)
		}
	}
	return nil
}

// receiveFunc returns the ReceiveFunc for one open period of c. It blocks
// for the first datagram, then takes whatever else is queued, up to the
// batch.
func (c *ChannelBind) receiveFunc(rx chan datagram, closed chan struct{}) vtep.ReceiveFunc {
	return func(bufs [][]byte, sizes []int, eps []netip.AddrPort) (int, error) {
		limit := min(len(bufs), len(sizes), len(eps))
		select {
		case <-closed:
			return 0, fmt.Errorf("vtep: receive: %w", net.ErrClosed)
		default:
		}
		if limit == 0 {
			return 0, nil
		}
		var d datagram
		select {
		case d = <-rx:
		case <-closed:
			return 0, fmt.Errorf("vtep: receive: %w", net.ErrClosed)
		}
		n := 0
		for more := true; more; {
			sizes[n] = copy(bufs[n], d.data)
			if len(d.data) > len(bufs[n]) {
				sizes[n] = len(bufs[n]) + 1
				c.oversize.Add(1)
			}
			eps[n] = d.src
			n++
			if n == limit {
				break
			}
			select {
			case d = <-rx:
			default:
				more = false
			}
		}
		c.received.Add(uint64(n))
		return n, nil
	}
}
