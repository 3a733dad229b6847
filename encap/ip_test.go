package encap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// naiveChecksum is RFC 1071 §4.1's reference loop, the oracle for
// Checksum.
func naiveChecksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestChecksum(t *testing.T) {
	// RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	rfc := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	tests := []struct {
		name    string
		in      []byte
		initial uint32
		want    uint16
	}{
		{"empty", nil, 0, 0},
		{"RFC 1071 example", rfc, 0, 0xddf2},
		{"odd length pads right", []byte{0xab}, 0, 0xab00},
		{"initial folds", nil, 0x1fffe, 0xffff},
		{"all ones stays", []byte{0xff, 0xff}, 0, 0xffff},
		{"carry wraps", []byte{0xff, 0xff, 0x00, 0x02}, 0, 0x0002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checksum(tt.in, tt.initial); tt.want != got {
				t.Errorf("unexpected checksum:\n- want: %#04x\n-  got: %#04x", tt.want, got)
			}
		})
	}
	// Every length and alignment up to 300 bytes against the naive loop.
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(i*7 + 0xf3)
	}
	for n := 0; n <= len(buf); n++ {
		for _, initial := range []uint32{0, 0xffff, 0x3fffc} {
			if want, got := naiveChecksum(buf[:n], initial), Checksum(buf[:n], initial); want != got {
				t.Fatalf("unexpected checksum of %d bytes, initial %#x:\n- want: %#04x\n-  got: %#04x", n, initial, want, got)
			}
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	build4 := func(src, dst netip.Addr, proto uint8, n uint32) []byte {
		s, d := src.As4(), dst.As4()
		b := append(s[:], d[:]...)
		return append(b, 0, proto, byte(n>>8), byte(n))
	}
	build6 := func(src, dst netip.Addr, proto uint8, n uint32) []byte {
		s, d := src.As16(), dst.As16()
		b := append(s[:], d[:]...)
		b = binary.BigEndian.AppendUint32(b, n)
		return append(b, 0, 0, 0, proto)
	}
	tests := []struct {
		name     string
		src, dst netip.Addr
		proto    uint8
		n        uint32
		raw      []byte
	}{
		{"IPv4 UDP", testIP1, testIP2, ProtocolUDP, 28, build4(testIP1, testIP2, ProtocolUDP, 28)},
		{"IPv4 TCP", testIP2, testIP1, ProtocolTCP, 1480, build4(testIP2, testIP1, ProtocolTCP, 1480)},
		{"IPv6 UDP", testIP61, testIP62, ProtocolUDP, 1452, build6(testIP61, testIP62, ProtocolUDP, 1452)},
		{"IPv6 jumbo length", testIP61, testIP62, ProtocolTCP, 70000, build6(testIP61, testIP62, ProtocolTCP, 70000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := naiveChecksum(tt.raw, 0)
			got := Checksum(nil, PseudoHeaderChecksum(tt.proto, tt.src, tt.dst, tt.n))
			if want != got {
				t.Errorf("unexpected folded pseudo-header sum:\n- want: %#04x\n-  got: %#04x", want, got)
			}
		})
	}
	// An invalid Addr must not panic.
	_ = PseudoHeaderChecksum(ProtocolUDP, netip.Addr{}, netip.Addr{}, 8)
	_ = PseudoHeaderChecksum(ProtocolUDP, testIP1, testIP61, 8)
}

type ipv4View struct {
	Valid                 bool
	Version               uint8
	HeaderLength          int
	TOS                   uint8
	TotalLength, ID       uint16
	Flags                 uint8
	FragmentOffset        uint16
	IsFragment            bool
	TTL, Protocol         uint8
	Src, Dst              netip.Addr
	ChecksumOK            bool
	PayloadLen            int
	CalculatedMatchStored bool
}

func viewIPv4(b IPv4) ipv4View {
	if !b.IsValid() {
		return ipv4View{}
	}
	return ipv4View{true, b.Version(), b.HeaderLength(), b.TOS(), b.TotalLength(), b.ID(), b.Flags(),
		b.FragmentOffset(), b.IsFragment(), b.TTL(), b.Protocol(), b.Src(), b.Dst(), b.IsChecksumValid(),
		len(b.Payload()), b.CalculateChecksum() == b.Checksum()}
}

func TestIPv4AgainstGopacket(t *testing.T) {
	opts := []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}} // NOPs + EOL: 4 bytes
	tests := []struct {
		name    string
		ip      layers.IPv4
		payload int
		pad     int
		want    ipv4View
	}{
		{"plain UDP", layers.IPv4{Version: 4, TTL: 64, Id: 7, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolUDP,
			SrcIP: ipOf(testIP1), DstIP: ipOf(testIP2)}, 12, 0,
			ipv4View{true, 4, 20, 0, 32, 7, 0x2, 0, false, 64, ProtocolUDP, testIP1, testIP2, true, 12, true}},
		{"options and padding", layers.IPv4{Version: 4, TOS: 0xb8, TTL: 1, Id: 0xffff, Protocol: layers.IPProtocolTCP,
			SrcIP: ipOf(testIP2), DstIP: ipOf(testIP1), Options: opts}, 6, 10,
			ipv4View{true, 4, 24, 0xb8, 30, 0xffff, 0, 0, false, 1, ProtocolTCP, testIP2, testIP1, true, 6, true}},
		{"middle fragment", layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4MoreFragments, FragOffset: 185,
			Protocol: layers.IPProtocolUDP, SrcIP: ipOf(testIP1), DstIP: ipOf(testIP2)}, 8, 0,
			ipv4View{true, 4, 20, 0, 28, 0, 0x1, 1480, true, 64, ProtocolUDP, testIP1, testIP2, true, 8, true}},
		{"last fragment", layers.IPv4{Version: 4, TTL: 64, FragOffset: 1, Protocol: layers.IPProtocolICMPv4,
			SrcIP: ipOf(testIP1), DstIP: ipOf(testIP2)}, 0, 0,
			ipv4View{true, 4, 20, 0, 20, 0, 0, 8, true, 64, ProtocolICMP, testIP1, testIP2, true, 0, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := serialize(t, &tt.ip, gopacket.Payload(bytes.Repeat([]byte{0x5a}, tt.payload)))
			pkt = append(pkt, make([]byte, tt.pad)...) // Ethernet padding
			if diff := cmp.Diff(tt.want, viewIPv4(pkt), addrCmp); diff != "" {
				t.Errorf("unexpected view (-want +got):\n%s", diff)
			}
			var ref layers.IPv4
			if err := ref.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			b := IPv4(pkt)
			want := []any{ref.Length, ref.Checksum, uint8(ref.Protocol), ref.SrcIP.String(), ref.DstIP.String(), ref.Payload}
			got := []any{b.TotalLength(), b.Checksum(), b.Protocol(), b.Src().String(), b.Dst().String(), b.Payload()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("unexpected difference from gopacket (-want +got):\n%s", diff)
			}
			// A flipped bit breaks the checksum.
			pkt[8] ^= 0x01
			if IPv4(pkt).IsChecksumValid() {
				t.Error("unexpected IsChecksumValid after corruption:\n- want: false\n-  got: true")
			}
		})
	}
}

func TestIPv4IsValid(t *testing.T) {
	good := serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: ipOf(testIP1), DstIP: ipOf(testIP2)}, gopacket.Payload(make([]byte, 8)))
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"valid", good, true},
		{"short", good[:19], false},
		{"truncated payload", good[:27], false},
		{"version 6", mutate(func(b []byte) { b[0] = 0x65 }), false},
		{"IHL 4", mutate(func(b []byte) { b[0] = 0x44 }), false},
		{"IHL beyond total length", mutate(func(b []byte) { b[0] = 0x48 }), false},
		{"IHL beyond slice", mutate(func(b []byte) { b[0] = 0x4f; b[2], b[3] = 0, 28 }), false},
		{"total length below header", mutate(func(b []byte) { b[2], b[3] = 0, 19 }), false},
		{"total length beyond slice", mutate(func(b []byte) { b[2], b[3] = 0, 29 }), false},
		{"total length = header", mutate(func(b []byte) { b[2], b[3] = 0, 20 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IPv4(tt.in).IsValid(); tt.want != got {
				t.Errorf("unexpected IsValid:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestIPv4Encode(t *testing.T) {
	f := IPv4Fields{TOS: 0x10, TotalLength: 40, ID: 0xbeef, Flags: 0x2, FragmentOffset: 0, TTL: 63,
		Protocol: ProtocolTCP, Src: testIP1, Dst: testIP2}
	b := make(IPv4, 40)
	b.Encode(&f)
	b.SetChecksum(b.CalculateChecksum())
	var ref layers.IPv4
	if err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	want := []any{uint8(4), uint8(5), f.TOS, f.TotalLength, f.ID, layers.IPv4DontFragment, uint16(0), f.TTL,
		layers.IPProtocolTCP, testIP1.String(), testIP2.String()}
	got := []any{ref.Version, ref.IHL, ref.TOS, ref.Length, ref.Id, ref.Flags, ref.FragOffset, ref.TTL,
		ref.Protocol, ref.SrcIP.String(), ref.DstIP.String()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected gopacket decode (-want +got):\n%s", diff)
	}
	if !b.IsChecksumValid() {
		t.Error("unexpected IsChecksumValid:\n- want: true\n-  got: false")
	}
	b.SetTotalLength(20)
	if b.TotalLength() != 20 || b.IsChecksumValid() {
		t.Errorf("unexpected after SetTotalLength(20): length %d, checksum valid %v", b.TotalLength(), b.IsChecksumValid())
	}
	// Fragment offset round trip (bytes, multiple of 8).
	f.Flags, f.FragmentOffset = 0x1, 1480
	b.Encode(&f)
	if b.Flags() != 0x1 || b.FragmentOffset() != 1480 || !b.IsFragment() {
		t.Errorf("unexpected fragment fields: flags %#x offset %d fragment %v", b.Flags(), b.FragmentOffset(), b.IsFragment())
	}
}

type ipv6View struct {
	Valid        bool
	Version      uint8
	TrafficClass uint8
	FlowLabel    uint32
	PayloadLen   uint16
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
	Payload      []byte
}

func viewIPv6(b IPv6) ipv6View {
	if !b.IsValid() {
		return ipv6View{}
	}
	return ipv6View{true, b.Version(), b.TrafficClass(), b.FlowLabel(), b.PayloadLength(), b.NextHeader(),
		b.HopLimit(), b.Src(), b.Dst(), b.Payload()}
}

func TestIPv6AgainstGopacket(t *testing.T) {
	ip := &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0xabcde, NextHeader: layers.IPProtocolUDP,
		HopLimit: 255, SrcIP: ipOf(testIP61), DstIP: ipOf(testIP62)}
	payload := []byte("0123456789")
	pkt := serialize(t, ip, gopacket.Payload(payload))
	want := ipv6View{true, 6, 0xb8, 0xabcde, 10, ProtocolUDP, 255, testIP61, testIP62, payload}
	tests := []struct {
		name string
		in   []byte
		want ipv6View
	}{
		{"exact", pkt, want},
		{"with padding", append(append([]byte(nil), pkt...), 0, 0, 0), want},
		{"truncated payload", pkt[:len(pkt)-1], ipv6View{}},
		{"short header", pkt[:39], ipv6View{}},
		{"version 4", append([]byte{0x40}, pkt[1:]...), ipv6View{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, viewIPv6(tt.in), addrCmp); diff != "" {
				t.Errorf("unexpected view (-want +got):\n%s", diff)
			}
		})
	}
	var ref layers.IPv6
	if err := ref.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	b := IPv6(pkt)
	wantRef := []any{ref.TrafficClass, ref.FlowLabel, ref.Length, uint8(ref.NextHeader), ref.HopLimit, ref.SrcIP.String(), ref.DstIP.String()}
	gotRef := []any{b.TrafficClass(), b.FlowLabel(), b.PayloadLength(), b.NextHeader(), b.HopLimit(), b.Src().String(), b.Dst().String()}
	if diff := cmp.Diff(wantRef, gotRef); diff != "" {
		t.Errorf("unexpected difference from gopacket (-want +got):\n%s", diff)
	}
	b.SetPayloadLength(4)
	if got := len(b.Payload()); got != 4 {
		t.Errorf("unexpected payload length after SetPayloadLength:\n- want: 4\n-  got: %d", got)
	}
}

// l3l4 splits a gopacket-built frame into the IP addresses and the
// transport segment.
func l3l4(t *testing.T, frame []byte, v6 bool) (src, dst netip.Addr, seg []byte) {
	t.Helper()
	e := Ethernet(frame)
	if v6 {
		ip := IPv6(e.Payload())
		if !ip.IsValid() {
			t.Fatal("invalid IPv6")
		}
		return ip.Src(), ip.Dst(), ip.Payload()
	}
	ip := IPv4(e.Payload())
	if !ip.IsValid() {
		t.Fatal("invalid IPv4")
	}
	return ip.Src(), ip.Dst(), ip.Payload()
}

func TestUDPAgainstGopacket(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, n := range []int{0, 1, 7, 100} {
			t.Run(fmt.Sprintf("v6=%v/payload=%d", v6, n), func(t *testing.T) {
				payload := bytes.Repeat([]byte{0xa5}, n)
				frame := tcpUDPFrame(t, v6, false, 49152, VXLANPort, payload)
				src, dst, seg := l3l4(t, frame, v6)
				u := UDP(seg)
				if !u.IsValid() {
					t.Fatal("unexpected IsValid:\n- want: true\n-  got: false")
				}
				var ref layers.UDP
				if err := ref.DecodeFromBytes(seg, gopacket.NilDecodeFeedback); err != nil {
					t.Fatal(err)
				}
				want := []any{uint16(ref.SrcPort), uint16(ref.DstPort), ref.Length, ref.Checksum, []byte(ref.Payload), true, ref.Checksum}
				got := []any{u.SourcePort(), u.DestinationPort(), u.Length(), u.Checksum(), u.Payload(),
					u.IsChecksumValid(src, dst), u.CalculateChecksum(src, dst)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("unexpected UDP view (-want +got):\n%s", diff)
				}
				seg[len(seg)-1] ^= 0xff // corrupt (a payload byte or the checksum)
				if u.IsChecksumValid(src, dst) {
					t.Error("unexpected IsChecksumValid after corruption:\n- want: false\n-  got: true")
				}
			})
		}
	}
}

func TestUDPZeroChecksum(t *testing.T) {
	b := make(UDP, 12)
	b.Encode(&UDPFields{SrcPort: 1, DstPort: 2, Length: 12})
	tests := []struct {
		name     string
		src, dst netip.Addr
		want     bool
	}{
		{"IPv4 means none", testIP1, testIP2, true},
		{"IPv6 forbids it", testIP61, testIP62, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.IsChecksumValid(tt.src, tt.dst); tt.want != got {
				t.Errorf("unexpected IsChecksumValid:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestUDPEncodeAndIsValid(t *testing.T) {
	b := make(UDP, 16)
	b.Encode(&UDPFields{SrcPort: 50000, DstPort: VXLANPort, Length: 16})
	b.SetChecksum(b.CalculateChecksum(testIP1, testIP2))
	if !b.IsValid() || !b.IsChecksumValid(testIP1, testIP2) {
		t.Fatalf("unexpected encode: valid %v checksum %v", b.IsValid(), b.IsChecksumValid(testIP1, testIP2))
	}
	b.SetSourcePort(1)
	b.SetDestinationPort(2)
	if b.SourcePort() != 1 || b.DestinationPort() != 2 {
		t.Errorf("unexpected ports after set: %d %d", b.SourcePort(), b.DestinationPort())
	}
	tests := []struct {
		name   string
		length uint16
		n      int
		want   bool
	}{
		{"exact", 16, 16, true},
		{"padded", 8, 16, true},
		{"length below header", 7, 16, false},
		{"length beyond slice", 17, 16, false},
		{"short", 8, 7, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := append(UDP(nil), b...)
			c.SetLength(tt.length)
			if got := c[:tt.n].IsValid(); tt.want != got {
				t.Errorf("unexpected IsValid:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestTCPAgainstGopacket(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, n := range []int{0, 3, 1000} {
			t.Run(fmt.Sprintf("v6=%v/payload=%d", v6, n), func(t *testing.T) {
				payload := bytes.Repeat([]byte{0x3c}, n)
				frame := tcpUDPFrame(t, v6, true, 40000, 443, payload)
				src, dst, seg := l3l4(t, frame, v6)
				tc := TCP(seg)
				if !tc.IsValid() {
					t.Fatal("unexpected IsValid:\n- want: true\n-  got: false")
				}
				var ref layers.TCP
				if err := ref.DecodeFromBytes(seg, gopacket.NilDecodeFeedback); err != nil {
					t.Fatal(err)
				}
				want := []any{uint16(ref.SrcPort), uint16(ref.DstPort), ref.Seq, ref.Ack, int(ref.DataOffset) * 4,
					TCPFlagSyn | TCPFlagAck, ref.Window, ref.Checksum, ref.Urgent, []byte(ref.Payload), true, ref.Checksum}
				got := []any{tc.SourcePort(), tc.DestinationPort(), tc.SequenceNumber(), tc.AckNumber(), tc.DataOffset(),
					tc.Flags(), tc.WindowSize(), tc.Checksum(), tc.UrgentPointer(), tc.Payload(),
					tc.IsChecksumValid(src, dst), tc.CalculateChecksum(src, dst)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("unexpected TCP view (-want +got):\n%s", diff)
				}
				tc.SetSequenceNumber(tc.SequenceNumber() + 1)
				if tc.IsChecksumValid(src, dst) {
					t.Error("unexpected IsChecksumValid after SetSequenceNumber:\n- want: false\n-  got: true")
				}
				tc.SetChecksum(tc.CalculateChecksum(src, dst))
				if !tc.IsChecksumValid(src, dst) {
					t.Error("unexpected IsChecksumValid after SetChecksum:\n- want: true\n-  got: false")
				}
			})
		}
	}
}

func TestTCPEncode(t *testing.T) {
	f := TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 3, AckNum: 4, DataOffset: 20, Flags: TCPFlagFin | TCPFlagPsh,
		WindowSize: 5, Checksum: 6, UrgentPointer: 7}
	b := make(TCP, 20)
	b.Encode(&f)
	got := TCPFields{b.SourcePort(), b.DestinationPort(), b.SequenceNumber(), b.AckNumber(), uint8(b.DataOffset()),
		b.Flags(), b.WindowSize(), b.Checksum(), b.UrgentPointer()}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("unexpected round trip (-want +got):\n%s", diff)
	}
	b.SetFlags(TCPFlagRst)
	tests := []struct {
		name string
		in   TCP
		want bool
	}{
		{"valid", b, true},
		{"short", b[:19], false},
		{"offset 16", append(TCP{}, append(b[:12:12], 0x40, 0)...), false},
		{"offset beyond slice", func() TCP { c := append(TCP(nil), b...); c[12] = 0x60; return c }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.IsValid(); tt.want != got {
				t.Errorf("unexpected IsValid:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestAllocsIP(t *testing.T) {
	frame4 := tcpUDPFrame(t, false, true, 1, 2, []byte("x"))
	frame6 := tcpUDPFrame(t, true, false, 1, 2, []byte("x"))
	var sink int
	got := testing.AllocsPerRun(1000, func() {
		ip4 := IPv4(Ethernet(frame4).Payload())
		if ip4.IsValid() && ip4.IsChecksumValid() {
			tc := TCP(ip4.Payload())
			if tc.IsValid() && tc.IsChecksumValid(ip4.Src(), ip4.Dst()) {
				sink += int(tc.SourcePort()) + int(ip4.CalculateChecksum())
			}
		}
		ip6 := IPv6(Ethernet(frame6).Payload())
		if ip6.IsValid() {
			u := UDP(ip6.Payload())
			if u.IsValid() && u.IsChecksumValid(ip6.Src(), ip6.Dst()) {
				sink += int(u.DestinationPort())
			}
		}
	})
	if got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
	if sink == 0 {
		t.Error("unexpected: the checked path never ran")
	}
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 1500, 9000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, n)
			b.SetBytes(int64(n))
			var sink uint16
			for b.Loop() {
				sink += Checksum(buf, 0)
			}
			_ = sink
		})
	}
}

func FuzzIPv4(f *testing.F) {
	f.Add(serialize(f, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: ipOf(testIP1), DstIP: ipOf(testIP2)}, gopacket.Payload([]byte("payload")))) // valid UDP packet
	f.Add([]byte{0x4f, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}) // IHL 15 in 20 bytes
	f.Add([]byte{0x45, 0, 0xff, 0xff})                                                   // short, huge total length
	f.Add([]byte{})                                                                      // empty
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv4(b)
		if !ip.IsValid() {
			return
		}
		hl, tl := ip.HeaderLength(), int(ip.TotalLength())
		if hl < IPv4MinimumSize || hl > IPv4MaximumHeaderSize || tl < hl || tl > len(b) {
			t.Fatalf("IsValid accepted header length %d, total %d, slice %d", hl, tl, len(b))
		}
		if got := len(ip.Payload()); got != tl-hl {
			t.Fatalf("unexpected payload length:\n- want: %d\n-  got: %d", tl-hl, got)
		}
		// Storing the calculated checksum makes the header verify.
		c := append(IPv4(nil), b...)
		c.SetChecksum(c.CalculateChecksum())
		if !c.IsChecksumValid() {
			t.Fatalf("header does not verify after SetChecksum(CalculateChecksum()): % x", c[:hl])
		}
		if ip.IsChecksumValid() != (ip.CalculateChecksum() == ip.Checksum()) &&
			!(ip.Checksum() == 0xffff || ip.CalculateChecksum() == 0xffff) {
			// 0x0000 and 0xffff are both "zero" in one's complement.
			t.Fatalf("IsChecksumValid disagrees with CalculateChecksum: stored %#04x calculated %#04x",
				ip.Checksum(), ip.CalculateChecksum())
		}
		_, _, _, _ = ip.Src(), ip.Dst(), ip.Protocol(), ip.FragmentOffset()
	})
}
