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

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/rawfd"
)

// Open implements Bind. It binds Config.RecvSockets receive sockets on
// Config.Local:port (port 0 picks an ephemeral port, returned as
// actualPort) and the send sockets inside the source port range, retrying
// other ports of the range on EADDRINUSE. It returns one ReceiveFunc per
// receive socket, in socket order. On error nothing stays open.
//
// With several receive sockets, the first is bound without SO_REUSEPORT,
// so the bind fails with EADDRINUSE when anything already holds the port
// (another daemon's reuseport group included) and port 0 yields a port no
// other socket uses; Open then sets SO_REUSEPORT on it and binds the
// others to the same port with SO_REUSEPORT, forming one reuseport group.
// Linux lets only sockets of the same effective UID join a group.
func (b *StdBind) Open(port uint16) (fns []ReceiveFunc, actualPort uint16, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.recv) > 0 {
		return nil, 0, ErrBindAlreadyOpen
	}
	var recv []*net.UDPConn
	defer func() {
		if err != nil {
			for _, c := range recv {
				if c != nil { // nil: detached, closed with conns below
					c.Close()
				}
			}
			b.closeSendLocked()
		}
	}()
	n := b.cfg.RecvSockets
	first, err := b.listen(netip.AddrPortFrom(b.cfg.Local, port), false)
	if err != nil {
		return nil, 0, err
	}
	recv = append(recv, first)
	local := first.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	if n > 1 {
		if err := setReusePort(first); err != nil {
			return nil, 0, err
		}
		for range n - 1 {
			c, err := b.listen(local, true)
			if err != nil {
				return nil, 0, err
			}
			recv = append(recv, c)
		}
		if b.cfg.RecvByCPU {
			if err := attachCPUSteering(recv[n-1], n); err != nil {
				return nil, 0, err
			}
		}
	}
	if err := b.openSendLocked(); err != nil {
		return nil, 0, err
	}
	b.status = OffloadStatus{RecvSockets: n, RecvByCPU: n > 1 && b.cfg.RecvByCPU, GRO: !b.cfg.NoGRO}
	gro := make([]bool, n)
	for i, c := range recv {
		if !b.cfg.NoGRO {
			gro[i] = enableGRO(c) == nil
		}
		b.status.GRO = b.status.GRO && gro[i]
	}
	b.maxSegments = 0
	for _, s := range b.send {
		if s.gso.Load() {
			b.maxSegments = probeMaxSegments(b.cfg.Local)
			break
		}
	}
	b.status.MaxSegments = b.maxSegments
	b.status.RecvBuffer = sockoptInt(first, unix.SOL_SOCKET, unix.SO_RCVBUF)
	b.status.SendBuffer = sockoptInt(b.send[0].conn, unix.SOL_SOCKET, unix.SO_SNDBUF)

	conns := make([]sockConn, 0, n)
	defer func() {
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
		}
	}()
	for i, c := range recv {
		d, err := b.detach(c)
		if err != nil {
			return nil, 0, err
		}
		conns = append(conns, d)
		recv[i] = nil // now conns[i] (c itself, or c was closed)
	}
	for _, s := range b.send {
		d, err := b.detach(s.conn)
		if err != nil {
			return nil, 0, err
		}
		s.conn = d
		if s.rc, err = d.SyscallConn(); err != nil {
			return nil, 0, err
		}
	}
	receivers := make([]*receiver, n)
	fns = make([]ReceiveFunc, n)
	for i, c := range conns {
		r, err := newReceiver(c, &b.cfg, gro[i])
		if err != nil {
			return nil, 0, err
		}
		receivers[i], fns[i] = r, r.receive
	}
	b.recv, b.receivers, b.local = conns, receivers, local
	return fns, local.Port(), nil
}

// detach returns c for a bind whose loops wait in the runtime poller
// (Config.PollerWait), and otherwise c's descriptor taken out of the
// poller (internal/rawfd; c is closed): the receive loops wait in ppoll
// themselves, and a socket registered with the runtime's epoll wakes an
// idle runtime thread for every datagram received and every send buffer
// freed, for nothing. On error c is left open.
func (b *StdBind) detach(c sockConn) (sockConn, error) {
	if b.cfg.PollerWait && !b.cfg.NoWait {
		return c, nil
	}
	raw, err := rawfd.FromConn(c)
	if err != nil {
		return nil, fmt.Errorf("vtep: %w", err)
	}
	return raw, nil
}

// ReceiveFDs returns the receive sockets' descriptors, in the order of
// the ReceiveFuncs Open returned, for a poll loop to wait on (POLLIN) when
// the Bind was made with Config.NoWait; otherwise, or while the Bind is
// not open, nil. The descriptors belong to the Bind: the loop must stop
// polling them before Close.
func (b *StdBind) ReceiveFDs() []int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !b.cfg.NoWait || len(b.receivers) == 0 {
		return nil
	}
	fds := make([]int, len(b.receivers))
	for i, r := range b.receivers {
		fds[i] = r.fd
	}
	return fds
}

// ReceiveBuffered returns, in the order of the ReceiveFuncs Open
// returned, one function per ReceiveFunc that reports whether it holds
// packets already received from the kernel but not returned yet (the
// rest of a UDP_GRO datagram train): its next call returns them without
// a system call, and its socket does not show them as readable, so a
// poll loop (Config.NoWait) must call it again instead of waiting while
// the function reports true. Each function may only be called by the
// goroutine that drives its ReceiveFunc. While the Bind is not open it
// returns nil.
func (b *StdBind) ReceiveBuffered() []func() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.receivers) == 0 {
		return nil
	}
	fns := make([]func() bool, len(b.receivers))
	for i, r := range b.receivers {
		fns[i] = r.buffered
	}
	return fns
}

// setReusePort sets SO_REUSEPORT on a bound socket so that sockets bound
// later with SO_REUSEPORT join it in one reuseport group (Linux creates the
// group when the second socket binds).
func setReusePort(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("vtep: receive socket: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return fmt.Errorf("vtep: receive socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("vtep: receive socket: %w", os.NewSyscallError("setsockopt SO_REUSEPORT", serr))
	}
	return nil
}

// enableGRO sets UDP_GRO on c. It fails on kernels before Linux 5.0.
func enableGRO(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
	}); err != nil {
		return err
	}
	return serr
}

// sockoptInt reads an int socket option of c, or -1 if that fails.
func sockoptInt(c sockConn, level, opt int) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	v := -1
	rc.Control(func(fd uintptr) {
		if got, err := unix.GetsockoptInt(int(fd), level, opt); err == nil {
			v = got
		}
	})
	return v
}

// ReceiveDrops returns the number of datagrams the kernel dropped at the
// bind's receive sockets, the ones open now and the ones closed before:
// almost always because a socket's receive buffer was full while the
// switch fell behind (a datagram failing its UDP checksum is counted
// too). They are VXLAN packets lost before the switch saw them, which no
// counter of its own can show. It reads each socket's SK_MEMINFO_DROPS
// (getsockopt SO_MEMINFO) when called, so it costs the data path
// nothing; it is for statistics, not for a loop. Safe for concurrent use.
func (b *StdBind) ReceiveDrops() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := b.closedDrops
	for _, c := range b.recv {
		n += socketDrops(c)
	}
	return n
}

// socketDrops is the kernel's count of datagrams dropped at c
// (SK_MEMINFO_DROPS), 0 if it cannot be read. x/sys has no getsockopt
// for SO_MEMINFO's array of counters, so the system call is made here.
func socketDrops(c sockConn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var mem [unix.SK_MEMINFO_VARS]uint32
	var drops uint64
	rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(mem))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
		if e == 0 && size >= (unix.SK_MEMINFO_DROPS+1)*4 {
			drops = uint64(mem[unix.SK_MEMINFO_DROPS])
		}
	})
	return drops
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
			c, err := b.listen(netip.AddrPortFrom(b.cfg.Local, p), false)
			if errors.Is(err, unix.EADDRINUSE) {
				lastErr = err
				continue
			}
			if err != nil {
				return err
			}
			used[p] = true
			bound = true
			rc, err := c.SyscallConn()
			if err != nil {
				c.Close()
				return fmt.Errorf("vtep: send socket: %w", err)
			}
			s := &sendSocket{conn: c, rc: rc, port: p}
			if !b.cfg.NoGSO {
				rc.Control(func(fd uintptr) { s.gso.Store(supportsGSO(int(fd))) })
			}
			b.send = append(b.send, s)
		}
		if !bound {
			return fmt.Errorf("vtep: no free source port in %d-%d: %w", b.cfg.SrcPortMin, b.cfg.SrcPortMax, lastErr)
		}
	}
	return nil
}

func (b *StdBind) closeSendLocked() error {
	var errs []error
	for _, s := range b.send {
		if err := s.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	b.send = nil
	return errors.Join(errs...)
}

// Close implements Bind. It closes every socket; every blocked ReceiveFunc
// returns net.ErrClosed. Close is idempotent and safe concurrently with
// Send and the ReceiveFunc.
func (b *StdBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.recv) == 0 {
		return nil
	}
	var errs []error
	for i, c := range b.recv {
		b.receivers[i].close()
		b.closedDrops += socketDrops(c)
		if err := c.Close(); err != nil { // waits for a receive in progress to let go
			errs = append(errs, err)
		}
	}
	b.recv, b.receivers, b.local = nil, nil, netip.AddrPort{}
	return errors.Join(append(errs, b.closeSendLocked())...)
}

// listen opens one UDP socket on addr with the buffer sizes and
// don't-fragment options, and SO_REUSEPORT if reusePort, set before bind.
func (b *StdBind) listen(addr netip.AddrPort, reusePort bool) (*net.UDPConn, error) {
	network := "udp6"
	if addr.Addr().Is4() {
		network = "udp4"
	}
	lc := net.ListenConfig{Control: b.control}
	if reusePort {
		lc.Control = b.controlReusePort
	}
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

// controlReusePort is control plus SO_REUSEPORT, for the receive sockets
// after the first.
func (b *StdBind) controlReusePort(network, address string, rc syscall.RawConn) error {
	var opErr error
	err := rc.Control(func(fd uintptr) {
		opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		if opErr != nil {
			opErr = os.NewSyscallError("setsockopt SO_REUSEPORT", opErr)
			return
		}
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
