//go:build linux

package fdwait

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestWait: Wait returns nil once the descriptor is readable, and
// ErrClosed promptly when Close is called while it blocks and on every
// later call.
func TestWait(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	wt, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Release()

	done := make(chan error, 1)
	go func() { done <- wt.Wait(r.Fd()) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned before the pipe was readable: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.Write([]byte{1})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("unexpected error when readable:\n- want: nil\n-  got: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when the pipe became readable")
	}
	buf := make([]byte, 1)
	r.Read(buf) // drain

	go func() { done <- wt.Wait(r.Fd()) }()
	time.Sleep(20 * time.Millisecond)
	wt.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("unexpected error after Close:\n- want: %v\n-  got: %v", ErrClosed, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Wait")
	}
	if err := wt.Wait(r.Fd()); !errors.Is(err, ErrClosed) {
		t.Fatalf("unexpected error of a Wait after Close:\n- want: %v\n-  got: %v", ErrClosed, err)
	}
	wt.Close() // idempotent
}

// TestAllocsWait: waiting on a readable descriptor allocates nothing.
func TestAllocsWait(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	w.Write([]byte{1}) // stays readable
	wt, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Release()
	fd := r.Fd()
	if n := testing.AllocsPerRun(100, func() {
		if err := wt.Wait(fd); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("unexpected allocations per Wait:\n- want: 0\n-  got: %v", n)
	}
}
