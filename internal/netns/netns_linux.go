package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// NS is a named network namespace. It is safe for concurrent use.
type NS struct {
	// Name is the namespace name as `ip netns list` shows it.
	Name string
}

// Path is the bind-mounted namespace file.
func (n *NS) Path() string { return filepath.Join(Dir, n.Name) }

// Create makes a new named network namespace with `ip netns add` and brings
// its loopback up. It fails if one of that name exists.
func Create(name string) (*NS, error) {
	if _, err := os.Stat(filepath.Join(Dir, name)); err == nil {
		return nil, fmt.Errorf("netns: create %s: %w", name, os.ErrExist)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("netns: create %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	n := &NS{Name: name}
	if _, err := n.Run(context.Background(), "ip", "link", "set", "lo", "up"); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
}

// Open returns the existing namespace called name.
func Open(name string) (*NS, error) {
	if _, err := os.Stat(filepath.Join(Dir, name)); err != nil {
		return nil, fmt.Errorf("netns: open %s: %w", name, err)
	}
	return &NS{Name: name}, nil
}

// Delete removes the namespace. Deleting a namespace that is already gone
// is not an error.
func (n *NS) Delete() error {
	if _, err := os.Stat(n.Path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "delete", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: delete %s: %w: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Do runs fn on a locked OS thread that has entered the namespace, then
// switches the thread back. If the thread cannot be switched back it is
// left locked, so the Go runtime discards it instead of reusing it.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(n.Path())
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter %s: %w", n.Name, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter %s: %w", n.Name, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		return errors.Join(ferr, fmt.Errorf("netns: leave %s: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Command returns a command that runs inside the namespace
// (`ip netns exec NAME prog args...`).
func (n *NS) Command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, prog}, args...)...)
}

// Run runs prog inside the namespace and returns its combined output. The
// error, if any, includes the command line and its output.
func (n *NS) Run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	out, err := n.Command(ctx, prog, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns %s: %s %s: %w: %s", n.Name, prog, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}
