package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/vxswitch/vxswitch/encap"
)

// Synthesized outer Ethernet addresses: the IANA range for documentation
// (RFC 7042 §2.1.2, 00-00-5E-00-53-00 to 00-00-5E-00-53-FF). The switch
// never sees the underlay's Ethernet header, so none is claimed.
var (
	outerLocalMAC  = encap.MAC{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01}
	outerRemoteMAC = encap.MAC{0x00, 0x00, 0x5e, 0x00, 0x53, 0x02}
)

// Outer header sizes.
const (
	outerLen4 = encap.EthernetHeaderLen + encap.IPv4MinimumSize + encap.UDPMinimumSize // 42
	outerLen6 = encap.EthernetHeaderLen + encap.IPv6HeaderLen + encap.UDPMinimumSize   // 62
	outerMax  = outerLen6
	outerTTL  = 64
)

// outerLen returns the length of the headers writeOuter puts in front of a
// VXLAN payload between the two addresses.
func outerLen(src netip.Addr) int {
	if src.Unmap().Is4() || !src.IsValid() {
		return outerLen4
	}
	return outerLen6
}

// writeOuter writes Ethernet, IP and UDP headers into hdr (outerLen(src)
// bytes) for the UDP payload vxlan travelling from src to dst, with
// correct lengths and checksums computed over the whole payload. It never
// allocates. A payload too long for the IP length field gets the largest
// length that fits (tshark then reports the truncation, which is true).
// outbound says src is this VTEP (it picks the synthesized MACs).
func writeOuter(hdr []byte, src, dst netip.AddrPort, outbound bool, vxlan []byte) {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	v4 := sa.Is4() || !sa.IsValid()
	if v4 {
		if !sa.IsValid() {
			sa = netip.IPv4Unspecified()
		}
		if !da.Is4() {
			da = netip.IPv4Unspecified()
		}
	} else if !da.IsValid() || da.Is4() {
		da = netip.IPv6Unspecified()
	}
	srcMAC, dstMAC := outerLocalMAC, outerRemoteMAC
	if !outbound {
		srcMAC, dstMAC = dstMAC, srcMAC
	}
	eth := encap.Ethernet(hdr)
	ef := encap.EthernetFields{Src: srcMAC, Dst: dstMAC, Type: encap.EtherTypeIPv4}
	if !v4 {
		ef.Type = encap.EtherTypeIPv6
	}
	eth.Encode(&ef)

	udpLen := min(encap.UDPMinimumSize+len(vxlan), 0xffff)
	var udp encap.UDP
	if v4 {
		ip := encap.IPv4(hdr[encap.EthernetHeaderLen:])
		ip.Encode(&encap.IPv4Fields{
			TotalLength: uint16(min(encap.IPv4MinimumSize+udpLen, 0xffff)),
			Flags:       0x2, // DF: the VTEP sets don't-fragment
			TTL:         outerTTL,
			Protocol:    encap.ProtocolUDP,
			Src:         sa,
			Dst:         da,
		})
		ip.SetChecksum(ip.CalculateChecksum())
		udp = encap.UDP(hdr[encap.EthernetHeaderLen+encap.IPv4MinimumSize:])
	} else {
		ip := hdr[encap.EthernetHeaderLen : encap.EthernetHeaderLen+encap.IPv6HeaderLen]
		binary.BigEndian.PutUint32(ip[0:], 6<<28)
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6] = encap.ProtocolUDP
		ip[7] = outerTTL
		s16, d16 := sa.As16(), da.As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		udp = encap.UDP(hdr[encap.EthernetHeaderLen+encap.IPv6HeaderLen:])
	}
	udp.Encode(&encap.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(udpLen)})
	// RFC 768: the checksum covers the pseudo-header, the UDP header and
	// the data; a computed 0 is sent as all ones.
	sum := encap.PseudoHeaderChecksum(encap.ProtocolUDP, sa, da, uint32(udpLen))
	sum = uint32(encap.Checksum(udp[:encap.UDPMinimumSize], sum))
	c := ^encap.Checksum(vxlan[:udpLen-encap.UDPMinimumSize], sum)
	if c == 0 {
		c = 0xffff
	}
	udp.SetChecksum(c)
}
