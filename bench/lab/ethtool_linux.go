package lab

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool commands (linux/ethtool.h). x/sys has no setter for offload
// features, and the lab must not need the ethtool binary (vxlab promises Go
// and iproute2 only), so the one request it makes is written here.
const (
	ethtoolSTXCSUM = 0x00000017 // ETHTOOL_STXCSUM: set transmit checksum offload
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data, the pointer SIOCETHTOOL reads.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte // the rest of the ifreq union
}

// setTxChecksum turns transmit checksum offload on or off on the link
// called name, in the calling thread's network namespace (ethtool -K name
// tx on|off). Turning it off also turns off the segmentation offloads that
// depend on it.
func setTxChecksum(name string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool %s: %w", name, err)
	}
	defer unix.Close(fd)
	// Heap-allocated and kept alive across the call: the kernel reads it
	// through a uintptr the garbage collector does not see.
	v := &ethtoolValue{cmd: ethtoolSTXCSUM}
	if on {
		v.data = 1
	}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	ifr.data = uintptr(unsafe.Pointer(v))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return fmt.Errorf("ethtool -K %s tx %v: %w", name, on, errno)
	}
	return nil
}
