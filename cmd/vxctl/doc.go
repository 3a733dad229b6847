// Command vxctl is the command-line client of vxswitchd's management API
// (HTTP/JSON over a unix socket, see package switch/api): it shows and
// edits the forwarding database and flood lists of the VXLAN (RFC 7348)
// switch, and shows its ports, counters and status.
//
// Usage:
//
//	vxctl [--api PATH] <command> [flags]
//
// Run vxctl --help, or vxctl <command> --help, for the commands and their
// flags. Exit status: 0 on success, 1 when the daemon reports an error or
// cannot be reached, 2 on a usage error.
package main
