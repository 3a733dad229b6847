package vtep

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Ancillary data offsets of classic BPF, from include/uapi/linux/filter.h:
// a load from skfAdOff+skfAdCPU yields raw_smp_processor_id(), the CPU
// running the filter (for UDP, the CPU that processes the receive softirq).
const (
	skfAdOff = 0xfffff000 // SKF_AD_OFF, (-0x1000) as the uint32 K field
	skfAdCPU = 36         // SKF_AD_CPU
)

// cpuSteeringProgram returns the classic BPF program for
// SO_ATTACH_REUSEPORT_CBPF that picks reuseport socket (CPU % n):
//
//	ld  #cpu      ; A = receiving CPU
//	mod #n        ; A %= n
//	ret a         ; index into the group, in join order
//
// Linux indexes a reuseport group's sockets in the order they joined and
// falls back to the 4-tuple hash when the program returns an index past
// the group's end (net/core/sock_reuseport.c, run_bpf_filter), so a socket
// that joins later (the same UID binding the port with SO_REUSEPORT) is
// never chosen.
func cpuSteeringProgram(n int) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdCPU},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(n)},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
}

// attachCPUSteering attaches cpuSteeringProgram(n) to the reuseport group
// of c, which must already hold all n receive sockets.
func attachCPUSteering(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("vtep: receive socket: %w", err)
	}
	prog := cpuSteeringProgram(n)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
	}); err != nil {
		return fmt.Errorf("vtep: receive socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("vtep: receive socket: %w", os.NewSyscallError("setsockopt SO_ATTACH_REUSEPORT_CBPF", serr))
	}
	return nil
}
