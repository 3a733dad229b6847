// Package deploy holds no code: it is the home of vxswitch's deployment
// files, a Kubernetes DaemonSet (kubernetes/vxswitch.yaml, which installs
// the CNI plugin of the CNI specification 1.1.0 and its conflist) and a
// systemd unit (systemd/vxswitchd.service). The DaemonSet's init container
// runs `vxswitch install-conflist` (cni.InstallConflist), which gives each
// node's host-local a disjoint range from the node's spec.podCIDR or its
// vxswitch.dev/pod-cidr annotation. Its tests decode every manifest
// document, check the DaemonSet's host paths, privileges and gossip join,
// render the conflist template, and run kubectl apply --dry-run=client
// against a discovery-only fake API server.
package deploy
