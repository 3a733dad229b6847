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
	return b.sendDatagrams(bufs, nil, dst)
}

// SendGather implements GatherSender: datagram i is heads[i] followed by
// tails[i] (which may be empty), sent as Send sends bufs[i] but without
// copying the two parts together: the kernel gathers them from two iovecs.
// All datagrams must carry frames of one inner flow (the segments of one
// super-frame): they leave from the send socket that heads[0]'s frame
// picks, which is the one Send picks for each of them. len(tails) must be
// len(heads). Errors and guarantees are Send's.
func (b *StdBind) SendGather(heads, tails [][]byte, dst netip.AddrPort) error {
	if len(tails) != len(heads) {
		return fmt.Errorf("vtep: send %s: %d heads but %d tails", dst, len(heads), len(tails))
	}
	return b.sendDatagrams(heads, tails, dst)
}

// sendDatagrams is Send (tails nil) and SendGather.
func (b *StdBind) sendDatagrams(heads, tails [][]byte, dst netip.AddrPort) error {
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
	gather := -1 // SendGather: the one socket, chosen by heads[0]
	if tails != nil && len(heads) > 0 {
		gather = int(flowHash(heads[0]) % n)
	}
	batch := sb.batch
	for len(heads) > 0 {
		k := min(len(heads), batch)
		for i, head := range heads[:k] {
			var tail []byte
			s := gather
			if tails != nil {
				tail = tails[i]
			} else {
				s = int(flowHash(head) % n)
			}
			sb.groups[s].queue(head, tail)
		}
		heads = heads[k:]
		if tails != nil {
			tails = tails[k:]
		}
		for s, sock := range b.send {
			g := &sb.groups[s]
			if len(g.lens) == 0 {
				continue
			}
			if err := b.sendGroup(sock, sb, g, maxPayload); err != nil && first == nil {
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

// flowHash is the hash of the inner frame after buf's VXLAN header that
// picks the send socket.
func flowHash(buf []byte) uint32 {
	if len(buf) > encap.VXLANHeaderLen {
		return encap.FlowHash(buf[encap.VXLANHeaderLen:])
	}
	return 0
}

// errBadDestination is wrapped by Send for a destination the Bind cannot
// reach: the other address family, a zoned address or port 0.
var errBadDestination = errors.New("destination address family, zone or port not usable by this bind")

// sendBatch is the per-Send scratch space: datagrams grouped by send
// socket, the messages built over one group, and their GSO control
// messages. It lives in StdBind.sendPool and is used by one Send at a
// time.
type sendBatch struct {
	sa4     unix.RawSockaddrInet4
	sa6     unix.RawSockaddrInet6
	name    *byte // &sa4 or &sa6
	namelen uint32

	batch  int
	groups []dgramGroup    // one per send socket
	msgs   []unix.Mmsghdr  // batch; messages over the group being sent
	built  int             // msgs[:built] may hold references (cleared by reset)
	segs   []int           // segs[m] is the datagram count of msgs[m]
	ctrl   []byte          // batch*gsoControlSize; msgs[m]'s control message
	single [1]unix.Mmsghdr // one datagram of a GSO message resent alone

	// Arguments and results of writeFn, which is bound once so that
	// RawConn.Write does not allocate a closure per call.
	ms      []unix.Mmsghdr
	sent    int
	errno   unix.Errno
	writeFn func(fd uintptr) bool
}

// dgramGroup is the datagrams queued for one send socket, in order: each
// is one iovec (Send) or two (SendGather: a head and a non-empty tail).
type dgramGroup struct {
	iovs []unix.Iovec // capacity 2*batch
	ends []int        // ends[j]: the index in iovs after datagram j
	lens []int        // lens[j]: datagram j's length in bytes
}

// queue appends the datagram head+tail.
func (g *dgramGroup) queue(head, tail []byte) {
	g.iovs = append(g.iovs, iovec(head))
	if len(tail) > 0 {
		g.iovs = append(g.iovs, iovec(tail))
	}
	g.ends = append(g.ends, len(g.iovs))
	g.lens = append(g.lens, len(head)+len(tail))
}

// start returns the index in iovs of datagram j's first iovec.
func (g *dgramGroup) start(j int) int {
	if j == 0 {
		return 0
	}
	return g.ends[j-1]
}

func iovec(b []byte) unix.Iovec {
	var iov unix.Iovec
	if len(b) > 0 {
		iov.Base = &b[0]
	}
	iov.SetLen(len(b))
	return iov
}

func newSendBatch(sockets, batch int) *sendBatch {
	sb := &sendBatch{
		batch:  batch,
		groups: make([]dgramGroup, sockets),
		msgs:   make([]unix.Mmsghdr, batch),
		segs:   make([]int, batch),
		ctrl:   make([]byte, batch*gsoControlSize),
	}
	for i := range sb.groups {
		sb.groups[i] = dgramGroup{
			iovs: make([]unix.Iovec, 0, 2*batch),
			ends: make([]int, 0, batch),
			lens: make([]int, 0, batch),
		}
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

// build fills sb.msgs with messages over g's datagrams from..., coalescing
// runs with gsoRun when maxSeg > 1, and returns how many it built.
func (sb *sendBatch) build(g *dgramGroup, from, maxSeg, maxPayload int) int {
	m := 0
	for i := from; i < len(g.lens) && m < len(sb.msgs); m++ {
		k := 1
		if maxSeg > 1 {
			k = gsoRun(g.lens[i:], maxSeg, maxPayload)
		}
		h := &sb.msgs[m]
		first := g.start(i)
		h.Hdr = unix.Msghdr{Name: sb.name, Namelen: sb.namelen, Iov: &g.iovs[first]}
		h.Hdr.SetIovlen(g.ends[i+k-1] - first)
		h.Len = 0
		if k > 1 {
			c := sb.ctrl[m*gsoControlSize : (m+1)*gsoControlSize]
			putGSOControl(c, uint16(g.lens[i]))
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
	for i := range sb.groups {
		g := &sb.groups[i]
		clear(g.iovs)
		g.iovs, g.ends, g.lens = g.iovs[:0], g.ends[:0], g.lens[:0]
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

// sendGroup sends g's datagrams (those queued for sock, in order) with as
// many sendmmsg calls as needed, coalescing runs while GSO is on for sock.
// A message the kernel refuses is skipped (a GSO message may be resent as
// single datagrams first; see Send); the first error is returned.
func (b *StdBind) sendGroup(sock *sendSocket, sb *sendBatch, g *dgramGroup, maxPayload int) error {
	var first error
	i := 0 // the next datagram of g to send
	for i < len(g.lens) {
		maxSeg := 1
		if sock.gso.Load() {
			maxSeg = b.maxSegments
		}
		m := sb.build(g, i, maxSeg, maxPayload)
		ms, segs := sb.msgs[:m], sb.segs[:m]
		for len(ms) > 0 {
			n, err := sb.write(sock, ms)
			if err == nil {
				for _, k := range segs[:n] {
					i += k
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
				err = b.sendEach(sock, sb, g, i, k)
			} else {
				err = os.NewSyscallError("sendmmsg", errno)
			}
			if err != nil && first == nil {
				first = err
			}
			i += k
			ms, segs = ms[1:], segs[1:]
			if eio {
				break // rebuild the rest without GSO
			}
		}
	}
	return first
}

// sendEach resends the datagrams i, …, i+k-1 of g, those of a refused GSO
// message, one per message without UDP_SEGMENT, and returns the first
// error.
func (b *StdBind) sendEach(sock *sendSocket, sb *sendBatch, g *dgramGroup, i, k int) error {
	var first error
	for j := i; j < i+k; j++ {
		start := g.start(j)
		sb.single[0].Hdr = unix.Msghdr{Name: sb.name, Namelen: sb.namelen, Iov: &g.iovs[start]}
		sb.single[0].Hdr.SetIovlen(g.ends[j] - start)
		if _, err := sb.write(sock, sb.single[:]); err != nil && first == nil {
			if errno, ok := err.(unix.Errno); ok {
				err = os.NewSyscallError("sendmmsg", errno)
			}
			first = err
		}
	}
	return first
}
