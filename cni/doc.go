// Package cni implements the vxswitch CNI plugin (Container Network
// Interface specification 1.1.0, also serving 0.3.0, 0.3.1, 0.4.0 and
// 1.0.0): ADD, DEL, CHECK, STATUS, GC and VERSION as functions that
// cmd/vxswitch wires into skel.PluginMainFuncs.
//
// # Design
//
// The daemon owns the ports. ADD asks vxswitchd (POST /v1/attachments on
// its API socket) for a Pod port: the daemon enters the Pod's netns,
// creates a persistent TAP there under CNI_IFNAME with the MAC and MTU,
// brings it up and attaches it to the switch on the network's VNI, and
// records it in its state file. A restarted daemon re-opens those TAPs by
// name inside the Pods' namespaces and re-attaches them, so Pod traffic
// resumes by itself. The plugin then delegates IPAM (invoke.DelegateAdd to
// ipam.type; host-local is the documented default), puts the addresses and
// routes on the interface inside the netns (iproute2's `ip`, run on an OS
// thread that entered the netns), adds a default route through the
// gateway, and, with ipMasq, masquerades the Pod's traffic leaving the
// overlay (iptables, like the bridge plugin). Every step is undone, in
// reverse, when a later one fails: no TAP, FDB entry, lease or rule is
// left behind.
//
// Gateway: vxswitchd --gateway VNI:CIDR gives each node a host-side port on
// the VNI carrying the gateway address; every node uses the same address
// and MAC (a distributed gateway, answered on the node, never across the
// underlay), so a Pod's default route works on every node and each node
// reaches its own Pods without NAT. The plugin's "gateway" key names that
// address when the IPAM result has none.
//
// DEL releases the IPAM lease, removes the masquerade rules and asks the
// daemon to detach the port; each step succeeds when its object is gone
// already (missing netns, port, lease), and an unreachable daemon is not
// an error either: the port's TAP dies with the Pod's netns and the daemon
// drops attachments whose netns is gone when it starts. CHECK compares the
// interface (MAC, MTU, up), its addresses and routes inside the netns and
// the daemon's port with prevResult. STATUS answers code 50 while the
// daemon is unreachable. GC detaches the network's ports that are not in
// cni.dev/valid-attachments, then delegates GC to the IPAM plugin.
//
// # Per-node address blocks
//
// host-local leases on one node only, so each node needs its own block of
// the shared subnet. InstallConflist (the plugin binary's
// "install-conflist" mode, run by the DaemonSet's init container) reads
// the Node from the API server, takes its block from the
// vxswitch.dev/pod-cidr annotation or spec.podCIDR, and writes the
// conflist with __NODE_RANGE_START__ and __NODE_RANGE_END__ replaced by the
// block's first and last usable address, the subnet staying the cluster's.
//
// # Chaining and rate limits
//
// The standard meta plugins chain after vxswitch and receive its result as
// prevResult: tuning (sysctls and link settings inside the Pod), portmap
// (DNAT on the node to the Pod address) and bandwidth without limits work.
// Rate limits are not supported on vxswitch ports: the bandwidth plugin
// shapes a Pod through the host-side peer of its veth (a TBF qdisc for
// ingress, an ifb mirror for egress), and a Pod's vxswitch port is a TAP
// with no host-side link, so bandwidth with ingressRate/egressRate (or the
// runtime's bandwidth capability with a limit) fails ADD with "container
// interface eth0 has no veth peer". The runtime's DEL then removes the
// port and the lease as usual. Nor does vxswitchd shape traffic itself.
//
// # Network configuration
//
//	{
//	  "cniVersion": "1.1.0", "name": "pods", "type": "vxswitch",
//	  "vni": 100,                      // required, 0-16777215
//	  "mtu": 1450,                     // default: the daemon's overlay MTU
//	  "socket": "/run/vxswitch/vxswitchd.sock",
//	  "gateway": "198.18.100.1",       // default: the IPAM result's gateway
//	  "ipMasq": false,
//	  "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.100.0/24", "gateway": "198.18.100.1"}]]},
//	  "runtimeConfig": {"mac": "02:00:00:00:00:01"}  // also CNI_ARGS MAC=...
//	}
//
// Decoding is strict: unknown top-level keys (other than "args",
// "runtimeConfig", "prevResult" and the "cni.dev/" keys a runtime injects)
// and keys of the wrong type are errors. Error codes follow the spec: 1
// incompatible CNI version (from skel), 4 bad environment, 6 undecodable
// JSON, 7 invalid network configuration, 8 bad netns, 11 try again later
// (vxswitchd unreachable on ADD or GC), 50 not ready (STATUS), 999 other.
package cni
