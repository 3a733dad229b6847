// Package tap implements the switch's access ports on Linux TAP devices
// (the kernel's universal TUN/TAP driver, Documentation/networking/tuntap.rst):
// Ethernet frames written by the host to the interface are read by the
// switch, and frames the switch writes appear as received on the interface.
//
// Device is the port contract the switch engine uses; it has the shape of
// wireguard-go's tun.Device (batches of frames with headroom). TAP is the
// Linux implementation, created with github.com/songgao/water and
// configured (MTU, MAC, IFF_UP) with SIOCSIF* ioctls through
// golang.org/x/sys/unix. The Link* functions expose the same ioctls for any
// link by name, for the daemon.
//
// Off Linux, Create returns ErrUnsupported so the rest of the module still
// builds and its pure unit tests run. The in-memory test double lives in
// package taptest.
package tap
