package tap

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/encap"
)

// The Link functions and the TAP setters use classic SIOC[GS]IF* ioctls on
// a datagram socket. water only opens /dev/net/tun and issues TUNSETIFF (and
// TUNSETPERSIST); it cannot set the MTU, the MAC or IFF_UP. An interface
// ioctl acts in the network namespace of the socket it is issued on, so a
// TAP keeps its own control socket, opened in the namespace it was created
// in, and the Link functions open one in the calling thread's namespace.

// ctlSocket opens a datagram socket for interface ioctls in the calling
// thread's network namespace. AF_INET is tried first; AF_UNIX serves when
// the kernel has no IPv4.
func ctlSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		return fd, nil
	}
	fd, uerr := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if uerr != nil {
		return -1, errors.Join(err, uerr)
	}
	return fd, nil
}

// withCtl runs fn with a fresh control socket.
func withCtl(fn func(fd int) error) error {
	fd, err := ctlSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

func ioctlIfreq(fd int, req uint, name string, fn func(*unix.Ifreq)) (*unix.Ifreq, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, ErrNameTooLong
	}
	if fn != nil {
		fn(ifr)
	}
	if err := unix.IoctlIfreq(fd, req, ifr); err != nil {
		return nil, err
	}
	return ifr, nil
}

func getIndex(fd int, name string) (int, error) {
	ifr, err := ioctlIfreq(fd, unix.SIOCGIFINDEX, name, nil)
	if err != nil {
		return 0, err
	}
	return int(int32(ifr.Uint32())), nil
}

func getMTU(fd int, name string) (int, error) {
	ifr, err := ioctlIfreq(fd, unix.SIOCGIFMTU, name, nil)
	if err != nil {
		return 0, err
	}
	return int(int32(ifr.Uint32())), nil
}

func setMTU(fd int, name string, mtu int) error {
	if mtu <= 0 || mtu > 1<<31-1 {
		return ErrInvalidMTU
	}
	_, err := ioctlIfreq(fd, unix.SIOCSIFMTU, name, func(ifr *unix.Ifreq) { ifr.SetUint32(uint32(mtu)) })
	return err
}

func setUp(fd int, name string, up bool) error {
	ifr, err := ioctlIfreq(fd, unix.SIOCGIFFLAGS, name, nil)
	if err != nil {
		return err
	}
	flags := ifr.Uint16()
	if up {
		flags |= unix.IFF_UP
	} else {
		flags &^= unix.IFF_UP
	}
	ifr.SetUint16(flags)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// ifreqHwaddr is struct ifreq with the ifr_hwaddr member (a struct
// sockaddr) spelled out: unix.Ifreq has no accessor for it.
type ifreqHwaddr struct {
	name   [unix.IFNAMSIZ]byte
	family uint16
	data   [14]byte
	_      [8]byte // pad to sizeof(struct ifreq) = 40
}

func ioctlHwaddr(fd int, req uint, r *ifreqHwaddr) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(r)))
	if errno != 0 {
		return errno
	}
	return nil
}

func getHwaddr(fd int, name string) (encap.MAC, error) {
	if len(name) > MaxNameLen {
		return encap.MAC{}, ErrNameTooLong
	}
	var r ifreqHwaddr
	copy(r.name[:], name)
	if err := ioctlHwaddr(fd, unix.SIOCGIFHWADDR, &r); err != nil {
		return encap.MAC{}, err
	}
	var m encap.MAC
	copy(m[:], r.data[:6])
	return m, nil
}

func setHwaddr(fd int, name string, mac encap.MAC) error {
	if len(name) > MaxNameLen {
		return ErrNameTooLong
	}
	var r ifreqHwaddr
	copy(r.name[:], name)
	r.family = unix.ARPHRD_ETHER
	copy(r.data[:], mac[:])
	return ioctlHwaddr(fd, unix.SIOCSIFHWADDR, &r)
}

func linkOp(op, name string, fn func(fd int) error) error {
	if err := withCtl(fn); err != nil {
		return &OpError{Op: op, Name: name, Err: err}
	}
	return nil
}

// LinkSetMTU sets the MTU of the link called name (SIOCSIFMTU). Like every
// Link function it acts in the network namespace of the calling OS thread:
// to reach another namespace, call it inside netns.(*NS).Do. It is safe for
// concurrent use.
func LinkSetMTU(name string, mtu int) error {
	return linkOp("set mtu", name, func(fd int) error { return setMTU(fd, name, mtu) })
}

// LinkMTU returns the MTU of the link called name (SIOCGIFMTU), in the
// calling thread's network namespace.
func LinkMTU(name string) (int, error) {
	var mtu int
	err := linkOp("get mtu", name, func(fd int) (err error) { mtu, err = getMTU(fd, name); return err })
	return mtu, err
}

// LinkSetUp sets IFF_UP on the link called name (SIOCGIFFLAGS +
// SIOCSIFFLAGS), in the calling thread's network namespace.
func LinkSetUp(name string) error {
	return linkOp("set up", name, func(fd int) error { return setUp(fd, name, true) })
}

// LinkSetDown clears IFF_UP on the link called name, in the calling
// thread's network namespace.
func LinkSetDown(name string) error {
	return linkOp("set down", name, func(fd int) error { return setUp(fd, name, false) })
}

// LinkHardwareAddr returns the MAC address of the link called name
// (SIOCGIFHWADDR), in the calling thread's network namespace.
func LinkHardwareAddr(name string) (encap.MAC, error) {
	var mac encap.MAC
	err := linkOp("get mac", name, func(fd int) (err error) { mac, err = getHwaddr(fd, name); return err })
	return mac, err
}

// LinkSetHardwareAddr sets the MAC address of the link called name
// (SIOCSIFHWADDR), in the calling thread's network namespace. The kernel
// rejects multicast and zero addresses with EADDRNOTAVAIL.
func LinkSetHardwareAddr(name string, mac encap.MAC) error {
	return linkOp("set mac", name, func(fd int) error { return setHwaddr(fd, name, mac) })
}

// LinkIndex returns the interface index of the link called name
// (SIOCGIFINDEX), in the calling thread's network namespace.
func LinkIndex(name string) (int, error) {
	var idx int
	err := linkOp("get index", name, func(fd int) (err error) { idx, err = getIndex(fd, name); return err })
	return idx, err
}

// LinkSetTxQueueLen sets the transmit queue length of the link called name
// (SIOCSIFTXQLEN), in the calling thread's network namespace. For a TAP it
// is the number of frames the kernel queues for the reader before it drops
// them silently (the tun driver's default is 500); a userspace switch that
// shares the CPU with its senders wants a longer queue so a burst is not
// lost while it is scheduled out.
func LinkSetTxQueueLen(name string, n int) error {
	return linkOp("set txqueuelen", name, func(fd int) error {
		_, err := ioctlIfreq(fd, unix.SIOCSIFTXQLEN, name, func(r *unix.Ifreq) { r.SetUint32(uint32(n)) })
		return err
	})
}
