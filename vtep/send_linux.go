package vtep

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"unsafe"

	"github.com/vxswitch/vxswitch/encap"
	"golang.org/x/sys/unix"
)

// Send implements Bind. Each bufs[i] must start with the VXLAN header; the
// frame after it picks the send socket. dst must be of the Bind's family
// (an IPv4-mapped IPv6 address counts as IPv4).
//
// Datagrams that leave from one socket keep their order. With GSO on,
// consecutive ones of equal length (the last of a run may be shorter) go
// out as one message with a UDP_SEGMENT control message, within the UDP
// payload limit and the kernel's segment limit; everything else goes out
// one datagram per message, all in sendmmsg(2) batches. If the kernel
// refuses a GSO message with EIO (the route's device cannot offload
// checksums), GSO is turned off for that socket for good, logged once, and
// the datagrams are resent one by one; on EINVAL or EMSGSIZE (for example
// segments above the path MTU) they are resent one by one so each gets its
// own verdict. A datagram the kernel refuses (EMSGSIZE above the path MTU,
// ENETUNREACH, …) is skipped and the rest are still sent; Send then
// returns the first such error, and the Bind stays usable. After Close,
// Send returns an error satisfying errors.Is(err, net.ErrClosed). Send
// allocates nothing unless it fails.
func (b *StdBind) Send(bufs [][]byte, dst netip.AddrPort) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.recv) == 0 {
		return fmt.Errorf("vtep: send %s: %w", dst, net.ErrClosed)
	}
	ip := dst.Addr().Unmap()
	if ip.Is4() != b.cfg.Local.Is4() || ip.Zone() != "" || dst.Port() == 0 {
		return fmt.Errorf("vtep: send %s: %w", dst, errBadDestination)
	}
	sb := b.sendPool.Get().(*sendBatch)
	defer b.sendPool.Put(sb)
	sb.setDestination(ip, dst.Port())
	maxPayload := maxPayload6
	if ip.Is4() {
		maxPayload = maxPayload4
	}

	var first error
	n := uint32(len(b.send))
	batch := sb.batch
	for len(bufs) > 0 {
		chunk := bufs[:min(len(bufs), batch)]
		bufs = bufs[len(chunk):]
		for _, buf := range chunk {
			var h uint32
			if len(buf) > encap.VXLANHeaderLen {
				h = encap.FlowHash(buf[encap.VXLANHeaderLen:])
			}
			s := int(h % n)
			iov := &sb.iovs[s*batch+sb.queued[s]]
			if len(buf) > 0 {
				iov.Base = &buf[0]
			} else {
				iov.Base = nil
			}
			iov.SetLen(len(buf))
			sb.queued[s]++
		}
		for s, sock := range b.send {
			if sb.queued[s] == 0 {
				continue
			}
			if err := b.sendGroup(sock, sb, sb.iovs[s*batch:s*batch+sb.queued[s]], maxPayload); err != nil && first == nil {
				first = err
			}
		}
		sb.reset()
	}
	if first != nil {
		return fmt.Errorf("vtep: send %s: %w", dst, first)
	}
	return nil
}

// errBadDestination is wrapped by Send for a destination the Bind cannot
// reach: the other address family, a zoned address or port 0.
var errBadDestination = errors.New("destination address family, zone or port not usable by this bind")

// sendBatch is the per-Send scratch space: iovecs grouped by send socket,
// the messages built over one group, and their GSO control messages. It
// lives in StdBind.sendPool and is used by one Send at a time.
type sendBatch struct {
	sa4     unix.RawSockaddrInet4
	sa6     unix.RawSockaddrInet6
	name    *byte // &sa4 or &sa6
	namelen uint32

	batch  int
	iovs   []unix.Iovec    // sockets*batch; group s is iovs[s*batch:][:queued[s]]
	queued []int           // iovecs queued per socket
	msgs   []unix.Mmsghdr  // batch; messages over the group being sent
	built  int             // msgs[:built] may hold references (cleared by reset)
	segs   []int           // segs[m] is the iovec (datagram) count of msgs[m]
	ctrl   []byte          // batch*gsoControlSize; msgs[m]'s control message
	single [1]unix.Mmsghdr // one datagram of a GSO message resent alone

	// Arguments and results of writeFn, which is bound once so that
	// RawConn.Write does not allocate a closure per call.
	ms      []unix.Mmsghdr
	sent    int
	errno   unix.Errno
	writeFn func(fd uintptr) bool
}

func newSendBatch(sockets, batch int) *sendBatch {
	sb := &sendBatch{
		batch:  batch,
		iovs:   make([]unix.Iovec, sockets*batch),
		queued: make([]int, sockets),
		msgs:   make([]unix.Mmsghdr, batch),
		segs:   make([]int, batch),
		ctrl:   make([]byte, batch*gsoControlSize),
	}
	sb.writeFn = sb.sendmmsg
	return sb
}

// setDestination encodes ip:port as the sockaddr every message points at.
func (sb *sendBatch) setDestination(ip netip.Addr, port uint16) {
	var p *[2]byte
	if ip.Is4() {
		sb.sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		p = (*[2]byte)(unsafe.Pointer(&sb.sa4.Port))
		sb.name, sb.namelen = (*byte)(unsafe.Pointer(&sb.sa4)), unix.SizeofSockaddrInet4
	} else {
		sb.sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
		p = (*[2]byte)(unsafe.Pointer(&sb.sa6.Port))
		sb.name, sb.namelen = (*byte)(unsafe.Pointer(&sb.sa6)), unix.SizeofSockaddrInet6
	}
	p[0], p[1] = byte(port>>8), byte(port) // network byte order
}

// build fills sb.msgs with messages over iovs, coalescing runs with
// gsoRun when maxSeg > 1, and returns how many it built.
func (sb *sendBatch) build(iovs []unix.Iovec, maxSeg, maxPayload int) int {
	m := 0
	for i := 0; i < len(iovs); m++ {
		k := 1
		if maxSeg > 1 {
			k = gsoRun(iovs[i:], maxSeg, maxPayload)
		}
		h := &sb.msgs[m]
		h.Hdr = unix.Msghdr{Name: sb.name, Namelen: sb.namelen, Iov: &iovs[i]}
		h.Hdr.SetIovlen(k)
		h.Len = 0
		if k > 1 {
			c := sb.ctrl[m*gsoControlSize : (m+1)*gsoControlSize]
			putGSOControl(c, uint16(iovs[i].Len))
			h.Hdr.Control = &c[0]
			h.Hdr.SetControllen(gsoControlSize)
		}
		sb.segs[m] = k
		i += k
	}
	sb.built = max(sb.built, m)
	return m
}

// reset empties the groups and drops references to the caller's buffers,
// so the pool does not retain them.
func (sb *sendBatch) reset() {
	for s, q := range sb.queued {
		clear(sb.iovs[s*sb.batch : s*sb.batch+q])
		sb.queued[s] = 0
	}
	clear(sb.msgs[:sb.built])
	sb.built = 0
	sb.single[0] = unix.Mmsghdr{}
	sb.ms = nil
}

// sendmmsg is writeFn: one sendmmsg(2) of sb.ms. It reports false on
// EAGAIN so RawConn.Write waits for the socket to become writable.
func (sb *sendBatch) sendmmsg(fd uintptr) bool {
	if sendFault != nil {
		if errno := sendFault(sb.ms); errno != 0 {
			sb.sent, sb.errno = 0, errno
			return true
		}
	}
	for {
		// Raw: the socket is non-blocking (see internal/rawfd).
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&sb.ms[0])), uintptr(len(sb.ms)), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		sb.sent, sb.errno = int(n), errno
		return true
	}
}

// sendFault, when set by a test, runs before every sendmmsg(2); a non-zero
// result fails the call with that errno, as if the kernel refused ms[0].
// It is nil outside tests.
var sendFault func(ms []unix.Mmsghdr) unix.Errno

// write sends ms on sock with one sendmmsg call and returns how many
// messages went out, or the error of ms[0].
func (sb *sendBatch) write(sock *sendSocket, ms []unix.Mmsghdr) (int, error) {
	sb.ms = ms
	if err := sock.rc.Write(sb.writeFn); err != nil {
		return 0, err
	}
	if sb.errno != 0 {
		return 0, sb.errno
	}
	return sb.sent, nil
}

// sendGroup sends iovs (the datagrams queued for sock, in order) with as
// many sendmmsg calls as needed, coalescing runs while GSO is on for sock.
// A message the kernel refuses is skipped (a GSO message may be resent as
// single datagrams first; see Send); the first error is returned.
func (b *StdBind) sendGroup(sock *sendSocket, sb *sendBatch, iovs []unix.Iovec, maxPayload int) error {
	var first error
	for len(iovs) > 0 {
		maxSeg := 1
		if sock.gso.Load() {
			maxSeg = b.maxSegments
		}
		m := sb.build(iovs, maxSeg, maxPayload)
		ms, segs := sb.msgs[:m], sb.segs[:m]
		for len(ms) > 0 {
			n, err := sb.write(sock, ms)
			if err == nil {
				for _, k := range segs[:n] {
					iovs = iovs[k:]
				}
				ms, segs = ms[n:], segs[n:]
				continue
			}
			errno, ok := err.(unix.Errno)
			if !ok { // the socket is unusable; nothing else will go out
				return err
			}
			k := segs[0]
			eio := false
			if k > 1 && (errno == unix.EIO || errno == unix.EINVAL || errno == unix.EMSGSIZE) {
				if errno == unix.EIO && sock.gso.CompareAndSwap(true, false) {
					eio = true
					if b.gsoLogged.CompareAndSwap(false, true) {
						b.cfg.Logf("vtep: UDP GSO send failed with EIO (the route's device cannot offload checksums); GSO disabled on source port %d", sock.port)
					}
				}
				err = b.sendEach(sock, sb, iovs[:k])
			} else {
				err = os.NewSyscallError("sendmmsg", errno)
			}
			if err != nil && first == nil {
				first = err
			}
			iovs = iovs[k:]
			ms, segs = ms[1:], segs[1:]
			if eio {
				break // rebuild the rest without GSO
			}
		}
	}
	return first
}

// sendEach resends the datagrams of a refused GSO message one per
// message, without UDP_SEGMENT, and returns the first error.
func (b *StdBind) sendEach(sock *sendSocket, sb *sendBatch, iovs []unix.Iovec) error {
	var first error
	for i := range iovs {
		sb.single[0].Hdr = unix.Msghdr{Name: sb.name, Namelen: sb.namelen, Iov: &iovs[i]}
		sb.single[0].Hdr.SetIovlen(1)
		if _, err := sb.write(sock, sb.single[:]); err != nil && first == nil {
			if errno, ok := err.(unix.Errno); ok {
				err = os.NewSyscallError("sendmmsg", errno)
			}
			first = err
		}
	}
	return first
}
