package vtep

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP offload limits. GSO (UDP_SEGMENT, Linux 4.18) lets one sendmsg(2)
// carry many datagrams of gso_size bytes each, the last possibly shorter;
// GRO (UDP_GRO, Linux 5.0) hands the receiver such a train as one datagram
// with its segment size in a control message. See the kernel's
// Documentation/networking/segmentation-offloads.rst and
// tools/testing/selftests/net/udpgso.c.
// (maxPayload4 and maxPayload6 are in segments.go.)
const (
	// probeSegments is the segment count Open tries in order to learn
	// whether the kernel's UDP_MAX_SEGMENTS is 128 rather than 64.
	probeSegments = 128

	// groBufferSize is the size of each receive buffer on a UDP_GRO
	// socket: any UDP payload fits, coalesced or not.
	groBufferSize = 1 << 16

	// maxGROMessages caps the number of groBufferSize buffers per
	// receiver (64 × 64 KiB = 4 MiB).
	maxGROMessages = 64

	// groControlSize is the control buffer per received message: room for
	// the UDP_GRO message (an int) with margin.
	groControlSize = 64
)

// gsoControlSize is the control buffer per sent message: one UDP_SEGMENT
// message carrying a uint16 gso_size.
var gsoControlSize = unix.CmsgSpace(2)

// putGSOControl writes a UDP_SEGMENT control message with gso_size size
// into b, which must hold gsoControlSize bytes and be 8-byte aligned.
func putGSOControl(b []byte, size uint16) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], size)
}

// groSize returns the segment size from the UDP_GRO control message in
// ctrl, or 0 if there is none (the datagram was not coalesced). The kernel
// writes the size as an int (net/ipv4/udp.c, udp_cmsg_recv); a 2-byte
// payload is accepted too. Malformed input yields 0, never a panic: ctrl
// is parsed by hand without assuming alignment.
func groSize(ctrl []byte) int {
	hdrLen := unix.CmsgLen(0)
	for len(ctrl) >= hdrLen {
		var l uint64
		var level, typ int32
		if unix.SizeofCmsghdr == 16 { // 64-bit: Len uint64, Level, Type int32
			l = binary.NativeEndian.Uint64(ctrl[0:])
			level = int32(binary.NativeEndian.Uint32(ctrl[8:]))
			typ = int32(binary.NativeEndian.Uint32(ctrl[12:]))
		} else { // 32-bit: Len uint32
			l = uint64(binary.NativeEndian.Uint32(ctrl[0:]))
			level = int32(binary.NativeEndian.Uint32(ctrl[4:]))
			typ = int32(binary.NativeEndian.Uint32(ctrl[8:]))
		}
		if l < uint64(hdrLen) || l > uint64(len(ctrl)) {
			return 0
		}
		data := ctrl[hdrLen:l]
		if level == unix.SOL_UDP && typ == unix.UDP_GRO {
			var v uint64
			switch {
			case len(data) >= 4:
				v = uint64(binary.NativeEndian.Uint32(data))
			case len(data) >= 2:
				v = uint64(binary.NativeEndian.Uint16(data))
			}
			if v > 0xffff {
				return 0
			}
			return int(v)
		}
		next := unix.CmsgSpace(int(l) - hdrLen)
		if next >= len(ctrl) {
			return 0
		}
		ctrl = ctrl[next:]
	}
	return 0
}

// gsoRun returns how many datagrams, of lengths lens, from the start go out
// as one GSO message: a run of datagrams of equal length L > 0, optionally
// closed by one shorter non-empty datagram, at most maxSeg of them and at
// most maxPayload bytes in all. It returns 1 when nothing can be coalesced.
func gsoRun(lens []int, maxSeg, maxPayload int) int {
	if len(lens) == 0 {
		return 0
	}
	l := lens[0]
	if l == 0 || l > maxPayload {
		return 1
	}
	k, total := 1, l
	for k < len(lens) && k < maxSeg {
		n := lens[k]
		if n == 0 || n > l || total+n > maxPayload {
			break
		}
		k++
		total += n
		if n < l {
			break // a shorter datagram ends the run
		}
	}
	return k
}

// supportsGSO reports whether the kernel knows UDP_SEGMENT on fd.
func supportsGSO(fd int) bool {
	_, err := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// probeMaxSegments learns the kernel's UDP_MAX_SEGMENTS by sending
// probeSegments one-byte segments in one GSO message from a throwaway
// socket on local to itself (over the loopback device): old kernels refuse
// with EINVAL. Anything that fails yields DefaultMaxSegments, which every
// kernel with UDP_SEGMENT accepts.
func probeMaxSegments(local netip.Addr) int {
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if local.Is4() {
		if local.IsUnspecified() {
			local = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		sa = &unix.SockaddrInet4{Addr: local.As4()}
	} else {
		family = unix.AF_INET6
		if local.IsUnspecified() {
			local = netip.IPv6Loopback()
		}
		sa = &unix.SockaddrInet6{Addr: local.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return DefaultMaxSegments
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, sa); err != nil {
		return DefaultMaxSegments
	}
	self, err := unix.Getsockname(fd)
	if err != nil {
		return DefaultMaxSegments
	}
	ctrl := make([]byte, gsoControlSize)
	putGSOControl(ctrl, 1)
	if err := unix.Sendmsg(fd, make([]byte, probeSegments), ctrl, self, 0); err != nil {
		return DefaultMaxSegments
	}
	return probeSegments
}
