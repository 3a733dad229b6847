package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrAlreadyRunning is returned (wrapped, with the path) by Listen when a
// server already answers on the socket path.
var ErrAlreadyRunning = errors.New("another vxswitchd is running")

// Listen listens on the unix socket path for the management API. It creates
// the parent directory (mode 0755) if missing. If a socket file is already
// there, Listen connects to it: when something answers it fails with an
// error wrapping ErrAlreadyRunning; when the connection is refused, the
// file is a stale leftover of a daemon that died, and Listen removes it.
// Any other file at path is left alone and reported. The socket is made
// mode 0600, so only its owner (root, for the daemon) can use the API.
//
// Closing the returned listener removes the socket file.
func Listen(path string) (net.Listener, error) {
	if path == "" {
		return nil, errors.New("api: empty socket path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api: create socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: chmod %s: %w", path, err)
	}
	return ln, nil
}

// removeStale removes path if it is a socket nothing listens on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("api: %s exists and is not a socket: remove it or choose another API path", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("api: %w on %s: stop it first or choose another API path", ErrAlreadyRunning, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("api: cannot tell whether %s is in use (%v): remove it if no vxswitchd is running", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("api: remove stale socket: %w", err)
	}
	return nil
}
