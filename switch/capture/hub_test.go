package capture

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/encap"
)

func TestHubInactiveByDefault(t *testing.T) {
	var h Hub
	if h.Active() {
		t.Fatal("unexpected Active on a new hub:\n- want: false\n-  got: true")
	}
	s, err := h.Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Active() {
		t.Fatal("unexpected Active with a session:\n- want: true\n-  got: false")
	}
	s.Close()
	s.Close() // idempotent
	if h.Active() {
		t.Fatal("unexpected Active after Close:\n- want: false\n-  got: true")
	}
}

func TestSessionSelection(t *testing.T) {
	icmp := testICMP(macA, macB, ipA, ipB)
	arp := testARP(macA, ipA, ipB)
	var h Hub
	onlyICMP, _ := ParseFilter("icmp")
	sessions := []struct {
		name string
		cfg  Config
		want int
	}{
		{"all", Config{}, 5},
		{"drops", Config{Points: Points(Drop)}, 1},
		{"port tap1", Config{Ports: []string{"tap1"}}, 4}, // tap0 port-in skipped; underlay and drop kept
		{"vni 7", Config{VNI: 7, MatchVNI: true}, 1},
		{"icmp", Config{Filter: onlyICMP}, 3},
	}
	ss := make([]*Session, len(sessions))
	for i, c := range sessions {
		s, err := h.Start(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ss[i] = s
	}
	remote := netip.MustParseAddrPort("192.0.2.2:4789")
	h.Capture(&Meta{Point: PortIn, Port: "tap0", VNI: 42}, icmp)
	h.Capture(&Meta{Point: PortOut, Port: "tap1", VNI: 42}, icmp)
	h.Capture(&Meta{Point: UnderlayOut, VNI: 42, VXLAN: true, Remote: remote}, vxlanOf(42, arp))
	h.Capture(&Meta{Point: UnderlayIn, VNI: 7, VXLAN: true, Remote: remote}, vxlanOf(7, arp))
	h.Capture(&Meta{Point: Drop, VNI: 42, Decision: Decision{Kind: DecisionDrop, Reason: "no_route"}}, icmp)
	for i, c := range sessions {
		if got := ss[i].Stats().Captured; got != uint64(c.want) {
			t.Errorf("%s: unexpected captured:\n- want: %d\n-  got: %d", c.name, c.want, got)
		}
	}
}

func TestSessionLosesWhenFullAndNeverBlocks(t *testing.T) {
	var h Hub
	s, err := h.Start(Config{Buffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frame := testICMP(macA, macB, ipA, ipB)
	for range 10 {
		h.Capture(&Meta{Point: PortIn, Port: "tap0"}, frame)
	}
	if got, want := s.Stats(), (Stats{Captured: 4, Lost: 6}); got != want {
		t.Fatalf("unexpected stats:\n- want: %v\n-  got: %v", want, got)
	}
	p, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Data, frame) || p.Length != len(frame) {
		t.Fatalf("unexpected packet data:\n- want: %x\n-  got: %x", frame, p.Data)
	}
	s.Release(p)
	h.Capture(&Meta{Point: PortIn, Port: "tap0"}, frame) // a slot is free again
	if got, want := s.Stats(), (Stats{Captured: 5, Lost: 6}); got != want {
		t.Fatalf("unexpected stats after release:\n- want: %v\n-  got: %v", want, got)
	}
	s.Close()
	n := 0
	for {
		p, err := s.Next(context.Background())
		if err != nil {
			break
		}
		s.Release(p)
		n++
	}
	if n != 4 {
		t.Fatalf("unexpected packets drained after Close:\n- want: 4\n-  got: %d", n)
	}
}

func TestSnaplenAndOuterHeaders(t *testing.T) {
	var h Hub
	s, err := h.Start(Config{Snaplen: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inner := testICMP(macA, macB, ipA, ipB)
	vx := vxlanOf(42, inner)
	m := &Meta{Point: UnderlayOut, VNI: 42, VXLAN: true,
		Local: netip.MustParseAddrPort("192.0.2.1:4789"), Remote: netip.MustParseAddrPort("192.0.2.2:4789")}
	h.Capture(m, vx)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Data) != 50 || p.Length != outerLen4+len(vx) {
		t.Fatalf("unexpected lengths:\n- want: 50/%d\n-  got: %d/%d", outerLen4+len(vx), len(p.Data), p.Length)
	}
	ip := encap.IPv4(p.Data[encap.EthernetHeaderLen:])
	if ip.Src() != m.Local.Addr() || ip.Dst() != m.Remote.Addr() || !ip.IsChecksumValid() {
		t.Fatalf("unexpected outer IPv4: src %v dst %v checksum ok %v", ip.Src(), ip.Dst(), ip.IsChecksumValid())
	}
	if int(ip.TotalLength()) != 20+8+len(vx) {
		t.Fatalf("unexpected IPv4 total length:\n- want: %d\n-  got: %d", 20+8+len(vx), ip.TotalLength())
	}
}

func TestOuterUDPChecksum(t *testing.T) {
	vx := vxlanOf(42, testICMP(macA, macB, ipA, ipB))
	for _, pair := range [][2]string{{"192.0.2.1:4789", "192.0.2.2:4789"}, {"[2001:db8::1]:4789", "[2001:db8::2]:4789"}} {
		src, dst := netip.MustParseAddrPort(pair[0]), netip.MustParseAddrPort(pair[1])
		hl := outerLen(src.Addr())
		pkt := make([]byte, hl+len(vx))
		writeOuter(pkt[:hl], src, dst, true, vx)
		copy(pkt[hl:], vx)
		udp := encap.UDP(pkt[hl-encap.UDPMinimumSize:])
		if !udp.IsValid() || !udp.IsChecksumValid(src.Addr(), dst.Addr()) {
			t.Errorf("%v: unexpected UDP checksum: valid header %v", src, udp.IsValid())
		}
		if int(udp.Length()) != 8+len(vx) {
			t.Errorf("%v: unexpected UDP length:\n- want: %d\n-  got: %d", src, 8+len(vx), udp.Length())
		}
	}
}

// TestAllocsCapture: the hook costs no allocation with no session, with a
// session whose filter rejects everything, and with a full capture that
// copies into slots (underlay headers synthesized).
func TestAllocsCapture(t *testing.T) {
	frame := testICMP(macA, macB, ipA, ipB)
	vx := vxlanOf(42, frame)
	portMeta := Meta{Point: PortIn, Port: "tap0", VNI: 42, Decision: Decision{Kind: DecisionFlood, Count: 2}}
	underMeta := Meta{Point: UnderlayOut, VNI: 42, VXLAN: true,
		Local: netip.MustParseAddrPort("192.0.2.1:4789"), Remote: netip.MustParseAddrPort("192.0.2.2:4789")}
	nothing, _ := ParseFilter("vni 9 and arp")
	everything, _ := ParseFilter("vni 42 and (icmp or arp)")
	for _, tc := range []struct {
		name string
		cfg  *Config
	}{{"no session", nil}, {"filtered to nothing", &Config{Filter: nothing}}, {"full", &Config{Filter: everything, Buffer: 8}}} {
		t.Run(tc.name, func(t *testing.T) {
			var h Hub
			var s *Session
			if tc.cfg != nil {
				var err error
				if s, err = h.Start(*tc.cfg); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			ctx := context.Background()
			n := testing.AllocsPerRun(1000, func() {
				if !h.Active() {
					return
				}
				pm, um := portMeta, underMeta
				pm.ID, um.ID = h.NextID(), h.NextID()
				h.Capture(&pm, frame)
				h.Capture(&um, vx)
				if s != nil && tc.cfg.Filter == everything {
					for range 2 {
						p, _ := s.Next(ctx)
						s.Release(p)
					}
				}
			})
			if n != 0 {
				t.Fatalf("unexpected allocations:\n- want: 0\n-  got: %v", n)
			}
			if s != nil && tc.cfg.Filter == everything && s.Stats().Lost != 0 {
				t.Fatalf("unexpected lost packets:\n- want: 0\n-  got: %d", s.Stats().Lost)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	var h Hub
	for _, cfg := range []Config{
		{Snaplen: -1},
		{Snaplen: MaxSnaplen + 1},
		{Buffer: -1},
		{VNI: 1 << 24, MatchVNI: true},
		{Points: 1 << 7},
	} {
		if s, err := h.Start(cfg); err == nil {
			s.Close()
			t.Errorf("unexpected success for %+v", cfg)
		}
	}
	if h.Active() {
		t.Fatal("unexpected Active after failed starts")
	}
}
