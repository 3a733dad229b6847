package vswitch

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
)

// threeHosts builds the lab most forwarding tests share:
//
//	host0 192.0.2.1: p0a (VNI 42, learns its MACs), p0b (VNI 42, local MAC 00:02),
//	                 p0x (VNI 43)
//	host1 192.0.2.2: p1a (VNI 42), p1x (VNI 43)
//	host2 192.0.2.3: p2a (VNI 42)
//
// VNI 42 floods between all three hosts, VNI 43 between host0 and host1.
func threeHosts(t *testing.T) *lab {
	l := newLab(t, 3, labOptions{})
	h0, h1, h2 := l.hosts[0], l.hosts[1], l.hosts[2]
	h0.addPort("p0a", 42)
	h0.addPort("p0b", 42, mac(0, 2))
	h0.addPort("p0x", 43)
	h1.addPort("p1a", 42)
	h1.addPort("p1x", 43)
	h2.addPort("p2a", 42)
	l.flood(42, h0, h1, h2)
	l.flood(43, h0, h1)
	return l
}

// allPorts returns every port of the lab by name.
func (l *lab) allPorts() map[string]*taptest.ChannelTAP {
	m := map[string]*taptest.ChannelTAP{}
	for _, h := range l.hosts {
		for n, d := range h.ports {
			m[n] = d
		}
	}
	return m
}

// sentTotal returns the datagrams every bind of the lab has sent.
func (l *lab) sentTotal() uint64 {
	var n uint64
	for _, h := range l.hosts {
		n += h.bind.Sent()
	}
	return n
}

// step is one frame injected into a lab and where it must come out.
type step struct {
	name  string
	host  int
	port  string
	frame []byte
	// want is how many copies of frame each port receives; every other
	// port (the ingress port and all ports of other VNIs included) must
	// receive nothing.
	want map[string]int
	// wantSent is how many VXLAN datagrams the whole lab sends for frame
	// (head-end replication copies; receivers never send).
	wantSent uint64
}

// runSteps injects each step's frame, waits until it is fully forwarded
// (lab.sync) and compares where copies came out with want.
func runSteps(t *testing.T, l *lab, steps []step) {
	t.Helper()
	ports := l.allPorts()
	for _, st := range steps {
		h := l.hosts[st.host]
		p, _ := h.sw.Port(st.port)
		vni := p.VNI()
		var observed []*taptest.ChannelTAP
		for name, d := range ports {
			if name == st.port {
				continue
			}
			for _, hh := range l.hosts {
				if q, ok := hh.sw.Port(name); ok && q.VNI() == vni {
					observed = append(observed, d)
				}
			}
		}
		// The barrier is flooded too: one datagram per flood-list member.
		barrierSends := uint64(len(h.fdb.Flood(vni)))
		sentBefore := l.sentTotal()

		h.inject(st.port, st.frame)
		got := l.sync(h, st.port, observed...)
		var idle []*taptest.ChannelTAP
		for name, d := range ports {
			if _, obs := got[name]; !obs {
				idle = append(idle, d)
			}
		}

		gotCount := map[string]int{}
		for name, frames := range got {
			for _, f := range frames {
				if !bytes.Equal(f, st.frame) {
					t.Errorf("%s: port %s: unexpected frame:\n- want: %x\n-  got: %x", st.name, name, st.frame, f)
				}
				gotCount[name]++
			}
		}
		want := st.want
		if want == nil {
			want = map[string]int{}
		}
		if diff := cmp.Diff(want, gotCount); diff != "" {
			t.Errorf("%s: unexpected copies per port (-want +got):\n%s", st.name, diff)
		}
		for _, d := range idle {
			if _, wanted := want[d.Name()]; !wanted {
				expectIdle(t, d)
			}
		}
		if got := l.sentTotal() - sentBefore - barrierSends; got != st.wantSent {
			t.Errorf("%s: unexpected VXLAN datagrams sent:\n- want: %d\n-  got: %d", st.name, st.wantSent, got)
		}
	}
}

// TestForward walks frames through three hosts: flooding with head-end
// replication, unknown unicast, known unicast to a local port and to a
// remote VTEP (decapsulated to the right port), multicast, and the same
// MACs in two VNIs without any leak between them.
func TestForward(t *testing.T) {
	l := threeHosts(t)
	ipA, ipB, ipC := overlayIP(0, 1), overlayIP(1, 1), overlayIP(2, 1)
	steps := []step{
		{
			name: "broadcast ARP floods to the other local port and every flood-list VTEP",
			host: 0, port: "p0a",
			frame: arpRequest(mac(0, 1), ipA, ipB),
			want:  map[string]int{"p0b": 1, "p1a": 1, "p2a": 1}, wantSent: 2,
		},
		{
			name: "broadcast from a remote host is decapsulated to every local port, never relayed",
			host: 1, port: "p1a",
			frame: arpRequest(mac(1, 1), ipB, ipA),
			want:  map[string]int{"p0a": 1, "p0b": 1, "p2a": 1}, wantSent: 2,
		},
		{
			name: "unknown unicast floods",
			host: 0, port: "p0a",
			frame: ipv4Frame(mac(9, 9), mac(0, 1), ipA, ipC, 100),
			want:  map[string]int{"p0b": 1, "p1a": 1, "p2a": 1}, wantSent: 2,
		},
		{
			name: "multicast floods",
			host: 2, port: "p2a",
			frame: ipv4Frame(encap.MAC{0x01, 0x00, 0x5e, 0, 0, 1}, mac(2, 1), ipC, netip.MustParseAddr("224.0.0.1"), 80),
			want:  map[string]int{"p0a": 1, "p0b": 1, "p1a": 1}, wantSent: 2,
		},
		{
			name: "known unicast to a local MAC goes to its port only",
			host: 0, port: "p0a",
			frame: ipv4Frame(mac(0, 2), mac(0, 1), ipA, overlayIP(0, 2), 200),
			want:  map[string]int{"p0b": 1},
		},
		{
			name: "known unicast to a MAC learned behind a VTEP goes to that VTEP only",
			host: 0, port: "p0a",
			frame: ipv4Frame(mac(1, 1), mac(0, 1), ipA, ipB, 1400),
			want:  map[string]int{"p1a": 1}, wantSent: 1,
		},
		{
			name: "the reply is decapsulated to the port the MAC was learned on",
			host: 1, port: "p1a",
			frame: ipv4Frame(mac(0, 1), mac(1, 1), ipB, ipA, 1400),
			want:  map[string]int{"p0a": 1}, wantSent: 1,
		},
		{
			name: "a port's learned MAC is reached from the third host",
			host: 2, port: "p2a",
			frame: ipv4Frame(mac(1, 1), mac(2, 1), ipC, ipB, 64),
			want:  map[string]int{"p1a": 1}, wantSent: 1,
		},
		{
			name: "VNI 43 broadcast with a MAC also used in VNI 42 stays in VNI 43",
			host: 0, port: "p0x",
			frame: arpRequest(mac(0, 1), ipA, ipB),
			want:  map[string]int{"p1x": 1}, wantSent: 1,
		},
		{
			name: "VNI 43 broadcast from host1 with a MAC also used in VNI 42 stays in VNI 43",
			host: 1, port: "p1x",
			frame: arpRequest(mac(1, 1), ipB, ipA),
			want:  map[string]int{"p0x": 1}, wantSent: 1,
		},
		{
			name: "VNI 43 unicast to a MAC known in both VNIs reaches the VNI 43 port",
			host: 1, port: "p1x",
			frame: ipv4Frame(mac(0, 1), mac(1, 1), ipB, ipA, 300),
			want:  map[string]int{"p0x": 1}, wantSent: 1,
		},
		{
			name: "VNI 42 unicast to the same MAC still reaches the VNI 42 port",
			host: 1, port: "p1a",
			frame: ipv4Frame(mac(0, 1), mac(1, 1), ipB, ipA, 300),
			want:  map[string]int{"p0a": 1}, wantSent: 1,
		},
		{
			name: "VNI 43 unknown unicast floods in VNI 43 only",
			host: 0, port: "p0x",
			frame: ipv4Frame(mac(2, 1), mac(0, 1), ipA, ipC, 64),
			want:  map[string]int{"p1x": 1}, wantSent: 1,
		},
	}
	runSteps(t, l, steps)

	// What the hosts learned: the MACs per VNI, behind ports on ingress and
	// behind the outer source address on receive.
	portID := func(h *host, name string) uint32 { p, _ := h.sw.Port(name); return p.ID() }
	h0, h1, h2 := l.hosts[0], l.hosts[1], l.hosts[2]
	entries := []struct {
		h      *host
		vni    uint32
		mac    encap.MAC
		want   fdb.Dest
		origin fdb.Origin
	}{
		{h0, 42, mac(0, 1), fdb.Dest{Port: portID(h0, "p0a")}, fdb.OriginLearned},
		{h0, 42, mac(0, 2), fdb.Dest{Port: portID(h0, "p0b")}, fdb.OriginLocal},
		{h0, 42, mac(1, 1), fdb.Dest{Remote: h1.addr}, fdb.OriginLearned},
		{h0, 42, mac(2, 1), fdb.Dest{Remote: h2.addr}, fdb.OriginLearned},
		{h0, 43, mac(0, 1), fdb.Dest{Port: portID(h0, "p0x")}, fdb.OriginLearned},
		{h0, 43, mac(1, 1), fdb.Dest{Remote: h1.addr}, fdb.OriginLearned},
		{h1, 42, mac(0, 1), fdb.Dest{Remote: h0.addr}, fdb.OriginLearned},
		{h1, 42, mac(1, 1), fdb.Dest{Port: portID(h1, "p1a")}, fdb.OriginLearned},
		{h1, 43, mac(0, 1), fdb.Dest{Remote: h0.addr}, fdb.OriginLearned},
		{h1, 43, mac(1, 1), fdb.Dest{Port: portID(h1, "p1x")}, fdb.OriginLearned},
		{h2, 42, mac(1, 1), fdb.Dest{Remote: h1.addr}, fdb.OriginLearned},
		{h2, 42, mac(2, 1), fdb.Dest{Port: portID(h2, "p2a")}, fdb.OriginLearned},
	}
	for _, e := range entries {
		got, ok := e.h.fdb.Get(e.vni, e.mac)
		if !ok {
			t.Errorf("host %d: %d/%s not in the FDB", e.h.i, e.vni, e.mac)
			continue
		}
		if got.Dest != e.want || got.Origin != e.origin {
			t.Errorf("host %d: unexpected entry for %d/%s:\n- want: %v %v\n-  got: %v %v", e.h.i, e.vni, e.mac, e.want, e.origin, got.Dest, got.Origin)
		}
	}
	// Host 2 serves no VNI 43: nothing was learned there.
	if got := h2.fdb.Entries(43, false); len(got) != 0 {
		t.Errorf("unexpected VNI 43 entries on host 2:\n- want: none\n-  got: %v", got)
	}
	// Nothing was dropped anywhere.
	for _, h := range l.hosts {
		checkDrops(t, h.sw, nil)
	}
}

// TestForwardBatch pushes bursts through ports that read in batches, so the
// egress batching (one Write or Send per run of frames to one destination)
// is exercised, and checks order and completeness.
func TestForwardBatch(t *testing.T) {
	l := newLab(t, 2, labOptions{})
	h0, h1 := l.hosts[0], l.hosts[1]
	a := taptest.NewChannelTAPBatch("bat0", testMTU, 16)
	b := taptest.NewChannelTAPBatch("bat1", testMTU, 16)
	r := taptest.NewChannelTAPBatch("bat2", testMTU, 16)
	for _, x := range []struct {
		h   *host
		dev *taptest.ChannelTAP
		mac encap.MAC
	}{{h0, a, mac(0, 1)}, {h0, b, mac(0, 2)}, {h1, r, mac(1, 1)}} {
		if _, err := x.h.sw.AddPort(x.dev, PortConfig{VNI: 7, LocalMACs: []encap.MAC{x.mac}}); err != nil {
			t.Fatal(err)
		}
		x.h.ports[x.dev.Name()] = x.dev
	}
	h0.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 7, MAC: mac(1, 1)}, Dest: fdb.Dest{Remote: h1.addr}, Origin: fdb.OriginStatic})
	l.flood(7, h0, h1)

	// Interleave runs to the local port and to the remote VTEP.
	const n = 200
	var wantB, wantR [][]byte
	for i := range n {
		dst, want := mac(0, 2), &wantB
		if (i/3)%2 == 1 {
			dst, want = mac(1, 1), &wantR
		}
		f := ipv4Frame(dst, mac(0, 1), overlayIP(0, 1), overlayIP(0, byte(i)), 60+i)
		*want = append(*want, f)
		a.Inbound <- f
	}
	got := l.sync(h0, "bat0", b, r)
	if diff := cmp.Diff(wantB, got["bat1"]); diff != "" {
		t.Errorf("unexpected frames on the local port (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantR, got["bat2"]); diff != "" {
		t.Errorf("unexpected frames on the remote port (-want +got):\n%s", diff)
	}
	expectIdle(t, a)
}

// TestLearningMoves checks that a learned MAC follows the station between
// ports and VTEPs, and that a static entry is never moved by traffic.
func TestLearningMoves(t *testing.T) {
	l := newLab(t, 2, labOptions{})
	h0, h1 := l.hosts[0], l.hosts[1]
	h0.addPort("m0a", 5)
	h0.addPort("m0b", 5)
	h1.addPort("m1a", 5)
	l.flood(5, h0, h1)
	portID := func(h *host, name string) uint32 { p, _ := h.sw.Port(name); return p.ID() }

	mover, pinned := mac(7, 1), mac(7, 2)
	if err := h0.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 5, MAC: pinned}, Dest: fdb.Dest{Port: portID(h0, "m0b")}, Origin: fdb.OriginStatic}); err != nil {
		t.Fatal(err)
	}
	if err := h1.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 5, MAC: pinned}, Dest: fdb.Dest{Remote: h0.addr}, Origin: fdb.OriginStatic}); err != nil {
		t.Fatal(err)
	}
	type want struct {
		h      *host
		mac    encap.MAC
		dest   fdb.Dest
		origin fdb.Origin
	}
	tests := []struct {
		name       string
		host       *host
		port       string
		src        encap.MAC
		wantMoves0 uint64 // cumulative fdb moves on host0
		wantMoves1 uint64
		want       []want
	}{
		{
			name: "first seen on m0a", host: h0, port: "m0a", src: mover,
			want: []want{
				{h0, mover, fdb.Dest{Port: portID(h0, "m0a")}, fdb.OriginLearned},
				{h1, mover, fdb.Dest{Remote: h0.addr}, fdb.OriginLearned},
			},
		},
		{
			name: "moves to host1", host: h1, port: "m1a", src: mover, wantMoves0: 1, wantMoves1: 1,
			want: []want{
				{h0, mover, fdb.Dest{Remote: h1.addr}, fdb.OriginLearned},
				{h1, mover, fdb.Dest{Port: portID(h1, "m1a")}, fdb.OriginLearned},
			},
		},
		{
			name: "moves back to host0 on another port", host: h0, port: "m0b", src: mover, wantMoves0: 2, wantMoves1: 2,
			want: []want{
				{h0, mover, fdb.Dest{Port: portID(h0, "m0b")}, fdb.OriginLearned},
				{h1, mover, fdb.Dest{Remote: h0.addr}, fdb.OriginLearned},
			},
		},
		{
			name: "static entry ignores traffic from another local port", host: h0, port: "m0a", src: pinned, wantMoves0: 2, wantMoves1: 2,
			want: []want{
				{h0, pinned, fdb.Dest{Port: portID(h0, "m0b")}, fdb.OriginStatic},
				{h1, pinned, fdb.Dest{Remote: h0.addr}, fdb.OriginStatic},
			},
		},
		{
			name: "static entries ignore traffic from a remote VTEP", host: h1, port: "m1a", src: pinned, wantMoves0: 2, wantMoves1: 2,
			want: []want{
				{h0, pinned, fdb.Dest{Port: portID(h0, "m0b")}, fdb.OriginStatic},
				{h1, pinned, fdb.Dest{Remote: h0.addr}, fdb.OriginStatic},
			},
		},
	}
	all := []*taptest.ChannelTAP{h0.port("m0a"), h0.port("m0b"), h1.port("m1a")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.host.inject(tt.port, arpRequest(tt.src, overlayIP(7, 1), overlayIP(7, 2)))
			var observed []*taptest.ChannelTAP
			for _, d := range all {
				if d.Name() != tt.port {
					observed = append(observed, d)
				}
			}
			l.sync(tt.host, tt.port, observed...)
			for _, w := range tt.want {
				got, ok := w.h.fdb.Get(5, w.mac)
				if !ok || got.Dest != w.dest || got.Origin != w.origin {
					t.Errorf("host %d: unexpected entry for %s:\n- want: %v %v\n-  got: %v %v (present %v)", w.h.i, w.mac, w.dest, w.origin, got.Dest, got.Origin, ok)
				}
			}
			if got := h0.fdb.Stats().Moves; got != tt.wantMoves0 {
				t.Errorf("unexpected moves on host0:\n- want: %d\n-  got: %d", tt.wantMoves0, got)
			}
			if got := h1.fdb.Stats().Moves; got != tt.wantMoves1 {
				t.Errorf("unexpected moves on host1:\n- want: %d\n-  got: %d", tt.wantMoves1, got)
			}
		})
	}
}

// TestNoLearning checks that Config.NoLearning learns nothing on either
// path while still flooding.
func TestNoLearning(t *testing.T) {
	l := newLab(t, 2, labOptions{sw: Config{NoLearning: true}})
	h0, h1 := l.hosts[0], l.hosts[1]
	h0.addPort("n0a", 9)
	h0.addPort("n0b", 9)
	h1.addPort("n1a", 9)
	l.flood(9, h0, h1)
	f := arpRequest(mac(3, 3), overlayIP(3, 3), overlayIP(3, 4))
	h0.inject("n0a", f)
	got := l.sync(h0, "n0a", h0.port("n0b"), h1.port("n1a"))
	want := map[string][][]byte{"n0b": {f}, "n1a": {f}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected flood (-want +got):\n%s", diff)
	}
	for _, h := range l.hosts {
		if n := h.fdb.Len(); n != 0 {
			t.Errorf("host %d: unexpected FDB size:\n- want: 0\n-  got: %d", h.i, n)
		}
	}
}
