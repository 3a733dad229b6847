package taptest

import (
	"errors"
	"testing"
)

// FuzzChannelTAPRead feeds frames of fuzzed lengths through Read with
// fuzzed batch size, buffer size and offset, and checks the batch
// invariants: no panic, n within [0, BatchSize], every size within its
// buffer, and every queued frame returned exactly once, in order.
func FuzzChannelTAPRead(f *testing.F) {
	f.Add([]byte{10, 20, 30}, uint8(1), uint8(64), uint8(8))  // batch of 1, frames fit
	f.Add([]byte{10, 200, 30}, uint8(8), uint8(64), uint8(8)) // one frame too large for the buffer
	f.Add([]byte{0, 0}, uint8(4), uint8(8), uint8(8))         // empty frames, offset == buffer length
	f.Add([]byte{}, uint8(0), uint8(0), uint8(0))             // nothing queued, zero-length buffers
	f.Fuzz(func(t *testing.T, lens []byte, batch, bufLen, offset uint8) {
		if len(lens) > 64 {
			lens = lens[:64]
		}
		c := NewChannelTAPBatch("fz0", 1500, int(batch%16))
		defer c.Close()
		for i, l := range lens {
			fr := make([]byte, l)
			for j := range fr {
				fr[j] = byte(i)
			}
			c.Inbound <- fr
		}
		bufs := make([][]byte, c.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, bufLen)
		}
		sizes := make([]int, len(bufs))
		next := 0
		for next < len(lens) {
			n, err := c.Read(bufs, sizes, int(offset))
			if errors.Is(err, ErrFrameTooLarge) {
				if int(lens[next]) <= int(bufLen)-int(offset) {
					t.Fatalf("frame %d of %d bytes rejected with buffer %d, offset %d", next, lens[next], bufLen, offset)
				}
				return // it would never fit: stop
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if n < 1 || n > c.BatchSize() {
				t.Fatalf("Read returned %d frames, batch size %d", n, c.BatchSize())
			}
			for i := range n {
				if sizes[i] > len(bufs[i])-int(offset) || sizes[i] != int(lens[next]) {
					t.Fatalf("frame %d: size %d, want %d, room %d", next, sizes[i], lens[next], len(bufs[i])-int(offset))
				}
				for _, b := range bufs[i][int(offset) : int(offset)+sizes[i]] {
					if b != byte(next) {
						t.Fatalf("frame %d: got a byte of frame %d (out of order or duplicated)", next, b)
					}
				}
				next++
			}
		}
	})
}
