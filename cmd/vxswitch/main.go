// Command vxswitch is the vxswitch CNI plugin (type "vxswitch"): it asks
// vxswitchd for a Pod port on the network's VNI, delegates IPAM and
// configures the Pod's interface. The logic is in package cni.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vxswitch/vxswitch/cni"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add: cni.Add, Del: cni.Del, Check: cni.Check, Status: cni.Status, GC: cni.GC,
	}, cni.PluginInfo, "vxswitch CNI plugin "+daemon.Version)
}
