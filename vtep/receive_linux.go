package vtep

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// receiver is the state of one ReceiveFunc: recvmmsg headers, iovecs and
// address storage allocated once in newReceiver and reused on every call.
//
// It calls recvmmsg(2) itself instead of ipv4.PacketConn.ReadBatch because
// x/net parses every source address into a new *net.UDPAddr (two
// allocations per datagram); here the sockaddr is decoded in place into a
// netip.AddrPort, which is a value, so receiving allocates nothing.
//
// Without GRO it receives straight into the caller's buffers. With GRO
// (the socket has UDP_GRO set) it receives into its own 64 KiB buffers,
// since one datagram may carry up to UDP_MAX_SEGMENTS VXLAN packets, and
// copies each segment into a caller buffer, or with Config.ZeroCopy points
// the caller's bufs[i] at it; segments that do not fit in the caller's
// batch wait in q for the next call, which then makes no system call.
type receiver struct {
	rc    syscall.RawConn
	hs    []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for both families

	gro  bool
	slab []byte // GRO: len(hs)*groBufferSize, iovs[i] covers the i-th part
	ctrl []byte // GRO: len(hs)*groControlSize
	q    groQueue

	// closed is set by StdBind.Close so that segments still queued are
	// not returned after Close.
	closed atomic.Bool

	// noWait (Config.NoWait): a receive that finds the socket empty
	// returns no packets at once; the caller polls fd itself.
	noWait bool
	fd     int

	// Arguments and results of readFn, which is bound once so that
	// rc.Read does not allocate a closure per call.
	cnt    int
	n      int
	errno  syscall.Errno
	readFn func(fd uintptr) bool
}

func newReceiver(c sockConn, cfg *Config, gro bool) (*receiver, error) {
	batch := cfg.BatchSize
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("vtep: receive socket: %w", err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return nil, fmt.Errorf("vtep: receive socket: %w", err)
	}
	msgs := batch
	if gro {
		msgs = min(batch, maxGROMessages)
	}
	r := &receiver{
		rc:     rc,
		gro:    gro,
		noWait: cfg.NoWait,
		fd:     fd,
		hs:     make([]unix.Mmsghdr, msgs),
		iovs:   make([]unix.Iovec, msgs),
		names:  make([]unix.RawSockaddrInet6, msgs),
	}
	if gro {
		r.slab = make([]byte, msgs*groBufferSize)
		r.ctrl = make([]byte, msgs*groControlSize)
		r.q = newGROQueue(msgs)
		r.q.zeroCopy = cfg.ZeroCopy
		for i := range r.iovs {
			r.iovs[i].Base = &r.slab[i*groBufferSize]
			r.iovs[i].SetLen(groBufferSize)
		}
	}
	r.readFn = r.recvmmsg
	return r, nil
}

// buffered reports whether segments wait in the queue (see
// StdBind.ReceiveBuffered).
func (r *receiver) buffered() bool { return r.gro && !r.q.empty() }

// close marks the receiver closed (see receiver.closed), before the
// socket is closed (which wakes a receive waiting for it).
func (r *receiver) close() { r.closed.Store(true) }

func (r *receiver) recvmmsg(fd uintptr) bool {
	for {
		// Raw: the socket is non-blocking (see internal/rawfd).
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.hs[0])), uintptr(r.cnt), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if r.noWait {
				r.n, r.errno = 0, 0
				return true
			}
			return false // the socket's conn waits until readable and calls again
		}
		r.n, r.errno = int(n), errno
		return true
	}
}

// read runs recvmmsg over r.hs[:cnt] and returns the number of messages.
func (r *receiver) read(cnt int) (int, error) {
	r.cnt = cnt
	err := r.rc.Read(r.readFn)
	if err != nil {
		return 0, fmt.Errorf("vtep: receive: %w", err)
	}
	if r.errno != 0 {
		return 0, fmt.Errorf("vtep: receive: %w", os.NewSyscallError("recvmmsg", r.errno))
	}
	return r.n, nil
}

// receive is the ReceiveFunc. See ReceiveFunc for the contract.
func (r *receiver) receive(bufs [][]byte, sizes []int, eps []netip.AddrPort) (int, error) {
	if r.gro {
		return r.receiveGRO(bufs, sizes, eps)
	}
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
	n, err := r.read(cnt)
	for i := range cnt {
		r.iovs[i].Base = nil // do not keep the caller's buffers alive
	}
	if err != nil {
		return 0, err
	}
	for i := range n {
		h := &r.hs[i]
		sizes[i] = int(h.Len)
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
			sizes[i] = len(bufs[i]) + 1
		}
		eps[i] = sockaddrToAddrPort(&r.names[i])
	}
	return n, nil
}

// receiveGRO is receive on a UDP_GRO socket: it refills the queue with one
// recvmmsg when it is empty, then splits queued datagrams into bufs.
func (r *receiver) receiveGRO(bufs [][]byte, sizes []int, eps []netip.AddrPort) (int, error) {
	cnt := min(len(bufs), len(sizes), len(eps))
	if cnt == 0 {
		return 0, nil
	}
	if r.closed.Load() {
		r.q.reset()
		return 0, fmt.Errorf("vtep: receive: %w", net.ErrClosed)
	}
	if r.q.empty() {
		for i := range r.hs {
			h := &r.hs[i]
			h.Hdr = unix.Msghdr{
				Name:    (*byte)(unsafe.Pointer(&r.names[i])),
				Namelen: unix.SizeofSockaddrInet6,
				Iov:     &r.iovs[i],
				Control: &r.ctrl[i*groControlSize],
			}
			h.Hdr.SetIovlen(1)
			h.Hdr.SetControllen(groControlSize)
			h.Len = 0
		}
		n, err := r.read(len(r.hs))
		if err != nil {
			return 0, err
		}
		for i := range n {
			h := &r.hs[i]
			r.q.data[i] = r.slab[i*groBufferSize : i*groBufferSize+min(int(h.Len), groBufferSize)]
			r.q.seg[i] = groSize(r.ctrl[i*groControlSize : i*groControlSize+min(int(h.Hdr.Controllen), groControlSize)])
			r.q.trunc[i] = h.Hdr.Flags&unix.MSG_TRUNC != 0
			r.q.src[i] = sockaddrToAddrPort(&r.names[i])
		}
		r.q.n, r.q.next, r.q.off = n, 0, 0
	}
	return r.q.drain(bufs[:cnt], sizes, eps), nil
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
