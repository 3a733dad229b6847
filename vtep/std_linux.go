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
	b.status = OffloadStatus{}
	gro := false
	if !b.cfg.NoGRO {
		gro = enableGRO(recv) == nil
	}
	r, err := newReceiver(recv, b.cfg.BatchSize, gro)
	if err != nil {
		return nil, 0, err
	}
	b.maxSegments = 0
	for _, s := range b.send {
		if s.gso.Load() {
			b.maxSegments = probeMaxSegments(b.cfg.Local)
			break
		}
	}
	b.status.MaxSegments = b.maxSegments
	b.status.GRO = gro
	b.status.RecvBuffer = sockoptInt(recv, unix.SOL_SOCKET, unix.SO_RCVBUF)
	b.status.SendBuffer = sockoptInt(b.send[0].conn, unix.SOL_SOCKET, unix.SO_SNDBUF)
	b.recv, b.receiver, b.local = recv, r, local
	return []ReceiveFunc{r.receive}, local.Port(), nil
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
func sockoptInt(c *net.UDPConn, level, opt int) int {
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

// Close implements Bind. It closes every socket; a blocked ReceiveFunc
// returns net.ErrClosed. Close is idempotent and safe concurrently with
// Send and the ReceiveFunc.
func (b *StdBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.recv == nil {
		return nil
	}
	b.receiver.close()
	err := b.recv.Close()
	b.recv, b.receiver, b.local = nil, nil, netip.AddrPort{}
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
