// Package encap implements VXLAN (RFC 7348) header encoding and decoding,
// and the typed byte views of Ethernet (IEEE 802.3), ARP (RFC 826), IPv4
// (RFC 791), IPv6 (RFC 8200), UDP (RFC 768) and TCP (RFC 9293) headers that
// the switch needs to classify, hash and learn from frames.
//
// Views are plain byte slices ([]byte) with accessor methods; they never
// copy and never allocate. Lengths are checked once where bytes enter the
// switch (IsValid, or len(frame) >= EthernetMinimumSize); after that the
// accessors return plain values and may panic on a short slice, exactly as
// gVisor's header package does. Nothing in this package performs I/O.
//
// The switch's ingress calls DecodeVXLAN once per received UDP payload; its
// sentinel errors (ErrTruncated, ErrNoIFlag, ErrReservedBits) say whether
// to drop or to count and accept. Egress writes the header in the frame's
// headroom with VXLAN.Encode and picks the outer UDP source port with
// SourcePort(FlowHash(frame), min, max) (RFC 7348 §5). Checksum and
// PseudoHeaderChecksum compute RFC 1071 Internet checksums for the IPv4,
// UDP and TCP views.
package encap
