package encap

import (
	"encoding/binary"
	"math/bits"
)

// IPv6 extension headers FlowHash steps over (RFC 8200 §4).
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60

	// maxIPv6ExtHeaders bounds the extension header walk so the cost per
	// frame stays constant.
	maxIPv6ExtHeaders = 4
)

// FlowHash returns a 32-bit hash of the flow an inner Ethernet frame
// belongs to. RFC 7348 §5 recommends it for the outer UDP source port: "it
// is recommended that the UDP source port number be calculated using a hash
// of fields from the inner packet", so that underlay ECMP keeps each flow
// on one path and spreads flows across paths.
//
// The fields hashed are, after skipping one 802.1Q/802.1ad tag:
//   - IPv4 or IPv6 carrying TCP, UDP or SCTP: source and destination
//     address, protocol, source and destination port (the 5-tuple);
//   - other IP traffic, and all IP fragments (later fragments carry no
//     ports): the address pair and protocol;
//   - anything else (ARP, non-IP, or an IP header too short to read): both
//     MAC addresses and the EtherType.
//
// Up to four IPv6 extension headers (Hop-by-Hop, Routing, Destination
// Options, Fragment) are skipped to find the transport protocol; if the
// chain is longer or truncated, the protocol hashed is the last header
// type reached and no ports are included. A frame shorter than a field
// falls back to fewer fields; a frame shorter than an Ethernet header
// hashes its bytes. The hash is not symmetric (A→B and B→A differ), has no
// seed (equal flows hash equally across processes and hosts) and is not
// meant to resist adversarial collisions.
//
// FlowHash never panics, never allocates and is safe for concurrent use.
func FlowHash(frame []byte) uint32 {
	if len(frame) < EthernetHeaderLen {
		return hashTail(flowSeed, frame)
	}
	eth := Ethernet(frame)
	et, off := eth.InnerEtherType(), eth.PayloadOffset()
	l3 := frame[off:]
	switch et {
	case EtherTypeIPv4:
		if h, ok := hashIPv4(l3); ok {
			return h
		}
	case EtherTypeIPv6:
		if h, ok := hashIPv6(l3); ok {
			return h
		}
	}
	// Non-IP, or IP too short to classify: MAC pair and EtherType.
	h := flowSeed
	h = mix32(h, binary.BigEndian.Uint32(frame[0:]))
	h = mix32(h, binary.BigEndian.Uint32(frame[4:]))
	h = mix32(h, binary.BigEndian.Uint32(frame[8:]))
	h = mix32(h, uint32(et))
	return fmix32(h ^ 14)
}

// hashIPv4 hashes an IPv4 packet's flow, or reports ok=false when b is
// too short for the fixed header.
func hashIPv4(b []byte) (uint32, bool) {
	if len(b) < IPv4MinimumSize {
		return 0, false
	}
	ip := IPv4(b)
	proto := ip.Protocol()
	h := flowSeed
	h = mix32(h, binary.BigEndian.Uint32(b[ipv4SrcOffset:]))
	h = mix32(h, binary.BigEndian.Uint32(b[ipv4DstOffset:]))
	hl, n := ip.HeaderLength(), 8
	if !ip.IsFragment() && hl >= IPv4MinimumSize && hasPorts(proto) && len(b) >= hl+4 {
		h = mix32(h, uint32(proto))
		h = mix32(h, binary.BigEndian.Uint32(b[hl:]))
		n += 5
	} else {
		h = mix32(h, uint32(proto))
		n++
	}
	return fmix32(h ^ uint32(n)), true
}

// hashIPv6 hashes an IPv6 packet's flow, or reports ok=false when b is
// too short for the fixed header.
func hashIPv6(b []byte) (uint32, bool) {
	if len(b) < IPv6HeaderLen {
		return 0, false
	}
	h := flowSeed
	for i := ipv6SrcOffset; i < IPv6HeaderLen; i += 4 {
		h = mix32(h, binary.BigEndian.Uint32(b[i:]))
	}
	proto := b[ipv6NextHeaderOffset]
	off, ports := IPv6HeaderLen, true
	for range maxIPv6ExtHeaders {
		if proto != ipv6HopByHop && proto != ipv6Routing && proto != ipv6DestOpts && proto != ipv6Fragment {
			break
		}
		if len(b) < off+8 {
			ports = false
			break
		}
		next := b[off]
		if proto == ipv6Fragment {
			// Fragment header: offset (13 bits), 2 reserved, M flag.
			if binary.BigEndian.Uint16(b[off+2:])&0xfff9 != 0 {
				ports = false // not an atomic fragment: no ports
			}
			off += 8
		} else {
			off += (int(b[off+1]) + 1) * 8
		}
		proto = next
	}
	n := 32
	if ports && hasPorts(proto) && len(b) >= off+4 {
		h = mix32(h, uint32(proto))
		h = mix32(h, binary.BigEndian.Uint32(b[off:]))
		n += 5
	} else {
		h = mix32(h, uint32(proto))
		n++
	}
	return fmix32(h ^ uint32(n)), true
}

// hasPorts reports whether the transport protocol starts with 16-bit
// source and destination ports.
func hasPorts(proto uint8) bool {
	return proto == ProtocolTCP || proto == ProtocolUDP || proto == ProtocolSCTP
}

// SourcePort maps hash into [min, max] inclusive, e.g. the outer UDP
// source port range of a VTEP (Linux uses the ephemeral range, RFC 7348 §5
// suggests 49152-65535). The mapping uses the hash's high bits
// (multiply-shift, no division), so it is uniform for FlowHash's output.
// If min > max the bounds are swapped. SourcePort never allocates.
func SourcePort(hash uint32, min, max uint16) uint16 {
	if min > max {
		min, max = max, min
	}
	span := uint64(max-min) + 1
	return min + uint16((uint64(hash)*span)>>32)
}

// The hash below is MurmurHash3 (x86, 32-bit; public domain, Austin
// Appleby) applied to 32-bit words, with a fixed seed.
const (
	flowSeed uint32 = 0x9747b28c
	murmurC1 uint32 = 0xcc9e2d51
	murmurC2 uint32 = 0x1b873593
)

func mix32(h, k uint32) uint32 {
	k *= murmurC1
	k = bits.RotateLeft32(k, 15)
	k *= murmurC2
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// hashTail hashes an arbitrary short byte string.
func hashTail(h uint32, b []byte) uint32 {
	n := len(b)
	for len(b) >= 4 {
		h = mix32(h, binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	var k uint32
	for i, c := range b {
		k |= uint32(c) << (8 * i)
	}
	h = mix32(h, k)
	return fmix32(h ^ uint32(n))
}
