// Package vswitch is the switching engine of vxswitch (the folder is named
// switch/, which is a Go keyword, so the package is vswitch and importers
// write `vswitch "github.com/vxswitch/vxswitch/switch"`).
//
// A Switch owns a set of access ports (tap.Device, one VNI each), one
// vtep.Bind (the UDP side of the VTEP) and an fdb.Table. It implements the
// data plane of a VXLAN VTEP as RFC 7348 §4 describes it: frames from a
// port are switched by destination MAC within the port's VNI to another
// local port or, encapsulated, to the remote VTEP behind that MAC; BUM
// (broadcast, unknown unicast, multicast) frames are flooded to the VNI's
// other local ports and replicated head-end to the VNI's flood list.
// VXLAN received from the underlay is validated once, its inner source MAC
// is learned behind the outer source address, and the inner frame is
// delivered to the right local port(s). Frames never cross VNIs and are
// never relayed from one VTEP to another (split horizon).
//
// The switch forwards with one loop that waits for every port queue and
// receive socket at once (Config.SingleLoop, loop_linux.go), or with a
// goroutine per port queue and per receive function; either way the
// loops own their buffers and hand batches to the bind and the ports.
//
// Every frame the switch does not deliver is counted under a DropReason.
// The hot paths allocate nothing, take no write lock and log nothing per
// frame.
package vswitch
