package vswitch

import (
	"net/netip"

	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// portBatch is the buffers one reader of a port queue owns: a reader
// goroutine's, or the single loop's for that queue.
type portBatch struct {
	bufs  [][]byte
	sizes []int

	// With gathered sends (Switch.gather and a tap.SuperReader device):
	// the device, the super-frame it handed over, and per segment a
	// buffer for the VXLAN and segment headers (heads), their length
	// (hsizes) and the payload, a slice of the super-frame (tails).
	sr     tap.SuperReader
	super  tap.Super
	heads  [][]byte
	hsizes []int
	tails  [][]byte
}

func newPortBatch(sw *Switch, p *Port, dev tap.Device) portBatch {
	bs := dev.BatchSize()
	b := portBatch{bufs: make([][]byte, bs), sizes: make([]int, bs)}
	size := portBufferSize(p)
	for i := range b.bufs {
		b.bufs[i] = make([]byte, size)
	}
	if sr, ok := dev.(tap.SuperReader); ok && sw.gather != nil {
		b.sr = sr
		b.heads, b.hsizes, b.tails = make([][]byte, bs), make([]int, bs), make([][]byte, bs)
		for i := range b.heads {
			b.heads[i] = make([]byte, PacketStartOffset+gatherHeadersMax)
		}
	}
	return b
}

// readPort reads one batch from dev, a queue of p, forwards every frame
// (or the super-frame a tap.SuperReader handed over whole), flushes and
// ends the batch. It returns Read's results; a super-frame counts as one
// frame read.
func (sw *Switch) readPort(p *Port, dev tap.Device, b *portBatch, out *egress) (int, error) {
	var (
		n   int
		err error
	)
	if b.sr != nil {
		n, err = b.sr.ReadSuper(b.bufs, b.sizes, PacketStartOffset, &b.super)
	} else {
		n, err = dev.Read(b.bufs, b.sizes, PacketStartOffset)
	}
	if b.super.Frame != nil {
		sw.forwardSuper(p, b, out)
		b.super = tap.Super{} // its frame is the device's buffer
		n = 1
	} else {
		for i := 0; i < n; i++ {
			sw.forwardFromPort(p, b.bufs[i][:PacketStartOffset+b.sizes[i]], out)
		}
	}
	out.flush()
	out.resetBatch()
	return n, err
}

// recvBatch is the buffers one receiver of a ReceiveFunc owns: a receive
// goroutine's, or the single loop's for that socket.
type recvBatch struct {
	own   [][]byte // the receiver's buffers
	bufs  [][]byte // what is passed to the ReceiveFunc
	sizes []int
	eps   []netip.AddrPort
}

func newRecvBatch(n int) recvBatch {
	b := recvBatch{own: make([][]byte, n), bufs: make([][]byte, n), sizes: make([]int, n), eps: make([]netip.AddrPort, n)}
	for i := range b.own {
		b.own[i] = make([]byte, bufSize)
	}
	return b
}

// receive receives one batch with fn, switches every packet (counting one
// longer than its buffer as oversize), flushes and ends the batch. It
// returns fn's results. The ReceiveFunc may point bufs[i] into its own
// memory (zero copy, valid until its next call), so the receiver's own
// buffers are handed to it again every time; the packets of a batch are
// switched and flushed before the next call, so nothing keeps such a slice.
func (sw *Switch) receive(fn vtep.ReceiveFunc, b *recvBatch, out *egress) (int, error) {
	copy(b.bufs, b.own)
	n, err := fn(b.bufs, b.sizes, b.eps)
	for i := 0; i < n; i++ {
		if b.sizes[i] > len(b.bufs[i]) {
			sw.drops.add(DropOversize)
			continue
		}
		out.srcPort = b.eps[i].Port()
		sw.forwardFromVTEP(b.bufs[i][:b.sizes[i]], b.eps[i].Addr().Unmap(), out)
	}
	out.flush()
	out.resetBatch()
	return n, err
}
