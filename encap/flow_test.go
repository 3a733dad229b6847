package encap

import (
	"encoding/binary"
	"math"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
)

// withVLAN inserts an 802.1Q tag with VID vid after the MACs.
func withVLAN(frame []byte, vid uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, EtherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, vid)
	return append(out, frame[12:]...)
}

// edit returns a copy of frame with f applied.
func edit(frame []byte, f func(b []byte)) []byte {
	c := append([]byte(nil), frame...)
	f(c)
	return c
}

func TestFlowHash(t *testing.T) {
	udp4 := tcpUDPFrame(t, false, false, 40000, 53, []byte("query"))
	tcp4 := tcpUDPFrame(t, false, true, 40000, 53, []byte("query"))
	udp6 := tcpUDPFrame(t, true, false, 40000, 53, []byte("query"))
	tcp6 := tcpUDPFrame(t, true, true, 40000, 53, []byte("query"))
	arp := serialize(t, &layers.Ethernet{SrcMAC: hw(testMAC1), DstMAC: hw(BroadcastMAC), EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
			ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: hw(testMAC1),
			SourceProtAddress: ipOf(testIP1), DstHwAddress: make([]byte, 6), DstProtAddress: ipOf(testIP2)})
	const (
		ip4 = EthernetHeaderLen      // IPv4 header offset
		l4  = EthernetHeaderLen + 20 // IPv4 transport offset
		l46 = EthernetHeaderLen + 40 // IPv6 transport offset
	)
	tests := []struct {
		name string
		a, b []byte
		same bool
	}{
		// Fields outside the flow do not change the hash.
		{"IPv4 TTL, ID, checksum, payload", udp4, edit(udp4, func(b []byte) {
			b[ip4+8], b[ip4+4], b[ip4+10], b[len(b)-1] = 1, 0x77, 0, 'X'
		}), true},
		{"IPv4 MACs ignored", udp4, edit(udp4, func(b []byte) { b[0], b[11] = 0x0e, 0x0e }), true},
		{"IPv4 longer payload", tcp4, append(append([]byte(nil), tcp4...), 1, 2, 3), true},
		{"IPv4 TCP seq and flags", tcp4, edit(tcp4, func(b []byte) { b[l4+4], b[l4+13] = 9, 0x01 }), true},
		{"VLAN tag skipped", udp4, withVLAN(udp4, 100), true},
		{"IPv6 hop limit, flow label, payload", udp6, edit(udp6, func(b []byte) {
			b[ip4+7], b[ip4+3], b[len(b)-1] = 1, 0x55, 'X'
		}), true},
		{"ARP payload ignored", arp, edit(arp, func(b []byte) { b[len(b)-1] ^= 0xff }), true},
		// Each flow field changes it.
		{"IPv4 source port", udp4, edit(udp4, func(b []byte) { b[l4+1]++ }), false},
		{"IPv4 destination port", udp4, edit(udp4, func(b []byte) { b[l4+3]++ }), false},
		{"IPv4 source address", udp4, edit(udp4, func(b []byte) { b[ip4+15]++ }), false},
		{"IPv4 destination address", udp4, edit(udp4, func(b []byte) { b[ip4+19]++ }), false},
		{"IPv4 protocol", udp4, tcp4, false},
		{"IPv6 source address", tcp6, edit(tcp6, func(b []byte) { b[ip4+8]++ }), false},
		{"IPv6 destination address", tcp6, edit(tcp6, func(b []byte) { b[ip4+39]++ }), false},
		{"IPv6 source port", tcp6, edit(tcp6, func(b []byte) { b[l46]++ }), false},
		{"IPv6 protocol", udp6, tcp6, false},
		{"ARP source MAC", arp, edit(arp, func(b []byte) { b[11]++ }), false},
		{"ARP destination MAC", arp, edit(arp, func(b []byte) { b[5]-- }), false},
		{"EtherType", arp, edit(arp, func(b []byte) { b[13] = 0x99 }), false},
		// Fragments hash without ports, so all fragments of a datagram agree.
		{"IPv4 fragments ignore ports", edit(udp4, func(b []byte) { b[ip4+6] = 0x20 }),
			edit(udp4, func(b []byte) { b[ip4+6], b[l4] = 0x20, 0x99 }), true},
		{"IPv4 first and later fragment", edit(udp4, func(b []byte) { b[ip4+6] = 0x20 }),
			edit(udp4, func(b []byte) { b[ip4+6], b[ip4+7] = 0x00, 0xb9 }), true},
		// Truncation falls back to fewer fields but still hashes.
		{"IPv4 without ports", udp4[:l4+3], edit(udp4[:l4+3], func(b []byte) { b[l4] = 7 }), true},
		{"IPv4 without ports differs from full", udp4[:l4+3], udp4, false},
		{"short IPv4 hashes MACs", udp4[:ip4+19], edit(udp4[:ip4+19], func(b []byte) { b[ip4+12]++ }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha, hb := FlowHash(tt.a), FlowHash(tt.b)
			if got := ha == hb; tt.same != got {
				t.Errorf("unexpected hash equality (%#08x vs %#08x):\n- want: %v\n-  got: %v", ha, hb, tt.same, got)
			}
		})
	}
}

func TestFlowHashIPv6ExtensionHeaders(t *testing.T) {
	base := tcpUDPFrame(t, true, false, 40000, 53, []byte("query"))
	const ip6 = EthernetHeaderLen
	// insert puts an 8-byte extension header of type typ before the UDP header.
	insert := func(typ uint8, ext [8]byte) []byte {
		b := append([]byte(nil), base[:ip6+IPv6HeaderLen]...)
		ext[0] = b[ip6+ipv6NextHeaderOffset]
		b[ip6+ipv6NextHeaderOffset] = typ
		b = append(b, ext[:]...)
		return append(b, base[ip6+IPv6HeaderLen:]...)
	}
	tests := []struct {
		name string
		in   []byte
		want uint32
	}{
		{"hop-by-hop", insert(ipv6HopByHop, [8]byte{}), FlowHash(base)},
		{"destination options", insert(ipv6DestOpts, [8]byte{}), FlowHash(base)},
		{"atomic fragment", insert(ipv6Fragment, [8]byte{}), FlowHash(base)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FlowHash(tt.in); tt.want != got {
				t.Errorf("unexpected hash:\n- want: %#08x\n-  got: %#08x", tt.want, got)
			}
		})
	}
	// A real fragment has no ports: first and later fragments agree.
	first := insert(ipv6Fragment, [8]byte{2: 0x00, 3: 0x01})
	later := insert(ipv6Fragment, [8]byte{2: 0x05, 3: 0x00})
	later[len(later)-len("query")-8] ^= 0xff // different bytes where ports would be
	if h1, h2 := FlowHash(first), FlowHash(later); h1 != h2 || h1 == FlowHash(base) {
		t.Errorf("unexpected fragment hashes: first %#08x later %#08x unfragmented %#08x", h1, h2, FlowHash(base))
	}
}

func TestFlowHashShortFrames(t *testing.T) {
	// Every prefix of real frames hashes without panicking, and
	// deterministically.
	frames := [][]byte{
		tcpUDPFrame(t, false, true, 1, 2, nil),
		tcpUDPFrame(t, true, false, 1, 2, nil),
		withVLAN(tcpUDPFrame(t, true, true, 1, 2, nil), 7),
	}
	for i, f := range frames {
		for n := 0; n <= len(f); n++ {
			if a, b := FlowHash(f[:n]), FlowHash(append([]byte(nil), f[:n]...)); a != b {
				t.Fatalf("frame %d prefix %d: unexpected hash mismatch:\n- want: %#08x\n-  got: %#08x", i, n, a, b)
			}
		}
	}
}

// TestFlowHashSpread checks that flows differing in one port spread over
// source ports: with 4096 flows into 64 buckets, no bucket is empty and
// none holds more than 3x its share. These bounds are loose for a
// well-mixed hash (the expected maximum is ~90) and deterministic.
func TestFlowHashSpread(t *testing.T) {
	frame := tcpUDPFrame(t, false, false, 0, 4789, nil)
	const flows, buckets = 4096, 64
	var count [buckets]int
	for i := range flows {
		binary.BigEndian.PutUint16(frame[EthernetHeaderLen+20:], uint16(i))
		count[SourcePort(FlowHash(frame), 0, buckets-1)]++
	}
	for i, c := range count {
		if c == 0 || c > 3*flows/buckets {
			t.Fatalf("unexpected bucket %d count %d (of %d flows): %v", i, c, flows, count)
		}
	}
}

func TestSourcePort(t *testing.T) {
	tests := []struct {
		name     string
		hash     uint32
		min, max uint16
		want     uint16
	}{
		{"zero hash is min", 0, 49152, 65535, 49152},
		{"max hash is max", math.MaxUint32, 49152, 65535, 65535},
		{"middle", 1 << 31, 49152, 65535, 49152 + 8192},
		{"single port", 12345, 4789, 4789, 4789},
		{"full range max", math.MaxUint32, 0, 65535, 65535},
		{"full range zero", 0, 0, 65535, 0},
		{"swapped bounds", math.MaxUint32, 65535, 49152, 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SourcePort(tt.hash, tt.min, tt.max); tt.want != got {
				t.Errorf("unexpected port:\n- want: %d\n-  got: %d", tt.want, got)
			}
		})
	}
	// Always inside the range.
	for h := uint32(0); h < 1<<20; h += 997 {
		h := h * 4099
		if p := SourcePort(h, 32768, 60999); p < 32768 || p > 60999 {
			t.Fatalf("SourcePort(%#x) = %d, outside [32768, 60999]", h, p)
		}
	}
}

func TestAllocsFlowHash(t *testing.T) {
	frames := [][]byte{
		tcpUDPFrame(t, false, true, 1, 2, nil),
		tcpUDPFrame(t, true, false, 1, 2, nil),
		withVLAN(tcpUDPFrame(t, false, false, 1, 2, nil), 3),
		innerFrame,
		{1, 2, 3},
	}
	var sink uint32
	got := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			sink += uint32(SourcePort(FlowHash(f), 49152, 65535))
		}
	})
	if got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
	_ = sink
}

func BenchmarkFlowHash(b *testing.B) {
	cases := []struct {
		name  string
		frame []byte
	}{
		{"IPv4-TCP", tcpUDPFrame(b, false, true, 40000, 443, make([]byte, 1400))},
		{"IPv6-UDP", tcpUDPFrame(b, true, false, 40000, 443, make([]byte, 1400))},
		{"ARP", innerFrame},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink uint32
			for b.Loop() {
				sink += FlowHash(c.frame)
			}
			_ = sink
		})
	}
}

func FuzzFlowHash(f *testing.F) {
	f.Add([]byte{}, uint8(0), []byte{})                                              // empty frame
	f.Add(innerFrame, uint8(1), []byte("x"))                                         // ARP header only
	f.Add(tcpUDPFrame(f, false, true, 1, 2, nil), uint8(2), []byte("payload"))       // IPv4 TCP
	f.Add(tcpUDPFrame(f, true, false, 1, 2, nil), uint8(3), []byte{})                // IPv6 UDP
	f.Add(withVLAN(tcpUDPFrame(f, false, false, 1, 2, nil), 9), uint8(4), []byte{1}) // tagged IPv4 UDP
	f.Fuzz(func(t *testing.T, frame []byte, ttl uint8, payload []byte) {
		// Never panics, and equal bytes hash equally.
		h := FlowHash(frame)
		if h2 := FlowHash(append([]byte(nil), frame...)); h != h2 {
			t.Fatalf("unexpected hash of a copy:\n- want: %#08x\n-  got: %#08x", h, h2)
		}
		// Equal flows hash equally: two packets of the flow the fuzzer
		// chose, differing in TTL/hop limit and payload only.
		if len(frame) < 36+4+1 {
			return
		}
		v6 := frame[0]&1 == 1
		f1 := flowFrame(frame, v6, 64, nil)
		f2 := flowFrame(frame, v6, ttl, payload)
		if h1, h2 := FlowHash(f1), FlowHash(f2); h1 != h2 {
			t.Fatalf("same flow, different hash: %#08x vs %#08x\n% x\n% x", h1, h2, f1, f2)
		}
	})
}

// flowFrame builds an untagged IPv4 or IPv6 frame whose addresses, protocol
// and ports come from seed (at least 41 bytes), with the given TTL and
// payload.
func flowFrame(seed []byte, v6 bool, ttl uint8, payload []byte) []byte {
	proto := []uint8{ProtocolTCP, ProtocolUDP, ProtocolSCTP, ProtocolICMP}[seed[36]%4]
	ports := seed[32:36]
	eth := make([]byte, EthernetHeaderLen)
	var ip []byte
	if v6 {
		Ethernet(eth).Encode(&EthernetFields{Src: MAC(seed[0:6]), Dst: MAC(seed[6:12]), Type: EtherTypeIPv6})
		ip = make([]byte, IPv6HeaderLen)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(20+len(payload)))
		ip[6], ip[7] = proto, ttl
		copy(ip[8:40], seed[0:32])
	} else {
		Ethernet(eth).Encode(&EthernetFields{Src: MAC(seed[0:6]), Dst: MAC(seed[6:12]), Type: EtherTypeIPv4})
		ip = make([]byte, IPv4MinimumSize)
		IPv4(ip).Encode(&IPv4Fields{TotalLength: uint16(40 + len(payload)), TTL: ttl, Protocol: proto,
			ID: uint16(ttl), Src: addr4(seed[0:4]), Dst: addr4(seed[4:8])})
	}
	l4 := make([]byte, 20)
	copy(l4, ports)
	l4[12], l4[13] = 0x50, ttl // data offset, flags vary with ttl
	return append(append(append(eth, ip...), l4...), payload...)
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b)) }
