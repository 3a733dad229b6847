// Command vxlab is the one-command demo of vxswitch, a userspace VXLAN
// (RFC 7348) switch: as root, `go run ./cmd/vxlab` builds a lab of hosts in
// network namespaces (bench/lab), starts vxswitchd on each (or the kernel's
// vxlan driver on the last one with --kernel-peer), pings every pair over
// the overlay, prints each switch's forwarding database and tears the lab
// down again.
//
// vxlab needs nothing beyond Go and iproute2: it starts the daemons by
// re-executing itself as `vxlab daemon ARGS...`, which runs vxswitchd's
// daemon.Main. Run `vxlab --help` for the subcommands (run, up, down,
// status) and flags.
package main
