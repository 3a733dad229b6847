package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vxswitch/vxswitch/internal/netns"
)

// Timeouts of the daemon life cycle.
const (
	// readyTimeout bounds the wait for a daemon's TAP and API socket when
	// the caller's context has no earlier deadline.
	readyTimeout = 15 * time.Second
	// stopTimeout is how long StopDaemon waits after a signal other than
	// SIGKILL before it sends SIGKILL.
	stopTimeout = 5 * time.Second
	// pollInterval is the readiness polling period.
	pollInterval = 20 * time.Millisecond
)

// Host is one host of a lab: a network namespace with an underlay veth and
// either vxswitchd (TAP vxtap0) or the kernel's vxlan device (vx42). The
// exported fields are set by New (APISocket and LogPath by Up) and must
// not be changed. The methods are safe for concurrent use.
type Host struct {
	Index     int          // position in Lab.Hosts
	Name      string       // "h<Index>"; also names the log and socket files
	NS        *netns.NS    // <lab>-h<Index>; exists between Up and Down
	Underlay  netip.Addr   // 192.0.2.(10+i) or 2001:db8::(10+i)
	Overlay   netip.Prefix // 198.18.0.(1+i)/24 on Dev
	Kernel    bool         // runs the kernel's vxlan driver, not vxswitchd
	Dev       string       // overlay device: "vxtap0" or "vx42"
	APISocket string       // vxswitchd's API socket, <dir>/<name>.sock
	LogPath   string       // vxswitchd's stdout and stderr, <dir>/<name>.log

	lab *Lab

	mu     sync.Mutex // protects the daemon fields below
	cmd    *exec.Cmd  // running daemon, nil when stopped
	exited chan struct{}
}

// Run runs prog with args inside the host's namespace and returns its
// combined output; the error includes the command line and the output.
func (h *Host) Run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	return h.NS.Run(ctx, prog, args...)
}

// DaemonArgs returns the full vxswitchd command line of the host.
func (h *Host) DaemonArgs() []string {
	c := &h.lab.cfg
	args := append([]string(nil), c.DaemonCmd...)
	args = append(args,
		"--local", h.Underlay.String(),
		"--port", strconv.Itoa(VXLANPort),
		"--tap", TAPDev+":"+strconv.FormatUint(uint64(c.VNI), 10))
	if !c.NoRemotes {
		for _, o := range h.lab.hosts {
			if o != h {
				args = append(args, "--remote", o.Underlay.String())
			}
		}
	}
	args = append(args, "--api", h.APISocket, "--log-level", "debug")
	return append(args, c.ExtraArgs...)
}

// DaemonPID returns the process ID of the host's running vxswitchd, or 0
// when none runs (kernel host, not started, stopped or exited).
func (h *Host) DaemonPID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		return 0
	}
	select {
	case <-h.exited:
		return 0
	default:
		return h.cmd.Process.Pid
	}
}

// StartDaemon starts vxswitchd in the host's namespace, appending its
// output to LogPath, waits until TAP vxtap0 exists and the API socket
// accepts connections, then puts the overlay address on vxtap0 and sets it
// up. ctx bounds the wait (at most 15 s without a deadline), not the
// daemon's life: the daemon runs until StopDaemon or Down. If the daemon
// is not ready in time, StartDaemon kills it and returns an error quoting
// the end of its log. It fails on kernel hosts and if a daemon runs.
func (h *Host) StartDaemon(ctx context.Context) error {
	if h.Kernel {
		return fmt.Errorf("lab: %s is a kernel vxlan host, it runs no daemon", h.Name)
	}
	if h.APISocket == "" {
		return fmt.Errorf("lab: %s: start daemon before Up", h.Name)
	}
	h.mu.Lock()
	if h.cmd != nil {
		select {
		case <-h.exited:
		default:
			h.mu.Unlock()
			return fmt.Errorf("lab: %s: daemon already runs (pid %d)", h.Name, h.cmd.Process.Pid)
		}
	}
	if err := os.Remove(h.APISocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		h.mu.Unlock()
		return fmt.Errorf("lab: %s: remove stale socket: %w", h.Name, err)
	}
	logFile, err := os.OpenFile(h.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.mu.Unlock()
		return fmt.Errorf("lab: %s: %w", h.Name, err)
	}
	argv := h.DaemonArgs()
	c := &h.lab.cfg
	fmt.Fprintf(logFile, "=== lab: starting %s\n", strings.Join(argv, " "))
	// `ip netns exec` execs argv in place, so the PID is the daemon's.
	cmd := h.NS.Command(context.Background(), argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = daemonProcAttr(c.Detach)
	h.lab.logf("lab: [%s] %s", h.NS.Name, strings.Join(argv, " "))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		h.mu.Unlock()
		return fmt.Errorf("lab: %s: start daemon: %w", h.Name, err)
	}
	exited := make(chan struct{})
	h.cmd, h.exited = cmd, exited
	h.mu.Unlock()
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logFile, "=== lab: daemon exited: %v\n", err)
		logFile.Close()
		close(exited)
	}()

	if err := h.waitReady(ctx, exited); err != nil {
		h.StopDaemon(syscall.SIGKILL)
		return fmt.Errorf("lab: %s: daemon not ready: %w\n%s", h.Name, err, h.logTail(20))
	}
	for _, args := range [][]string{
		// replace, not add: a TAP that outlived a restart keeps its address.
		{"addr", "replace", h.Overlay.String(), "dev", TAPDev},
		{"link", "set", TAPDev, "up"},
	} {
		if err := h.lab.run(ctx, h.NS, "ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// waitReady polls until the TAP exists and the API socket answers.
func (h *Host) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last error
	for {
		last = h.probeReady()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("daemon exited")
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (h *Host) probeReady() error {
	err := h.NS.Do(func() error {
		_, err := net.InterfaceByName(TAPDev)
		return err
	})
	if err != nil {
		return fmt.Errorf("no %s yet: %w", TAPDev, err)
	}
	c, err := net.DialTimeout("unix", h.APISocket, time.Second)
	if err != nil {
		return fmt.Errorf("API socket: %w", err)
	}
	return c.Close()
}

// logTail returns the last n lines of the daemon's log.
func (h *Host) logTail(n int) string {
	b, err := os.ReadFile(h.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return h.LogPath + ":\n" + strings.Join(lines, "\n")
}

// StopDaemon sends sig to the host's vxswitchd and waits for it to exit,
// sending SIGKILL if it has not exited 5 s after any other signal. Use
// SIGKILL to simulate a crash. Stopping a host without a running daemon is
// not an error; the daemon's exit status is logged, not returned.
func (h *Host) StopDaemon(sig os.Signal) error {
	h.mu.Lock()
	cmd, exited := h.cmd, h.exited
	h.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	h.lab.logf("lab: %s: signal %v to daemon %d", h.Name, sig, cmd.Process.Pid)
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("lab: %s: stop daemon: %w", h.Name, err)
	}
	if sig != syscall.SIGKILL {
		select {
		case <-exited:
			return nil
		case <-time.After(stopTimeout):
			h.lab.logf("lab: %s: daemon ignored %v for %v, sending SIGKILL", h.Name, sig, stopTimeout)
			cmd.Process.Kill()
		}
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("lab: %s: daemon %d did not exit after SIGKILL", h.Name, cmd.Process.Pid)
	}
}
