// Command vxswitch is the vxswitch CNI plugin (type "vxswitch"): it asks
// vxswitchd for a Pod port on the network's VNI, delegates IPAM and
// configures the Pod's interface. The logic is in package cni.
//
// Runtimes run plugins without arguments. With the argument
// "install-conflist" it is instead the DaemonSet's installer: it renders a
// conflist template with the node's Pod block (cni.InstallConflist) and
// writes it into the CNI configuration directory.
//
//	vxswitch install-conflist --template /config/10-vxswitch.conflist \
//	    --out /host/etc/cni/net.d/10-vxswitch.conflist --node "$NODE_NAME"
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vxswitch/vxswitch/cni"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "install-conflist" {
		os.Exit(installConflist(os.Args[2:]))
	}
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add: cni.Add, Del: cni.Del, Check: cni.Check, Status: cni.Status, GC: cni.GC,
	}, cni.PluginInfo, "vxswitch CNI plugin "+daemon.Version)
}

// installConflist is the install-conflist command; it returns the exit
// status: 0 done, 1 failed, 2 usage error.
func installConflist(args []string) int {
	fs := flag.NewFlagSet("vxswitch install-conflist", flag.ContinueOnError)
	tmpl := fs.String("template", "", "conflist `FILE` with "+cni.PlaceholderRangeStart+"-style placeholders (required)")
	out := fs.String("out", "", "conflist `FILE` to write, e.g. /etc/cni/net.d/10-vxswitch.conflist (required)")
	node := fs.String("node", os.Getenv("NODE_NAME"), "this node's `NAME` (default $NODE_NAME)")
	family := fs.Int("family", 0, "Pod CIDR address family, 4 or 6 (default: the node's first)")
	server := fs.String("server", "", "API server `URL` (default: in-cluster)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *tmpl == "" || *out == "" || fs.NArg() != 0 || (*family != 0 && *family != 4 && *family != 6) {
		fmt.Fprintln(os.Stderr, "usage: vxswitch install-conflist --template FILE --out FILE [--node NAME] [--family 4|6] [--server URL]")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cni.InstallConflist(ctx, cni.NodeSource{Node: *node, Server: *server}, *family, *tmpl, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
