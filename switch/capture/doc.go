// Package capture records what vxswitch forwards, as pcapng (draft-ietf-
// opsawg-pcapng, "PCAP Next Generation Dump File Format") or classic pcap
// (draft-ietf-opsawg-pcap) streams that tcpdump, tshark and Wireshark read.
//
// The switch engine owns one Hub and calls it at every hop: a port's
// ingress and egress (inner Ethernet frames), the underlay in both
// directions (the VXLAN payload of RFC 7348, written out with synthesized
// outer Ethernet/IP/UDP headers carrying the true addresses and ports so any
// decoder shows VXLAN), and drops (with their reason). Each record carries
// Meta: the point, the VNI, the remote VTEP, the switch's decision and an ID
// that links an inner frame to the outer packets made from it.
//
// When no Session runs, a hop costs one atomic load (Hub.Active). A running
// Session copies matching packets into preallocated slots of a bounded
// buffer and never blocks the datapath: when its reader falls behind,
// packets are lost and counted (Stats.Lost). Several sessions may run at
// once. Sessions are narrowed by point, port, VNI and a filter expression
// (ParseFilter), and drained into a Writer (NewPcapNGWriter, NewPcapWriter,
// NewRotatingWriter) by Session.Copy.
package capture
