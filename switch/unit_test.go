package vswitch

import (
	"net/netip"
	"testing"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// unit is one switch driven by direct calls of forwardFromPort and
// forwardFromVTEP, so every effect of a frame is complete when the call
// returns: the drop tests, allocation tests, benchmarks and the fuzz
// target use it. Its ports are sinkDevs unless a test brings its own
// device; its bind is a sinkBind unless given.
type unit struct {
	tb    testing.TB
	sw    *Switch
	fdb   *fdb.Table
	bind  vtep.Bind
	ports map[string]*Port
	devs  map[string]*sinkDev
	out   *egress
	buf   []byte // receive buffer for fromVTEP, like the loop's
}

// newUnit returns a unit that is closed when the test ends. A nil bind
// means a fresh sinkBind.
func newUnit(tb testing.TB, cfg Config, fcfg fdb.Config, bind vtep.Bind) *unit {
	tb.Helper()
	if bind == nil {
		bind = newSinkBind()
	}
	table := fdb.New(fcfg)
	sw, err := New(cfg, bind, table)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { sw.Close() })
	return &unit{
		tb: tb, sw: sw, fdb: table, bind: bind,
		ports: map[string]*Port{}, devs: map[string]*sinkDev{},
		out: newEgress(sw, 8), buf: make([]byte, bufSize),
	}
}

// add attaches a sinkDev called name with testMTU to vni.
func (u *unit) add(name string, vni uint32, macs ...encap.MAC) *Port {
	u.tb.Helper()
	d := newSinkDev(name, testMTU)
	u.devs[name] = d
	return u.addDev(d, vni, macs...)
}

// addDev attaches dev to vni.
func (u *unit) addDev(dev tap.Device, vni uint32, macs ...encap.MAC) *Port {
	u.tb.Helper()
	p, err := u.sw.AddPort(dev, PortConfig{VNI: vni, LocalMACs: macs})
	if err != nil {
		u.tb.Fatalf("AddPort %s: %v", dev.Name(), err)
	}
	u.ports[dev.Name()] = p
	return p
}

// fromPort forwards frame as if port name had read it.
func (u *unit) fromPort(name string, frame []byte) {
	u.tb.Helper()
	p, ok := u.ports[name]
	if !ok {
		u.tb.Fatalf("no port %s", name)
	}
	u.sw.forwardFromPort(p, withHeadroom(frame), u.out)
	u.out.flush()
	u.out.resetBatch() // each call is a batch of its own, as in the loops
}

// fromVTEP forwards the UDP payload pkt as if it came from src.
func (u *unit) fromVTEP(src netip.Addr, pkt []byte) {
	n := copy(u.buf, pkt)
	u.sw.forwardFromVTEP(u.buf[:n], src, u.out)
	u.out.flush()
	u.out.resetBatch()
}

// delivered returns the frames each sinkDev port received.
func (u *unit) delivered() map[string]uint64 {
	m := map[string]uint64{}
	for name, d := range u.devs {
		if n := d.frames.Load(); n > 0 {
			m[name] = n
		}
	}
	return m
}

// TestLookupMemo checks the per-batch FDB lookup memo: a hit is reused
// within the batch, a miss is not remembered, a learn in the batch forgets
// the memo, and the next batch sees the table as it is.
func TestLookupMemo(t *testing.T) {
	u := newUnit(t, DefaultConfig(), fdb.Config{}, nil)
	const vni = 10
	x := encap.MustParseMAC("02:00:5e:00:53:0a")
	y := encap.MustParseMAC("02:00:5e:00:53:0b")
	r1 := fdb.Dest{Remote: netip.MustParseAddr("192.0.2.1")}
	r2 := fdb.Dest{Remote: netip.MustParseAddr("192.0.2.2")}
	set := func(mac encap.MAC, d fdb.Dest) {
		t.Helper()
		if err := u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: vni, MAC: mac}, Dest: d, Origin: fdb.OriginStatic}); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	check := func(step string, mac encap.MAC, want fdb.Dest, wantOK bool) {
		t.Helper()
		if d, ok := u.sw.lookup(u.out, vni, mac); d != want || ok != wantOK {
			t.Errorf("%s: lookup(%v) = %v, %v; want %v, %v", step, mac, d, ok, want, wantOK)
		}
	}
	out := u.out
	set(x, r1)
	check("first lookup", x, r1, true)
	set(x, r2)
	check("same batch after the table changed", x, r1, true)
	out.resetBatch()
	check("next batch", x, r2, true)

	check("miss", y, fdb.Dest{}, false)
	set(y, r1)
	check("after a miss, in the same batch", y, r1, true)

	check("x again", x, r2, true) // memo: x at r2
	set(x, r1)
	u.sw.learn(out, vni, encap.MustParseMAC("02:00:5e:00:53:0c"), r2)
	check("after a learn in the same batch", x, r1, true)
}

// TestBatchMemosFollowChanges checks the per-batch memos of the receive
// path against the state they stand for: the source filter is asked again
// for every refused packet and, from the next batch on, for a source it
// accepted before; a port removed between batches is not delivered to.
func TestBatchMemosFollowChanges(t *testing.T) {
	peerA, peerX := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.99")
	accepted, asked := peerA, 0
	cfg := Config{SourceFilter: func(a netip.Addr) bool { asked++; return a == accepted }}
	u := newUnit(t, cfg, fdb.Config{}, nil)
	u.add("a", 42, mac(0, 1))
	u.add("b", 42, mac(0, 2))
	pkt := vxlanPacket(42, ipv4Frame(mac(0, 2), mac(7, 1), overlayIP(0, 2), overlayIP(0, 1), 200))
	batch := func(srcs ...netip.Addr) {
		for _, src := range srcs {
			u.sw.forwardFromVTEP(pkt, src, u.out)
		}
		u.out.flush()
		u.out.resetBatch()
	}

	batch(peerA, peerX, peerA, peerX, peerA)
	if got, want := u.devs["b"].frames.Load(), uint64(3); got != want {
		t.Fatalf("first batch: %d frames delivered, want %d", got, want)
	}
	// A asked once, X once per packet (refusals are never remembered).
	if asked != 3 {
		t.Errorf("first batch: filter asked %d times, want 3", asked)
	}
	checkDrops(t, u.sw, map[DropReason]uint64{DropNotMember: 2})

	accepted = peerX // A leaves, X joins
	batch(peerA, peerX, peerX)
	if got, want := u.devs["b"].frames.Load(), uint64(5); got != want {
		t.Errorf("second batch: %d frames delivered in all, want %d", got, want)
	}
	checkDrops(t, u.sw, map[DropReason]uint64{DropNotMember: 3})

	// Remove b with the loop's memos full (no batch end in between): the
	// next frame for b's MAC is flooded to a instead.
	u.sw.forwardFromVTEP(pkt, peerX, u.out)
	u.out.flush()
	if err := u.sw.RemovePort("b"); err != nil {
		t.Fatal(err)
	}
	u.sw.forwardFromVTEP(pkt, peerX, u.out)
	u.out.flush()
	if got, want := u.devs["b"].frames.Load(), uint64(6); got != want {
		t.Errorf("after RemovePort: b got %d frames in all, want %d", got, want)
	}
	if got, want := u.devs["a"].frames.Load(), uint64(1); got != want {
		t.Errorf("after RemovePort: a got %d frames, want %d (the flood)", got, want)
	}
}
