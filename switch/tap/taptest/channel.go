package taptest

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vxswitch/vxswitch/switch/tap"
)

// QueueLen is the capacity of a ChannelTAP's Inbound and Outbound channels.
const QueueLen = 1024

// ChannelTAP is a tap.Device backed by channels.
//
// The test owns both channels: it sends frames the switch should Read on
// Inbound, and receives the frames the switch wrote from Outbound. Each
// frame on Outbound is a fresh copy that the test may keep. A slice sent on
// Inbound is copied by Read and not retained after that.
//
// Read and Write follow the tap.Device contract (one goroutine each at a
// time, concurrently with each other); Name, MTU, BatchSize and Close are
// safe for concurrent use. Neither channel is ever closed by ChannelTAP.
type ChannelTAP struct {
	// Inbound carries frames to be returned by Read.
	Inbound chan []byte
	// Outbound receives a copy of every frame passed to Write.
	Outbound chan []byte

	name  string
	mtu   int
	batch int

	pending []byte // a frame taken from Inbound that did not fit; used by Read only

	closed    chan struct{}
	closeOnce sync.Once
}

var _ tap.Device = (*ChannelTAP)(nil)

// NewChannelTAP returns a ChannelTAP of the given name and MTU with a
// BatchSize of 1.
func NewChannelTAP(name string, mtu int) *ChannelTAP {
	return NewChannelTAPBatch(name, mtu, 1)
}

// NewChannelTAPBatch returns a ChannelTAP whose Read returns up to
// batchSize frames at once (values below 1 mean 1), to exercise the
// switch's batch paths.
func NewChannelTAPBatch(name string, mtu, batchSize int) *ChannelTAP {
	if batchSize < 1 {
		batchSize = 1
	}
	return &ChannelTAP{
		Inbound:  make(chan []byte, QueueLen),
		Outbound: make(chan []byte, QueueLen),
		name:     name,
		mtu:      mtu,
		batch:    batchSize,
		closed:   make(chan struct{}),
	}
}

// Name returns the name given to the constructor.
func (c *ChannelTAP) Name() string { return c.name }

// MTU returns the MTU given to the constructor.
func (c *ChannelTAP) MTU() int { return c.mtu }

// BatchSize returns the batch size given to the constructor.
func (c *ChannelTAP) BatchSize() int { return c.batch }

// ErrFrameTooLarge is returned by Read when the next frame does not fit in
// bufs[0][offset:]. The frame is kept and returned by the next Read, so a
// caller with a bigger buffer loses nothing.
var ErrFrameTooLarge = fmt.Errorf("taptest: frame larger than read buffer: %w", io.ErrShortBuffer)

// Read blocks until a frame is on Inbound (or left over from the last
// Read), then copies it and as many further frames as are immediately
// available, up to BatchSize and len(bufs), into bufs[i][offset:] and sets
// sizes[i]. After Close it returns os.ErrClosed.
func (c *ChannelTAP) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	limit := min(c.batch, len(bufs), len(sizes))
	if limit == 0 || offset < 0 {
		return 0, io.ErrShortBuffer
	}
	select {
	case <-c.closed:
		return 0, os.ErrClosed
	default:
	}
	first := c.pending
	c.pending = nil
	if first == nil {
		select {
		case first = <-c.Inbound:
		case <-c.closed:
			return 0, os.ErrClosed
		}
	}
	if !c.put(bufs[0], offset, first, &sizes[0]) {
		c.pending = first
		return 0, ErrFrameTooLarge
	}
	n := 1
	for n < limit {
		var f []byte
		select {
		case f = <-c.Inbound:
		default:
			return n, nil
		}
		if !c.put(bufs[n], offset, f, &sizes[n]) {
			c.pending = f
			return n, nil
		}
		n++
	}
	return n, nil
}

func (c *ChannelTAP) put(buf []byte, offset int, frame []byte, size *int) bool {
	if offset > len(buf) || len(frame) > len(buf)-offset {
		return false
	}
	*size = copy(buf[offset:], frame)
	return true
}

// Write sends a copy of each bufs[i][offset:] on Outbound, blocking while
// Outbound is full, and returns how many it sent. After Close, or if Close
// happens while it waits, it returns os.ErrClosed.
func (c *ChannelTAP) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, io.ErrShortBuffer
		}
		select {
		case <-c.closed:
			return i, os.ErrClosed
		default:
		}
		f := append([]byte(nil), b[offset:]...)
		select {
		case c.Outbound <- f:
		case <-c.closed:
			return i, os.ErrClosed
		}
	}
	return len(bufs), nil
}

// Close makes blocked and later Reads and Writes return os.ErrClosed. It
// is idempotent and always returns nil.
func (c *ChannelTAP) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}
