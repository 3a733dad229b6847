// Command vxswitchd is the vxswitch daemon: a userspace VXLAN switch between
// TAP ports and the underlay. Run it with --help for its flags.
package main

import (
	"os"

	"github.com/vxswitch/vxswitch/switch/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
