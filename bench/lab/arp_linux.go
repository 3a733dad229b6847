package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/encap"
)

const (
	// arpDefaultTimeout bounds ARPProbe when ctx has no deadline.
	arpDefaultTimeout = 3 * time.Second
	// arpRetry is the interval between repeated requests.
	arpRetry = 500 * time.Millisecond
)

// htons converts a 16-bit protocol number to network byte order, as
// AF_PACKET wants it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// ARPProbe sends a broadcast ARP request for dst (an IPv4 overlay address)
// out of the host's overlay device from an AF_PACKET socket opened in the
// host's namespace, repeating it every 500 ms, and returns the sender MAC
// of the first matching reply. It gives up when ctx ends, or after 3 s if
// ctx has no deadline. The kernel's neighbour table is neither read nor
// needed.
func (h *Host) ARPProbe(ctx context.Context, dst netip.Addr) (encap.MAC, error) {
	if !dst.Is4() {
		return encap.MAC{}, fmt.Errorf("lab: arp probe %s: not an IPv4 address", dst)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, arpDefaultTimeout)
		defer cancel()
	}
	var (
		fd     = -1
		ifi    *net.Interface
		ourMAC encap.MAC
	)
	err := h.NS.Do(func() error {
		var err error
		if ifi, err = net.InterfaceByName(h.Dev); err != nil {
			return err
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("%s has no Ethernet address", h.Dev)
		}
		ourMAC = encap.MAC(ifi.HardwareAddr)
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(etherTypeARP)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifi.Index})
	})
	if fd >= 0 {
		defer unix.Close(fd)
	}
	if err != nil {
		return encap.MAC{}, fmt.Errorf("lab: %s: arp probe: %w", h.Name, err)
	}

	src := h.Overlay.Addr()
	req := arpRequestFrame(ourMAC, src, dst)
	to := &unix.SockaddrLinklayer{
		Protocol: htons(etherTypeARP),
		Ifindex:  ifi.Index,
		Halen:    6,
		Addr:     [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	buf := make([]byte, 256)
	for {
		if err := unix.Sendto(fd, req, 0, to); err != nil {
			return encap.MAC{}, fmt.Errorf("lab: %s: arp probe: send: %w", h.Name, err)
		}
		retry := time.Now().Add(arpRetry)
		for {
			wait := time.Until(retry)
			if d, _ := ctx.Deadline(); time.Until(d) < wait {
				wait = time.Until(d)
			}
			if ctx.Err() != nil || wait <= 0 {
				break
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, int(wait/time.Millisecond)+1)
			if errors.Is(err, unix.EINTR) || n == 0 {
				continue
			}
			if err != nil {
				return encap.MAC{}, fmt.Errorf("lab: %s: arp probe: poll: %w", h.Name, err)
			}
			m, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return encap.MAC{}, fmt.Errorf("lab: %s: arp probe: receive: %w", h.Name, err)
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if mac, ok := parseARPReply(buf[:m], src, dst); ok {
				return mac, nil
			}
		}
		if err := ctx.Err(); err != nil {
			return encap.MAC{}, fmt.Errorf("lab: %s: arp probe %s: no reply: %w", h.Name, dst, err)
		}
	}
}
