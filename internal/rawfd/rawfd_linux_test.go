package rawfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/testutil"
)

// registered reports whether fd is in the runtime poller's epoll set.
func registered(t *testing.T, fd int) bool {
	t.Helper()
	in, ok := testutil.InEpollSet(fd)
	if !ok {
		t.Skip("no epoll instance visible in /proc/self/fdinfo")
	}
	return in
}

// TestFromConnLeavesPoller: a pipe's read end opened by os.Pipe is in the
// runtime's epoll set; the FD FromConn makes of it is not, and the
// original is closed.
func TestFromConnLeavesPoller(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	orig := int(r.Fd()) // Fd makes it blocking but leaves it registered
	unix.SetNonblock(orig, true)
	if !registered(t, orig) {
		t.Skip("the runtime poller's epoll set is not visible in /proc/self/fdinfo")
	}
	f, err := FromConn(r)
	if err != nil {
		t.Fatalf("FromConn: %v", err)
	}
	defer f.Close()
	if registered(t, f.Fd()) {
		t.Errorf("descriptor %d is still in the runtime's epoll set", f.Fd())
	}
	if _, err := r.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("original file after FromConn: Stat error %v, want os.ErrClosed", err)
	}
}

// pipeFD returns an FD made of a pipe's read end and the write end; both
// are closed when the test ends.
func pipeFD(t *testing.T) (*FD, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f, err := FromConn(r)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, w
}

// TestReadWaitsAndClose: Read waits in ppoll until the descriptor is
// readable; Close wakes a waiting Read with an error that is both
// os.ErrClosed and net.ErrClosed, waits for it, and every later call
// returns that error.
func TestReadWaitsAndClose(t *testing.T) {
	f, w := pipeFD(t)
	buf := make([]byte, 16)
	read := func() (string, error) {
		var got string
		err := f.Read(func(fd uintptr) bool {
			n, err := unix.Read(int(fd), buf)
			if err == unix.EAGAIN {
				return false
			}
			got = fmt.Sprintf("%d %v %q", n, err, buf[:max(n, 0)])
			return true
		})
		return got, err
	}

	done := make(chan string, 1)
	go func() {
		got, err := read()
		done <- fmt.Sprintf("%s %v", got, err)
	}()
	select {
	case got := <-done:
		t.Fatalf("Read returned before anything was written: %s", got)
	case <-time.After(100 * time.Millisecond):
	}
	w.Write([]byte("hello"))
	select {
	case got := <-done:
		if want := `5 <nil> "hello" <nil>`; got != want {
			t.Fatalf("unexpected Read:\n- want: %s\n-  got: %s", want, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after a write")
	}

	errc := make(chan error, 1)
	go func() {
		_, err := read()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it wait
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read woken by Close: %v, want os.ErrClosed and net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the waiting Read")
	}
	if _, err := read(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := f.Write(func(uintptr) bool { return true }); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := f.Control(func(uintptr) {}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Control after Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseWaitsForCall: Close does not close the descriptor while a call
// is inside its function.
func TestCloseWaitsForCall(t *testing.T) {
	f, _ := pipeFD(t)
	inside, release := make(chan struct{}), make(chan struct{})
	var stillOpen bool
	go f.Control(func(fd uintptr) {
		close(inside)
		<-release
		_, err := unix.FcntlInt(fd, unix.F_GETFD, 0)
		stillOpen = err == nil
	})
	<-inside
	closed := make(chan struct{})
	go func() {
		f.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a Control call was in progress")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed
	if !stillOpen {
		t.Error("the descriptor was closed under a call in progress")
	}
}
