package encap

// Sizes and well-known numbers used across the switch.
const (
	// VXLANHeaderLen is the length of the VXLAN header (RFC 7348 §5).
	VXLANHeaderLen = 8

	// VXLANPort is the IANA-assigned UDP destination port for VXLAN
	// (RFC 7348 §5).
	VXLANPort = 4789

	// EthernetHeaderLen is the length of an untagged Ethernet II header.
	EthernetHeaderLen = 14

	// EthernetMinimumSize is the shortest frame the switch accepts: a full
	// Ethernet header (destination, source, EtherType). Frames are not padded
	// to 60 bytes on a TAP device.
	EthernetMinimumSize = EthernetHeaderLen

	// OverheadIPv4 is what VXLAN over IPv4 adds to an inner Ethernet
	// payload: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14).
	// A port's MTU is the underlay MTU minus this.
	OverheadIPv4 = 20 + 8 + VXLANHeaderLen + EthernetHeaderLen

	// OverheadIPv6 is the same for an IPv6 underlay (40-byte outer header).
	OverheadIPv6 = 40 + 8 + VXLANHeaderLen + EthernetHeaderLen

	// MaxFrameSize bounds every frame buffer: the largest inner Ethernet
	// frame (a 65535-byte IP packet plus a VLAN-tagged Ethernet header) plus
	// the VXLAN header, rounded up.
	MaxFrameSize = 65536 + 64
)
