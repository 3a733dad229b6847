package bench

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// The micro-benchmarks grow one stage at a time, like Tailscale's
// wgengine/bench: each adds one hop of the datapath to the previous, so a
// slowdown shows at the stage that introduced it. Every stage runs for the
// frame sizes below, with b.SetBytes(size) and b.ReportAllocs().

// frameSizes are Ethernet frame lengths without FCS: minimum, middle and
// close to a 1500-byte MTU.
var frameSizes = []int{64, 512, 1400}

const batch = 32

var (
	macA = encap.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = encap.MAC{0x02, 0, 0, 0, 0, 0x0b}
)

// testFrame is an Ethernet frame of size bytes from macA to macB.
func testFrame(size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], macB[:])
	copy(f[6:12], macA[:])
	f[12], f[13] = 0x08, 0x00 // IPv4
	for i := 14; i < size; i++ {
		f[i] = byte(i)
	}
	return f
}

func newBatch(n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs
}

// Stage 1: a copy between [][]byte batches, the floor of any datapath.
func BenchmarkTrivialNoAlloc(b *testing.B) {
	for _, size := range frameSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			src, dst := newBatch(batch, size), newBatch(batch, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				copy(dst[i%batch], src[i%batch])
			}
		})
	}
}

// Stage 2: batches handed to another goroutine over a channel and copied
// there, the cost of a goroutine hop.
func BenchmarkChannelHop(b *testing.B) {
	for _, size := range frameSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			src, dst := newBatch(batch, size), newBatch(batch, size)
			in, back := make(chan [][]byte), make(chan struct{})
			go func() {
				for bufs := range in {
					for i := range bufs {
						copy(dst[i], bufs[i])
					}
					back <- struct{}{}
				}
			}()
			defer close(in)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += batch {
				in <- src[:min(batch, b.N-sent)]
				<-back
			}
		})
	}
}

// Stage 3: UDP through the kernel's loopback with two vtep.StdBinds on
// 127.0.0.1, sent and received in lockstep one batch at a time.
func BenchmarkVTEPLoopback(b *testing.B) {
	for _, size := range frameSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			lo := netip.MustParseAddr("127.0.0.1")
			tx, err := vtep.NewStdBind(vtep.Config{Local: lo})
			if err != nil {
				b.Skip(err)
			}
			rx, err := vtep.NewStdBind(vtep.Config{Local: lo, RecvSockets: 1}) // the benchmark reads one ReceiveFunc
			if err != nil {
				b.Skip(err)
			}
			if _, _, err := tx.Open(0); err != nil {
				b.Skip(err)
			}
			defer tx.Close()
			fns, _, err := rx.Open(0)
			if err != nil {
				b.Skip(err)
			}
			defer rx.Close()
			dst := rx.LocalAddr()
			frames := make([][]byte, batch)
			for i := range frames {
				frames[i] = testFrame(size)
			}
			bufs := newBatch(rx.BatchSize(), 2048)
			sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; {
				k := min(batch, b.N-sent)
				if err := tx.Send(frames[:k], dst); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < k; {
					n, err := fns[0](bufs, sizes, eps)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
				sent += k
			}
		})
	}
}

// switchPair is two switches joined by vteptest channel binds, each with
// one taptest port in VNI 42: a frame for macB read on A's port comes out
// of B's port.
type switchPair struct {
	a, b       *vswitch.Switch
	portA      *taptest.ChannelTAP
	portB      *taptest.ChannelTAP
	addrA, adB netip.Addr
}

func newSwitchPair(tb testing.TB) *switchPair {
	tb.Helper()
	const vni = 42
	bindA, bindB := vteptest.ChannelBinds()
	p := &switchPair{addrA: bindA.Addr(), adB: bindB.Addr(),
		portA: taptest.NewChannelTAPBatch("a0", 1500, batch), portB: taptest.NewChannelTAPBatch("b0", 1500, batch)}
	var err error
	tabA, tabB := fdb.New(fdb.Config{}), fdb.New(fdb.Config{})
	if p.a, err = vswitch.New(vswitch.DefaultConfig(), bindA, tabA); err != nil {
		tb.Fatal(err)
	}
	if p.b, err = vswitch.New(vswitch.DefaultConfig(), bindB, tabB); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.a.Close(); p.b.Close() })
	if _, err := p.a.AddPort(p.portA, vswitch.PortConfig{VNI: vni, LocalMACs: []encap.MAC{macA}}); err != nil {
		tb.Fatal(err)
	}
	if _, err := p.b.AddPort(p.portB, vswitch.PortConfig{VNI: vni, LocalMACs: []encap.MAC{macB}}); err != nil {
		tb.Fatal(err)
	}
	if err := tabA.Add(fdb.Entry{Key: fdb.Key{VNI: vni, MAC: macB}, Dest: fdb.Dest{Remote: p.adB}, Origin: fdb.OriginStatic}); err != nil {
		tb.Fatal(err)
	}
	tabA.AddFlood(vni, p.adB)
	tabB.AddFlood(vni, p.addrA)
	for _, sw := range []*vswitch.Switch{p.a, p.b} {
		if err := sw.Start(); err != nil {
			tb.Fatal(err)
		}
	}
	return p
}

// Stage 4: the whole engine: frame in on A's port, VXLAN over channel
// binds, out on B's port. Frames are offered as fast as the ports take
// them; packet-loss is the fraction that never came out. The allocations
// it reports are the test doubles' (ChannelBind and ChannelTAP copy every
// frame they carry), not the switch's.
func BenchmarkSwitchPair(b *testing.B) {
	for _, size := range frameSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			p := newSwitchPair(b)
			frame := testFrame(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for i := 0; i < b.N; i++ {
					p.portA.Inbound <- frame
				}
			}()
			got := 0
			idle := time.NewTimer(time.Second)
			defer idle.Stop()
		loop:
			for got < b.N {
				select {
				case <-p.portB.Outbound:
					got++
				case <-idle.C:
					break loop // the rest is lost
				}
				if got%1024 == 0 {
					idle.Reset(time.Second)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N-got)/float64(b.N), "packet-loss")
		})
	}
}

// TestSwitchPairForwards checks the benchmark rig itself: a frame for macB
// on A's port comes out of B's port unchanged.
func TestSwitchPairForwards(t *testing.T) {
	p := newSwitchPair(t)
	for _, size := range frameSizes {
		want := testFrame(size)
		p.portA.Inbound <- want
		select {
		case got := <-p.portB.Outbound:
			if string(got) != string(want) {
				t.Errorf("unexpected %d-byte frame:\n- want: %x\n-  got: %x", size, want, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d-byte frame did not arrive at B", size)
		}
	}
}
