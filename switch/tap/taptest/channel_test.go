package taptest

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func frame(i int) []byte { return []byte(fmt.Sprintf("frame-%02d", i)) }

// TestReadBatch checks that Read returns as many queued frames as are
// available, up to BatchSize and len(bufs), at the offset.
func TestReadBatch(t *testing.T) {
	tests := []struct {
		name   string
		batch  int
		queued int
		bufs   int
		want   []int // frames returned by successive Reads
	}{
		{name: "default batch of 1", batch: 1, queued: 3, bufs: 8, want: []int{1, 1, 1}},
		{name: "batch 8, 3 queued", batch: 8, queued: 3, bufs: 8, want: []int{3}},
		{name: "batch 8, 10 queued", batch: 8, queued: 10, bufs: 8, want: []int{8, 2}},
		{name: "fewer bufs than batch", batch: 8, queued: 5, bufs: 2, want: []int{2, 2, 1}},
		{name: "batch below 1 means 1", batch: 0, queued: 2, bufs: 4, want: []int{1, 1}},
	}
	const offset = 8
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChannelTAPBatch("ct0", 1500, tt.batch)
			defer c.Close()
			for i := range tt.queued {
				c.Inbound <- frame(i)
			}
			bufs := make([][]byte, tt.bufs)
			for i := range bufs {
				bufs[i] = make([]byte, 64)
			}
			sizes := make([]int, tt.bufs)
			var gotCounts []int
			var gotFrames []string
			for range tt.want {
				n, err := c.Read(bufs, sizes, offset)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				gotCounts = append(gotCounts, n)
				for i := range n {
					gotFrames = append(gotFrames, string(bufs[i][offset:offset+sizes[i]]))
				}
			}
			if diff := cmp.Diff(tt.want, gotCounts); diff != "" {
				t.Errorf("unexpected frames per Read (-want +got):\n%s", diff)
			}
			var wantFrames []string
			for i := range tt.queued {
				wantFrames = append(wantFrames, string(frame(i)))
			}
			if diff := cmp.Diff(wantFrames, gotFrames); diff != "" {
				t.Errorf("unexpected frames (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadTooLarge checks that a frame that does not fit is kept for the
// next Read, both as the first frame and inside a batch.
func TestReadTooLarge(t *testing.T) {
	c := NewChannelTAPBatch("ct0", 1500, 4)
	defer c.Close()
	small, big := []byte("small"), make([]byte, 100)
	c.Inbound <- small
	c.Inbound <- big
	bufs := [][]byte{make([]byte, 16), make([]byte, 16)}
	sizes := make([]int, 2)

	n, err := c.Read(bufs, sizes, 0)
	if err != nil || n != 1 {
		t.Fatalf("unexpected first Read:\n- want: 1, <nil>\n-  got: %d, %v", n, err)
	}
	n, err = c.Read(bufs, sizes, 0)
	if !errors.Is(err, ErrFrameTooLarge) || n != 0 {
		t.Fatalf("unexpected second Read:\n- want: 0, %v\n-  got: %d, %v", ErrFrameTooLarge, n, err)
	}
	bufs[0] = make([]byte, 128)
	n, err = c.Read(bufs, sizes, 0)
	if err != nil || n != 1 || sizes[0] != len(big) {
		t.Fatalf("unexpected Read with big buffer:\n- want: 1 frame of %d, <nil>\n-  got: %d frames, size %d, %v", len(big), n, sizes[0], err)
	}
}

// TestWriteCopies checks that Write sends copies of bufs[i][offset:].
func TestWriteCopies(t *testing.T) {
	c := NewChannelTAP("ct0", 1500)
	defer c.Close()
	bufs := [][]byte{[]byte("hdr-one"), []byte("hdr-two")}
	n, err := c.Write(bufs, 4)
	if err != nil || n != 2 {
		t.Fatalf("unexpected Write:\n- want: 2, <nil>\n-  got: %d, %v", n, err)
	}
	bufs[0][4] = 'X' // must not change what was sent
	want := []string{"one", "two"}
	var got []string
	for range want {
		got = append(got, string(<-c.Outbound))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected Outbound frames (-want +got):\n%s", diff)
	}
}

// TestBadArgs checks that bad batches get errors, not panics.
func TestBadArgs(t *testing.T) {
	c := NewChannelTAP("ct0", 1500)
	defer c.Close()
	if _, err := c.Read(nil, nil, 0); err == nil {
		t.Error("Read with no buffers: want error, got nil")
	}
	if _, err := c.Read([][]byte{make([]byte, 4)}, []int{0}, -1); err == nil {
		t.Error("Read with negative offset: want error, got nil")
	}
	if n, err := c.Write([][]byte{make([]byte, 4)}, 5); err == nil || n != 0 {
		t.Errorf("unexpected Write with offset past the end:\n- want: 0, error\n-  got: %d, %v", n, err)
	}
}

// TestCloseUnblocks checks that Close wakes a blocked Read and a Write
// blocked on a full Outbound with os.ErrClosed, and that later calls fail
// the same way.
func TestCloseUnblocks(t *testing.T) {
	c := NewChannelTAP("ct0", 1500)
	for range QueueLen {
		c.Outbound <- nil // fill it so that Write blocks
	}
	readErr := make(chan error, 1)
	writeErr := make(chan error, 1)
	go func() {
		_, err := c.Read([][]byte{make([]byte, 64)}, []int{0}, 0)
		readErr <- err
	}()
	go func() {
		_, err := c.Write([][]byte{[]byte("x")}, 0)
		writeErr <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, ch := range map[string]chan error{"Read": readErr, "Write": writeErr} {
		select {
		case err := <-ch:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("unexpected %s error:\n- want: %v\n-  got: %v", name, os.ErrClosed, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still blocked 10s after Close", name)
		}
	}
	c.Inbound <- []byte("late")
	if _, err := c.Read([][]byte{make([]byte, 64)}, []int{0}, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("unexpected Read after Close:\n- want: %v\n-  got: %v", os.ErrClosed, err)
	}
}

func TestAccessors(t *testing.T) {
	c := NewChannelTAPBatch("port7", 9000, 8)
	defer c.Close()
	type acc struct {
		Name       string
		MTU, Batch int
	}
	want := acc{"port7", 9000, 8}
	got := acc{c.Name(), c.MTU(), c.BatchSize()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected accessors (-want +got):\n%s", diff)
	}
}
