package encap

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test addresses: overlay addresses from 198.18.0.0/15, documentation
// prefixes for IPv6 (2001:db8::/32); MACs are locally administered.
var (
	testMAC1 = MustParseMAC("02:00:00:00:00:01")
	testMAC2 = MustParseMAC("02:00:00:00:00:02")
	testIP1  = netip.MustParseAddr("198.18.0.1")
	testIP2  = netip.MustParseAddr("198.18.0.2")
	testIP61 = netip.MustParseAddr("2001:db8::1")
	testIP62 = netip.MustParseAddr("2001:db8::2")
)

// serialize builds a packet from gopacket layers, fixing lengths and
// computing checksums, as an independent reference encoder.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatalf("gopacket serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func hw(m MAC) net.HardwareAddr { return m.HardwareAddr() }

func ipOf(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// ethIPv4 returns the Ethernet and IPv4 layers of a test frame.
func ethIPv4(proto layers.IPProtocol) (*layers.Ethernet, *layers.IPv4) {
	eth := &layers.Ethernet{SrcMAC: hw(testMAC1), DstMAC: hw(testMAC2), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: ipOf(testIP1), DstIP: ipOf(testIP2)}
	return eth, ip
}

// tcpUDPFrame builds an Ethernet/IPv4 or IPv6/TCP or UDP frame with the
// given ports and payload using gopacket.
func tcpUDPFrame(tb testing.TB, v6, tcp bool, sport, dport uint16, payload []byte) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: hw(testMAC1), DstMAC: hw(testMAC2)}
	var netLayer gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	proto := layers.IPProtocolUDP
	if tcp {
		proto = layers.IPProtocolTCP
	}
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: ipOf(testIP61), DstIP: ipOf(testIP62)}
		netLayer, nl = ip6, ip6
	} else {
		var ip4 *layers.IPv4
		eth, ip4 = ethIPv4(proto)
		netLayer, nl = ip4, ip4
	}
	if tcp {
		t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 2000,
			SYN: true, ACK: true, Window: 65535}
		if err := t.SetNetworkLayerForChecksum(nl); err != nil {
			tb.Fatal(err)
		}
		return serialize(tb, eth, netLayer, t, gopacket.Payload(payload))
	}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(nl); err != nil {
		tb.Fatal(err)
	}
	return serialize(tb, eth, netLayer, u, gopacket.Payload(payload))
}
