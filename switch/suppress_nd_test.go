package vswitch

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
)

// IPv6 Neighbor Discovery suppression. Expected frames are built by
// gopacket (its own serializer and ICMPv6 checksum), so a byte-exact match
// also verifies our checksum over the pseudo-header. The overlay addresses
// are IPv6 documentation addresses (RFC 3849) that never leave the test.
var (
	ndIPA    = netip.MustParseAddr("2001:db8::a1")
	ndIPX    = netip.MustParseAddr("2001:db8::b9")
	ndIPNone = netip.MustParseAddr("2001:db8::77")
	ndLLX    = netip.MustParseAddr("fe80::b9")
)

// ndSolicitedNode is the solicited-node multicast address of a (RFC 4291 §2.7.1).
func ndSolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// ndMulticastMAC is the Ethernet address of IPv6 multicast a (RFC 2464 §7).
func ndMulticastMAC(a netip.Addr) encap.MAC {
	b := a.As16()
	return encap.MAC{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// ndFrame serializes Ethernet/IPv6/ICMPv6/msg with gopacket, computing
// lengths and the ICMPv6 checksum.
func ndFrame(t testing.TB, dst, src encap.MAC, srcIP, dstIP netip.Addr, hop uint8, typ uint8, msg gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{DstMAC: net.HardwareAddr(dst[:]), SrcMAC: net.HardwareAddr(src[:]), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hop, SrcIP: srcIP.AsSlice(), DstIP: dstIP.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, msg); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ndSolicit is a Neighbor Solicitation for target from (srcMAC, srcIP) to
// the target's solicited-node address, with a source link-layer address
// option unless srcIP is unspecified or withLLA is false.
func ndSolicit(t testing.TB, srcMAC encap.MAC, srcIP, target netip.Addr, withLLA bool) []byte {
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice()}
	if withLLA {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: append([]byte(nil), srcMAC[:]...)}}
	}
	dst := ndSolicitedNode(target)
	return ndFrame(t, ndMulticastMAC(dst), srcMAC, srcIP, dst, 255, layers.ICMPv6TypeNeighborSolicitation, ns)
}

// ndAdvert is the solicited Neighbor Advertisement (S and O flags, target
// link-layer address option) that target's owner tmac sends to (mac, ip).
func ndAdvert(t testing.TB, mac, tmac encap.MAC, ip, target netip.Addr) []byte {
	na := &layers.ICMPv6NeighborAdvertisement{
		Flags:         0x60, // S|O
		TargetAddress: target.AsSlice(),
		Options:       layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: append([]byte(nil), tmac[:]...)}},
	}
	return ndFrame(t, mac, tmac, target, ip, 255, layers.ICMPv6TypeNeighborAdvertisement, na)
}

// fromPortSlack forwards frame as port name's reader does: in a buffer
// with room to spare after the frame.
func (u *unit) fromPortSlack(name string, frame []byte) {
	u.tb.Helper()
	buf := make([]byte, PacketStartOffset+len(frame), PacketStartOffset+len(frame)+portBufSlack)
	copy(buf[PacketStartOffset:], frame)
	u.sw.forwardFromPort(u.ports[name], buf, u.out)
	u.out.flush()
}

// newSuppressNDUnit is newSuppressUnit with the bindings ndIPX and ndLLX
// → supMACX known from gossip.
func newSuppressNDUnit(t *testing.T) (*unit, *taptest.ChannelTAP, *Suppressor) {
	u, dev, s := newSuppressUnit(t)
	for _, ip := range []netip.Addr{ndIPX, ndLLX} {
		if err := s.Neigh.Add(fdb.Neighbor{NeighKey: fdb.NeighKey{VNI: 7, IP: ip}, MAC: supMACX, Origin: fdb.OriginGossip, Owner: "n9", Version: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return u, dev, s
}

func TestSuppressND(t *testing.T) {
	corrupt := func(b []byte, i int) []byte { b[i] ^= 0xff; return b }
	hop := func(b []byte, v byte) []byte { b[encap.EthernetHeaderLen+7] = v; return b }
	ns := func(srcIP, target netip.Addr) []byte { return ndSolicit(t, supMACA, srcIP, target, true) }
	toAllNodes := func() []byte {
		// Retarget to ff02::1 and fix the checksum: valid, but not the
		// solicited-node address.
		all := netip.MustParseAddr("ff02::1")
		ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: ndIPX.AsSlice(), Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: append([]byte(nil), supMACA[:]...)}}}
		return ndFrame(t, ndMulticastMAC(all), supMACA, ndIPA, all, 255, layers.ICMPv6TypeNeighborSolicitation, ns)
	}
	tests := []struct {
		name      string
		frame     []byte
		wantReply []byte         // written back to port a, or nil
		want      map[string]int // frames flooded: "b" (local port), "sent" (VTEP)
	}{
		{
			name:      "known global target answered locally",
			frame:     ns(ndIPA, ndIPX),
			wantReply: ndAdvert(t, supMACA, supMACX, ndIPA, ndIPX),
			want:      map[string]int{"b": 0, "sent": 0},
		},
		{
			name:      "known link-local target answered locally",
			frame:     ns(netip.MustParseAddr("fe80::a1"), ndLLX),
			wantReply: ndAdvert(t, supMACA, supMACX, netip.MustParseAddr("fe80::a1"), ndLLX),
			want:      map[string]int{"b": 0, "sent": 0},
		},
		{
			name:      "no source link-layer option: answered to the Ethernet source",
			frame:     ndSolicit(t, supMACA, ndIPA, ndIPX, false),
			wantReply: ndAdvert(t, supMACA, supMACX, ndIPA, ndIPX),
			want:      map[string]int{"b": 0, "sent": 0},
		},
		{name: "unknown target floods", frame: ns(ndIPA, ndIPNone), want: map[string]int{"b": 1, "sent": 1}},
		{name: "DAD probe floods", frame: ndSolicit(t, supMACA, netip.IPv6Unspecified(), ndIPX, false), want: map[string]int{"b": 1, "sent": 1}},
		{name: "not to the solicited-node address floods", frame: toAllNodes(), want: map[string]int{"b": 1, "sent": 1}},
		{name: "bad checksum floods", frame: corrupt(ns(ndIPA, ndIPX), encap.EthernetHeaderLen+40+2), want: map[string]int{"b": 1, "sent": 1}},
		{name: "hop limit below 255 floods", frame: hop(ns(ndIPA, ndIPX), 64), want: map[string]int{"b": 1, "sent": 1}},
		{name: "truncated floods", frame: ns(ndIPA, ndIPX)[:encap.EthernetHeaderLen+40+20], want: map[string]int{"b": 1, "sent": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, dev, _ := newSuppressNDUnit(t)
			bind := u.bind.(*sinkBind)
			u.fromPortSlack("a", tt.frame)
			got := map[string]int{"b": int(u.devs["b"].frames.Load()), "sent": int(bind.count.Load())}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected flooding (-want +got):\n%s", diff)
			}
			var reply []byte
			select {
			case reply = <-dev.Outbound:
			default:
			}
			if diff := cmp.Diff(tt.wantReply, reply); diff != "" {
				t.Errorf("unexpected reply on the ingress port (-want +got):\n%s", diff)
			}
			if reply == nil {
				return
			}
			// gopacket decodes it as the advertisement we meant.
			p := gopacket.NewPacket(reply, layers.LayerTypeEthernet, gopacket.Default)
			na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			if !ok || p.ErrorLayer() != nil {
				t.Fatalf("reply does not decode as an NA: %v", p)
			}
			ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if ip.HopLimit != 255 || !na.Solicited() || !na.Override() || na.Router() {
				t.Errorf("unexpected NA header:\n- want: hop limit 255, flags S|O\n-  got: hop limit %d, flags %#x", ip.HopLimit, na.Flags)
			}
			if sum := encap.Checksum(ip.Payload, encap.PseudoHeaderChecksum(encap.ProtocolICMPv6, netip.AddrFrom16([16]byte(ip.SrcIP)), netip.AddrFrom16([16]byte(ip.DstIP)), uint32(len(ip.Payload)))); sum != 0xffff {
				t.Errorf("unexpected ICMPv6 checksum sum:\n- want: 0xffff\n-  got: %#x", sum)
			}
		})
	}
}

// TestSuppressNDObserves: bindings are learned from the source of
// solicitations and the target of advertisements on local ports, and then
// answer later solicitations; DAD probes teach nothing.
func TestSuppressNDObserves(t *testing.T) {
	u, _, s := newSuppressNDUnit(t)
	macB := encap.MustParseMAC("02:00:00:00:0a:02")
	ipB := netip.MustParseAddr("2001:db8::a2")
	u.fromPortSlack("a", ndSolicit(t, supMACA, netip.IPv6Unspecified(), ndIPA, false)) // DAD
	u.fromPortSlack("a", ndSolicit(t, supMACA, ndIPA, ndIPNone, true))
	u.fromPortSlack("a", ndAdvert(t, supMACA, macB, ndIPA, ipB)) // B answers A
	want := map[netip.Addr]encap.MAC{ndIPA: supMACA, ipB: macB, ndIPX: supMACX, ndLLX: supMACX, supIPX: supMACX}
	got := map[netip.Addr]encap.MAC{}
	for _, n := range s.Neigh.Entries() {
		got[n.IP] = n.MAC
		if n.Origin == fdb.OriginLearned && n.Port != u.ports["a"].ID() {
			t.Errorf("unexpected port of %s:\n- want: %d\n-  got: %d", n.IP, u.ports["a"].ID(), n.Port)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected bindings (-want +got):\n%s", diff)
	}
	if got := s.Stats(); got.Observed != 2 || got.Answered != 0 {
		t.Errorf("unexpected stats:\n- want: 2 observed, 0 answered\n-  got: %+v", got)
	}
	// A solicitation from port b for A's address is now answered on b.
	u.fromPortSlack("b", ndSolicit(t, supMACX, ndIPX, ndIPA, true))
	if got := s.Stats().Answered; got != 1 {
		t.Errorf("unexpected answers:\n- want: 1\n-  got: %d", got)
	}
}

// TestAllocsSuppressND: answering a solicitation allocates nothing.
func TestAllocsSuppressND(t *testing.T) {
	nt := fdb.NewNeighTable()
	nt.Add(fdb.Neighbor{NeighKey: fdb.NeighKey{VNI: 7, IP: ndIPX}, MAC: supMACX, Origin: fdb.OriginGossip, Owner: "n9", Version: 1})
	s := &Suppressor{Neigh: nt}
	u := newUnit(t, Config{Suppress: s}, fdb.DefaultConfig(), nil)
	p := u.add("a", 7)
	req := withHeadroom(ndSolicit(t, supMACA, ndIPA, ndIPX, true))
	buf := make([]byte, len(req), len(req)+portBufSlack)
	got := testing.AllocsPerRun(1000, func() {
		copy(buf, req) // the reply is written in place
		u.sw.forwardFromPort(p, buf, u.out)
		u.out.flush()
	})
	if got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
	if a := s.Stats().Answered; a != 1001 || u.devs["a"].frames.Load() != 1001 {
		t.Errorf("unexpected answers:\n- want: 1001\n-  got: %d (delivered %d)", a, u.devs["a"].frames.Load())
	}
}

// FuzzSuppressND feeds arbitrary IPv6 payloads from a local port through
// suppression. Invariants: no panic, and anything answered is a valid
// Neighbor Advertisement (hop limit 255, S|O, checksum) for a known target.
func FuzzSuppressND(f *testing.F) {
	f.Add(ndSolicit(f, supMACA, ndIPA, ndIPX, true)[encap.EthernetHeaderLen:])                    // known target
	f.Add(ndSolicit(f, supMACA, ndIPA, ndIPX, false)[encap.EthernetHeaderLen:])                   // no source link-layer option
	f.Add(ndSolicit(f, supMACA, netip.IPv6Unspecified(), ndIPX, false)[encap.EthernetHeaderLen:]) // DAD probe
	f.Add(ndAdvert(f, supMACA, supMACX, ndIPA, ndIPX)[encap.EthernetHeaderLen:])                  // advertisement
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 58, 255})                                                   // truncated header
	f.Fuzz(func(t *testing.T, payload []byte) {
		nt := fdb.NewNeighTable()
		nt.Add(fdb.Neighbor{NeighKey: fdb.NeighKey{VNI: 7, IP: ndIPX}, MAC: supMACX, Origin: fdb.OriginGossip, Owner: "n9", Version: 1})
		s := &Suppressor{Neigh: nt}
		u := newUnit(t, Config{Suppress: s}, fdb.DefaultConfig(), nil)
		p := u.add("a", 7)
		frame := ethFrame(ndMulticastMAC(ndSolicitedNode(ndIPX)), supMACA, encap.EtherTypeIPv6, payload)
		buf := make([]byte, PacketStartOffset+len(frame), PacketStartOffset+len(frame)+portBufSlack)
		copy(buf[PacketStartOffset:], frame)
		if !s.suppress(u.sw, p, buf, u.out) {
			return
		}
		if len(u.out.bufs) != 1 {
			t.Fatalf("answered with %d frames", len(u.out.bufs))
		}
		reply := u.out.bufs[0][PacketStartOffset:]
		ip := encap.IPv6(encap.Ethernet(reply).Payload())
		if !ip.IsValid() || ip.HopLimit() != 255 || ip.Src() != ndIPX || encap.Ethernet(reply).Source() != supMACX {
			t.Fatalf("invalid reply % x", reply)
		}
		msg := ip.Payload()
		if msg[0] != icmpv6TypeNA || msg[4] != ndFlagSolicited|ndFlagOverride ||
			encap.Checksum(msg, encap.PseudoHeaderChecksum(encap.ProtocolICMPv6, ip.Src(), ip.Dst(), uint32(len(msg)))) != 0xffff {
			t.Fatalf("invalid advertisement % x", msg)
		}
		u.out.flush()
	})
}
