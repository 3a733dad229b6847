package vswitch

// The test harness: switches ("hosts") on one in-memory underlay
// (vteptest.Fabric), ports on taptest.ChannelTAP, frame builders on the
// encap views, and helpers that wait with a deadline instead of sleeping.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// waitTimeout bounds every wait of the harness. It is a deadline for
// something that should happen, never a sleep: passing tests do not wait
// for it.
const waitTimeout = 10 * time.Second

// testMTU is the MTU of the harness's ports.
const testMTU = 1500

// etherTypeBarrier (IEEE 802 "Local Experimental Ethertype 1") marks the
// barrier frames of lab.sync.
const etherTypeBarrier uint16 = 0x88b5

// hostAddr returns the underlay address of host i: 192.0.2.(i+1)
// (RFC 5737 TEST-NET-1).
func hostAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}) }

// mac returns the locally administered unicast MAC 02:00:00:00:<hi>:<lo>.
func mac(hi, lo byte) encap.MAC { return encap.MAC{0x02, 0, 0, 0, hi, lo} }

// overlayIP returns 198.18.<hi>.<lo> (RFC 2544 benchmarking range).
func overlayIP(hi, lo byte) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, hi, lo}) }

// ethFrame builds an untagged Ethernet frame with the given payload.
func ethFrame(dst, src encap.MAC, etherType uint16, payload []byte) []byte {
	b := make([]byte, encap.EthernetHeaderLen+len(payload))
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: dst, Src: src, Type: etherType})
	copy(b[encap.EthernetHeaderLen:], payload)
	return b
}

// arpRequest builds a broadcast ARP request "who has target? tell srcIP".
func arpRequest(src encap.MAC, srcIP, target netip.Addr) []byte {
	p := make([]byte, encap.ARPSize)
	encap.ARP(p).Encode(&encap.ARPFields{Op: encap.ARPRequest, SenderMAC: src, SenderIP: srcIP, TargetIP: target})
	return ethFrame(encap.BroadcastMAC, src, encap.EtherTypeARP, p)
}

// ipv4Frame builds an Ethernet frame carrying an IPv4/UDP datagram (port
// 9, discard) whose whole frame is size bytes (at least 42).
func ipv4Frame(dst, src encap.MAC, srcIP, dstIP netip.Addr, size int) []byte {
	const hdrs = encap.EthernetHeaderLen + 20 + encap.UDPMinimumSize
	if size < hdrs {
		size = hdrs
	}
	b := make([]byte, size)
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: dst, Src: src, Type: encap.EtherTypeIPv4})
	ip := encap.IPv4(b[encap.EthernetHeaderLen:])
	ip.Encode(&encap.IPv4Fields{TotalLength: uint16(size - encap.EthernetHeaderLen), TTL: 64, Protocol: 17, Src: srcIP, Dst: dstIP})
	ip.SetChecksum(ip.CalculateChecksum())
	udp := encap.UDP(b[encap.EthernetHeaderLen+20:])
	udp.Encode(&encap.UDPFields{SrcPort: 40000, DstPort: 9, Length: uint16(size - encap.EthernetHeaderLen - 20)})
	for i := hdrs; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}

// vxlanPacket prepends a VXLAN header (I flag, vni) to frame.
func vxlanPacket(vni uint32, frame []byte) []byte {
	b := make([]byte, encap.VXLANHeaderLen+len(frame))
	encap.VXLAN(b).Encode(&encap.VXLANFields{VNI: vni})
	copy(b[encap.VXLANHeaderLen:], frame)
	return b
}

// withHeadroom returns PacketStartOffset zero bytes followed by frame: the
// shape forwardFromPort gets from the port reader.
func withHeadroom(frame []byte) []byte {
	return append(make([]byte, PacketStartOffset, PacketStartOffset+len(frame)), frame...)
}

// lab is N switches on one vteptest.Fabric.
type lab struct {
	t      testing.TB
	fabric *vteptest.Fabric
	hosts  []*host
	seq    atomic.Uint32 // barrier sequence numbers
}

// host is one switch of a lab with its own FDB and bind.
type host struct {
	lab   *lab
	i     int
	addr  netip.Addr
	sw    *Switch
	fdb   *fdb.Table
	bind  *vteptest.ChannelBind
	ports map[string]*taptest.ChannelTAP
}

// labOptions change how newLab builds each host.
type labOptions struct {
	sw  Config     // switch config of every host (Port is forced to 4789)
	fdb fdb.Config // FDB config of every host
}

// newLab starts n switches on host addresses 192.0.2.1... They are closed,
// and checked to leave no goroutine behind, when the test ends.
func newLab(t testing.TB, n int, opts labOptions) *lab {
	t.Helper()
	checkGoroutines(t)
	l := &lab{t: t, fabric: vteptest.NewFabric()}
	for i := range n {
		h := &host{lab: l, i: i, addr: hostAddr(i), fdb: fdb.New(opts.fdb), ports: map[string]*taptest.ChannelTAP{}}
		h.bind = l.fabric.Bind(h.addr)
		cfg := opts.sw
		cfg.Port = encap.VXLANPort
		sw, err := New(cfg, h.bind, h.fdb)
		if err != nil {
			t.Fatalf("host %d: New: %v", i, err)
		}
		if err := sw.Start(); err != nil {
			t.Fatalf("host %d: Start: %v", i, err)
		}
		h.sw = sw
		t.Cleanup(func() {
			if err := sw.Close(); err != nil {
				t.Errorf("host %d: Close: %v", i, err)
			}
		})
		l.hosts = append(l.hosts, h)
	}
	return l
}

// addPort attaches a ChannelTAP called name to VNI vni with the given local
// MACs.
func (h *host) addPort(name string, vni uint32, macs ...encap.MAC) *taptest.ChannelTAP {
	h.lab.t.Helper()
	dev := taptest.NewChannelTAP(name, testMTU)
	if _, err := h.sw.AddPort(dev, PortConfig{VNI: vni, LocalMACs: macs}); err != nil {
		h.lab.t.Fatalf("host %d: AddPort %s: %v", h.i, name, err)
	}
	h.ports[name] = dev
	return dev
}

// flood makes every other host in hosts a flood-list member of vni on
// every host in hosts.
func (l *lab) flood(vni uint32, hosts ...*host) {
	for _, h := range hosts {
		for _, o := range hosts {
			if o != h {
				h.fdb.AddFlood(vni, o.addr)
			}
		}
	}
}

// inject queues frame to be read by the switch from port.
func (h *host) inject(port string, frame []byte) {
	h.lab.t.Helper()
	dev, ok := h.ports[port]
	if !ok {
		h.lab.t.Fatalf("host %d: no port %s", h.i, port)
	}
	dev.Inbound <- frame
}

// port returns the ChannelTAP called name on h.
func (h *host) port(name string) *taptest.ChannelTAP {
	h.lab.t.Helper()
	dev, ok := h.ports[name]
	if !ok {
		h.lab.t.Fatalf("host %d: no port %s", h.i, name)
	}
	return dev
}

// waitFrame returns the next frame the switch wrote to dev, failing the
// test if none comes before the deadline.
func waitFrame(t testing.TB, dev *taptest.ChannelTAP) []byte {
	t.Helper()
	select {
	case f := <-dev.Outbound:
		return f
	case <-time.After(waitTimeout):
		t.Fatalf("port %s: no frame within %v", dev.Name(), waitTimeout)
		return nil
	}
}

// isBarrier reports whether f is a barrier frame.
func isBarrier(f []byte) bool {
	return len(f) >= encap.EthernetHeaderLen && encap.Ethernet(f).EtherType() == etherTypeBarrier
}

// sync makes sure every frame injected so far on port of h has been fully
// forwarded, and returns, for each observed port, the frames it received
// before the barrier (barriers of earlier syncs are skipped).
//
// It injects a broadcast barrier frame on port, which follows every earlier
// frame of that port down every path (the port reader forwards frames in
// order; the fabric and each receive loop keep order too), and drains each
// observed port up to it. The observed ports must be in port's VNI and
// reachable by flooding; the ingress port itself, and ports of other VNIs,
// are checked separately with expectIdle once sync returns.
func (l *lab) sync(h *host, port string, observed ...*taptest.ChannelTAP) map[string][][]byte {
	l.t.Helper()
	n := l.seq.Add(1)
	payload := binary.BigEndian.AppendUint32(nil, n)
	src := encap.MAC{0x02, 0xbb, 0, 0, byte(h.i), byte(n)} // one barrier MAC per sync
	h.inject(port, ethFrame(encap.BroadcastMAC, src, etherTypeBarrier, payload))
	got := map[string][][]byte{}
	for _, dev := range observed {
		key := dev.Name()
		for {
			f := waitFrame(l.t, dev)
			if isBarrier(f) {
				if bytes.Equal(f[encap.EthernetHeaderLen:], payload) {
					break
				}
				continue // an earlier barrier
			}
			got[key] = append(got[key], f)
		}
	}
	return got
}

// expectIdle fails if the switch wrote anything but barriers to dev.
func expectIdle(t testing.TB, devs ...*taptest.ChannelTAP) {
	t.Helper()
	for _, dev := range devs {
		for len(dev.Outbound) > 0 {
			if f := <-dev.Outbound; !isBarrier(f) {
				t.Errorf("port %s: unexpected frame %x", dev.Name(), f)
			}
		}
	}
}

// eventually polls cond until it is true or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// checkGoroutines fails the test if, once it and its cleanups have run,
// more goroutines are left than when it started (like wireguard-go's
// goroutineLeakCheck). Register it first so that it runs last.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitTimeout)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// dropsWant returns a Stats.Drops map with every reason at zero except the
// given ones.
func dropsWant(counts map[DropReason]uint64) map[string]uint64 {
	m := make(map[string]uint64, numDropReasons)
	for _, r := range DropReasons() {
		m[r.String()] = counts[r]
	}
	return m
}

// checkDrops compares every drop counter of sw with want.
func checkDrops(t testing.TB, sw *Switch, want map[DropReason]uint64) {
	t.Helper()
	if diff := cmp.Diff(dropsWant(want), sw.Stats().Drops); diff != "" {
		t.Errorf("unexpected drops (-want +got):\n%s", diff)
	}
}

// Test doubles for the direct-call tests, benchmarks and fuzzing. They
// allocate nothing per frame.

// sinkDev is a tap.Device whose Read blocks until Close and whose Write
// counts frames and bytes (or fails with err, when set).
type sinkDev struct {
	name   string
	mtu    int
	frames atomic.Uint64
	bytes  atomic.Uint64
	err    error // returned by Write, after writing nothing

	closeOnce sync.Once
	closed    chan struct{}
}

var _ tap.Device = (*sinkDev)(nil)

func newSinkDev(name string, mtu int) *sinkDev {
	return &sinkDev{name: name, mtu: mtu, closed: make(chan struct{})}
}

func (d *sinkDev) Name() string   { return d.name }
func (d *sinkDev) MTU() int       { return d.mtu }
func (d *sinkDev) BatchSize() int { return 1 }

func (d *sinkDev) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	<-d.closed
	return 0, os.ErrClosed
}

func (d *sinkDev) Write(bufs [][]byte, offset int) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	for _, b := range bufs {
		d.frames.Add(1)
		d.bytes.Add(uint64(len(b) - offset))
	}
	return len(bufs), nil
}

func (d *sinkDev) Close() error {
	d.closeOnce.Do(func() { close(d.closed) })
	return nil
}

// sinkBind is a vtep.Bind whose receive function blocks until Close and
// whose Send counts datagrams per destination (or fails with err, when
// set). It is safe for concurrent use.
type sinkBind struct {
	err error // returned by Send

	mu     sync.Mutex
	sent   map[netip.AddrPort]int // guarded by mu
	closed chan struct{}
	once   sync.Once
	count  atomic.Uint64
}

var _ vtep.Bind = (*sinkBind)(nil)

func newSinkBind() *sinkBind {
	return &sinkBind{sent: map[netip.AddrPort]int{}, closed: make(chan struct{})}
}

func (b *sinkBind) Open(port uint16) ([]vtep.ReceiveFunc, uint16, error) {
	return []vtep.ReceiveFunc{func(bufs [][]byte, sizes []int, eps []netip.AddrPort) (int, error) {
		<-b.closed
		return 0, fmt.Errorf("sinkBind: receive: %w", net.ErrClosed)
	}}, port, nil
}

func (b *sinkBind) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// Send counts datagrams, in total and per destination. Counting into an
// existing map key allocates nothing, so benchmarks stay allocation-free.
func (b *sinkBind) Send(bufs [][]byte, dst netip.AddrPort) error {
	if b.err != nil {
		return b.err
	}
	b.count.Add(uint64(len(bufs)))
	b.mu.Lock()
	b.sent[dst] += len(bufs)
	b.mu.Unlock()
	return nil
}

func (b *sinkBind) BatchSize() int { return 8 }

// sentTo returns how many datagrams were sent to addr on the VXLAN port.
func (b *sinkBind) sentTo(addr netip.Addr) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent[netip.AddrPortFrom(addr, encap.VXLANPort)]
}

// errInjected is the error of failing test doubles.
var errInjected = errors.New("injected failure")

// failDev is a ChannelTAP whose Write always fails.
type failDev struct{ *taptest.ChannelTAP }

func (failDev) Write(bufs [][]byte, offset int) (int, error) { return 0, errInjected }
