// Package deploy holds no code: it is the home of vxswitch's deployment
// files, a Kubernetes DaemonSet (kubernetes/vxswitch.yaml, which installs
// the CNI plugin of the CNI specification 1.1.0 and its conflist) and a
// systemd unit (systemd/vxswitchd.service). Its test decodes every
// manifest document.
package deploy
