// Package vtep is the UDP side of a VXLAN tunnel end point (RFC 7348): the
// sockets that carry VXLAN-encapsulated Ethernet frames over an IPv4 or IPv6
// underlay.
//
// The boundary is Bind (bind.go), shaped like wireguard-go's conn.Bind:
// batch ReceiveFuncs returned by Open, and a batch Send to one destination.
// StdBind is the default implementation for Linux. It receives with
// recvmmsg(2) on a few UDP sockets that share one port (normally 4789, RFC
// 7348 §5) through SO_REUSEPORT, one ReceiveFunc each (driven by a
// goroutine each, or all by the switch's single loop with Config.NoWait), and
// sends with sendmmsg(2) from a small pool of sockets bound to source ports
// inside the RFC 7348 §5 range (49152–65535 by default). RFC 7348 §5 asks
// that the outer UDP source port be "calculated using a hash of fields from
// the inner packet", so that underlay ECMP and LAG hashing spread tunnel
// traffic per inner flow. A userspace VTEP cannot choose a source port per
// datagram without raw sockets, so StdBind hashes each inner frame and sends
// it from socket[hash % SrcSockets]: one inner flow always leaves from one
// source port, and different flows spread over the pool's ports. The same
// entropy spreads flows on receive: the kernel picks a receive socket by a
// hash of the outer 4-tuple (or, with Config.RecvByCPU, by the receiving
// CPU through a SO_ATTACH_REUSEPORT_CBPF program), so one inner flow stays
// on one socket and in order while different flows are received in
// parallel.
//
// Every StdBind socket sets don't-fragment (IP_PMTUDISC_DO, and for IPv6
// IPV6_PMTUDISC_DO plus IPV6_DONTFRAG): VXLAN packets are never fragmented
// by the sender (RFC 7348 §4.3), so a datagram larger than the path MTU
// fails with EMSGSIZE or is dropped on the path.
//
// Where the kernel supports them, StdBind uses UDP segmentation offloads
// (Linux Documentation/networking/segmentation-offloads.rst): on send, a
// run of equal-length datagrams of one flow goes out as one sendmsg with a
// UDP_SEGMENT control message (GSO, Linux 4.18+), within the 65 507-byte
// (IPv4) or 65 527-byte (IPv6) UDP payload limit and the kernel's
// UDP_MAX_SEGMENTS; on receive, the socket sets UDP_GRO (Linux 5.0+) and
// splits each coalesced datagram by the segment size the kernel reports.
// Offloads never change what a peer or the caller sees, and Config.NoGSO
// and Config.NoGRO turn them off; StdBind.Offload reports what is active.
//
// The package vtep/vteptest provides an in-memory Bind for tests.
package vtep
