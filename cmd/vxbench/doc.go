// Command vxbench measures vxswitchd against the Linux kernel's vxlan
// driver (both RFC 7348 VXLAN) on the same two-host network-namespace rig:
// TCP throughput, the 64-byte frame rate at 0.1 % loss (RFC 2544), latency
// percentiles and CPU per gigabyte. It runs as root with `go run
// ./cmd/vxbench`; see --help. All logic lives in package bench.
package main
