package capture

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vxswitch/vxswitch/encap"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		wantPos int // -1: parses
	}{
		{"empty", "", -1},
		{"vni", "vni 42", -1},
		{"mac", "mac 02:00:00:00:00:01", -1},
		{"host v4", "host 198.18.0.1", -1},
		{"host v6", "host 2001:db8::1", -1},
		{"net", "net 198.18.0.0/15", -1},
		{"protocols", "arp or icmp or icmp6 or tcp or udp or ip or ip6", -1},
		{"port", "port 4789", -1},
		{"and or not parens", "vni 42 and (icmp or not arp) && !tcp || port 80", -1},
		{"juxtaposed", "tcp port 80", -1},
		{"case", "VNI 1 AND Not ARP", -1},
		{"bad vni", "vni x", 4},
		{"vni too big", "vni 16777216", 4},
		{"bad mac", "mac zz", 4},
		{"bad host", "host 198.18.0", 5},
		{"bad net", "net 198.18.0.0/40", 4},
		{"bad port", "port 70000", 5},
		{"unknown word", "icmp and bogus", 9},
		{"missing arg", "vni", 3},
		{"missing close", "(arp or icmp", 12},
		{"stray close", "arp)", 3},
		{"dangling and", "arp and", 7},
		{"lone pipe", "arp | icmp", 4},
		{"argument is paren", "host (", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter(tt.expr)
			if tt.wantPos < 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tt.expr != "" && f.String() != tt.expr {
					t.Fatalf("unexpected String:\n- want: %q\n-  got: %q", tt.expr, f.String())
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("unexpected error:\n- want: *SyntaxError\n-  got: %v", err)
			}
			if se.Pos != tt.wantPos {
				t.Fatalf("unexpected position (%v):\n- want: %d\n-  got: %d", err, tt.wantPos, se.Pos)
			}
		})
	}
}

var (
	macA = encap.MustParseMAC("02:00:00:00:00:0a")
	macB = encap.MustParseMAC("02:00:00:00:00:0b")
	ipA  = netip.MustParseAddr("198.18.0.1")
	ipB  = netip.MustParseAddr("198.18.0.2")
)

// testICMP returns an Ethernet/IPv4/ICMP echo request from a to b.
func testICMP(src, dst encap.MAC, sip, dip netip.Addr) []byte {
	b := make([]byte, encap.EthernetHeaderLen+20+16)
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: dst, Src: src, Type: encap.EtherTypeIPv4})
	ip := encap.IPv4(b[encap.EthernetHeaderLen:])
	ip.Encode(&encap.IPv4Fields{TotalLength: 36, TTL: 64, Protocol: encap.ProtocolICMP, Src: sip, Dst: dip})
	ip.SetChecksum(ip.CalculateChecksum())
	icmp := b[encap.EthernetHeaderLen+20:]
	icmp[0] = 8 // echo request
	copy(icmp[8:], "vxswitch")
	c := ^encap.Checksum(icmp, 0)
	icmp[2], icmp[3] = byte(c>>8), byte(c)
	return b
}

// testARP returns a broadcast ARP request from src.
func testARP(src encap.MAC, sip, tip netip.Addr) []byte {
	b := make([]byte, encap.EthernetHeaderLen+encap.ARPSize)
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: encap.BroadcastMAC, Src: src, Type: encap.EtherTypeARP})
	encap.ARP(b[encap.EthernetHeaderLen:]).Encode(&encap.ARPFields{Op: encap.ARPRequest, SenderMAC: src, SenderIP: sip, TargetIP: tip})
	return b
}

// testUDP returns an Ethernet/IPv4/UDP frame with the given ports.
func testUDP(sport, dport uint16) []byte {
	b := make([]byte, encap.EthernetHeaderLen+20+8)
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: macB, Src: macA, Type: encap.EtherTypeIPv4})
	encap.IPv4(b[encap.EthernetHeaderLen:]).Encode(&encap.IPv4Fields{TotalLength: 28, TTL: 64, Protocol: encap.ProtocolUDP, Src: ipA, Dst: ipB})
	encap.UDP(b[encap.EthernetHeaderLen+20:]).Encode(&encap.UDPFields{SrcPort: sport, DstPort: dport, Length: 8})
	return b
}

func vxlanOf(vni uint32, frame []byte) []byte {
	b := make([]byte, encap.VXLANHeaderLen+len(frame))
	encap.VXLAN(b).Encode(&encap.VXLANFields{VNI: vni})
	copy(b[encap.VXLANHeaderLen:], frame)
	return b
}

func TestFilterMatch(t *testing.T) {
	icmp := testICMP(macA, macB, ipA, ipB)
	arp := testARP(macA, ipA, ipB)
	udp := testUDP(5000, 53)
	port := &Meta{Point: PortIn, Port: "tap0", VNI: 42}
	under := &Meta{Point: UnderlayIn, VNI: 42, VXLAN: true,
		Remote: netip.MustParseAddrPort("192.0.2.2:4789"), Local: netip.MustParseAddrPort("192.0.2.1:4789")}
	tests := []struct {
		expr string
		m    *Meta
		data []byte
		want bool
	}{
		{"vni 42", port, icmp, true},
		{"vni 43", port, icmp, false},
		{"icmp", port, icmp, true},
		{"icmp", port, arp, false},
		{"arp", port, arp, true},
		{"ip", port, arp, false},
		{"ip6", port, icmp, false},
		{"host 198.18.0.2", port, icmp, true},
		{"host 198.18.0.2", port, arp, true}, // ARP target
		{"host 198.18.0.9", port, icmp, false},
		{"net 198.18.0.0/15", port, icmp, true},
		{"net 10.0.0.0/8", port, icmp, false},
		{"mac 02:00:00:00:00:0b", port, icmp, true},
		{"mac 02:00:00:00:00:0c", port, icmp, false},
		{"udp port 53", port, udp, true},
		{"tcp port 53", port, udp, false},
		{"port 5000", port, udp, true},
		{"port 80", port, udp, false},
		{"not arp", port, icmp, true},
		{"not (arp or icmp)", port, icmp, false},
		{"arp or icmp and vni 43", port, arp, true}, // and binds tighter
		{"(arp or icmp) and vni 43", port, arp, false},
		// Underlay: inner frame and outer addresses/ports.
		{"icmp", under, vxlanOf(42, icmp), true},
		{"udp", under, vxlanOf(42, icmp), false}, // the outer UDP does not count
		{"host 192.0.2.2", under, vxlanOf(42, icmp), true},
		{"port 4789", under, vxlanOf(42, icmp), true},
		{"host 198.18.0.1", under, vxlanOf(42, icmp), true},
		// Garbage never matches a protocol and never panics.
		{"ip or arp or port 1 or mac 02:00:00:00:00:0a", port, []byte{1, 2, 3}, false},
		{"icmp", under, []byte{8, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := ParseFilter(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.m, tt.data); got != tt.want {
				t.Fatalf("unexpected match:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestAllocsFilterMatch(t *testing.T) {
	f, err := ParseFilter("vni 42 and (icmp or arp) and net 198.18.0.0/15 and not port 22")
	if err != nil {
		t.Fatal(err)
	}
	m := &Meta{Point: PortIn, VNI: 42}
	frame := testICMP(macA, macB, ipA, ipB)
	if n := testing.AllocsPerRun(1000, func() { f.Match(m, frame) }); n != 0 {
		t.Fatalf("unexpected allocations:\n- want: 0\n-  got: %v", n)
	}
}

func FuzzParseFilter(f *testing.F) {
	f.Add("vni 42 and (icmp or not arp)") // every operator
	f.Add("tcp port 80")                  // juxtaposition
	f.Add("host 2001:db8::1 || net 198.18.0.0/15")
	f.Add("((((")      // unbalanced
	f.Add("! ! ! arp") // stacked not
	f.Add("mac 02:00:00:00:00:01 && vni 16777215")
	f.Add("port")  // missing argument
	f.Add("|& )(") // punctuation only
	icmp := testICMP(macA, macB, ipA, ipB)
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(expr) {
				t.Fatalf("bad error %v for %q", err, expr)
			}
			return
		}
		// Whatever parses must match without panicking, and reparse.
		flt.Match(&Meta{VNI: 42}, icmp)
		flt.Match(&Meta{VNI: 42, VXLAN: true}, icmp[:3])
		if _, err := ParseFilter(flt.String()); err != nil {
			t.Fatalf("String %q does not reparse: %v", flt.String(), err)
		}
	})
}
