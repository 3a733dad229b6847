package tap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/songgao/water"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/internal/rawfd"
)

// TAP is a Linux TAP device opened by Create. It implements Device.
//
// Read and Write follow the Device contract: each is called from one
// goroutine at a time, and a Read and a Write may run concurrently. The
// other methods are safe for concurrent use with everything, Close
// included.
//
// water opens /dev/net/tun and wraps the descriptor with os.NewFile, which
// registers it with the Go runtime's poller. Create keeps that file only
// when Read is to wait in the poller (Config.PollerWait); otherwise it
// takes the descriptor out of the poller (internal/rawfd) and Read waits in
// ppoll(2) on its own thread (internal/rawfd), or not at all
// (Config.NoWait, for the switch's single loop). Either way Close wakes a
// waiting Read with an error satisfying errors.Is(err, os.ErrClosed).
//
// Without offloads, each read(2) returns one frame, and Read returns what
// is queued up to PlainBatchSize frames. With Config.Offload the TAP is
// opened on golang.org/x/sys instead (water cannot set IFF_VNET_HDR or
// TUNSETOFFLOAD): Read splits each super-frame the kernel hands over into
// up to OffloadBatchSize frames, and Write coalesces TCP segments into
// super-frames, as wireguard-go's tun.NativeTun does for TUN devices.
type TAP struct {
	name    string
	index   int
	persist bool
	// conn is the TAP's descriptor: closing it removes a non-persistent
	// TAP. It is the *os.File water or createVnet opened when reads wait
	// in the runtime poller (Config.PollerWait), and otherwise a duplicate
	// outside the poller (internal/rawfd): the reader waits in ppoll
	// itself, and a descriptor registered with the runtime's epoll would
	// wake an idle runtime thread for every frame queued.
	conn conn
	mtu  atomic.Int64

	// Plain Write's argument and result, with the callback bound once so
	// that Write does not allocate.
	wbuf []byte
	werr error
	wfn  func(fd uintptr) bool

	// ctlMu protects ctl, the datagram socket for SIOC[GS]IF* ioctls. It
	// was opened in the namespace the TAP was created in, so the setters
	// work from any thread. ctl is -1 after Close.
	ctlMu sync.RWMutex
	ctl   int
	// nl is an rtnetlink socket opened in the same namespace for TxDropped
	// (a link's statistics have no ioctl), -1 if it could not be opened or
	// after Close; guarded by ctlMu, and nlMu serializes its requests.
	nl    int
	nlMu  sync.Mutex
	nlSeq uint32 // guarded by nlMu

	closeOnce sync.Once
	closing   atomic.Bool // set first thing in Close
	closeErr  error

	rd reader // Read's descriptor state (read_linux.go)

	// vnet is the offload state when the TAP was opened with
	// IFF_VNET_HDR (Config.Offload), nil for a plain TAP. It is set at
	// Create and never changes.
	vnet *vnet
	// offloadReason is why Config.Offload fell back to a plain TAP.
	offloadReason string
}

var _ Device = (*TAP)(nil)

// Create creates (or, for an existing persistent TAP of the same name,
// attaches to) a TAP device in the network namespace of the calling OS
// thread, then sets its MAC, MTU and IFF_UP as cfg asks. To create it in
// another namespace, call Create inside netns.(*NS).Do: the TAP stays in
// that namespace and its descriptor works from any thread afterwards.
//
// Errors are *OpError values wrapping, among others: ErrNameTooLong,
// ErrInvalidName, ErrNameInUse (the name belongs to a veth, bridge, TUN…),
// os.ErrNotExist (no /dev/net/tun: the message says to load the tun module
// or create the node), os.ErrPermission (needs root or CAP_NET_ADMIN), and
// unix.EBUSY (a TAP of that name is open elsewhere without MultiQueue). If
// a step after creation fails, the TAP is closed again and, unless it
// existed before, removed.
//
// Known limit: when TUNSETIFF fails, water does not close the
// /dev/net/tun descriptor it opened, so that failed attempt leaks one
// unattached descriptor (no interface). Create checks the name first to
// keep the common failures (bad, too long, in use by another link type) off
// that path.
func Create(cfg Config) (*TAP, error) {
	name := cfg.Name
	if name == "" {
		name = DefaultNamePattern
	}
	if err := validateName(name); err != nil {
		return nil, &OpError{Op: "create", Name: name, Err: err}
	}
	if cfg.MTU < 0 {
		return nil, &OpError{Op: "create", Name: name, Err: fmt.Errorf("%w %d", ErrInvalidMTU, cfg.MTU)}
	}
	ctl, err := ctlSocket()
	if err != nil {
		return nil, &OpError{Op: "create", Name: name, Err: fmt.Errorf("control socket: %w", err)}
	}
	existed := false
	if !strings.Contains(name, "%") {
		existed, err = probeTAP(ctl, name)
		if err != nil {
			unix.Close(ctl)
			return nil, &OpError{Op: "create", Name: name, Err: err}
		}
	}
	var offloadReason string
	if cfg.Offload {
		f, actual, v, err := createVnet(name, cfg)
		switch {
		case err == nil:
			t := &TAP{name: actual, persist: cfg.Persist, ctl: ctl, nl: -1, vnet: v}
			v.writeFn = t.writev
			err := t.open(f, cfg)
			if err == nil {
				v.rc = t.conn
				err = t.initReader(cfg)
			}
			if err == nil {
				err = t.setup(cfg)
			}
			if err != nil {
				if cfg.Persist && !existed {
					t.setPersist(false)
				}
				t.Close()
				return nil, err
			}
			if v.offloads.Reason != "" && cfg.Logf != nil {
				cfg.Logf("tap %s: offloads %s", actual, v.offloads)
			}
			return t, nil
		case errors.Is(err, errNoOffload):
			offloadReason = err.Error()
			if cfg.Logf != nil {
				cfg.Logf("tap %s: offloads off, using a plain TAP: %v", name, err)
			}
		default:
			unix.Close(ctl)
			return nil, createError(name, err)
		}
	}
	ifce, err := water.New(water.Config{
		DeviceType: water.TAP,
		PlatformSpecificParams: water.PlatformSpecificParams{
			Name:       name,
			Persist:    cfg.Persist,
			MultiQueue: cfg.MultiQueue,
		},
	})
	if err != nil {
		unix.Close(ctl)
		return nil, createError(name, err)
	}
	f, ok := ifce.ReadWriteCloser.(*os.File)
	if !ok {
		ifce.Close()
		unix.Close(ctl)
		return nil, &OpError{Op: "create", Name: name, Err: fmt.Errorf("water returned %T, want *os.File", ifce.ReadWriteCloser)}
	}
	t := &TAP{name: ifce.Name(), persist: cfg.Persist, ctl: ctl, nl: -1, offloadReason: offloadReason}
	err = t.open(f, cfg)
	if err == nil {
		err = t.clearOffloads()
	}
	if err == nil {
		err = t.initReader(cfg)
	}
	if err == nil {
		err = t.setup(cfg)
	}
	if err != nil {
		if cfg.Persist && !existed {
			t.setPersist(false) // roll back: let Close remove what we made
		}
		t.Close()
		return nil, err
	}
	return t, nil
}

// clearOffloads turns a plain TAP's offloads off (TUNSETOFFLOAD 0). A new
// TAP has none, but a persistent one (a Pod port re-adopted by a daemon
// restarted with --offload=false) keeps the TSO/checksum features an
// earlier opener set, and without a virtio-net header the kernel would
// then hand over 64 KiB frames the reader cannot take.
func (t *TAP) clearOffloads() error {
	var ierr error
	if err := t.conn.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, 0) }); err != nil {
		ierr = err
	}
	if ierr != nil {
		return &OpError{Op: "clear offloads", Name: t.name, Err: os.NewSyscallError("ioctl", ierr)}
	}
	return nil
}

// setup reads the index and applies MAC, MTU and IFF_UP, in that order (the
// MAC of a TAP can change while it is up, but other drivers want it down).
func (t *TAP) setup(cfg Config) error {
	idx, err := getIndex(t.ctl, t.name)
	if err != nil {
		return &OpError{Op: "get index", Name: t.name, Err: err}
	}
	t.index = idx
	// Best effort: without it TxDropped reports an error, nothing else.
	if nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err == nil {
		t.ctlMu.Lock()
		t.nl = nl
		t.ctlMu.Unlock()
	}
	if !cfg.MAC.IsZero() {
		if err := setHwaddr(t.ctl, t.name, cfg.MAC); err != nil {
			return &OpError{Op: "set mac", Name: t.name, Err: fmt.Errorf("mac %s: %w", cfg.MAC, err)}
		}
	}
	if cfg.MTU > 0 {
		if err := setMTU(t.ctl, t.name, cfg.MTU); err != nil {
			return &OpError{Op: "set mtu", Name: t.name, Err: fmt.Errorf("mtu %d: %w", cfg.MTU, err)}
		}
	}
	mtu, err := getMTU(t.ctl, t.name)
	if err != nil {
		return &OpError{Op: "get mtu", Name: t.name, Err: err}
	}
	t.mtu.Store(int64(mtu))
	if cfg.Up {
		if err := setUp(t.ctl, t.name, true); err != nil {
			return &OpError{Op: "set up", Name: t.name, Err: err}
		}
	}
	return nil
}

func (t *TAP) setPersist(on bool) error {
	if t.conn == nil {
		return os.ErrClosed
	}
	v := 0
	if on {
		v = 1
	}
	var ierr error
	if err := t.conn.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, v) }); err != nil {
		return err
	}
	return ierr
}

// probeTAP reports whether a link called name exists in ctl's namespace.
// It fails with ErrNameInUse if the link exists but is not a TAP: the tun
// driver reports bus_info "tap" for TAP devices and "tun" for TUN devices.
func probeTAP(ctl int, name string) (bool, error) {
	if _, err := getIndex(ctl, name); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return false, nil
		}
		return false, err
	}
	info, err := unix.IoctlGetEthtoolDrvinfo(ctl, name)
	if err != nil {
		return true, fmt.Errorf("%w (driver unknown: %v)", ErrNameInUse, err)
	}
	driver := unix.ByteSliceToString(info.Driver[:])
	bus := unix.ByteSliceToString(info.Bus_info[:])
	if driver != "tun" || bus != "tap" {
		if driver == "tun" {
			driver = "tun, a TUN device"
		}
		return true, fmt.Errorf("%w (driver %s)", ErrNameInUse, driver)
	}
	return true, nil
}

// createError wraps an error from water.New with advice. water returns the
// bare errno when opening /dev/net/tun fails and an *os.SyscallError when
// an ioctl (TUNSETIFF, TUNSETPERSIST) fails.
func createError(name string, err error) error {
	var se *os.SyscallError
	fromIoctl := errors.As(err, &se)
	var errno unix.Errno
	errors.As(err, &errno)
	hint := ""
	switch {
	case !fromIoctl && (errno == unix.ENOENT || errno == unix.ENODEV || errno == unix.ENXIO):
		hint = "no usable /dev/net/tun: load the tun module (modprobe tun) or create /dev/net/tun (mknod /dev/net/tun c 10 200)"
		err = fmt.Errorf("open /dev/net/tun: %w", err)
	case errno == unix.EACCES || errno == unix.EPERM:
		hint = "creating a TAP needs root or CAP_NET_ADMIN"
	case errno == unix.EBUSY:
		hint = "a TAP of that name is already open; without MultiQueue a TAP takes one opener"
	case fromIoctl && errno == unix.EINVAL:
		hint = "a TUN/TAP device of that name exists with other flags (TUN vs TAP, multi-queue)"
	}
	if hint != "" {
		err = &hintError{err: err, hint: hint}
	}
	return &OpError{Op: "create", Name: name, Err: err}
}

// Delete removes the TAP called name in the calling thread's network
// namespace, persistent or not, by attaching to it, clearing its persist
// flag and closing it. A name that does not exist is not an error (a CNI
// DEL must be idempotent). It fails with unix.EBUSY while another process
// has the TAP open (without MultiQueue), and with ErrNameInUse if the name
// is not a TAP.
func Delete(name string) error {
	if err := validateName(name); err != nil || name == "" {
		if err == nil {
			err = ErrInvalidName
		}
		return &OpError{Op: "delete", Name: name, Err: err}
	}
	var exists bool
	err := withCtl(func(fd int) (err error) { exists, err = probeTAP(fd, name); return err })
	if err != nil {
		return &OpError{Op: "delete", Name: name, Err: err}
	}
	if !exists {
		return nil
	}
	t, err := Create(Config{Name: name})
	if err != nil {
		return err
	}
	return t.Close()
}

// Name is the kernel's name for the interface. It never changes for the
// TAP's lifetime, even if the link is renamed behind the switch's back.
func (t *TAP) Name() string { return t.name }

// Index is the interface index, read once at Create.
func (t *TAP) Index() int { return t.index }

// MTU is the link's current MTU, read with SIOCGIFMTU; after Close, or if
// the read fails, it is the last MTU seen or set.
func (t *TAP) MTU() int {
	t.ctlMu.RLock()
	defer t.ctlMu.RUnlock()
	if t.ctl >= 0 {
		if mtu, err := getMTU(t.ctl, t.name); err == nil {
			t.mtu.Store(int64(mtu))
		}
	}
	return int(t.mtu.Load())
}

// HardwareAddr is the link's MAC address, read back with SIOCGIFHWADDR. It
// is the zero MAC after Close or if the read fails.
func (t *TAP) HardwareAddr() encap.MAC {
	t.ctlMu.RLock()
	defer t.ctlMu.RUnlock()
	if t.ctl < 0 {
		return encap.MAC{}
	}
	m, _ := getHwaddr(t.ctl, t.name)
	return m
}

// SetMTU sets the link's MTU (SIOCSIFMTU). It is safe to call from any
// thread and goroutine; it fails with os.ErrClosed after Close.
func (t *TAP) SetMTU(mtu int) error {
	err := t.ctlDo(func(fd int) error { return setMTU(fd, t.name, mtu) })
	if err != nil {
		return &OpError{Op: "set mtu", Name: t.name, Err: err}
	}
	t.mtu.Store(int64(mtu))
	return nil
}

// SetUp sets (up = true) or clears IFF_UP on the link. It is safe to call
// from any thread and goroutine; it fails with os.ErrClosed after Close.
// While the link is down, Write fails with EIO: the kernel drops frames
// written to a down TAP.
func (t *TAP) SetUp(up bool) error {
	err := t.ctlDo(func(fd int) error { return setUp(fd, t.name, up) })
	if err != nil {
		op := "set up"
		if !up {
			op = "set down"
		}
		return &OpError{Op: op, Name: t.name, Err: err}
	}
	return nil
}

func (t *TAP) ctlDo(fn func(fd int) error) error {
	t.ctlMu.RLock()
	defer t.ctlMu.RUnlock()
	if t.ctl < 0 {
		return os.ErrClosed
	}
	return fn(t.ctl)
}

// BatchSize is PlainBatchSize for a plain TAP and OffloadBatchSize with
// offloads.
func (t *TAP) BatchSize() int {
	if t.vnet != nil {
		return OffloadBatchSize
	}
	return PlainBatchSize
}

// errShortBatch is returned by Read and Write for empty batches or an
// offset past the end of a buffer. It is preallocated so that the check
// costs no allocation.
var errShortBatch = fmt.Errorf("tap: batch too short for offset: %w", io.ErrShortBuffer)

// Read reads frames into bufs[i][offset:], one read(2) each, and sets
// sizes[i] to their lengths. It blocks until a frame arrives or the TAP is
// closed. If it had to wait, it returns that frame at once: the queue was
// idle, and another read(2) would most likely only return EAGAIN, adding
// its cost to a lone frame's latency. If a frame was already queued (the
// switch is behind), it goes on reading whatever else is queued, without
// waiting, until the batch is full (at most BatchSize frames), so under
// load one Read hands the switch a batch that leaves in one sendmmsg(2).
// After Close it returns an error
// satisfying errors.Is(err, os.ErrClosed). Each bufs[i] should have room
// for the MTU plus an Ethernet header (18 bytes with a VLAN tag) after
// offset. It does not allocate unless it fails.
//
// With offloads, each read(2) fetches one frame or super-frame with its
// virtio-net header into an internal 64 KiB buffer; Read splits it into
// bufs (each must hold the MTU plus the Ethernet header after offset) and
// finishes partial checksums. Segments that do not fit in len(bufs) stay
// pending and are returned first by the next Read. A frame whose
// virtio-net header or layout makes no sense is dropped and counted
// (ReadDrops) and reading goes on.
func (t *TAP) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 || offset < 0 || offset >= len(bufs[0]) {
		return 0, errShortBatch
	}
	if t.vnet != nil {
		return t.readVnet(bufs, sizes, offset, nil)
	}
	return t.readPlain(bufs, sizes, offset)
}

// ReadSuper implements SuperReader. A TAP without offloads never has
// super-frames: ReadSuper is Read.
func (t *TAP) ReadSuper(bufs [][]byte, sizes []int, offset int, s *Super) (int, error) {
	*s = Super{}
	if len(bufs) == 0 || len(sizes) == 0 || offset < 0 || offset >= len(bufs[0]) {
		return 0, errShortBatch
	}
	if t.vnet != nil {
		return t.readVnet(bufs, sizes, offset, s)
	}
	return t.readPlain(bufs, sizes, offset)
}

// readPlain is Read for a TAP without offloads.
func (t *TAP) readPlain(bufs [][]byte, sizes []int, offset int) (int, error) {
	max := min(len(bufs), len(sizes), PlainBatchSize)
	n := 0
	for n < max && offset < len(bufs[n]) {
		nr, waited, err := t.readFrame(bufs[n][offset:], n > 0 || t.rd.always)
		if err != nil {
			if n > 0 || err == errNoFrame {
				// Nothing more queued, or a failure the next Read meets
				// again: return the frames read so far.
				return n, nil
			}
			return 0, &OpError{Op: "read", Name: t.name, Err: err}
		}
		sizes[n] = nr
		n++
		if waited {
			break // the queue was idle: forward this frame now
		}
	}
	return n, nil
}

// PollFD returns the descriptor a poll loop waits on (POLLIN) for a TAP
// created with Config.NoWait, and -1 for any other TAP, whose Read waits
// itself. The descriptor belongs to the TAP: it stays valid until Close,
// and the loop must stop polling it before Close.
func (t *TAP) PollFD() int {
	if !t.rd.always {
		return -1
	}
	return t.rd.fd
}

// Write writes each bufs[i][offset:] as one frame with one write(2) and
// returns how many were written; on error, the first n were. Write does
// not retain bufs and does not allocate unless it fails. It fails with EIO
// while the link is down and with os.ErrClosed after Close.
//
// With offloads, Write first merges runs of in-order TCP segments of one
// flow into super-frames (encap.Coalescer; unless SetGRO(false) or
// Config.NoGRO) and writes each frame or super-frame with its virtio-net
// header in one writev(2), without copying payloads or modifying bufs.
// Frames of different flows may then be written in a different order; on
// error, n counts the frames written, which need not be the first n.
func (t *TAP) Write(bufs [][]byte, offset int) (int, error) {
	if t.vnet != nil {
		return t.writeVnet(bufs, offset)
	}
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, errShortBatch
		}
		t.wbuf, t.werr = b[offset:], nil
		var err error
		if t.conn.Write(t.wfn) != nil {
			// RawConn.Write fails only when the descriptor is closed (or
			// closing); an *os.File's says "use of closed file", which
			// os.File.Write would have mapped to os.ErrClosed.
			err = os.ErrClosed
		} else {
			err = t.werr
		}
		t.wbuf = nil
		if err != nil {
			return i, &OpError{Op: "write", Name: t.name, Err: err}
		}
	}
	return len(bufs), nil
}

// write is plain Write's callback: one frame with one write(2).
func (t *TAP) write(fd uintptr) bool {
	for {
		n, err := rawIO(unix.SYS_WRITE, fd, t.wbuf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false // wait until writable
		case err != nil:
			t.werr = os.NewSyscallError("write", err)
		case n != len(t.wbuf):
			t.werr = fmt.Errorf("short write: %d of %d bytes", n, len(t.wbuf))
		}
		return true
	}
}

// conn is what the TAP needs of its descriptor: *rawfd.FD, or an
// *os.File's RawConn with the file's Close (fileConn).
type conn interface {
	syscall.RawConn
	Close() error
}

// fileConn is an *os.File as a conn.
type fileConn struct {
	syscall.RawConn
	f *os.File
}

func (c fileConn) Close() error { return c.f.Close() }

// open makes f the TAP's conn: f itself when reads wait in the runtime
// poller, else a duplicate outside the poller (f is closed). On error f
// is closed.
func (t *TAP) open(f *os.File, cfg Config) error {
	t.wfn = t.write
	if cfg.PollerWait && !cfg.NoWait {
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return &OpError{Op: "create", Name: t.name, Err: err}
		}
		t.conn = fileConn{RawConn: rc, f: f}
		return nil
	}
	raw, err := rawfd.FromConn(f)
	if err != nil {
		f.Close()
		return &OpError{Op: "create", Name: t.name, Err: err}
	}
	t.conn = raw
	return nil
}

// Close closes the TAP's descriptor, which removes the interface unless it
// was created with Persist, and wakes a blocked Read. It waits until the
// descriptor is really closed, so the interface is gone when Close returns.
// Close is idempotent: later calls return the first call's result.
func (t *TAP) Close() error {
	t.closeOnce.Do(func() {
		t.closing.Store(true)
		var err error
		if t.conn != nil {
			err = t.conn.Close() // waits for a Read in progress to let go
		}
		t.ctlMu.Lock()
		if t.ctl >= 0 {
			unix.Close(t.ctl)
			t.ctl = -1
		}
		if t.nl >= 0 {
			unix.Close(t.nl)
			t.nl = -1
		}
		t.ctlMu.Unlock()
		if err != nil {
			t.closeErr = &OpError{Op: "close", Name: t.name, Err: err}
		}
	})
	return t.closeErr
}
