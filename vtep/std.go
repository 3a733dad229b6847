package vtep

import (
	"fmt"
	"github.com/vxswitch/vxswitch/encap"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// StdBind is the default Bind: UDP sockets over the host's IPv4 or IPv6
// underlay, in the spirit of wireguard-go's conn.StdNetBind.
//
// Open binds Config.RecvSockets receive sockets on Config.Local:port (with
// SO_REUSEPORT when there are several, so the kernel spreads flows over
// them) and returns one ReceiveFunc per socket, each reading batches with
// recvmmsg(2) and meant for its own goroutine. It also binds
// Config.SrcSockets send sockets on ports inside [SrcPortMin, SrcPortMax].
// Send hashes each datagram's inner frame (bufs[i][encap.VXLANHeaderLen:])
// and sends it from send socket hash%SrcSockets with sendmmsg(2), so the
// outer source port is constant per inner flow and varies across flows
// (RFC 7348 §5) without raw sockets. The source port a peer sees is
// therefore not the port StdBind listens on: peers must reply to the VXLAN
// port they are configured with, never to the source port.
//
// UDP offloads are used where the kernel supports them and Config allows
// (see Offload): Send coalesces consecutive equal-length datagrams that
// leave from one socket (the segments of one inner TCP flow) into one
// message with a UDP_SEGMENT control message (GSO), and the ReceiveFunc
// reads UDP_GRO-coalesced datagrams into 64 KiB buffers owned by the Bind
// (4 MiB per receive socket) and splits them back into one VXLAN packet per
// caller buffer. Offloads
// are invisible through the Bind interface: the datagrams on the wire and
// the packets a ReceiveFunc returns are the same with them on or off.
//
// All sockets set don't-fragment. Receive and Send allocate nothing in
// steady state.
//
// Send, BatchSize, LocalAddr, SourcePorts and Offload are safe for
// concurrent use, and Close is safe concurrently with all of them and with
// the ReceiveFunc. Open and Close serialize with each other; a closed
// StdBind can be opened again.
type StdBind struct {
	cfg Config // with defaults; immutable after NewStdBind

	// sendPool holds *sendBatch values sized for cfg.SrcSockets and
	// sendChunk(cfg.BatchSize), so Send does not allocate.
	sendPool sync.Pool

	// mu protects the open state below. Send holds it for reading for the
	// whole call, so Close (write lock) never closes a socket under an
	// in-flight sendmmsg. ReceiveFuncs do not take it: they own a reference
	// to their socket and see net.ErrClosed once Close closes it.
	mu          sync.RWMutex
	recv        []sockConn     // len cfg.RecvSockets when open, nil when closed
	receivers   []*receiver    // receivers[i] is the ReceiveFunc state over recv[i]
	send        []*sendSocket  // len cfg.SrcSockets when open
	local       netip.AddrPort // bound address of every receive socket
	maxSegments int            // UDP_MAX_SEGMENTS probed at Open
	status      OffloadStatus  // filled in by Open; GSO counts live in send

	gsoLogged atomic.Bool // the EIO fallback has been logged

	// closedDrops is what the kernel had dropped at receive sockets since
	// closed (ReceiveDrops); guarded by mu.
	closedDrops uint64
}

var _ Bind = (*StdBind)(nil)

// sockConn is a socket as the bind keeps it: a *net.UDPConn while the
// loops wait in the runtime poller (Config.PollerWait), otherwise its
// descriptor taken out of the poller (internal/rawfd; see detach).
type sockConn interface {
	SyscallConn() (syscall.RawConn, error)
	Close() error
}

// sendSocket is one send socket of the source port pool.
type sendSocket struct {
	conn sockConn
	rc   syscall.RawConn
	port uint16

	// gso is true while UDP_SEGMENT sends are enabled on this socket. It
	// starts as the probe result and is cleared for good when a GSO send
	// fails with EIO (the route's device cannot checksum-offload).
	gso atomic.Bool
}

// NewStdBind validates cfg, fills in defaults and returns a closed
// StdBind. It opens no sockets; call Open. Errors wrap ErrInvalidConfig.
func NewStdBind(cfg Config) (*StdBind, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &StdBind{cfg: cfg}
	b.sendPool.New = func() any { return newSendBatch(cfg.SrcSockets, sendChunk(cfg.BatchSize)) }
	return b, nil
}

// BatchSize implements Bind. It is Config.BatchSize (or its default) and
// never changes.
func (b *StdBind) BatchSize() int { return b.cfg.BatchSize }

// LocalAddr returns the address and port the receive sockets are bound to,
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
	if b.send == nil {
		return nil
	}
	ports := make([]uint16, len(b.send))
	for i, s := range b.send {
		ports[i] = s.port
	}
	return ports
}

// SourcePortOf returns the outer UDP source port Send uses for pkt, a VXLAN
// header followed by the inner frame: the port of the send socket that the
// inner flow hashes to (RFC 7348 §5). It is 0 when the Bind is closed. It
// allocates nothing and is safe for concurrent use; packet captures call it
// to show the true outer header.
func (b *StdBind) SourcePortOf(pkt []byte) uint16 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.send) == 0 {
		return 0
	}
	var h uint32
	if len(pkt) > encap.VXLANHeaderLen {
		h = encap.FlowHash(pkt[encap.VXLANHeaderLen:])
	}
	return b.send[h%uint32(len(b.send))].port
}

// OffloadStatus reports the UDP offloads and socket buffers an open
// StdBind uses, for the daemon's log and status. It is a value: a copy
// taken by Offload.
type OffloadStatus struct {
	// GSO is true when UDP_SEGMENT sends are on for every send socket:
	// enabled in Config, supported by the kernel and not disabled since by
	// an EIO from the route's device.
	GSO bool
	// GSOSockets is the number of send sockets with GSO currently on.
	GSOSockets int
	// MaxSegments is the most datagrams one GSO send carries: the kernel's
	// UDP_MAX_SEGMENTS, probed at Open (64 or 128), or 0 without GSO.
	MaxSegments int
	// GRO is true when every receive socket has UDP_GRO set.
	GRO bool
	// RecvSockets is the number of receive sockets (and ReceiveFuncs)
	// sharing the local port; RecvByCPU is true when they are chosen by
	// receiving CPU rather than by 4-tuple hash (Config.RecvByCPU).
	RecvSockets int
	RecvByCPU   bool
	// RecvBuffer and SendBuffer are SO_RCVBUF of the first receive socket and
	// SO_SNDBUF of the first send socket in bytes, as getsockopt(2)
	// reports them (Linux doubles the requested size for bookkeeping).
	RecvBuffer, SendBuffer int
}

// String formats s on one line for logs, for example
// "gso=on (8 sockets, 64 segments) gro=on recv=4 rcvbuf=8388608 sndbuf=8388608",
// with recv=4/cpu when receive sockets are chosen by CPU.
func (s OffloadStatus) String() string {
	var sb strings.Builder
	switch {
	case s.GSO:
		fmt.Fprintf(&sb, "gso=on (%d sockets, %d segments)", s.GSOSockets, s.MaxSegments)
	case s.GSOSockets > 0:
		fmt.Fprintf(&sb, "gso=partial (%d sockets, %d segments)", s.GSOSockets, s.MaxSegments)
	default:
		sb.WriteString("gso=off")
	}
	if s.GRO {
		sb.WriteString(" gro=on")
	} else {
		sb.WriteString(" gro=off")
	}
	fmt.Fprintf(&sb, " recv=%d", s.RecvSockets)
	if s.RecvByCPU {
		sb.WriteString("/cpu")
	}
	fmt.Fprintf(&sb, " rcvbuf=%d sndbuf=%d", s.RecvBuffer, s.SendBuffer)
	return sb.String()
}

// Offload reports what offloads are active. It is the zero OffloadStatus
// when the Bind is closed.
func (b *StdBind) Offload() OffloadStatus {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.recv) == 0 {
		return OffloadStatus{}
	}
	s := b.status
	s.GSOSockets = 0
	for _, ss := range b.send {
		if ss.gso.Load() {
			s.GSOSockets++
		}
	}
	s.GSO = s.GSOSockets == len(b.send) && s.GSOSockets > 0
	if s.GSOSockets == 0 {
		s.MaxSegments = 0
	}
	return s
}
