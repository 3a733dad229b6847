package tap

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/encap"
)

// TUNSETOFFLOAD flags (linux/if_tun.h); golang.org/x/sys does not define
// them.
const (
	tunFCsum = 0x01 // TUN_F_CSUM: the reader handles partial checksums
	tunFTSO4 = 0x02 // TUN_F_TSO4: TCP over IPv4 super-frames
	tunFTSO6 = 0x04 // TUN_F_TSO6: TCP over IPv6 super-frames
	tunFUSO4 = 0x20 // TUN_F_USO4: UDP over IPv4 super-frames (Linux 6.2)
	tunFUSO6 = 0x40 // TUN_F_USO6: UDP over IPv6 super-frames (Linux 6.2)
)

// vnetReadBufSize holds one virtio-net header and the largest super-frame:
// a 65535-byte IP packet plus a VLAN-tagged Ethernet header.
const vnetReadBufSize = encap.VirtioNetHdrLen + encap.MaxFrameSize

// vnet is the offload state of a TAP opened with IFF_VNET_HDR.
//
// The read fields belong to the one goroutine in Read, the write fields to
// the one goroutine in Write (the Device contract); gro and the counters
// are atomic.
type vnet struct {
	offloads Offloads
	rc       syscall.RawConn

	// Read side: one super-frame read with one read(2), then handed out
	// in segments over one or more Reads.
	rbuf    []byte
	super   []byte                   // the pending super-frame (aliases rbuf), nil when none
	hdr     encap.VirtioNetHdrFields // its virtio-net header
	nseg    int                      // its segment count
	nextSeg int                      // the next segment to hand out

	// Write side.
	gro     atomic.Bool
	co      encap.Coalescer
	pieces  [][]byte
	iov     []unix.Iovec
	writeFn func(fd uintptr) bool // t.writev, bound once so Write does not allocate
	werr    error                 // writeFn's result
	wlen    int                   // bytes writeFn must write

	// Frames the kernel handed over that could not be split (bad header
	// or frame): dropped and counted, reading goes on.
	readDrops atomic.Uint64
}

// errNoOffload marks a TUNSETVNETHDRSZ or TUNSETOFFLOAD refusal, after
// which Create falls back to a plain TAP.
var errNoOffload = errors.New("kernel refused TAP offloads")

// createVnet creates the TAP on golang.org/x/sys directly: water cannot set
// IFF_VNET_HDR, TUNSETVNETHDRSZ or TUNSETOFFLOAD, so the offload path opens
// /dev/net/tun itself (as wireguard-go's tun.CreateTUN does). The
// descriptor is non-blocking and wrapped with os.NewFile; Create decides
// whether it stays in the runtime poller (TAP.open). Errors from opening the device and
// from TUNSETIFF have the shapes water's have, for createError; an error
// wrapping errNoOffload means the device was closed again and a plain TAP
// should be tried.
func createVnet(name string, cfg Config) (*os.File, string, *vnet, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", nil, err // a bare errno, like water's
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, "", nil, err
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if cfg.MultiQueue {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, "", nil, os.NewSyscallError("ioctl", err)
	}
	actual := ifr.Name()
	v := &vnet{}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, encap.VirtioNetHdrLen); err != nil {
		unix.Close(fd)
		return nil, "", nil, fmt.Errorf("%w: TUNSETVNETHDRSZ %d: %v", errNoOffload, encap.VirtioNetHdrLen, err)
	}
	// Probe: checksum, TSO and USO together; without USO (before Linux
	// 6.2); then give up on offloads.
	base := tunFCsum | tunFTSO4 | tunFTSO6
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, base|tunFUSO4|tunFUSO6); err == nil {
		v.offloads = Offloads{VnetHdr: true, Csum: true, TSO4: true, TSO6: true, USO: true}
	} else if err2 := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, base); err2 == nil {
		v.offloads = Offloads{VnetHdr: true, Csum: true, TSO4: true, TSO6: true,
			Reason: fmt.Sprintf("USO refused: %v", err)}
	} else {
		unix.Close(fd)
		return nil, "", nil, fmt.Errorf("%w: TUNSETOFFLOAD csum|tso4|tso6: %v", errNoOffload, err2)
	}
	if cfg.Persist {
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			unix.Close(fd)
			return nil, "", nil, os.NewSyscallError("ioctl", err)
		}
	}
	f := os.NewFile(uintptr(fd), "/dev/net/tun")
	v.rbuf = make([]byte, vnetReadBufSize)
	v.gro.Store(!cfg.NoGRO)
	return f, actual, v, nil
}

// Offloads reports the offloads the TAP runs with (the zero Offloads for a
// plain TAP, with Reason set if Config.Offload was refused). Safe for
// concurrent use.
func (t *TAP) Offloads() Offloads {
	if t.vnet == nil {
		return Offloads{Reason: t.offloadReason}
	}
	return t.vnet.offloads
}

// SetGRO turns coalescing of TCP segments on Write on or off at run time
// (Config.NoGRO sets the initial state). It has no effect on a TAP without
// offloads. Safe for concurrent use; a Write in progress finishes with the
// old setting.
func (t *TAP) SetGRO(on bool) {
	if t.vnet != nil {
		t.vnet.gro.Store(on)
	}
}

// GRO reports whether Write coalesces TCP segments into super-frames: the
// TAP has offloads and coalescing is on (Config.NoGRO, SetGRO). Safe for
// concurrent use.
func (t *TAP) GRO() bool { return t.vnet != nil && t.vnet.gro.Load() }

// ReadDrops is the number of frames the kernel handed over that Read
// dropped because their virtio-net header or GSO layout made no sense.
// Safe for concurrent use.
func (t *TAP) ReadDrops() uint64 {
	if t.vnet == nil {
		return 0
	}
	return t.vnet.readDrops.Load()
}

// readVnet is Read for a TAP with offloads: it hands out the pending
// super-frame's segments, then reads further frames (one read(2) each) and
// splits them into the rest of bufs. It waits only for the first frame of
// a batch, and returns that frame's segments alone if it had to wait (see
// Read); otherwise later reads take what is queued and stop at EAGAIN.
// With raw (ReadSuper), a super-frame of more than one segment that starts
// the batch is returned whole in raw instead, and one met later ends the
// batch.
func (t *TAP) readVnet(bufs [][]byte, sizes []int, offset int, raw *Super) (int, error) {
	v := t.vnet
	max := min(len(bufs), len(sizes), OffloadBatchSize)
	n := 0
	idle := false // the first read had to wait: no more reads in this batch
	for n < max {
		if v.super != nil && raw != nil && v.nextSeg == 0 && v.nseg > 1 {
			if n > 0 {
				break // it starts the next call (Buffered)
			}
			raw.Hdr, raw.Frame = v.hdr, v.super
			v.super = nil
			return 0, nil
		}
		if v.super != nil {
			k, err := encap.SegmentRange(v.super, v.hdr, v.nextSeg, bufs[n:max], sizes[n:max], offset)
			v.nextSeg += k
			n += k
			if v.nextSeg >= v.nseg || err != nil {
				v.super = nil
			}
			if err != nil {
				v.readDrops.Add(1)
				if n > 0 {
					return n, nil
				}
				return 0, &OpError{Op: "read", Name: t.name, Err: err}
			}
			continue
		}
		if idle && n > 0 {
			break
		}
		nr, waited, err := t.readFrame(v.rbuf, n > 0 || t.rd.always)
		idle = waited
		if err != nil {
			if n > 0 || err == errNoFrame {
				// Nothing more queued, or a failure the next Read meets
				// again: return the frames split so far.
				return n, nil
			}
			return 0, &OpError{Op: "read", Name: t.name, Err: err}
		}
		if nr < encap.VirtioNetHdrLen+encap.EthernetMinimumSize {
			v.readDrops.Add(1)
			continue
		}
		v.hdr = encap.VirtioNetHdr(v.rbuf).Decode()
		super := v.rbuf[encap.VirtioNetHdrLen:nr]
		nseg, err := encap.SegmentCount(super, v.hdr)
		if err != nil {
			v.readDrops.Add(1)
			continue
		}
		v.super, v.nseg, v.nextSeg = super, nseg, 0
		if n > 0 && nseg > max-n {
			// Keep a super-frame whole within one batch: it starts the
			// next Read (Buffered reports it). Its segments then leave
			// together, in one UDP_SEGMENT send, instead of as the tail
			// of one send and the head of the next.
			break
		}
	}
	return n, nil
}

// Buffered implements Polled: the rest of a super-frame is held.
func (t *TAP) Buffered() bool { return t.vnet != nil && t.vnet.super != nil }

// writeVnet is Write for a TAP with offloads: it coalesces the batch
// (unless GRO is off) and writes each frame or super-frame with its
// virtio-net header in one writev(2).
func (t *TAP) writeVnet(bufs [][]byte, offset int) (int, error) {
	v := t.vnet
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, errShortBatch
		}
	}
	if !v.gro.Load() {
		for i, b := range bufs {
			v.pieces = append(v.pieces[:0], zeroVnetHdr[:], b[offset:])
			if err := t.writePieces(); err != nil {
				return i, &OpError{Op: "write", Name: t.name, Err: err}
			}
		}
		return len(bufs), nil
	}
	n := v.co.Coalesce(bufs, offset)
	written := 0
	for i := 0; i < n; i++ {
		v.pieces = v.co.AppendFrame(v.pieces[:0], i)
		if err := t.writePieces(); err != nil {
			// With coalescing the frames written are not a prefix of bufs
			// (flows may be reordered); the count is still exact.
			return written, &OpError{Op: "write", Name: t.name, Err: err}
		}
		segs, _ := v.co.Coalesced(i)
		written += segs
	}
	return len(bufs), nil
}

// zeroVnetHdr is the virtio-net header of a plain frame.
var zeroVnetHdr [encap.VirtioNetHdrLen]byte

// writePieces writes v.pieces as one frame with writev(2) through the
// TAP's RawConn (so it fails cleanly after Close).
func (t *TAP) writePieces() error {
	v := t.vnet
	v.iov = v.iov[:0]
	v.wlen = 0
	for _, p := range v.pieces {
		if len(p) == 0 {
			continue
		}
		var iov unix.Iovec
		iov.Base = &p[0]
		iov.SetLen(len(p))
		v.iov = append(v.iov, iov)
		v.wlen += len(p)
	}
	v.werr = nil
	if err := v.rc.Write(v.writeFn); err != nil {
		// RawConn.Write fails only when the descriptor is closed (or
		// closing); it reports the runtime poller's "use of closed file",
		// which os.File.Write would have mapped to os.ErrClosed.
		return os.ErrClosed
	}
	return v.werr
}

// writev is the RawConn.Write callback of writePieces.
func (t *TAP) writev(fd uintptr) bool {
	v := t.vnet
	// Raw: the descriptor is non-blocking (see internal/rawfd).
	r, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(len(v.iov)))
	switch {
	case e == unix.EAGAIN:
		return false // wait until writable
	case e != 0:
		v.werr = e
	case int(r) != v.wlen:
		v.werr = fmt.Errorf("short write: %d of %d bytes", r, v.wlen)
	}
	return true
}
