//go:build !linux

package tap

import (
	"os"

	"github.com/vxswitch/vxswitch/encap"
)

// TAP is a Linux TAP device. Off Linux none can be created; the type exists
// so that code using it builds everywhere.
type TAP struct{ name string }

var _ Device = (*TAP)(nil)

// Create returns ErrUnsupported off Linux.
func Create(cfg Config) (*TAP, error) {
	return nil, &OpError{Op: "create", Name: cfg.Name, Err: ErrUnsupported}
}

// Delete returns ErrUnsupported off Linux.
func Delete(name string) error { return &OpError{Op: "delete", Name: name, Err: ErrUnsupported} }

// Name is the interface name.
func (t *TAP) Name() string { return t.name }

// Index is 0 off Linux.
func (t *TAP) Index() int { return 0 }

// MTU is 0 off Linux.
func (t *TAP) MTU() int { return 0 }

// HardwareAddr is the zero MAC off Linux.
func (t *TAP) HardwareAddr() encap.MAC { return encap.MAC{} }

// SetMTU returns ErrUnsupported off Linux.
func (t *TAP) SetMTU(int) error { return linkUnsupported("set mtu", t.name) }

// SetUp returns ErrUnsupported off Linux.
func (t *TAP) SetUp(bool) error { return linkUnsupported("set up", t.name) }

// BatchSize is 1.
func (t *TAP) BatchSize() int { return 1 }

// Read returns os.ErrClosed off Linux.
func (t *TAP) Read([][]byte, []int, int) (int, error) { return 0, os.ErrClosed }

// ReadSuper fails: there is no TAP to read from off Linux.
func (t *TAP) ReadSuper([][]byte, []int, int, *Super) (int, error) { return 0, os.ErrClosed }

// Write returns os.ErrClosed off Linux.
func (t *TAP) Write([][]byte, int) (int, error) { return 0, os.ErrClosed }

// Close does nothing off Linux.
func (t *TAP) Close() error { return nil }

// LinkSetMTU returns ErrUnsupported off Linux.
func LinkSetMTU(name string, mtu int) error { return linkUnsupported("set mtu", name) }

// LinkMTU returns ErrUnsupported off Linux.
func LinkMTU(name string) (int, error) { return 0, linkUnsupported("get mtu", name) }

// LinkSetUp returns ErrUnsupported off Linux.
func LinkSetUp(name string) error { return linkUnsupported("set up", name) }

// LinkSetDown returns ErrUnsupported off Linux.
func LinkSetDown(name string) error { return linkUnsupported("set down", name) }

// LinkHardwareAddr returns ErrUnsupported off Linux.
func LinkHardwareAddr(name string) (encap.MAC, error) {
	return encap.MAC{}, linkUnsupported("get mac", name)
}

// LinkSetHardwareAddr returns ErrUnsupported off Linux.
func LinkSetHardwareAddr(name string, mac encap.MAC) error {
	return linkUnsupported("set mac", name)
}

// LinkIndex returns ErrUnsupported off Linux.
func LinkIndex(name string) (int, error) { return 0, linkUnsupported("get index", name) }

func linkUnsupported(op, name string) error { return &OpError{Op: op, Name: name, Err: ErrUnsupported} }

// Offloads is the zero Offloads off Linux.
func (t *TAP) Offloads() Offloads { return Offloads{} }

// SetGRO does nothing off Linux.
func (t *TAP) SetGRO(bool) {}

// GRO is false off Linux: Write never coalesces.
func (t *TAP) GRO() bool { return false }

// ReadDrops is 0 off Linux.
func (t *TAP) ReadDrops() uint64 { return 0 }

// LinkSetTxQueueLen returns ErrUnsupported off Linux.
func LinkSetTxQueueLen(name string, n int) error { return linkUnsupported("set txqueuelen", name) }

// PollFD returns -1: off Linux no TAP is driven by a poll loop.
func (t *TAP) PollFD() int { return -1 }

// Buffered implements Polled.
func (t *TAP) Buffered() bool { return false }

// LinkSetGSOMaxSegments is not supported outside Linux.
func LinkSetGSOMaxSegments(name string, n int) error {
	return linkUnsupported("set gso_max_segs", name)
}

// LinkGSOMaxSegments is not supported outside Linux.
func LinkGSOMaxSegments(name string) (int, error) {
	return 0, linkUnsupported("get gso_max_segs", name)
}
