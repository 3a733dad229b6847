// Package bench compares vxswitchd with the Linux kernel's vxlan driver
// (both RFC 7348 VXLAN) on the same two-host network-namespace rig
// (bench/lab), following the RFC 2544 benchmarking methodology where it
// applies: TCP throughput with iperf3 (1 and 4 streams), the highest rate
// of 64-byte frames forwarded with at most 0.1 % loss (an RFC 2544 §26.1
// binary search with iperf3 UDP), round-trip latency percentiles with
// sockperf ping-pong, latency under load (ping through the same device
// while the 1-stream TCP test runs), and CPU seconds per gigabyte moved.
//
// Run builds the rig twice, once with vxswitchd on both hosts and once with
// the kernel driver on both, and returns Results, which WriteTable,
// WriteSVG and encoding/json render; Main is the whole of cmd/vxbench.
//
// The package's tests also hold Go micro-benchmarks that grow one stage at
// a time, like Tailscale's wgengine/bench: BenchmarkTrivialNoAlloc (a copy
// between batches), BenchmarkChannelHop, BenchmarkVTEPLoopback (two
// vtep.StdBinds on 127.0.0.1) and BenchmarkSwitchPair (two switches on
// taptest ports and vteptest channel binds).
package bench
