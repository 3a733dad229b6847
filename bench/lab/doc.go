// Package lab builds a multi-host VXLAN (RFC 7348) lab out of Linux network
// namespaces, for cmd/vxlab, the benchmarks and the integration tests.
//
// A lab has N hosts, each a network namespace (<Name>-h<i>), joined by an
// underlay: one more namespace (<Name>-ul) holding a Linux bridge, with a
// veth pair per host (ul0 in the host, h<i> on the bridge). Host i has the
// underlay address 192.0.2.(10+i)/24, or 2001:db8::(10+i)/64 with
// Config.IPv6, and the overlay address 198.18.0.(1+i)/24. Addresses come
// only from the documentation (RFC 5737, RFC 3849) and benchmarking
// (RFC 2544) ranges, and all traffic stays inside the lab's namespaces.
//
// A host either runs vxswitchd (started by the lab inside the namespace,
// with TAP vxtap0) or the kernel's own vxlan driver (device vx42 with
// head-end replication entries for every other host), so the two
// implementations can be checked against each other.
//
// Ping and ARPProbe are the lab's own reachability probes: an ICMP echo
// socket and an AF_PACKET ARP request opened inside the host namespace, so
// no ping or arping binary is needed.
//
// A Lab is built by Up and removed by Down. Up refuses to start when any of
// the lab's namespaces already exists; Cleanup removes the leftovers of a
// lab by name (what `vxlab down` runs).
package lab
