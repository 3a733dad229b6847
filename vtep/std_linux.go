package vtep

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"github.com/vxswitch/vxswitch/encap"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Open implements Bind. It binds the receive socket on Config.Local:port
// (port 0 picks an ephemeral port, returned as actualPort) and the send
// sockets inside the source port range, retrying other ports of the range
// on EADDRINUSE. It returns exactly one ReceiveFunc. On error nothing
// stays open.
func (b *StdBind) Open(port uint16) (fns []ReceiveFunc, actualPort uint16, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.recv != nil {
		return nil, 0, ErrBindAlreadyOpen
	}
	recv, err := b.listen(netip.AddrPortFrom(b.cfg.Local, port))
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			recv.Close()
			b.closeSendLocked()
		}
	}()
	local := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	if err := b.openSendLocked(); err != nil {
		return nil, 0, err
	}
	r, err := newReceiver(recv, b.cfg.BatchSize)
	if err != nil {
		return nil, 0, err
	}
	b.recv, b.local = recv, local
	return []ReceiveFunc{r.receive}, local.Port(), nil
}

// openSendLocked binds cfg.SrcSockets send sockets on ports spread evenly
// over the source range from a random start. b.mu must be held.
func (b *StdBind) openSendLocked() error {
	lo, span := int(b.cfg.SrcPortMin), int(b.cfg.SrcPortMax)-int(b.cfg.SrcPortMin)+1
	n := b.cfg.SrcSockets
	stride := span / n
	start := rand.IntN(span)
	used := make(map[uint16]bool, n)
	for i := range n {
		var lastErr error
		bound := false
		for try := 0; try < span && !bound; try++ {
			p := uint16(lo + (start+i*stride+try)%span)
			if used[p] {
				continue
			}
			c, err := b.listen(netip.AddrPortFrom(b.cfg.Local, p))
			if errors.Is(err, unix.EADDRINUSE) {
				lastErr = err
				continue
			}
			if err != nil {
				return err
			}
			used[p] = true
			bound = true
			b.send = append(b.send, c)
			b.ports = append(b.ports, p)
			if b.cfg.Local.Is4() {
				b.writers = append(b.writers, ipv4.NewPacketConn(c))
			} else {
				b.writers = append(b.writers, ipv6.NewPacketConn(c))
			}
		}
		if !bound {
			return fmt.Errorf("vtep: no free source port in %d-%d: %w", b.cfg.SrcPortMin, b.cfg.SrcPortMax, lastErr)
		}
	}
	return nil
}

func (b *StdBind) closeSendLocked() error {
	var errs []error
	for _, c := range b.send {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	b.send, b.writers, b.ports = nil, nil, nil
	return errors.Join(errs...)
}

// Close implements Bind. It closes every socket; a blocked ReceiveFunc
// returns net.ErrClosed. Close is idempotent and safe concurrently with
// Send and the ReceiveFunc.
func (b *StdBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.recv == nil {
		return nil
	}
	err := b.recv.Close()
	b.recv, b.local = nil, netip.AddrPort{}
	return errors.Join(err, b.closeSendLocked())
}

// listen opens one UDP socket on addr with the buffer sizes and
// don't-fragment options set before bind.
func (b *StdBind) listen(addr netip.AddrPort) (*net.UDPConn, error) {
	network := "udp6"
	if addr.Addr().Is4() {
		network = "udp4"
	}
	lc := net.ListenConfig{Control: b.control}
	pc, err := lc.ListenPacket(context.Background(), network, addr.String())
	if err != nil {
		// Keep the syscall error, drop net's duplicate "listen udp4 addr".
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, fmt.Errorf("vtep: listen %s: %w", addr, err)
	}
	return pc.(*net.UDPConn), nil
}

// control sets the socket options of every StdBind socket before bind.
func (b *StdBind) control(network, address string, rc syscall.RawConn) error {
	var opErr error
	err := rc.Control(func(fd uintptr) {
		opErr = b.setSockopts(int(fd), network == "udp6")
	})
	if err != nil {
		return err
	}
	return opErr
}

func (b *StdBind) setSockopts(fd int, v6 bool) error {
	size := b.cfg.SocketBuffer
	for _, o := range []struct {
		name        string
		force, norm int
	}{
		{"SO_RCVBUF", unix.SO_RCVBUFFORCE, unix.SO_RCVBUF},
		{"SO_SNDBUF", unix.SO_SNDBUFFORCE, unix.SO_SNDBUF},
	} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.force, size) == nil {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.norm, size); err != nil {
			b.cfg.Logf("vtep: setsockopt %s %d: %v", o.name, size, err)
		}
	}
	// Never fragment the outer packet (RFC 7348 §4.3).
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO); err != nil {
			return os.NewSyscallError("setsockopt IPV6_MTU_DISCOVER", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1); err != nil {
			return os.NewSyscallError("setsockopt IPV6_DONTFRAG", err)
		}
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
		return os.NewSyscallError("setsockopt IP_MTU_DISCOVER", err)
	}
	return nil
}

// Send implements Bind. Each bufs[i] must start with the VXLAN header; the
// frame after it picks the send socket. dst must be of the Bind's family
// (an IPv4-mapped IPv6 address counts as IPv4). A datagram the kernel
// refuses (EMSGSIZE above the path MTU, ENETUNREACH, …) is skipped and the
// rest are still sent; Send then returns the first such error, and the Bind
// stays usable. After Close, Send returns an error satisfying
// errors.Is(err, net.ErrClosed). Send allocates nothing unless it fails.
func (b *StdBind) Send(bufs [][]byte, dst netip.AddrPort) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.recv == nil {
		return fmt.Errorf("vtep: send %s: %w", dst, net.ErrClosed)
	}
	ip := dst.Addr().Unmap()
	if ip.Is4() != b.cfg.Local.Is4() || ip.Zone() != "" || dst.Port() == 0 {
		return fmt.Errorf("vtep: send %s: %w", dst, errBadDestination)
	}
	sb := b.sendPool.Get().(*sendBatch)
	defer b.sendPool.Put(sb)
	sb.ip = ip.As16()
	if ip.Is4() {
		sb.addr.IP = sb.ip[12:16]
	} else {
		sb.addr.IP = sb.ip[:]
	}
	sb.addr.Port = int(dst.Port())

	var first error
	n := uint32(len(b.writers))
	for len(bufs) > 0 {
		chunk := bufs[:min(len(bufs), b.cfg.BatchSize)]
		bufs = bufs[len(chunk):]
		for _, buf := range chunk {
			var h uint32
			if len(buf) > encap.VXLANHeaderLen {
				h = encap.FlowHash(buf[encap.VXLANHeaderLen:])
			}
			s := h % n
			g := sb.groups[s]
			g = g[:len(g)+1]
			g[len(g)-1].Buffers[0] = buf
			sb.groups[s] = g
		}
		for s, g := range sb.groups {
			if err := writeAll(b.writers[s], g); err != nil && first == nil {
				first = err
			}
		}
		sb.reset()
	}
	if first != nil {
		// Keep the syscall error, drop x/net's "write udp local" wrapper.
		var se *os.SyscallError
		if errors.As(first, &se) {
			first = se
		}
		return fmt.Errorf("vtep: send %s: %w", dst, first)
	}
	return nil
}

// errBadDestination is wrapped by Send for a destination the Bind cannot
// reach: the other address family, a zoned address or port 0.
var errBadDestination = errors.New("destination address family, zone or port not usable by this bind")

// writeAll sends ms with as many sendmmsg calls as needed. A message the
// kernel refuses is skipped; the first error is returned.
func writeAll(w batchWriter, ms []ipv4.Message) error {
	var first error
	for len(ms) > 0 {
		n, err := w.WriteBatch(ms, 0)
		if err != nil {
			if first == nil {
				first = err
			}
			// x/net returns sendmmsg's -1 as n on error.
			n = max(n, 0) + 1 // skip the message that failed
		}
		ms = ms[min(n, len(ms)):]
	}
	return first
}

// receiver is the state of one ReceiveFunc: recvmmsg headers, iovecs and
// address storage allocated once in newReceiver and reused on every call.
//
// It calls recvmmsg(2) itself instead of ipv4.PacketConn.ReadBatch because
// x/net parses every source address into a new *net.UDPAddr (two
// allocations per datagram); here the sockaddr is decoded in place into a
// netip.AddrPort, which is a value, so receiving allocates nothing.
type receiver struct {
	rc    syscall.RawConn
	hs    []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for both families

	// Arguments and results of readFn, which is bound once so that
	// rc.Read does not allocate a closure per call.
	cnt    int
	n      int
	errno  syscall.Errno
	readFn func(fd uintptr) bool
}

func newReceiver(c *net.UDPConn, batch int) (*receiver, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("vtep: receive socket: %w", err)
	}
	r := &receiver{
		rc:    rc,
		hs:    make([]unix.Mmsghdr, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
	}
	r.readFn = r.recvmmsg
	return r, nil
}

func (r *receiver) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.hs[0])), uintptr(r.cnt), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait for the poller, then retry
		}
		r.n, r.errno = int(n), errno
		return true
	}
}

// receive is the ReceiveFunc. See ReceiveFunc for the contract.
func (r *receiver) receive(bufs [][]byte, sizes []int, eps []netip.AddrPort) (int, error) {
	cnt := min(len(bufs), len(sizes), len(eps), len(r.hs))
	if cnt == 0 {
		return 0, nil
	}
	for i := range cnt {
		iov := &r.iovs[i]
		if len(bufs[i]) > 0 {
			iov.Base = &bufs[i][0]
		} else {
			iov.Base = nil
		}
		iov.SetLen(len(bufs[i]))
		h := &r.hs[i]
		h.Hdr = unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&r.names[i])),
			Namelen: unix.SizeofSockaddrInet6,
			Iov:     iov,
		}
		h.Hdr.SetIovlen(1)
		h.Len = 0
	}
	r.cnt = cnt
	err := r.rc.Read(r.readFn)
	for i := range cnt {
		r.iovs[i].Base = nil // do not keep the caller's buffers alive
	}
	if err != nil {
		return 0, fmt.Errorf("vtep: receive: %w", err)
	}
	if r.errno != 0 {
		return 0, fmt.Errorf("vtep: receive: %w", os.NewSyscallError("recvmmsg", r.errno))
	}
	for i := range r.n {
		h := &r.hs[i]
		sizes[i] = int(h.Len)
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
			sizes[i] = len(bufs[i]) + 1
		}
		eps[i] = sockaddrToAddrPort(&r.names[i])
	}
	return r.n, nil
}

// sockaddrToAddrPort decodes a sockaddr_in or sockaddr_in6 filled in by the
// kernel. IPv6 scope IDs are dropped (link-local underlays are not
// supported); anything else yields the zero AddrPort.
func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}
