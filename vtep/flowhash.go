package vtep

import "encoding/binary"

// FNV-1a, 32 bit (http://www.isthe.com/chongo/tech/comp/fnv/).
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

func fnvAdd(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= fnvPrime32
	}
	return h
}

// flowHash hashes the fields of an inner Ethernet frame that identify its
// flow: both MACs and the EtherType, and for IPv4/IPv6 the protocol and
// addresses, plus the ports of unfragmented TCP, UDP and SCTP. One VLAN tag
// (802.1Q or 802.1ad) is skipped. A frame too short for a field simply
// stops contributing; flowHash never panics and never allocates.
//
// It is a stand-in for encap.FlowHash until that exists; RFC 7348 §5 only
// asks that the outer source port be "calculated using a hash of fields
// from the inner packet".
func flowHash(frame []byte) uint32 {
	const (
		macs         = 12
		etherIPv4    = 0x0800
		etherIPv6    = 0x86dd
		etherVLAN    = 0x8100
		etherQinQ    = 0x88a8
		protoTCP     = 6
		protoUDP     = 17
		protoSCTP    = 132
		ipv4MinLen   = 20
		ipv6HdrLen   = 40
		ipv4FragMask = 0x3fff // MF flag and fragment offset
	)
	h := uint32(fnvOffset32)
	if len(frame) < macs+2 {
		return fnvAdd(h, frame)
	}
	h = fnvAdd(h, frame[:macs])
	off := macs
	et := binary.BigEndian.Uint16(frame[off:])
	if (et == etherVLAN || et == etherQinQ) && len(frame) >= off+6 {
		h = fnvAdd(h, frame[off+2:off+4]) // VLAN ID
		off += 4
		et = binary.BigEndian.Uint16(frame[off:])
	}
	h = fnvAdd(h, frame[off:off+2])
	l3 := frame[off+2:]
	var proto byte
	var l4 []byte
	switch et {
	case etherIPv4:
		if len(l3) < ipv4MinLen {
			return h
		}
		ihl := int(l3[0]&0x0f) * 4
		proto = l3[9]
		h = fnvAdd(h, l3[9:10])
		h = fnvAdd(h, l3[12:20])
		if binary.BigEndian.Uint16(l3[6:8])&ipv4FragMask != 0 || ihl < ipv4MinLen || len(l3) < ihl {
			return h // fragments carry no ports (or only the first does)
		}
		l4 = l3[ihl:]
	case etherIPv6:
		if len(l3) < ipv6HdrLen {
			return h
		}
		proto = l3[6]
		h = fnvAdd(h, l3[6:7])
		h = fnvAdd(h, l3[8:40])
		l4 = l3[ipv6HdrLen:]
	default:
		return h
	}
	if (proto == protoTCP || proto == protoUDP || proto == protoSCTP) && len(l4) >= 4 {
		h = fnvAdd(h, l4[:4])
	}
	return h
}
