package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// pipeGSOMaxSize caps the TAP's super-frames so that a frame with its
	// virtio-net header and length prefix fits one UDP_SEGMENT send (65 507
	// bytes of payload at most).
	pipeGSOMaxSize = 60000
	pipeTxQueueLen = "10000" // what vxswitchd gives its TAPs
)

// runPipe runs the ceiling pipe (see PipeArg) until ctx is done.
//
// It is written on golang.org/x/sys alone, with raw system calls and no
// library between it and the kernel, on purpose: it measures the least
// work of the design, two system calls per frame and no waiting calls.
// Each direction has a thread of its own that blocks in read(2) on the TAP
// or recvmsg(2) on the socket and is woken by the kernel directly. The
// calls are raw, so each thread keeps its P while it blocks; runPipe raises
// GOMAXPROCS by two so that the rest of the process (the readiness
// listener, the signal handler) always has a P. The pipe never allocates
// after start-up, so the garbage collector has no reason to stop the world
// (it could not while a thread blocks); it ends when its process does.
// vxswitchd cannot be built this way: it must stop its loops, change its
// ports at run time and live beside the runtime's collector.
func runPipe(ctx context.Context, c pipeConfig, logf func(string, ...any)) error {
	ulMTU, err := mtuOf(c.Local)
	if err != nil {
		return err
	}
	overhead, ipHdr := 50, 20 // the TAP's MTU is what vxswitchd would give it
	if !c.Local.Is4() {
		overhead, ipHdr = 70, 40
	}
	tapMTU, seg := ulMTU-overhead, ulMTU-ipHdr-8
	if tapMTU < 576 {
		return fmt.Errorf("underlay MTU %d is too small", ulMTU)
	}

	tfd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/net/tun: %w", err)
	}
	defer unix.Close(tfd)
	ifr, err := unix.NewIfreq(c.Dev)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(tfd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF %s: %w", c.Dev, err)
	}
	if err := unix.IoctlSetInt(tfd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6); err != nil {
		return fmt.Errorf("TUNSETOFFLOAD: %w", err)
	}
	if out, err := exec.CommandContext(ctx, "ip", "link", "set", "dev", c.Dev, "mtu", strconv.Itoa(tapMTU),
		"gso_max_size", strconv.Itoa(pipeGSOMaxSize), "txqueuelen", pipeTxQueueLen).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set %s: %v: %s", c.Dev, err, out)
	}

	family, local, remote := pipeSockaddrs(c)
	level, mtuDisc := unix.IPPROTO_IP, unix.IP_MTU_DISCOVER
	if family == unix.AF_INET6 {
		level, mtuDisc = unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER
	}
	sfd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	for _, o := range []struct{ level, opt, v int }{
		{unix.SOL_UDP, unix.UDP_GRO, 1},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4 << 20},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4 << 20},
		{level, mtuDisc, unix.IP_PMTUDISC_DO}, // IPV6_PMTUDISC_DO has the same value
	} {
		if err := unix.SetsockoptInt(sfd, o.level, o.opt, o.v); err != nil {
			return fmt.Errorf("setsockopt %d/%d: %w", o.level, o.opt, err)
		}
	}
	if err := unix.Bind(sfd, local); err != nil {
		return fmt.Errorf("bind %s:%d: %w", c.Local, c.Port, err)
	}
	if err := unix.Connect(sfd, remote); err != nil {
		return fmt.Errorf("connect %s:%d: %w", c.Remote, c.Port, err)
	}

	// The lab's readiness probe: the TAP exists and this socket accepts.
	os.Remove(c.API)
	ln, err := net.Listen("unix", c.API)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	logf("%s (MTU %d, super-frames up to %d bytes) <-> udp %s:%d -> %s, datagrams of %d bytes",
		c.Dev, tapMTU, pipeGSOMaxSize, c.Local, c.Port, c.Remote, seg)

	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 2)
	var n pipeCounts
	fromTAP, fromUDP := pipeSteps(tfd, sfd, seg, &n)
	for _, step := range []func(){fromTAP, fromUDP} {
		go func() {
			runtime.LockOSThread()
			for {
				step()
			}
		}()
	}
	<-ctx.Done()
	logf("stopped: %s", n.load())
	return nil
}

// pipeSockaddrs returns the address family and the local and remote
// socket addresses of c (parsePipeArgs checked that both are of one
// family).
func pipeSockaddrs(c pipeConfig) (family int, local, remote unix.Sockaddr) {
	if c.Local.Is4() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: c.Port, Addr: c.Local.As4()},
			&unix.SockaddrInet4{Port: c.Port, Addr: c.Remote.As4()}
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Port: c.Port, Addr: c.Local.As16()},
		&unix.SockaddrInet6{Port: c.Port, Addr: c.Remote.As16()}
}

// mtuOf returns the MTU of the interface that has address a.
func mtuOf(a netip.Addr) (int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, err
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == a {
					return ifc.MTU, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no interface has %s", a)
}

// pipeSteps returns the two directions' steps: fromTAP reads a frame from
// the TAP and sends it to the peer, fromUDP receives a train and writes it
// to the TAP. Each blocks until it has something to move, uses buffers of
// its own and counts into n.
func pipeSteps(tfd, sfd, seg int, n *pipeCounts) (fromTAP, fromUDP func()) {
	tx := make([]byte, 4+pipeGSOMaxSize+1024)
	rx := make([]byte, 1<<17)

	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(seg))
	var txIov, rxIov unix.Iovec
	txIov.Base, rxIov.Base = &tx[0], &rx[0]
	rxIov.SetLen(len(rx))
	txMsg := unix.Msghdr{Iov: &txIov, Iovlen: 1, Control: &oob[0]}
	txMsg.SetControllen(len(oob))
	rxMsg := unix.Msghdr{Iov: &rxIov, Iovlen: 1}

	fromTAP = func() {
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(tfd), uintptr(unsafe.Pointer(&tx[4])), uintptr(len(tx)-4))
		if e != 0 {
			return // EINTR
		}
		binary.BigEndian.PutUint32(tx, uint32(r))
		txIov.SetLen(4 + int(r))
		n.tapFrames.Add(1)
		n.tapBytes.Add(uint64(r))
		if _, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(sfd), uintptr(unsafe.Pointer(&txMsg)), 0); e != 0 {
			n.sendErrors.Add(1)
		}
	}
	fromUDP = func() {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(sfd), uintptr(unsafe.Pointer(&rxMsg)), 0)
		if e != 0 {
			return // EINTR, or an ICMP error queued on the socket
		}
		if r < 4 || uint64(binary.BigEndian.Uint32(rx))+4 != uint64(r) {
			n.badTrains.Add(1)
			return
		}
		n.udpTrains.Add(1)
		n.udpBytes.Add(uint64(r - 4))
		if _, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(tfd), uintptr(unsafe.Pointer(&rx[4])), r-4); e != 0 {
			n.writeErrors.Add(1)
		}
	}
	return fromTAP, fromUDP
}
