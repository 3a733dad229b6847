package tap

import (
	"errors"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reader reads one frame per read(2) from the TAP's non-blocking
// descriptor. When the queue is empty the TAP's conn waits: a rawfd.FD
// parks the OS thread in ppoll(2) (the kernel then wakes the reader
// directly, which on the lab machines halved the overlay's ping-pong
// latency), an *os.File's RawConn parks the goroutine in the runtime
// poller (Config.PollerWait). Read is called by one goroutine at a time
// (the Device contract), so the state needs no lock.
type reader struct {
	rc syscall.RawConn

	// With always (Config.NoWait) no read waits: the caller polls fd.
	always bool
	fd     int

	// Arguments and results of fn, bound once so that rc.Read does not
	// allocate a closure per call. With noWait, fn reports EAGAIN instead
	// of waiting (Read fetching more frames for a batch it already has).
	buf    []byte
	noWait bool
	n      int
	err    error
	calls  int // fn calls in this read: more than one means the conn waited
	fn     func(fd uintptr) bool
}

// initReader prepares t.rd on t.conn; Create calls it before setup. With
// Config.PollerWait there is no waiter: Read waits in the runtime poller;
// with Config.NoWait Read never waits.
func (t *TAP) initReader(cfg Config) error {
	rc := t.conn
	t.rd.rc = rc
	t.rd.always = cfg.NoWait
	t.rd.fd = -1
	if err := rc.Control(func(fd uintptr) { t.rd.fd = int(fd) }); err != nil {
		return &OpError{Op: "create", Name: t.name, Err: err}
	}
	t.rd.fn = t.rd.read
	return nil
}

func (r *reader) read(fd uintptr) bool {
	r.calls++
	for {
		n, err := rawIO(unix.SYS_READ, fd, r.buf)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if r.noWait {
				r.n, r.err = 0, err
				return true
			}
			return false // the conn waits until readable and calls again
		}
		r.n, r.err = n, err
		return true
	}
}

// rawIO is read(2) or write(2) (trap) of b on fd, issued with
// RawSyscall: the TAP's descriptor is non-blocking, so the call never
// blocks (see internal/rawfd on why not Syscall). An empty b is passed as
// a nil pointer.
func rawIO(trap, fd uintptr, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(trap, fd, uintptr(p), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// errNoFrame is readFrame's result with noWait when no frame is queued.
var errNoFrame = errors.New("tap: no frame queued")

// readFrame reads one frame (with its virtio-net header on an offload
// TAP) into b. It waits for one unless noWait, when it returns errNoFrame
// at once if none is queued; waited reports whether it had to wait. After
// Close it returns os.ErrClosed.
func (t *TAP) readFrame(b []byte, noWait bool) (n int, waited bool, err error) {
	r := &t.rd
	r.buf, r.noWait, r.calls = b, noWait, 0
	err = r.rc.Read(r.fn)
	r.buf = nil
	waited = r.calls > 1
	if err != nil {
		if errors.Is(err, os.ErrClosed) || t.closing.Load() {
			return 0, waited, os.ErrClosed
		}
		return 0, waited, err
	}
	if r.err == unix.EAGAIN {
		return 0, false, errNoFrame
	}
	if r.err != nil {
		return 0, waited, os.NewSyscallError("read", r.err)
	}
	return r.n, waited, nil
}
