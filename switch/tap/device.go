package tap

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
