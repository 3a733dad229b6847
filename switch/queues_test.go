package vswitch

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
)

// TestPortQueues: a port with several queues (a multi-queue TAP opened
// once per queue) reads from every queue, writes each flow to one queue
// (and spreads flows over the queues), never floods between its own
// queues, and closes every queue on RemovePort.
func TestPortQueues(t *testing.T) {
	l := newLab(t, 2, labOptions{})
	h0, h1 := l.hosts[0], l.hosts[1]
	l.flood(42, h0, h1)
	const nq = 3
	qs := make([]*taptest.ChannelTAP, nq)
	for i := range qs {
		qs[i] = taptest.NewChannelTAP("vxmq0", testMTU)
	}
	extra := make([]tap.Device, 0, nq-1)
	for _, q := range qs[1:] {
		extra = append(extra, q)
	}
	p, err := h0.sw.AddPort(qs[0], PortConfig{VNI: 42, Queues: extra})
	if err != nil {
		t.Fatalf("AddPort: %v", err)
	}
	if p.Queues() != nq {
		t.Fatalf("unexpected queue count:\n- want: %d\n-  got: %d", nq, p.Queues())
	}
	remote := h1.addPort("vxtap0", 42)

	// A broadcast read from any queue reaches the remote host and none of
	// the port's own queues.
	local := mac(0, 1)
	for i, q := range qs {
		q.Inbound <- arpRequest(local, overlayIP(0, 1), overlayIP(0, byte(10+i)))
		if f := waitFrame(t, remote); encap.Ethernet(f).Source() != local {
			t.Fatalf("queue %d: unexpected frame at the remote port: % x", i, f)
		}
	}
	expectIdle(t, qs...)

	// Frames from the remote host: every frame of a flow lands on one
	// queue, and 64 flows use more than one queue.
	peer := mac(1, 1)
	used := map[int]bool{}
	for flow := range 64 {
		for range 3 {
			remote.Inbound <- ipv4Frame(local, peer, overlayIP(1, 1), overlayIP(0, byte(flow)), 100)
		}
		got := -1
		deadline := time.Now().Add(waitTimeout)
		for n := 0; n < 3; {
			if time.Now().After(deadline) {
				t.Fatalf("flow %d: %d of 3 frames written within %v", flow, n, waitTimeout)
			}
			for i, q := range qs {
				select {
				case <-q.Outbound:
					if got >= 0 && got != i {
						t.Fatalf("flow %d written to queues %d and %d", flow, got, i)
					}
					got = i
					n++
				default:
				}
			}
		}
		used[got] = true
	}
	if len(used) < 2 {
		t.Errorf("unexpected queues used by 64 flows:\n- want: more than one\n-  got: %v", used)
	}

	if err := h0.sw.RemovePort("vxmq0"); err != nil {
		t.Fatalf("RemovePort: %v", err)
	}
	for i, q := range qs {
		if _, err := q.Write([][]byte{make([]byte, 64)}, 0); err == nil {
			t.Errorf("queue %d still open after RemovePort", i)
		}
	}
}

// TestPortDeliverMixedFlows: a batch that mixes flows is written frame by
// frame to each frame's own flow queue, in order within each queue, not
// all to the queue of the batch's first frame (a flow's queue must not
// depend on its neighbours: tun steers the flow's other direction by it).
func TestPortDeliverMixedFlows(t *testing.T) {
	l := newLab(t, 1, labOptions{})
	sw := l.hosts[0].sw
	const nq = 3
	qs := make([]*taptest.ChannelTAP, nq)
	extra := make([]tap.Device, 0, nq-1)
	for i := range qs {
		qs[i] = taptest.NewChannelTAP("vxmq0", testMTU)
		if i > 0 {
			extra = append(extra, qs[i])
		}
	}
	p, err := sw.AddPort(qs[0], PortConfig{VNI: 42, Queues: extra})
	if err != nil {
		t.Fatalf("AddPort: %v", err)
	}
	// 8 flows, 3 frames each, interleaved flow by flow; each frame's last
	// payload byte is its index in the batch.
	var pkts [][]byte
	want := make([][]int, nq) // batch indexes per queue, in order
	for range 3 {
		for flow := range 8 {
			f := ipv4Frame(mac(0, 1), mac(1, 1), overlayIP(1, 1), overlayIP(0, byte(flow)), 100)
			f[len(f)-1] = byte(len(pkts))
			q := int(encap.FlowHash(f) % nq)
			want[q] = append(want[q], len(pkts))
			pkts = append(pkts, append(make([]byte, PacketStartOffset), f...))
		}
	}
	used := 0
	for _, w := range want {
		if len(w) > 0 {
			used++
		}
	}
	if used < 2 {
		t.Fatalf("test flows all hash to one queue: %v", want)
	}
	p.deliver(sw, pkts)
	for i, q := range qs {
		var got []int
		for len(got) < len(want[i]) {
			select {
			case f := <-q.Outbound:
				got = append(got, int(f[len(f)-1]))
			case <-time.After(waitTimeout):
				t.Fatalf("queue %d: %d of %d frames", i, len(got), len(want[i]))
			}
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("queue %d: unexpected frames (batch indexes):\n- want: %v\n-  got: %v", i, want[i], got)
		}
	}
	expectIdle(t, qs...)
	if got := p.txPackets.Load(); got != uint64(len(pkts)) {
		t.Errorf("unexpected tx packet count:\n- want: %d\n-  got: %d", len(pkts), got)
	}
}

// TestPortQueuesName: every queue must be a device of the port's name.
func TestPortQueuesName(t *testing.T) {
	l := newLab(t, 1, labOptions{})
	a, b := taptest.NewChannelTAP("vxmq0", testMTU), taptest.NewChannelTAP("other", testMTU)
	_, err := l.hosts[0].sw.AddPort(a, PortConfig{VNI: 42, Queues: []tap.Device{b}})
	if err == nil || !strings.Contains(err.Error(), "every queue") {
		t.Fatalf("unexpected AddPort error:\n- want: every queue must be ...\n-  got: %v", err)
	}
	a.Close()
	b.Close()
}
