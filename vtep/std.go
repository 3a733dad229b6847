package vtep

import (
	"net"
	"net/netip"
	"slices"
	"sync"

	"golang.org/x/net/ipv4"
)

// StdBind is the default Bind: UDP sockets over the host's IPv4 or IPv6
// underlay, in the spirit of wireguard-go's conn.StdNetBind.
//
// Open binds one receive socket on Config.Local:port and returns a single
// ReceiveFunc that reads batches with recvmmsg(2). It also binds
// Config.SrcSockets send sockets on ports inside [SrcPortMin, SrcPortMax].
// Send hashes each datagram's inner frame (bufs[i][encap.VXLANHeaderLen:])
// and sends it from send socket hash%SrcSockets with sendmmsg(2), so the
// outer source port is constant per inner flow and varies across flows
// (RFC 7348 §5) without raw sockets. The source port a peer sees is
// therefore not the port StdBind listens on: peers must reply to the VXLAN
// port they are configured with, never to the source port.
//
// All sockets set don't-fragment. Receive and Send allocate nothing in
// steady state.
//
// Send, BatchSize, LocalAddr and SourcePorts are safe for concurrent use,
// and Close is safe concurrently with all of them and with the ReceiveFunc.
// Open and Close serialize with each other; a closed StdBind can be opened
// again.
type StdBind struct {
	cfg Config // with defaults; immutable after NewStdBind

	// sendPool holds *sendBatch values sized for cfg.SrcSockets and
	// cfg.BatchSize, so Send does not allocate.
	sendPool sync.Pool

	// mu protects the open state below. Send holds it for reading for the
	// whole call, so Close (write lock) never closes a socket under an
	// in-flight sendmmsg. ReceiveFuncs do not take it: they own a reference
	// to their socket and see net.ErrClosed once Close closes it.
	mu      sync.RWMutex
	recv    *net.UDPConn   // nil when closed
	send    []*net.UDPConn // len cfg.SrcSockets when open
	writers []batchWriter  // ipv4 or ipv6 PacketConn over send[i]
	ports   []uint16       // bound port of send[i]
	local   netip.AddrPort // bound address of recv
}

var _ Bind = (*StdBind)(nil)

// batchWriter is the WriteBatch method shared by ipv4.PacketConn and
// ipv6.PacketConn (ipv4.Message and ipv6.Message are the same type).
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// NewStdBind validates cfg, fills in defaults and returns a closed
// StdBind. It opens no sockets; call Open. Errors wrap ErrInvalidConfig.
func NewStdBind(cfg Config) (*StdBind, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &StdBind{cfg: cfg}
	b.sendPool.New = func() any { return newSendBatch(cfg.SrcSockets, cfg.BatchSize) }
	return b, nil
}

// BatchSize implements Bind. It is Config.BatchSize (or its default) and
// never changes.
func (b *StdBind) BatchSize() int { return b.cfg.BatchSize }

// LocalAddr returns the address and port the receive socket is bound to,
// or the zero AddrPort when the Bind is closed.
func (b *StdBind) LocalAddr() netip.AddrPort {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.local
}

// SourcePorts returns a copy of the ports the send sockets are bound to, in
// socket order (a flow with hash h leaves from SourcePorts()[h%len]). It is
// nil when the Bind is closed.
func (b *StdBind) SourcePorts() []uint16 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return slices.Clone(b.ports)
}

// sendBatch is the per-Send scratch space: messages grouped by send socket.
// It lives in StdBind.sendPool.
type sendBatch struct {
	ip     [16]byte
	addr   net.UDPAddr      // destination; addr.IP points into ip
	msgs   []ipv4.Message   // sockets*batch messages, each with Buffers of len 1
	groups [][]ipv4.Message // groups[i] is a zero-length window on msgs for socket i
}

func newSendBatch(sockets, batch int) *sendBatch {
	sb := &sendBatch{
		msgs:   make([]ipv4.Message, sockets*batch),
		groups: make([][]ipv4.Message, sockets),
	}
	bufs := make([][]byte, sockets*batch)
	for i := range sb.msgs {
		sb.msgs[i].Buffers = bufs[i : i+1 : i+1]
		sb.msgs[i].Addr = &sb.addr
	}
	for i := range sb.groups {
		sb.groups[i] = sb.msgs[i*batch : i*batch : (i+1)*batch]
	}
	return sb
}

// reset empties the groups and drops references to the caller's buffers,
// so the pool does not retain them.
func (sb *sendBatch) reset() {
	for i, g := range sb.groups {
		for j := range g {
			g[j].Buffers[0] = nil
		}
		sb.groups[i] = g[:0]
	}
}
