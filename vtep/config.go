package vtep

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
)

// Defaults used by NewStdBind for zero Config fields.
const (
	// DefaultBatchSize is the number of datagrams moved per recvmmsg or
	// sendmmsg call, as in wireguard-go's conn.IdealBatchSize.
	DefaultBatchSize = 64

	// DefaultSrcPortMin and DefaultSrcPortMax bound the outer UDP source
	// port: RFC 7348 §5 recommends "the dynamic/private port range 49152-65535".
	DefaultSrcPortMin = 49152
	DefaultSrcPortMax = 65535

	// DefaultSrcSockets is the number of send sockets, hence of distinct
	// outer source ports the inner flows are spread over.
	DefaultSrcSockets = 8

	// DefaultSocketBuffer is the SO_RCVBUF/SO_SNDBUF size in bytes: enough
	// for a few thousand full-size frames so bursts are not dropped.
	DefaultSocketBuffer = 4 << 20

	// DefaultMaxSegments is the most datagrams one UDP_SEGMENT send carries
	// when the kernel's limit cannot be probed: UDP_MAX_SEGMENTS is 64
	// (1 << 6) in include/linux/udp.h since Linux 4.18 and 128 on newer
	// kernels.
	DefaultMaxSegments = 64

	// DefaultRecvSockets caps the default number of receive sockets:
	// Config.RecvSockets zero selects min(runtime.NumCPU(), 4). Beyond a
	// few sockets the receive goroutines contend for the same cores as the
	// TAP writers, and each GRO receive socket holds 4 MiB of buffers.
	DefaultRecvSockets = 4

	// maxRecvSockets bounds Config.RecvSockets: 64 receive goroutines are
	// already far more than useful, and each socket has its own buffers.
	maxRecvSockets = 64

	// maxBatchSize is Linux's UIO_MAXIOV, the most messages one
	// recvmmsg/sendmmsg call accepts.
	maxBatchSize = 1024
)

// ErrInvalidConfig is returned (wrapped) by NewStdBind when a Config field
// is out of range. The message names the field.
var ErrInvalidConfig = errors.New("vtep: invalid config")

// ErrBindAlreadyOpen is returned by Open when the Bind is already open.
// Close it first.
var ErrBindAlreadyOpen = errors.New("vtep: bind already open")

// Config configures a StdBind. The zero value of every field except Local
// selects a default. A Config is copied by NewStdBind and not retained.
type Config struct {
	// Local is the underlay address to bind, IPv4 or IPv6. It selects the
	// socket family (udp4 or udp6; IPv6 sockets are IPv6-only). The
	// unspecified addresses 0.0.0.0 and :: are allowed. Required.
	Local netip.Addr

	// SrcPortMin and SrcPortMax bound the outer UDP source ports of sent
	// datagrams (inclusive). Both zero selects DefaultSrcPortMin and
	// DefaultSrcPortMax.
	SrcPortMin, SrcPortMax uint16

	// RecvSockets is the number of receive sockets. Open binds all of them
	// to the same local address and port with SO_REUSEPORT and returns one
	// ReceiveFunc per socket; the kernel spreads incoming datagrams over
	// them by a hash of the outer 4-tuple, and since the outer source port
	// differs per inner flow (RFC 7348 §5), so do the inner flows. One
	// flow always lands on one socket, so per-flow order is kept. Zero
	// selects min(runtime.NumCPU(), DefaultRecvSockets); 1 opens a single
	// socket without SO_REUSEPORT (the behaviour before multi-socket
	// receive); at most 64.
	RecvSockets int

	// RecvByCPU, with RecvSockets > 1, attaches a classic BPF program
	// (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5+) to the receive sockets'
	// reuseport group that picks socket (receiving CPU % RecvSockets)
	// instead of the 4-tuple hash. That keeps each datagram on the CPU
	// whose NIC queue received it when the NIC spreads flows itself (RSS or
	// RPS), but puts everything on one socket when all datagrams arrive on
	// one CPU (a single-queue NIC, veth, loopback from one sender), so it
	// is off by default. Open fails if the program cannot be attached.
	RecvByCPU bool

	// PollerWait makes the ReceiveFuncs wait for datagrams in the Go
	// runtime's network poller instead of parking their OS threads in
	// ppoll(2): more datagrams per wake-up and fewer thread switches under
	// load, a slower wake-up for each (see tap.Config.PollerWait).
	PollerWait bool

	// NoWait makes the ReceiveFuncs never wait: with nothing received
	// they return 0 packets and a nil error at once. It is for a poll
	// loop that waits on ReceiveFDs itself and drives every socket and
	// TAP from one thread (the switch's Config.SingleLoop, the daemon's
	// --wait=loop). PollerWait is ignored.
	NoWait bool

	// SrcSockets is the number of send sockets, each bound to a distinct
	// port in [SrcPortMin, SrcPortMax]. Zero selects DefaultSrcSockets.
	SrcSockets int

	// BatchSize is the Bind's BatchSize. Zero selects DefaultBatchSize; at
	// most 1024 (UIO_MAXIOV).
	BatchSize int

	// SocketBuffer is the SO_RCVBUF and SO_SNDBUF size in bytes of every
	// socket. Zero selects DefaultSocketBuffer. As root the size is forced
	// past net.core.rmem_max/wmem_max with SO_RCVBUFFORCE/SO_SNDBUFFORCE.
	SocketBuffer int

	// NoGSO disables UDP generic segmentation offload on send: without it,
	// Send coalesces runs of equal-length datagrams of one flow into one
	// sendmsg(2) carrying a UDP_SEGMENT control message where the kernel
	// supports it (Linux 4.18+). Either way the datagrams on the wire are
	// the same; GSO only saves system calls and per-packet kernel work.
	NoGSO bool

	// NoGRO disables UDP generic receive offload: without it, the receive
	// socket sets UDP_GRO where the kernel supports it (Linux 5.0+), reads
	// coalesced datagrams into buffers owned by the Bind and splits them
	// into the caller's buffers, one VXLAN packet per buffer.
	NoGRO bool

	// ZeroCopy lets the ReceiveFuncs of a UDP_GRO socket hand out each
	// VXLAN packet of a coalesced datagram where it lies in the Bind's own
	// buffer, by pointing bufs[i] at it, instead of copying it into the
	// caller's buffer (see ReceiveFunc). The switch's receive loops use
	// it; a caller that keeps bufs[i] after the next call must not.
	ZeroCopy bool

	// Logf, if not nil, receives rare diagnostic messages (for example a
	// socket buffer that could not be raised). It is never called per
	// datagram. Nil means silent.
	Logf func(format string, args ...any)
}

// withDefaults returns c with defaults filled in, or an error wrapping
// ErrInvalidConfig.
func (c Config) withDefaults() (Config, error) {
	if !c.Local.IsValid() {
		return c, fmt.Errorf("%w: Local address is required", ErrInvalidConfig)
	}
	c.Local = c.Local.Unmap()
	switch {
	case c.SrcPortMin == 0 && c.SrcPortMax == 0:
		c.SrcPortMin, c.SrcPortMax = DefaultSrcPortMin, DefaultSrcPortMax
	case c.SrcPortMin == 0 || c.SrcPortMax == 0:
		return c, fmt.Errorf("%w: SrcPortMin and SrcPortMax must both be set or both be zero (got %d-%d)", ErrInvalidConfig, c.SrcPortMin, c.SrcPortMax)
	case c.SrcPortMin > c.SrcPortMax:
		return c, fmt.Errorf("%w: SrcPortMin %d > SrcPortMax %d", ErrInvalidConfig, c.SrcPortMin, c.SrcPortMax)
	}
	span := int(c.SrcPortMax) - int(c.SrcPortMin) + 1
	switch {
	case c.SrcSockets == 0:
		c.SrcSockets = min(DefaultSrcSockets, span)
	case c.SrcSockets < 0:
		return c, fmt.Errorf("%w: SrcSockets %d < 0", ErrInvalidConfig, c.SrcSockets)
	case c.SrcSockets > span:
		return c, fmt.Errorf("%w: SrcSockets %d > %d ports in %d-%d", ErrInvalidConfig, c.SrcSockets, span, c.SrcPortMin, c.SrcPortMax)
	}
	switch {
	case c.RecvSockets == 0:
		c.RecvSockets = min(runtime.NumCPU(), DefaultRecvSockets)
	case c.RecvSockets < 0 || c.RecvSockets > maxRecvSockets:
		return c, fmt.Errorf("%w: RecvSockets %d not in 1-%d", ErrInvalidConfig, c.RecvSockets, maxRecvSockets)
	}
	switch {
	case c.BatchSize == 0:
		c.BatchSize = DefaultBatchSize
	case c.BatchSize < 0 || c.BatchSize > maxBatchSize:
		return c, fmt.Errorf("%w: BatchSize %d not in 1-%d", ErrInvalidConfig, c.BatchSize, maxBatchSize)
	}
	switch {
	case c.SocketBuffer == 0:
		c.SocketBuffer = DefaultSocketBuffer
	case c.SocketBuffer < 0:
		return c, fmt.Errorf("%w: SocketBuffer %d < 0", ErrInvalidConfig, c.SocketBuffer)
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}
