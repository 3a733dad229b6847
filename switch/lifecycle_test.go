package vswitch

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// TestStats checks the per-port and per-VNI packet and byte counters after
// a known sequence of frames.
func TestStats(t *testing.T) {
	u := newUnit(t, Config{}, fdb.Config{}, nil)
	u.add("a", 42, mac(0, 1))
	u.add("b", 42, mac(0, 2))
	u.add("c", 43)
	remote := netip.MustParseAddr("192.0.2.7")
	u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: mac(9, 1)}, Dest: fdb.Dest{Remote: remote}, Origin: fdb.OriginStatic})
	u.fdb.SetFlood(43, []netip.Addr{remote, netip.MustParseAddr("192.0.2.8")})

	ipA, ipB := overlayIP(0, 1), overlayIP(0, 2)
	for _, size := range []int{100, 200, 300} { // a -> b
		u.fromPort("a", ipv4Frame(mac(0, 2), mac(0, 1), ipA, ipB, size))
	}
	u.fromPort("a", ipv4Frame(mac(9, 1), mac(0, 1), ipA, ipB, 1000))                   // a -> remote
	u.fromVTEP(remote, vxlanPacket(42, ipv4Frame(mac(0, 2), mac(9, 1), ipB, ipA, 64))) // remote -> b
	u.fromVTEP(remote, vxlanPacket(42, ipv4Frame(mac(0, 2), mac(9, 1), ipB, ipA, 80))) // remote -> b
	u.fromPort("c", arpRequest(mac(3, 1), ipA, ipB))                                   // c floods: 2 VXLAN copies
	u.fromVTEP(remote, vxlanPacket(4242, ipv4Frame(mac(0, 2), mac(9, 1), ipB, ipA, 64)))

	const arp = encap.EthernetHeaderLen + encap.ARPSize
	const vx = encap.VXLANHeaderLen
	want := Stats{
		Ports: []PortStats{
			{Name: "a", VNI: 42, MTU: testMTU, RxPackets: 4, RxBytes: 1600},
			{Name: "b", VNI: 42, MTU: testMTU, TxPackets: 5, TxBytes: 744},
			{Name: "c", VNI: 43, MTU: testMTU, RxPackets: 1, RxBytes: arp},
		},
		VNIs: []VNIStats{
			{VNI: 42, Ports: 2, RxPackets: 2, RxBytes: 64 + vx + 80 + vx, TxPackets: 1, TxBytes: 1000 + vx},
			{VNI: 43, Ports: 1, TxPackets: 2, TxBytes: 2 * (arp + vx)},
		},
		Drops: dropsWant(map[DropReason]uint64{DropUnknownVNI: 1}),
	}
	if diff := cmp.Diff(want, u.sw.Stats()); diff != "" {
		t.Errorf("unexpected stats (-want +got):\n%s", diff)
	}
	bind := u.bind.(*sinkBind)
	gotSent := map[string]int{"192.0.2.7": bind.sentTo(remote), "192.0.2.8": bind.sentTo(netip.MustParseAddr("192.0.2.8"))}
	if diff := cmp.Diff(map[string]int{"192.0.2.7": 2, "192.0.2.8": 1}, gotSent); diff != "" {
		t.Errorf("unexpected datagrams per VTEP (-want +got):\n%s", diff)
	}
}

// dropCountingBind is a sinkBind whose kernel reports receive drops, as
// vtep.StdBind.ReceiveDrops does.
type dropCountingBind struct {
	*sinkBind
	drops atomic.Uint64
}

func (b *dropCountingBind) ReceiveDrops() uint64 { return b.drops.Load() }

// TestStatsReceiveOverflow: datagrams the kernel dropped at the bind's
// receive sockets appear as the receive_overflow drop reason (and so in the
// API and the metrics), read from the bind each time; the switch's own
// counter for the reason stays untouched. A bind that cannot tell shows 0.
func TestStatsReceiveOverflow(t *testing.T) {
	b := &dropCountingBind{sinkBind: newSinkBind()}
	u := newUnit(t, Config{}, fdb.Config{}, b)
	for _, n := range []uint64{0, 7, 12} {
		b.drops.Store(n)
		if got := u.sw.Stats().Drops["receive_overflow"]; got != n {
			t.Errorf("unexpected receive_overflow drops:\n- want: %d\n-  got: %d", n, got)
		}
	}
	if got := u.sw.drops.d[DropReceiveOverflow].Load(); got != 0 {
		t.Errorf("the switch counted receive_overflow itself: %d", got)
	}
	plain := newUnit(t, Config{}, fdb.Config{}, nil)
	if got, ok := plain.sw.Stats().Drops["receive_overflow"]; !ok || got != 0 {
		t.Errorf("unexpected receive_overflow without ReceiveDrops:\n- want: 0 (listed)\n-  got: %d (listed %v)", got, ok)
	}
}

// droppingDev is a sinkDev whose kernel reports drops, as
// tap.TAP.TxDropped does; fail makes TxDropped return an error.
type droppingDev struct {
	*sinkDev
	drops atomic.Uint64
	fail  bool
}

func (d *droppingDev) TxDropped() (uint64, error) {
	if d.fail {
		return 0, errors.New("no rtnetlink socket")
	}
	return d.drops.Load(), nil
}

// TestStatsPortOverflow: what the kernel dropped at the ports' TAPs is the
// port_overflow drop reason, summed over the ports and read each time; a
// removed port's count stays in the total; a device that cannot tell (or
// fails to) adds nothing.
func TestStatsPortOverflow(t *testing.T) {
	u := newUnit(t, Config{}, fdb.Config{}, nil)
	a := &droppingDev{sinkDev: newSinkDev("a", testMTU)}
	b := &droppingDev{sinkDev: newSinkDev("b", testMTU)}
	c := &droppingDev{sinkDev: newSinkDev("c", testMTU), fail: true}
	c.drops.Store(100)
	u.addDev(a, 42)
	u.addDev(b, 43)
	u.addDev(c, 42)
	u.add("plain", 42)
	check := func(want uint64) {
		t.Helper()
		if got := u.sw.Stats().Drops["port_overflow"]; got != want {
			t.Errorf("unexpected port_overflow drops:\n- want: %d\n-  got: %d", want, got)
		}
	}
	check(0)
	a.drops.Store(5)
	b.drops.Store(7)
	check(12)
	if err := u.sw.RemovePort("b"); err != nil {
		t.Fatal(err)
	}
	check(12)
	a.drops.Store(9)
	check(16)
}

// TestStatsConcurrentWithConfig reads Stats while VNIs and ports are added
// and removed; it must never see a half-updated topology.
func TestStatsConcurrentWithConfig(t *testing.T) {
	u := newUnit(t, Config{}, fdb.Config{}, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			st := u.sw.Stats()
			if len(st.Drops) != int(numDropReasons) {
				t.Errorf("unexpected number of drop reasons:\n- want: %d\n-  got: %d", numDropReasons, len(st.Drops))
				return
			}
		}
	}()
	for i := range 300 {
		if err := u.sw.AddVNI(uint32(1000 + i)); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("s%d", i)
		u.add(name, uint32(1000+i))
		if i%2 == 0 {
			if err := u.sw.RemovePort(name); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if got := len(u.sw.VNIs()); got != 300 {
		t.Errorf("unexpected VNI count:\n- want: 300\n-  got: %d", got)
	}
	if got := len(u.sw.Ports()); got != 150 {
		t.Errorf("unexpected port count:\n- want: 150\n-  got: %d", got)
	}
}

// TestRemovePortUnderTraffic removes a port while frames flow into it from
// another port and from the underlay, and checks that the device is closed,
// its FDB entries are gone, the VNI stays served and the rest of the switch
// keeps forwarding.
func TestRemovePortUnderTraffic(t *testing.T) {
	l := newLab(t, 2, labOptions{})
	h0, h1 := l.hosts[0], l.hosts[1]
	a := h0.addPort("r0a", 3, mac(0, 1))
	victim := h0.addPort("r0b", 3, mac(0, 2))
	keep := h0.addPort("r0c", 3, mac(0, 3))
	h1.addPort("r1a", 3, mac(1, 1))
	l.flood(3, h0, h1)

	// Learn a MAC behind the victim, then flood towards it from both sides.
	h0.inject("r0b", arpRequest(mac(0, 9), overlayIP(0, 9), overlayIP(0, 1)))
	l.sync(h0, "r0b", a, keep, h1.port("r1a"))
	if got, ok := h0.fdb.Get(3, mac(0, 9)); !ok || got.Origin != fdb.OriginLearned {
		t.Fatalf("unexpected learned entry before removal:\n- want: learned\n-  got: %v (present %v)", got, ok)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Uint64
	traffic := func(h *host, port string, src encap.MAC) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			dst := mac(0, 2) // unicast to the victim...
			if i%2 == 1 {
				dst = encap.BroadcastMAC // ...and floods
			}
			h.inject(port, ipv4Frame(dst, src, overlayIP(0, 1), overlayIP(0, 2), 64))
			sent.Add(1)
		}
	}
	// Drain every port so that no Write blocks on a full Outbound; keep's
	// drain stops with the traffic, the others at the end of the test.
	stopDrains := make(chan struct{})
	var drains sync.WaitGroup
	defer func() { close(stopDrains); drains.Wait() }()
	drain := func(dev *taptest.ChannelTAP, stop chan struct{}, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-dev.Outbound:
				case <-stop:
					return
				}
			}
		}()
	}
	wg.Add(2)
	go traffic(h0, "r0a", mac(0, 1))
	go traffic(h1, "r1a", mac(1, 1))
	// keep's drain stops only after the traffic has: stopping it with the
	// traffic let keep's Outbound fill while a sender was still injecting,
	// which blocked the port writer and then that sender for good.
	stopKeep := make(chan struct{})
	var keepDrain sync.WaitGroup
	drain(keep, stopKeep, &keepDrain)
	drain(victim, stopDrains, &drains)
	drain(h0.port("r0a"), stopDrains, &drains)
	drain(h1.port("r1a"), stopDrains, &drains)
	eventually(t, "traffic to flow", func() bool { return sent.Load() > 200 })

	if err := h0.sw.RemovePort("r0b"); err != nil {
		t.Errorf("RemovePort: unexpected error: %v", err)
	}
	// Let more traffic pass the removed port's place, then stop.
	mark := sent.Load()
	eventually(t, "traffic after removal", func() bool { return sent.Load() > mark+200 })
	close(stop)
	wg.Wait()
	close(stopKeep)
	keepDrain.Wait()

	if _, ok := h0.sw.Port("r0b"); ok {
		t.Error("removed port still listed")
	}
	for _, p := range h0.sw.Ports() {
		if p.Name() == "r0b" {
			t.Error("removed port still in Ports")
		}
	}
	if !h0.sw.Serves(3) {
		t.Error("VNI 3 no longer served after removing one of its ports")
	}
	for _, m := range []encap.MAC{mac(0, 2), mac(0, 9)} {
		if e, ok := h0.fdb.Get(3, m); ok && e.Dest.Port != 0 {
			t.Errorf("unexpected FDB entry left pointing at a port after removal: %v", e)
		}
	}
	if _, err := victim.Write([][]byte{make([]byte, 20)}, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("unexpected Write error on the removed device:\n- want: %v\n-  got: %v", os.ErrClosed, err)
	}
	if err := h0.sw.RemovePort("r0b"); !errors.Is(err, ErrNoPort) {
		t.Errorf("unexpected error removing it again:\n- want: %v\n-  got: %v", ErrNoPort, err)
	}
	// The others still forward.
	f := ipv4Frame(mac(0, 3), mac(1, 1), overlayIP(1, 1), overlayIP(0, 3), 64)
	h1.inject("r1a", f)
	for {
		got := waitFrame(t, keep)
		if string(got) == string(f) {
			break
		}
	}
}

// TestCloseUnblocks closes switches whose routines are blocked in every
// place they can block (a port reader in Read, a receive loop writing to a
// full port, a port reader sending to a full peer) and checks that Close
// returns, is idempotent, leaves no goroutine and that later calls fail
// with ErrClosed.
func TestCloseUnblocks(t *testing.T) {
	checkGoroutines(t)
	fabric := vteptest.NewFabric()
	a, b := fabric.Bind(hostAddr(0)), fabric.Bind(hostAddr(1))
	swA, err := New(Config{}, a, fdb.New(fdb.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	swB, err := New(Config{}, b, fdb.New(fdb.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, sw := range []*Switch{swA, swB} {
		if err := sw.Start(); err != nil {
			t.Fatal(err)
		}
	}
	idle := taptest.NewChannelTAP("idle", testMTU) // reader blocked in Read
	src := taptest.NewChannelTAP("src", testMTU)   // floods to B
	full := taptest.NewChannelTAP("full", testMTU) // nobody reads Outbound
	for _, x := range []struct {
		sw  *Switch
		dev *taptest.ChannelTAP
		vni uint32
	}{{swA, idle, 2}, {swA, src, 1}, {swB, full, 1}} {
		if _, err := x.sw.AddPort(x.dev, PortConfig{VNI: x.vni}); err != nil {
			t.Fatal(err)
		}
	}
	swA.FDB().AddFlood(1, hostAddr(1))
	// Fill full.Outbound, then B's receive queue, until A's reader blocks
	// in Send. The channels hold QueueLen frames each; send more.
	total := taptest.QueueLen*3 + 10
	stopFeed := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := 0; i < total; i++ {
			select {
			case src.Inbound <- arpRequest(mac(0, 1), overlayIP(0, 1), overlayIP(0, 2)):
			case <-stopFeed:
				return
			}
		}
	}()
	defer func() { close(stopFeed); <-fed }()
	eventually(t, "port full", func() bool { return len(full.Outbound) == taptest.QueueLen })
	eventually(t, "peer queue full", func() bool { return a.Sent() > 2*taptest.QueueLen })

	done := make(chan error, 2)
	go func() { done <- swB.Close() }()
	go func() { done <- swA.Close() }()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Close: unexpected error: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Close did not return")
		}
	}
	for _, sw := range []*Switch{swA, swB} {
		if err := sw.Close(); err != nil {
			t.Errorf("second Close: unexpected error: %v", err)
		}
		if err := sw.Start(); !errors.Is(err, ErrClosed) {
			t.Errorf("unexpected Start error after Close:\n- want: %v\n-  got: %v", ErrClosed, err)
		}
		if err := sw.AddVNI(5); !errors.Is(err, ErrClosed) {
			t.Errorf("unexpected AddVNI error after Close:\n- want: %v\n-  got: %v", ErrClosed, err)
		}
		if _, err := sw.AddPort(taptest.NewChannelTAP("late", testMTU), PortConfig{VNI: 1}); !errors.Is(err, ErrClosed) {
			t.Errorf("unexpected AddPort error after Close:\n- want: %v\n-  got: %v", ErrClosed, err)
		}
	}
	for _, dev := range []*taptest.ChannelTAP{idle, src, full} {
		if _, err := dev.Write([][]byte{{0}}, 0); !errors.Is(err, os.ErrClosed) {
			t.Errorf("port %s not closed by Close: Write returned %v", dev.Name(), err)
		}
	}
	if _, _, err := a.Open(0); err != nil { // the bind was closed, so it opens again
		t.Errorf("bind not closed by Close: Open: %v", err)
	} else {
		a.Close()
	}
}

// TestConfigErrors checks that bad configuration is refused with an error
// naming the problem, and changes nothing.
func TestConfigErrors(t *testing.T) {
	u := newUnit(t, Config{}, fdb.Config{}, nil)
	u.add("dup", 1)
	tests := []struct {
		name    string
		do      func() error
		wantErr string   // substring of the message
		is      error    // errors.Is target, if any
		ports   []string // ports afterwards
	}{
		{
			name: "AddPort with a VNI above 2^24-1",
			do: func() error {
				_, err := u.sw.AddPort(newSinkDev("big", testMTU), PortConfig{VNI: encap.MaxVNI + 1})
				return err
			},
			wantErr: "VNI 16777216 out of range",
		},
		{
			name:    "AddPort with a name already attached",
			do:      func() error { _, err := u.sw.AddPort(newSinkDev("dup", testMTU), PortConfig{VNI: 2}); return err },
			wantErr: "port dup already attached",
		},
		{
			name: "AddPort with a multicast local MAC",
			do: func() error {
				_, err := u.sw.AddPort(newSinkDev("mc", testMTU), PortConfig{VNI: 2, LocalMACs: []encap.MAC{mac(0, 5), {0x01, 0, 0, 0, 0, 1}}})
				return err
			},
			wantErr: "port mc",
			is:      fdb.ErrInvalidMAC,
		},
		{
			name:    "AddPort without a device",
			do:      func() error { _, err := u.sw.AddPort(nil, PortConfig{VNI: 2}); return err },
			wantErr: "device",
		},
		{
			name:    "AddVNI above 2^24-1",
			do:      func() error { return u.sw.AddVNI(encap.MaxVNI + 1) },
			wantErr: "VNI 16777216 out of range",
		},
		{
			name:    "RemovePort of an unknown name",
			do:      func() error { return u.sw.RemovePort("nope") },
			wantErr: "nope",
			is:      ErrNoPort,
		},
		{
			name:    "Start twice",
			do:      func() error { u.sw.Start(); return u.sw.Start() },
			wantErr: "already started",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("unexpected error:\n- want: containing %q\n-  got: %v", tt.wantErr, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("unexpected error chain:\n- want: errors.Is %v\n-  got: %v", tt.is, err)
			}
			var names []string
			for _, p := range u.sw.Ports() {
				names = append(names, p.Name())
			}
			if diff := cmp.Diff([]string{"dup"}, names); diff != "" {
				t.Errorf("unexpected ports (-want +got):\n%s", diff)
			}
		})
	}
	// The rejected port's valid local MAC was rolled back.
	if e, ok := u.fdb.Get(2, mac(0, 5)); ok {
		t.Errorf("unexpected FDB entry left by a failed AddPort: %v", e)
	}
	if got := u.sw.VNIs(); !cmp.Equal(got, []uint32{1}) {
		t.Errorf("unexpected VNIs:\n- want: [1]\n-  got: %v", got)
	}
	if _, err := New(Config{}, nil, fdb.New(fdb.Config{})); err == nil {
		t.Error("New without a bind: want error, got nil")
	}
	if _, err := New(Config{}, newSinkBind(), nil); err == nil {
		t.Error("New without a table: want error, got nil")
	}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{SingleLoop: true, BusyPoll: -time.Microsecond}, "BusyPoll -1µs"},
		{Config{SingleLoop: true, BusyPoll: MaxBusyPoll + 1}, "must be 0 to 1ms"},
		{Config{BusyPoll: time.Microsecond}, "BusyPoll needs SingleLoop"},
		{Config{SingleLoop: true, RTPriority: -1}, "RTPriority -1: must be 0 (off) or 1 to 99"},
		{Config{SingleLoop: true, RTPriority: MaxRTPriority + 1}, "RTPriority 100"},
		{Config{RTPriority: 10}, "RTPriority needs SingleLoop"},
		{Config{SingleLoop: true, RTPriority: 10, BusyPoll: time.Microsecond}, "RTPriority and BusyPoll exclude each other"},
		{Config{SingleLoop: true, RTPriorityFixed: true}, "RTPriorityFixed needs RTPriority"},
	} {
		if _, err := New(tt.cfg, newSinkBind(), fdb.New(fdb.Config{})); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New with BusyPoll %v, RTPriority %d, SingleLoop %v: unexpected error:\n- want: containing %q\n-  got: %v", tt.cfg.BusyPoll, tt.cfg.RTPriority, tt.cfg.SingleLoop, tt.want, err)
		}
	}
}

// TestDefaults checks what New fills in for zero Config fields.
func TestDefaults(t *testing.T) {
	u := newUnit(t, Config{}, fdb.Config{}, nil)
	got := u.sw.Config()
	if got.Port != encap.VXLANPort || got.AgeInterval != 5*time.Second {
		t.Errorf("unexpected defaults:\n- want: port %d, ageing every %v\n-  got: port %d, ageing every %v", encap.VXLANPort, 5*time.Second, got.Port, got.AgeInterval)
	}
	d := DefaultConfig()
	if d.Port != encap.VXLANPort || d.AgeInterval != 5*time.Second || d.Strict || d.NoLearning {
		t.Errorf("unexpected DefaultConfig: %+v", d)
	}
}

// groDev is a sinkDev that can switch coalescing on write, as tap.TAP
// does.
type groDev struct {
	*sinkDev
	gro atomic.Bool
}

func (d *groDev) SetGRO(on bool) { d.gro.Store(on) }
func (d *groDev) GRO() bool      { return d.gro.Load() }

// TestSetTAPGRO: the switch's setting of coalescing on write reaches every
// queue of every port that can switch it, as ports are attached (whatever
// the device started with) and when SetTAPGRO changes it; ports attached
// after a change get the new setting; a device that cannot switch it is
// not counted.
func TestSetTAPGRO(t *testing.T) {
	for _, noGRO := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoTAPGRO=%v", noGRO), func(t *testing.T) {
			u := newUnit(t, Config{NoTAPGRO: noGRO}, fdb.Config{}, nil)
			a := &groDev{sinkDev: newSinkDev("a", testMTU)}
			a.gro.Store(noGRO) // created with the opposite setting
			qs := []*groDev{{sinkDev: newSinkDev("q", testMTU)}, {sinkDev: newSinkDev("q", testMTU)}}
			qs[1].gro.Store(true)
			u.addDev(a, 42)
			if _, err := u.sw.AddPort(qs[0], PortConfig{VNI: 42, Queues: []tap.Device{qs[1]}}); err != nil {
				t.Fatal(err)
			}
			u.add("plain", 42)
			devs := []*groDev{a, qs[0], qs[1]}
			check := func(want bool) {
				t.Helper()
				if got := u.sw.TAPGRO(); got != want {
					t.Errorf("TAPGRO() = %v, want %v", got, want)
				}
				for i, d := range devs {
					if d.GRO() != want {
						t.Errorf("device %d (%s): GRO %v, want %v", i, d.Name(), d.GRO(), want)
					}
				}
				for _, name := range []string{"a", "q"} {
					p, _ := u.sw.Port(name)
					if on, ok := p.GRO(); !ok || on != want {
						t.Errorf("port %s: GRO() = %v, %v; want %v, true", name, on, ok, want)
					}
				}
				p, _ := u.sw.Port("plain")
				if _, ok := p.GRO(); ok {
					t.Error("port plain: GRO() ok for a device that cannot switch it")
				}
			}
			check(!noGRO)
			if n := u.sw.SetTAPGRO(noGRO); n != 2 {
				t.Errorf("SetTAPGRO switched %d ports, want 2", n)
			}
			check(noGRO)
			b := &groDev{sinkDev: newSinkDev("b", testMTU)}
			b.gro.Store(!noGRO)
			u.addDev(b, 43)
			devs = append(devs, b)
			check(noGRO)
			if n := u.sw.SetTAPGRO(!noGRO); n != 3 {
				t.Errorf("SetTAPGRO switched %d ports, want 3", n)
			}
			check(!noGRO)
		})
	}
}
