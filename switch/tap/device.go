package tap

import "github.com/vxswitch/vxswitch/encap"

// Device is one switch port: an Ethernet device the switch reads frames from
// and writes frames to. It has the shape of wireguard-go's tun.Device.
//
// Read and Write are each called from at most one goroutine at a time, but a
// Read and a Write may run concurrently. Close may be called at any time and
// makes a blocked Read return an error satisfying errors.Is(err,
// os.ErrClosed) or net.ErrClosed.
type Device interface {
	// Name is the interface name (for a TAP, the kernel's name for it).
	Name() string

	// MTU is the device's MTU: the largest Ethernet payload, without the
	// 14-byte Ethernet header.
	MTU() int

	// Read one or more frames from the Device into bufs, starting each at
	// bufs[i][offset:]. On success it returns the number of frames read, n,
	// and sizes[i] holds the length of frame i. offset leaves headroom in
	// front of each frame (the switch needs encap.VXLANHeaderLen bytes to
	// write the VXLAN header in place). len(bufs) and len(sizes) must be at
	// least BatchSize.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)

	// Write one or more frames, each bufs[i][offset:], to the Device. It
	// returns the number of buffers written; on error, the first n were
	// written. Write does not retain bufs.
	Write(bufs [][]byte, offset int) (int, error)

	// BatchSize is the largest number of frames Read returns at once. It
	// never changes over the Device's lifetime.
	BatchSize() int

	// Close releases the device. For a TAP the switch created, it also
	// removes the interface unless it was opened persistent.
	Close() error
}

// Polled is implemented by devices that a poll loop can drive instead of a
// reader goroutine per device (TAP). PollFD returns the descriptor to wait
// on for POLLIN when the device's Read never waits (Config.NoWait), and -1
// when Read waits itself. The loop must stop polling before Close.
//
// Buffered reports whether Read holds frames it has taken from the kernel
// but not returned yet (the rest of a super-frame that did not fit the
// last batch): the next Read returns them at once, and PollFD does not
// show them, so a poll loop must call Read again instead of waiting while
// Buffered is true. It is called by the goroutine that calls Read.
type Polled interface {
	PollFD() int
	Buffered() bool
}

// Super is a TSO or USO super-frame as the kernel handed it over: its
// virtio-net header (validated) and the frame, which aliases the device's
// read buffer until its next Read or ReadSuper.
type Super struct {
	Hdr   encap.VirtioNetHdrFields
	Frame []byte
}

// SuperReader is implemented by devices with offloads (TAP) that can hand
// over a super-frame whole, so that the caller splits it itself (encap.
// SegmentHeaders: a segment's headers and a slice of the payload, without
// copying the payload as Read's split does).
//
// ReadSuper is Read, except for a super-frame of more than one segment
// that would start the batch: it is not split but returned in s, with n
// == 0 and a nil error. A super-frame met after other frames of the batch
// ends the batch and starts the next call (Buffered reports it), so
// frames keep their order. s.Frame is nil when no super-frame was
// returned. Its errors and guarantees are Read's.
type SuperReader interface {
	ReadSuper(bufs [][]byte, sizes []int, offset int, s *Super) (n int, err error)
}
