// Package daemon is vxswitchd: it parses the daemon's flags and YAML
// configuration, creates the TAP ports, opens the VTEP, runs the switch and
// the management API, and shuts everything down on SIGTERM/SIGINT.
//
// cmd/vxswitchd is a thin main around Main; cmd/vxlab re-executes itself
// into Main so the lab needs nothing but Go.
package daemon
