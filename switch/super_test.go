package vswitch

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/capture"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// superSpec describes a TSO super-frame for superFrame.
type superSpec struct {
	dst, src encap.MAC
	v6       bool
	opts     int // TCP option bytes (a multiple of 4)
	mss      int
	payload  int // bytes of TCP payload
	flags    uint8
	seed     uint64
}

// superFrame builds a TSO super-frame the way the kernel hands one to an
// offload TAP: full headers, all the payload, the pseudo-header sum in the
// TCP checksum field, and the virtio-net header that describes it.
func superFrame(s superSpec) ([]byte, encap.VirtioNetHdrFields) {
	ipLen := 20
	if s.v6 {
		ipLen = encap.IPv6HeaderLen
	}
	tcpLen := encap.TCPMinimumSize + s.opts
	l4 := encap.EthernetHeaderLen + ipLen
	hdrLen := l4 + tcpLen
	b := make([]byte, hdrLen+s.payload)
	r := rand.New(rand.NewPCG(s.seed, 1))
	for i := hdrLen; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	for i := l4 + encap.TCPMinimumSize; i < hdrLen; i++ {
		b[i] = 1 // TCP NOPs
	}
	var src, dst netip.Addr
	typ, gso := encap.EtherTypeIPv4, encap.VirtioNetHdrGSOTCPv4
	if s.v6 {
		typ, gso = encap.EtherTypeIPv6, encap.VirtioNetHdrGSOTCPv6
		src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		ip := b[encap.EthernetHeaderLen:]
		ip[0] = 6 << 4
		binary.BigEndian.PutUint16(ip[4:], uint16(tcpLen+s.payload))
		ip[6], ip[7] = encap.ProtocolTCP, 64
		a, d := src.As16(), dst.As16()
		copy(ip[8:], a[:])
		copy(ip[24:], d[:])
	} else {
		src, dst = overlayIP(0, 1), overlayIP(0, 2)
		ip := encap.IPv4(b[encap.EthernetHeaderLen:])
		ip.Encode(&encap.IPv4Fields{TotalLength: uint16(ipLen + tcpLen + s.payload), ID: uint16(r.Uint32()), Flags: 2, TTL: 64, Protocol: encap.ProtocolTCP, Src: src, Dst: dst})
		ip.SetChecksum(ip.CalculateChecksum())
	}
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: s.dst, Src: s.src, Type: typ})
	tcp := encap.TCP(b[l4:])
	tcp.Encode(&encap.TCPFields{SrcPort: 40000, DstPort: 5201, SeqNum: r.Uint32(), AckNum: r.Uint32(), DataOffset: uint8(tcpLen), Flags: s.flags, WindowSize: 512})
	sum := encap.PseudoHeaderChecksum(encap.ProtocolTCP, src, dst, uint32(tcpLen+s.payload))
	tcp.SetChecksum(encap.Checksum(nil, sum)) // folded, not complemented: what the kernel leaves
	h := encap.VirtioNetHdrFields{Flags: encap.VirtioNetHdrFNeedsCsum, GSOType: gso, HdrLen: uint16(hdrLen),
		GSOSize: uint16(s.mss), CsumStart: uint16(l4), CsumOffset: 16}
	return b, h
}

// superDev is a tap.Device and tap.SuperReader fed by the test: Read and
// ReadSuper hand out what was queued with push, without waiting (0 frames
// when nothing is queued). ReadSuper hands a super-frame over whole; Read
// splits it, as a TAP with offloads does. It is driven by direct readPort
// calls, never attached as a port (its Read would spin a reader).
type superDev struct {
	name  string
	queue []superItem
	next  int // segments of queue[0] already handed out by Read
}

type superItem struct {
	frame []byte
	hdr   encap.VirtioNetHdrFields
}

var (
	_ tap.Device      = (*superDev)(nil)
	_ tap.SuperReader = (*superDev)(nil)
)

func (d *superDev) push(frame []byte, h encap.VirtioNetHdrFields) {
	d.queue = append(d.queue, superItem{frame, h})
}

func (d *superDev) Name() string                     { return d.name }
func (d *superDev) MTU() int                         { return testMTU }
func (d *superDev) BatchSize() int                   { return tap.OffloadBatchSize }
func (d *superDev) Write([][]byte, int) (int, error) { return 0, errInjected }
func (d *superDev) Close() error                     { return nil }

func (d *superDev) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(d.queue) == 0 {
		return 0, nil
	}
	it := d.queue[0]
	n, err := encap.SegmentRange(it.frame, it.hdr, d.next, bufs, sizes, offset)
	d.next += n
	if nseg, _ := encap.SegmentCount(it.frame, it.hdr); d.next >= nseg || err != nil {
		d.queue, d.next = d.queue[1:], 0
	}
	return n, err
}

func (d *superDev) ReadSuper(bufs [][]byte, sizes []int, offset int, s *tap.Super) (int, error) {
	*s = tap.Super{}
	if len(d.queue) > 0 && d.next == 0 {
		if nseg, err := encap.SegmentCount(d.queue[0].frame, d.queue[0].hdr); err == nil && nseg > 1 {
			s.Hdr, s.Frame = d.queue[0].hdr, d.queue[0].frame
			d.queue = d.queue[1:]
			return 0, nil
		}
	}
	return d.Read(bufs, sizes, offset)
}

// recordBind is a sinkBind and vtep.GatherSender that records every
// datagram sent, joined, with its destination, and counts the calls of
// Send and SendGather.
type recordBind struct {
	*sinkBind
	mu          sync.Mutex
	dgrams      []sentDatagram
	sends       int
	gatherSends int
}

type sentDatagram struct {
	Dst  string // netip.AddrPort.String
	Data []byte
}

var _ vtep.GatherSender = (*recordBind)(nil)

func newRecordBind() *recordBind { return &recordBind{sinkBind: newSinkBind()} }

func (b *recordBind) Send(bufs [][]byte, dst netip.AddrPort) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sends++
	for _, p := range bufs {
		b.dgrams = append(b.dgrams, sentDatagram{dst.String(), bytes.Clone(p)})
	}
	return nil
}

func (b *recordBind) SendGather(heads, tails [][]byte, dst netip.AddrPort) error {
	if len(heads) != len(tails) {
		return fmt.Errorf("%d heads, %d tails", len(heads), len(tails))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gatherSends++
	for i := range heads {
		b.dgrams = append(b.dgrams, sentDatagram{dst.String(), append(bytes.Clone(heads[i]), tails[i]...)})
	}
	return nil
}

// superRun is what one switch did with a sequence of super-frames.
type superRun struct {
	Dgrams                []sentDatagram
	Sends, GatherSends    int
	Gathered              uint64 // Stats.GatheredSegments
	Delivered             uint64 // frames written to local port b
	RxPackets, RxBytes    uint64 // counted on port a
	TxPackets, TxBytes    uint64 // counted for VNI 42 towards the underlay
	Drops                 map[string]uint64
	Captured              int // frames a running capture recorded at UnderlayOut
	CapturedBytesMismatch int // of those, how many differ from the datagram sent
}

// runSuper forwards frames, read from port a of a unit switch (VNI 42,
// local port b with 00:02, 09:01 behind 192.0.2.2, flood list 192.0.2.2
// and 192.0.2.3), through readPort as the loops do, and returns what it
// did. With capture, a capture runs meanwhile.
func runSuper(t *testing.T, cfg Config, frames []superItem, withCapture bool) superRun {
	t.Helper()
	bind := newRecordBind()
	u := newUnit(t, cfg, fdb.Config{}, bind)
	pa := u.add("a", 42, mac(0, 1))
	u.add("b", 42, mac(0, 2))
	remote, other := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: mac(9, 1)}, Dest: fdb.Dest{Remote: remote}, Origin: fdb.OriginStatic})
	u.fdb.SetFlood(42, []netip.Addr{remote, other})
	var sess *capture.Session
	if withCapture {
		var err error
		sess, err = u.sw.capture.Start(capture.Config{Points: capture.Points(capture.UnderlayOut), Buffer: 1 << 14})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
	}
	dev := &superDev{name: "a"}
	for _, f := range frames {
		dev.push(f.frame, f.hdr)
	}
	b := newPortBatch(u.sw, pa, dev)
	out := newEgress(u.sw, max(tap.OffloadBatchSize, bind.BatchSize()))
	for len(dev.queue) > 0 {
		if _, err := u.sw.readPort(pa, dev, &b, out); err != nil {
			t.Fatalf("readPort: %v", err)
		}
	}
	st := u.sw.Stats()
	run := superRun{
		Dgrams: bind.dgrams, Sends: bind.sends, GatherSends: bind.gatherSends,
		Delivered: u.devs["b"].frames.Load(),
		RxPackets: pa.rxPackets.Load(), RxBytes: pa.rxBytes.Load(),
		Drops: st.Drops, Gathered: st.GatheredSegments,
	}
	if vs := u.sw.topo.Load().vnis[42]; vs != nil {
		run.TxPackets, run.TxBytes = vs.c.txPackets.Load(), vs.c.txBytes.Load()
	}
	if sess != nil {
		sess.Close()
		for i := 0; ; i++ {
			pkt, err := sess.Next(context.Background())
			if err != nil {
				break
			}
			// The datagram follows the synthesized outer headers.
			if i >= len(run.Dgrams) || pkt.Length != len(pkt.Data) || !bytes.HasSuffix(pkt.Data, run.Dgrams[i].Data) {
				run.CapturedBytesMismatch++
			}
			run.Captured++
			sess.Release(pkt)
		}
	}
	return run
}

// TestForwardSuper checks gathered sends of super-frames against the
// copying split (Config.Gather off) as an oracle: the same datagrams, byte
// for byte and in order, to the same VTEPs, the same counters; and that
// gathering happened exactly where it should.
func TestForwardSuper(t *testing.T) {
	toRemote, toPort, unknown := mac(9, 1), mac(0, 2), mac(9, 9)
	src := mac(5, 1)
	item := func(s superSpec) superItem {
		s.src = src
		f, h := superFrame(s)
		return superItem{f, h}
	}
	type tc struct {
		name       string
		frames     []superItem
		capture    bool
		wantGather bool // SendGather carried the segments after the first
	}
	tests := []tc{
		{"tso4 to remote", []superItem{item(superSpec{dst: toRemote, mss: 1448, payload: 1448 * 44, flags: encap.TCPFlagAck | encap.TCPFlagPsh})}, false, true},
		{"tso6 to remote, options, short last", []superItem{item(superSpec{dst: toRemote, v6: true, opts: 12, mss: 1388, payload: 1388*20 + 77, flags: encap.TCPFlagAck | encap.TCPFlagFin | encap.TCPFlagCwr, seed: 2})}, false, true},
		{"more segments than a batch", []superItem{item(superSpec{dst: toRemote, mss: 200, payload: 200*300 + 3, flags: encap.TCPFlagAck, seed: 3})}, false, true},
		{"two segments", []superItem{item(superSpec{dst: toRemote, mss: 1000, payload: 1001, flags: encap.TCPFlagAck, seed: 4})}, false, true},
		{"to a local port", []superItem{item(superSpec{dst: toPort, mss: 1448, payload: 1448 * 10, flags: encap.TCPFlagAck, seed: 5})}, false, false},
		{"flooded", []superItem{item(superSpec{dst: unknown, mss: 1448, payload: 1448 * 5, flags: encap.TCPFlagAck, seed: 6})}, false, false},
		{"while capturing", []superItem{item(superSpec{dst: toRemote, mss: 1448, payload: 1448 * 12, flags: encap.TCPFlagAck, seed: 7})}, true, false},
	}
	// Random streams: sizes, MSS, options, families and destinations mixed.
	r := rand.New(rand.NewPCG(42, 42))
	for i := range 20 {
		var frames []superItem
		for range 1 + r.IntN(6) {
			mss := 64 + r.IntN(1400)
			dst := toRemote
			if r.IntN(5) == 0 {
				dst = toPort
			}
			frames = append(frames, item(superSpec{dst: dst, v6: r.IntN(2) == 0, opts: 4 * r.IntN(4), mss: mss,
				payload: mss + 1 + r.IntN(mss*60), flags: encap.TCPFlagAck | uint8(r.IntN(2))*encap.TCPFlagPsh, seed: r.Uint64()}))
		}
		tests = append(tests, tc{name: fmt.Sprintf("random %d", i), frames: frames, wantGather: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSuper(t, Config{Gather: true}, tt.frames, tt.capture)
			want := runSuper(t, Config{}, tt.frames, tt.capture)
			if want.GatherSends != 0 {
				t.Fatalf("without Gather: %d SendGather calls", want.GatherSends)
			}
			if len(want.Dgrams) == 0 && want.Delivered == 0 {
				t.Fatal("the oracle forwarded nothing")
			}
			if (got.GatherSends > 0) != tt.wantGather {
				t.Errorf("%d SendGather calls, want them: %v", got.GatherSends, tt.wantGather)
			}
			// The oracle's segments, split by copying, and the switch's
			// own: the VXLAN header is the same for all.
			cmpRun := func(r superRun) superRun { r.Sends, r.GatherSends, r.Gathered = 0, 0, 0; return r }
			if diff := cmp.Diff(cmpRun(want), cmpRun(got)); diff != "" {
				t.Errorf("gathered forwarding differs from the copying split (-copy +gather):\n%s", diff)
			}
			if tt.capture && (got.Captured != len(got.Dgrams) || got.CapturedBytesMismatch != 0) {
				t.Errorf("capture recorded %d of %d datagrams, %d differ", got.Captured, len(got.Dgrams), got.CapturedBytesMismatch)
			}
		})
	}
}

// TestForwardSuperSegments checks the datagrams of one gathered
// super-frame against encap.Segment's split of it, each prefixed with the
// VXLAN header of VNI 42: an oracle that shares no switch code.
func TestForwardSuperSegments(t *testing.T) {
	frame, h := superFrame(superSpec{dst: mac(9, 1), src: mac(5, 1), mss: 1448, payload: 1448*30 + 100, flags: encap.TCPFlagAck | encap.TCPFlagPsh, seed: 9})
	got := runSuper(t, Config{Gather: true}, []superItem{{frame, h}}, false)
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, len(bufs))
	n, err := encap.SegmentRange(frame, h, 0, bufs, sizes, encap.VXLANHeaderLen)
	if err != nil || n != 31 {
		t.Fatalf("SegmentRange: %d segments, %v", n, err)
	}
	var want []sentDatagram
	for i := range n {
		pkt := bufs[i][:encap.VXLANHeaderLen+sizes[i]]
		encap.VXLAN(pkt).Encode(&encap.VXLANFields{VNI: 42})
		want = append(want, sentDatagram{netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), encap.VXLANPort).String(), pkt})
	}
	if diff := cmp.Diff(want, got.Dgrams); diff != "" {
		t.Errorf("unexpected datagrams (-want +got):\n%s", diff)
	}
	if got.GatherSends == 0 || got.Gathered != 30 || got.RxPackets != 31 || got.TxPackets != 31 {
		t.Errorf("%d SendGather calls, %d segments gathered, %d packets received on the port, %d sent: want >0, 30, 31, 31",
			got.GatherSends, got.Gathered, got.RxPackets, got.TxPackets)
	}
}

// TestAllocsForwardSuper asserts that forwarding a super-frame with
// gathered sends allocates nothing.
func TestAllocsForwardSuper(t *testing.T) {
	u := newUnit(t, Config{Gather: true}, fdb.Config{}, sinkGatherBind{newSinkBind()})
	pa := u.add("a", 42, mac(0, 1))
	u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: mac(9, 1)}, Dest: fdb.Dest{Remote: netip.MustParseAddr("192.0.2.2")}, Origin: fdb.OriginStatic})
	frame, h := superFrame(superSpec{dst: mac(9, 1), src: mac(5, 1), mss: 1448, payload: 1448 * 44, flags: encap.TCPFlagAck})
	dev := &superDev{name: "a"}
	items := []superItem{{frame, h}}
	b := newPortBatch(u.sw, pa, dev)
	if b.sr == nil {
		t.Fatal("no gathered sends with a GatherSender bind and a SuperReader")
	}
	out := newEgress(u.sw, tap.OffloadBatchSize)
	run := func() {
		dev.queue = items
		if _, err := u.sw.readPort(pa, dev, &b, out); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("forwarding a super-frame gathered: %v allocations, want 0", a)
	}
	// AllocsPerRun runs it once more to warm up.
	if got, want := pa.rxPackets.Load(), uint64(102*44); got != want {
		t.Errorf("port a received %d frames, want %d", got, want)
	}
}

// sinkGatherBind is a sinkBind whose SendGather counts like Send.
type sinkGatherBind struct{ *sinkBind }

func (b sinkGatherBind) SendGather(heads, tails [][]byte, dst netip.AddrPort) error {
	return b.Send(heads, dst)
}

// FuzzForwardSuper feeds arbitrary super-frames and virtio-net headers to
// forwardSuper (which a tap.SuperReader only hands validated ones; here
// anything goes) on a switch that gathers and on one that copies
// (Config.Gather off): neither may panic, and both must send the same
// datagrams and count the same drops and port counters.
func FuzzForwardSuper(f *testing.F) {
	for _, s := range []superSpec{
		{dst: mac(9, 1), mss: 1448, payload: 1448*3 + 5, flags: encap.TCPFlagAck},
		{dst: mac(9, 1), v6: true, opts: 12, mss: 500, payload: 2000, flags: encap.TCPFlagAck | encap.TCPFlagFin},
		{dst: mac(0, 2), mss: 100, payload: 350, flags: encap.TCPFlagAck},
	} {
		s.src = mac(5, 1)
		frame, h := superFrame(s)
		vh := make([]byte, encap.VirtioNetHdrLen)
		encap.VirtioNetHdr(vh).Encode(&h)
		f.Add(vh, frame)
	}
	type side struct {
		u    *unit
		bind *recordBind
		pa   *Port
		b    portBatch
		out  *egress
	}
	mk := func(cfg Config) *side {
		bind := newRecordBind()
		u := newUnit(f, cfg, fdb.Config{}, bind)
		pa := u.add("a", 42, mac(0, 1))
		u.add("b", 42, mac(0, 2))
		u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: mac(9, 1)}, Dest: fdb.Dest{Remote: hostAddr(1)}, Origin: fdb.OriginStatic})
		u.fdb.SetFlood(42, []netip.Addr{hostAddr(1), hostAddr(2)})
		// A SuperReader, so that the gathering side gets head buffers.
		dev := &superDev{name: "a"}
		return &side{u: u, bind: bind, pa: pa, b: newPortBatch(u.sw, pa, dev), out: newEgress(u.sw, tap.OffloadBatchSize)}
	}
	gather, copying := mk(Config{Gather: true}), mk(Config{})
	f.Fuzz(func(t *testing.T, vh, frame []byte) {
		if len(vh) < encap.VirtioNetHdrLen || len(frame) > 1<<16 {
			return
		}
		h := encap.VirtioNetHdr(vh).Decode()
		if n, err := encap.SegmentCount(frame, h); err == nil && n > 1024 {
			return // tiny segments: slow to compare, nothing new
		}
		var runs [2]superRun
		for i, s := range []*side{gather, copying} {
			s.bind.dgrams = s.bind.dgrams[:0]
			s.b.super = tap.Super{Hdr: h, Frame: frame}
			s.u.sw.forwardSuper(s.pa, &s.b, s.out)
			s.out.resetBatch()
			st := s.u.sw.Stats()
			runs[i] = superRun{Dgrams: s.bind.dgrams, Delivered: s.u.devs["b"].frames.Load(),
				RxPackets: s.pa.rxPackets.Load(), RxBytes: s.pa.rxBytes.Load(), Drops: st.Drops}
		}
		// Compared piecewise: cmp.Diff of long byte slices that differ
		// takes minutes.
		g, c := runs[0], runs[1]
		for i := range min(len(g.Dgrams), len(c.Dgrams)) {
			if g.Dgrams[i].Dst != c.Dgrams[i].Dst || !bytes.Equal(g.Dgrams[i].Data, c.Dgrams[i].Data) {
				t.Fatalf("datagram %d of %d differs:\n- copy:   %s %x\n- gather: %s %x", i, len(c.Dgrams),
					c.Dgrams[i].Dst, c.Dgrams[i].Data, g.Dgrams[i].Dst, g.Dgrams[i].Data)
			}
		}
		g.Dgrams, c.Dgrams = nil, nil
		if len(runs[0].Dgrams) != len(runs[1].Dgrams) {
			t.Fatalf("%d datagrams gathered, %d copied", len(runs[0].Dgrams), len(runs[1].Dgrams))
		}
		if diff := cmp.Diff(c, g); diff != "" {
			t.Fatalf("gathered forwarding counts differently from the copying split (-copy +gather):\n%s", diff)
		}
	})
}
