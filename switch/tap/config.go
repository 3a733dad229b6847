package tap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vxswitch/vxswitch/encap"
)

// MaxNameLen is the longest interface name Linux accepts: IFNAMSIZ (16)
// minus the terminating NUL.
const MaxNameLen = 15

// DefaultNamePattern is the name Create asks the kernel for when
// Config.Name is empty: the kernel replaces %d with the lowest free number
// (vxtap0, vxtap1, ...).
const DefaultNamePattern = "vxtap%d"

// Config describes the TAP device Create makes. The zero value is valid: a
// kernel-named, down, non-persistent TAP with the kernel's default MTU and
// a random MAC.
type Config struct {
	// Name is the interface name, at most MaxNameLen bytes. "" lets the
	// kernel pick one from DefaultNamePattern. A name containing "%d" is a
	// pattern the kernel completes. If a persistent TAP of that name already
	// exists, Create attaches to it.
	Name string

	// MTU is set with SIOCSIFMTU when non-zero; 0 leaves the kernel default
	// (1500). The kernel accepts 68 to 65521 for a TAP.
	MTU int

	// MAC is set with SIOCSIFHWADDR when non-zero; the zero MAC keeps the
	// random address the kernel assigned. It must be a unicast address.
	MAC encap.MAC

	// Up brings the link up (IFF_UP) after MTU and MAC are set.
	Up bool

	// Persist keeps the interface after Close (TUNSETPERSIST), for a CNI
	// plugin that creates the port before the daemon opens it. When false
	// (the default), Close removes the interface, also when it existed as a
	// persistent TAP before Create attached to it.
	Persist bool

	// MultiQueue opens the TAP with IFF_MULTI_QUEUE, so that several Creates
	// of the same name attach several queues. Without it, a TAP can be open
	// by one file descriptor only and a second Create fails with EBUSY.
	MultiQueue bool

	// Offload opens the TAP with IFF_VNET_HDR and asks the kernel for
	// checksum, TSO4/TSO6 and USO offloads (TUNSETOFFLOAD), so that Read
	// gets whole 64 KiB TCP/UDP super-frames from the kernel (split into
	// MSS-sized frames before the caller sees them) and Write may hand the
	// kernel coalesced TCP super-frames. The offloads are invisible to the
	// caller: frames in and out are ordinary Ethernet frames, and BatchSize
	// grows to OffloadBatchSize. If the kernel refuses, Create falls back
	// to a plain TAP, logs the reason with Logf, and TAP.Offloads reports
	// it.
	Offload bool

	// NoGRO, with Offload, stops Write from coalescing TCP segments into
	// super-frames (some kernels have had bugs receiving them); it can
	// also be changed at run time with TAP.SetGRO.
	NoGRO bool

	// PollerWait makes Read wait for frames in the Go runtime's network
	// poller instead of parking its OS thread in ppoll(2) (see
	// internal/rawfd). The poller wakes the reader later, so under load
	// more frames are queued per wake-up and fewer threads are switched
	// (higher throughput and frame rate), but every wake-up costs more
	// (higher latency). The daemon's --wait=poller.
	PollerWait bool

	// NoWait makes Read never wait: with nothing queued it returns 0
	// frames and a nil error at once. It is for a poll loop that waits
	// for PollFD to become readable itself and drives many devices from
	// one thread (the switch's Config.SingleLoop, the daemon's
	// --wait=loop). PollerWait is ignored.
	NoWait bool

	// Logf, if not nil, receives the rare messages Create has for the
	// operator (offload fallback). Never called per frame.
	Logf func(format string, args ...any)
}

// Errors returned, always wrapped in an *OpError (whose message adds the
// "tap: <op> <name>:" prefix), by Create, Delete, the TAP setters and the
// Link functions. Test with errors.Is.
var (
	// ErrUnsupported is returned by Create on systems other than Linux.
	ErrUnsupported = errors.New("TAP devices are only supported on Linux")

	// ErrNameTooLong means the requested name is longer than MaxNameLen.
	ErrNameTooLong = fmt.Errorf("interface name longer than %d bytes", MaxNameLen)

	// ErrInvalidName means the name is one Linux rejects: ".", "..", or one
	// containing '/', ':' or white space.
	ErrInvalidName = errors.New("invalid interface name")

	// ErrNameInUse means a link of the requested name exists and is not a
	// TAP device (for example a veth, a bridge or a TUN device).
	ErrNameInUse = errors.New("interface name in use by a link that is not a TAP")

	// ErrInvalidMTU means a negative MTU was requested.
	ErrInvalidMTU = errors.New("invalid MTU")
)

// OpError is the error Create, the TAP methods and the Link functions
// return: the operation, the interface name and the underlying error, which
// Unwrap returns (errors.Is(err, os.ErrPermission) and the like work
// through it).
type OpError struct {
	// Op is the operation, e.g. "create", "set mtu", "read".
	Op string
	// Name is the interface name (or pattern) the operation was for.
	Name string
	// Err is the underlying error.
	Err error
}

// Error returns "tap: <op> <name>: <err>".
func (e *OpError) Error() string {
	if e.Name == "" {
		return "tap: " + e.Op + ": " + e.Err.Error()
	}
	return "tap: " + e.Op + " " + e.Name + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *OpError) Unwrap() error { return e.Err }

// hintError adds advice for the operator to an error while keeping it
// matchable with errors.Is.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *hintError) Unwrap() error { return e.err }

// validateName checks name the way the kernel's dev_valid_name does, so a
// bad name gets a clear error before any syscall. The empty name is valid
// (the kernel picks one).
func validateName(name string) error {
	switch {
	case name == "":
		return nil
	case len(name) > MaxNameLen:
		return ErrNameTooLong
	case name == "." || name == "..":
		return ErrInvalidName
	case strings.ContainsAny(name, "/: \t\n\r\v\f\x00"):
		return ErrInvalidName
	}
	return nil
}
