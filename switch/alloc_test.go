package vswitch

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
)

// forwardCase is one hot path, prepared on a unit switch: run forwards one
// frame (and flushes), exactly as the loops do.
type forwardCase struct {
	name string
	run  func()
	pkt  []byte // what run forwards, for b.SetBytes
}

// forwardCases prepares a unit with ports a (00:01), b (00:02), c (00:03)
// in VNI 42, a static entry 09:01 behind 192.0.2.2, a flood list of two
// VTEPs, and returns port->port, port->VTEP, port flood, VTEP->port and
// VTEP flood cases for frames of size bytes. Learning has already happened,
// so every case is in its steady state.
func forwardCases(tb testing.TB, size int) (*unit, []forwardCase) {
	u := newUnit(tb, Config{}, fdb.Config{}, nil)
	pa := u.add("a", 42, mac(0, 1))
	u.add("b", 42, mac(0, 2))
	u.add("c", 42, mac(0, 3))
	remote, other := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: mac(9, 1)}, Dest: fdb.Dest{Remote: remote}, Origin: fdb.OriginStatic})
	u.fdb.SetFlood(42, []netip.Addr{remote, other})
	ipA, ipB := overlayIP(0, 1), overlayIP(0, 2)
	src := mac(5, 1) // learned behind a, and behind remote in VTEP cases

	fromPort := func(frame []byte) ([]byte, func()) {
		pkt := withHeadroom(frame)
		return pkt, func() { u.sw.forwardFromPort(pa, pkt, u.out); u.out.flush() }
	}
	fromVTEP := func(frame []byte) ([]byte, func()) {
		pkt := vxlanPacket(42, frame)
		return pkt, func() { u.sw.forwardFromVTEP(pkt, remote, u.out); u.out.flush() }
	}
	var cases []forwardCase
	add := func(name string, pkt []byte, run func()) {
		run() // warm up: learn, grow nothing later
		cases = append(cases, forwardCase{name: name, run: run, pkt: pkt})
	}
	pkt, run := fromPort(ipv4Frame(mac(0, 2), src, ipA, ipB, size))
	add("port/unicast-to-port", pkt, run)
	pkt, run = fromPort(ipv4Frame(mac(9, 1), mac(5, 2), ipA, ipB, size))
	add("port/unicast-to-vtep", pkt, run)
	pkt, run = fromPort(ipv4Frame(encap.BroadcastMAC, mac(5, 3), ipA, ipB, size))
	add("port/flood", pkt, run)
	pkt, run = fromVTEP(ipv4Frame(mac(0, 2), mac(7, 1), ipB, ipA, size))
	add("vtep/unicast-to-port", pkt, run)
	pkt, run = fromVTEP(ipv4Frame(encap.BroadcastMAC, mac(7, 2), ipB, ipA, size))
	add("vtep/flood", pkt, run)
	return u, cases
}

// TestAllocsForward asserts that forwarding a frame allocates nothing on
// every hot path, for unicast and flood, in both directions, and that the
// measured calls really forwarded (nothing dropped, every destination
// reached once per call).
func TestAllocsForward(t *testing.T) {
	const runs = 1000
	for _, size := range []int{64, 1400} {
		u, cases := forwardCases(t, size)
		bind := u.bind.(*sinkBind)
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%d", c.name, size), func(t *testing.T) {
				before := map[string]uint64{"a": u.devs["a"].frames.Load(), "b": u.devs["b"].frames.Load(), "c": u.devs["c"].frames.Load()}
				sent := bind.count.Load()
				if got := testing.AllocsPerRun(runs, c.run); got != 0 {
					t.Errorf("unexpected allocations per frame:\n- want: 0\n-  got: %v", got)
				}
				got := map[string]uint64{"sent": bind.count.Load() - sent}
				for name, n := range before {
					got[name] = u.devs[name].frames.Load() - n
				}
				// AllocsPerRun makes one warm-up call before the runs.
				per := map[string]map[string]uint64{
					"port/unicast-to-port": {"b": 1},
					"port/unicast-to-vtep": {"sent": 1},
					"port/flood":           {"b": 1, "c": 1, "sent": 2},
					"vtep/unicast-to-port": {"b": 1},
					"vtep/flood":           {"a": 1, "b": 1, "c": 1},
				}[c.name]
				want := map[string]uint64{"a": 0, "b": 0, "c": 0, "sent": 0}
				for k, v := range per {
					want[k] = v * (runs + 1)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("unexpected deliveries (-want +got):\n%s", diff)
				}
				checkDrops(t, u.sw, nil)
			})
		}
	}
}

func benchmarkForward(b *testing.B, prefix string) {
	for _, size := range []int{64, 1400} {
		_, cases := forwardCases(b, size)
		for _, c := range cases {
			if len(c.name) < len(prefix) || c.name[:len(prefix)] != prefix {
				continue
			}
			b.Run(fmt.Sprintf("%s/%d", c.name[len(prefix):], size), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					c.run()
				}
			})
		}
	}
}

// BenchmarkForwardFromPort measures forwardFromPort (and the egress flush)
// per frame for unicast to a port, unicast to a VTEP and flood.
func BenchmarkForwardFromPort(b *testing.B) { benchmarkForward(b, "port/") }

// BenchmarkForwardFromVTEP measures forwardFromVTEP (decap, learn, deliver)
// per frame for unicast and flood.
func BenchmarkForwardFromVTEP(b *testing.B) { benchmarkForward(b, "vtep/") }

// BenchmarkForwardBatch measures the loops' per-batch shape: a batch of
// 44 frames of one TCP flow (a TSO super-frame split, or a GRO train)
// switched frame by frame, then one flush and the end of the batch. The
// VTEP direction runs with a SourceFilter that looks the sender up in a
// map keyed by netip.Addr, as the daemon's gossip membership does.
func BenchmarkForwardBatch(b *testing.B) {
	const frames, size = 44, 1500
	members := map[netip.Addr]struct{}{netip.MustParseAddr("192.0.2.2"): {}}
	cfg := Config{SourceFilter: func(a netip.Addr) bool { _, ok := members[a]; return ok }}
	u := newUnit(b, cfg, fdb.Config{}, nil)
	pa := u.add("a", 42, mac(0, 1))
	u.add("b", 42, mac(0, 2))
	remote := netip.MustParseAddr("192.0.2.2")
	u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: mac(9, 1)}, Dest: fdb.Dest{Remote: remote}, Origin: fdb.OriginStatic})
	ipA, ipB := overlayIP(0, 1), overlayIP(0, 2)
	toVTEP := make([][]byte, frames)
	fromVTEP := make([][]byte, frames)
	for i := range frames {
		toVTEP[i] = withHeadroom(ipv4Frame(mac(9, 1), mac(5, 1), ipA, ipB, size))
		fromVTEP[i] = vxlanPacket(42, ipv4Frame(mac(0, 2), mac(7, 1), ipB, ipA, size))
	}
	bind, dev := u.bind.(*sinkBind), u.devs["b"]
	for _, c := range []struct {
		name string
		run  func()
		sent func() uint64
	}{
		{"port-to-vtep", func() {
			for _, pkt := range toVTEP {
				u.sw.forwardFromPort(pa, pkt, u.out)
			}
			u.out.flush()
			u.out.resetBatch()
		}, bind.count.Load},
		{"vtep-to-port", func() {
			for _, pkt := range fromVTEP {
				u.sw.forwardFromVTEP(pkt, remote, u.out)
			}
			u.out.flush()
			u.out.resetBatch()
		}, dev.frames.Load},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(frames * size)
			before := c.sent()
			n := uint64(0)
			for b.Loop() {
				c.run()
				n++
			}
			if got := c.sent() - before; got != n*frames {
				b.Fatalf("%d frames delivered, want %d", got, n*frames)
			}
		})
	}
}
