//go:build !linux

package netns

import (
	"context"
	"errors"
	"os/exec"
)

// ErrUnsupported is returned on systems without Linux network namespaces.
var ErrUnsupported = errors.New("netns: network namespaces need Linux")

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// NS is a named network namespace.
type NS struct{ Name string }

// Path is the bind-mounted namespace file.
func (n *NS) Path() string { return Dir + "/" + n.Name }

// Create is unsupported off Linux.
func Create(name string) (*NS, error) { return nil, ErrUnsupported }

// Open is unsupported off Linux.
func Open(name string) (*NS, error) { return nil, ErrUnsupported }

// Delete is unsupported off Linux.
func (n *NS) Delete() error { return ErrUnsupported }

// Do is unsupported off Linux.
func (n *NS) Do(fn func() error) error { return ErrUnsupported }

// Command is unsupported off Linux; the command fails to start.
func (n *NS) Command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "/nonexistent/netns-unsupported")
}

// Run is unsupported off Linux.
func (n *NS) Run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	return nil, ErrUnsupported
}
