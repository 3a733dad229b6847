package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// The GSO limits of a link have no ioctl; they are link attributes that
// only rtnetlink reads and writes (IFLA_GSO_MAX_SEGS). This is the one
// rtnetlink exchange the package needs, written on golang.org/x/sys rather
// than pulling in a netlink library: one request, one reply, on a socket
// opened in the calling thread's network namespace.

// LinkSetGSOMaxSegments sets the most segments the kernel's own TCP and
// UDP stacks put in one GSO super-frame they send through the link called
// name (its gso_max_segs, IFLA_GSO_MAX_SEGS over rtnetlink), in the
// calling thread's network namespace. The switch sets it on offload TAPs
// so that the segments of one TSO super-frame, each with its VXLAN
// header, fit into one UDP_SEGMENT send (see vtep.SegmentsPerSend): a
// super-frame of 64 KiB would otherwise leave as two datagram trains, a
// full one and a short tail, and be written to the receiving TAP in two
// pieces. Linux accepts the change on an existing link from 5.19 on;
// LinkSetGSOMaxSegments reads the value back and returns an error wrapping
// errors.ErrUnsupported when the kernel ignored it.
func LinkSetGSOMaxSegments(name string, n int) error {
	if n < 1 || n > 0xffff {
		return &OpError{Op: "set gso_max_segs", Name: name, Err: fmt.Errorf("%d segments not in 1-65535", n)}
	}
	return linkOp("set gso_max_segs", name, func(fd int) error {
		idx, err := getIndex(fd, name)
		if err != nil {
			return err
		}
		attr := make([]byte, unix.SizeofRtAttr+4)
		binary.NativeEndian.PutUint16(attr[0:], uint16(len(attr)))
		binary.NativeEndian.PutUint16(attr[2:], unix.IFLA_GSO_MAX_SEGS)
		binary.NativeEndian.PutUint32(attr[4:], uint32(n))
		if _, err := rtnlLink(unix.RTM_NEWLINK, idx, attr); err != nil {
			return err
		}
		got, err := gsoMaxSegs(idx)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("the kernel kept %d: %w", got, errors.ErrUnsupported)
		}
		return nil
	})
}

// LinkGSOMaxSegments returns the link's gso_max_segs (see
// LinkSetGSOMaxSegments), in the calling thread's network namespace.
func LinkGSOMaxSegments(name string) (int, error) {
	var n int
	err := linkOp("get gso_max_segs", name, func(fd int) error {
		idx, err := getIndex(fd, name)
		if err != nil {
			return err
		}
		n, err = gsoMaxSegs(idx)
		return err
	})
	return n, err
}

// gsoMaxSegs reads IFLA_GSO_MAX_SEGS of link idx.
func gsoMaxSegs(idx int) (int, error) {
	msg, err := rtnlLink(unix.RTM_GETLINK, idx, nil)
	if err != nil {
		return 0, err
	}
	if v, ok := linkAttr(msg, unix.IFLA_GSO_MAX_SEGS); ok && len(v) >= 4 {
		return int(binary.NativeEndian.Uint32(v)), nil
	}
	return 0, errors.New("no IFLA_GSO_MAX_SEGS in the kernel's reply")
}

// TxDropped returns how many frames the kernel dropped on their way from
// the TAP's interface to its reader: the link's tx_dropped (IFLA_STATS64,
// what `ip -s link` shows as TX dropped), which the tun driver counts
// mostly when a queue to the reader is full (the link's txqueuelen bounds
// it): frames lost before Read could see them. It asks rtnetlink in
// the namespace the TAP was created in, so it works from any thread; it is
// for statistics, not for a loop. Safe for concurrent use.
func (t *TAP) TxDropped() (uint64, error) {
	t.ctlMu.RLock()
	defer t.ctlMu.RUnlock()
	if t.nl < 0 {
		return 0, &OpError{Op: "get tx_dropped", Name: t.name, Err: errors.New("no rtnetlink socket")}
	}
	t.nlMu.Lock()
	t.nlSeq++
	msg, err := rtnlLinkOn(t.nl, t.nlSeq, unix.RTM_GETLINK, t.index, nil)
	t.nlMu.Unlock()
	if err != nil {
		return 0, &OpError{Op: "get tx_dropped", Name: t.name, Err: err}
	}
	st, ok := linkAttr(msg, unix.IFLA_STATS64)
	if !ok || len(st) < 8*8 {
		return 0, &OpError{Op: "get tx_dropped", Name: t.name, Err: errors.New("no IFLA_STATS64 in the kernel's reply")}
	}
	// struct rtnl_link_stats64: rx_packets, tx_packets, rx_bytes,
	// tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped, ...
	return binary.NativeEndian.Uint64(st[7*8:]), nil
}

// linkAttr returns the payload of attribute typ in msg, the body of an
// RTM_NEWLINK reply (an ifinfomsg, then attributes).
func linkAttr(msg []byte, typ uint16) ([]byte, bool) {
	for b := msg[min(len(msg), unix.SizeofIfInfomsg):]; len(b) >= unix.SizeofRtAttr; {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		if binary.NativeEndian.Uint16(b[2:]) == typ {
			return b[unix.SizeofRtAttr:l], true
		}
		b = b[min(len(b), (l+3)&^3):] // attributes are 4-byte aligned
	}
	return nil, false
}

// rtnlLink sends one RTM_NEWLINK (with NLM_F_ACK) or RTM_GETLINK request
// for link idx with the given attributes, and returns the body of the
// reply (after the nlmsghdr) for a GETLINK, nil for an acknowledged
// NEWLINK, or the kernel's error.
func rtnlLink(typ uint16, idx int, attrs []byte) ([]byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer unix.Close(fd)
	return rtnlLinkOn(fd, 1, typ, idx, attrs)
}

// rtnlLinkOn is rtnlLink on an open rtnetlink socket fd, with sequence
// number seq (replies with another one, left over from an earlier request
// on the socket, are skipped); one request at a time per socket.
func rtnlLinkOn(fd int, seq uint32, typ uint16, idx int, attrs []byte) ([]byte, error) {
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg+len(attrs))
	flags := uint16(unix.NLM_F_REQUEST)
	if typ != unix.RTM_GETLINK {
		flags |= unix.NLM_F_ACK
	}
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], typ)
	binary.NativeEndian.PutUint16(req[6:], flags)
	binary.NativeEndian.PutUint32(req[8:], seq)
	ifi := req[unix.SizeofNlMsghdr:]
	ifi[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(ifi[4:], uint32(int32(idx))) // ifi_index
	copy(req[unix.SizeofNlMsghdr+unix.SizeofIfInfomsg:], attrs)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("rtnetlink send: %w", err)
	}
	buf := make([]byte, 32<<10) // a link's attributes fit in a few KiB
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return nil, errors.New("rtnetlink: malformed reply")
			}
			t := binary.NativeEndian.Uint16(b[4:])
			s := binary.NativeEndian.Uint32(b[8:])
			body := b[unix.SizeofNlMsghdr:l]
			b = b[min(len(b), (l+3)&^3):]
			if s != seq {
				continue
			}
			switch t {
			case unix.NLMSG_ERROR:
				if len(body) < 4 {
					return nil, errors.New("rtnetlink: short error reply")
				}
				if e := int32(binary.NativeEndian.Uint32(body)); e != 0 {
					return nil, syscall.Errno(-e)
				}
				return nil, nil // the acknowledgement
			case unix.RTM_NEWLINK:
				return body, nil
			}
		}
	}
}
