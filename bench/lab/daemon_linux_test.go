package lab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeDaemonArg, as the first argument of the test binary, turns it into a
// stand-in for vxswitchd: it accepts the lab's flags, creates the TAP and
// listens on the API socket, and exits on SIGTERM. It moves no frames; it
// lets the daemon life cycle be tested without the real daemon.
const fakeDaemonArg = "fake-vxswitchd"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == fakeDaemonArg {
		if err := fakeDaemon(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake-vxswitchd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeDaemon(args []string) error {
	fs := flag.NewFlagSet(fakeDaemonArg, flag.ContinueOnError)
	var tap, api string
	var ignoreTerm bool
	fs.BoolVar(&ignoreTerm, "ignore-term", false, "")
	fs.String("local", "", "")
	fs.Int("port", 0, "")
	fs.StringVar(&tap, "tap", "", "")
	fs.Func("remote", "", func(string) error { return nil })
	fs.StringVar(&api, "api", "", "")
	fs.String("log-level", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	name, _, _ := strings.Cut(tap, ":")
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	ln, err := net.Listen("unix", api)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Println("fake-vxswitchd: ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	for range sig {
		if !ignoreTerm {
			break
		}
		fmt.Println("fake-vxswitchd: ignoring signal")
	}
	fmt.Println("fake-vxswitchd: terminated")
	return nil
}

// sameNetns reports whether process pid lives in network namespace h.NS.
func sameNetns(t *testing.T, pid int, h *Host) bool {
	t.Helper()
	var a, b unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(h.NS.Path(), &b); err != nil {
		t.Fatal(err)
	}
	return a.Ino == b.Ino && a.Dev == b.Dev
}

// checkTAP asserts that the host's TAP is up with its overlay address.
func checkTAP(t *testing.T, ctx context.Context, h *Host) {
	t.Helper()
	out, err := h.Run(ctx, "ip", "-o", "addr", "show", "dev", TAPDev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "inet "+h.Overlay.String()) {
		t.Errorf("unexpected %s addresses:\n- want: inet %s\n-  got: %s", TAPDev, h.Overlay, out)
	}
	out, err = h.Run(ctx, "ip", "-o", "link", "show", "dev", TAPDev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), ",UP") {
		t.Errorf("unexpected %s state:\n- want: UP\n-  got: %s", TAPDev, out)
	}
}

func TestPrivilegedLabDaemonLifecycle(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLab(t, Config{Hosts: 2, KernelHosts: []int{1}, DaemonCmd: []string{self, fakeDaemonArg}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	h, kh := l.Hosts()[0], l.Hosts()[1]
	checkBridgeNetfilterOff(t, l)

	pid := h.DaemonPID()
	if pid == 0 {
		t.Fatal("no daemon PID after Up")
	}
	if !sameNetns(t, pid, h) {
		t.Fatalf("daemon %d does not run in %s", pid, h.NS.Name)
	}
	checkTAP(t, ctx, h)
	if err := h.StartDaemon(ctx); err == nil {
		t.Error("StartDaemon succeeded while the daemon runs")
	}
	if err := kh.StartDaemon(ctx); err == nil {
		t.Error("StartDaemon succeeded on a kernel host")
	}
	if got := kh.DaemonPID(); got != 0 {
		t.Errorf("unexpected kernel host daemon PID:\n- want: 0\n-  got: %d", got)
	}

	// kill -9, as a crash: the TAP goes with the daemon.
	if err := h.StopDaemon(syscall.SIGKILL); err != nil {
		t.Fatalf("StopDaemon: %v", err)
	}
	if got := h.DaemonPID(); got != 0 {
		t.Errorf("unexpected PID after SIGKILL:\n- want: 0\n-  got: %d", got)
	}
	if _, err := h.Run(ctx, "ip", "link", "show", "dev", TAPDev); err == nil {
		t.Errorf("%s survived its daemon", TAPDev)
	}
	if err := h.StopDaemon(syscall.SIGTERM); err != nil {
		t.Errorf("StopDaemon of a stopped daemon: %v", err)
	}

	// Restart: a new process, and the TAP is configured again.
	if err := h.StartDaemon(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	pid2 := h.DaemonPID()
	if pid2 == 0 || pid2 == pid {
		t.Fatalf("unexpected PID after restart:\n- want: a new PID (old %d)\n-  got: %d", pid, pid2)
	}
	checkTAP(t, ctx, h)

	// Down stops it with SIGTERM, and the log says it went cleanly.
	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if err := unix.Kill(pid2, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("unexpected state of daemon %d after Down:\n- want: %v\n-  got: %v", pid2, unix.ESRCH, err)
	}
	logb, err := os.ReadFile(h.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(logb)
	for _, want := range []string{"fake-vxswitchd: ready", "daemon exited: signal: killed", "fake-vxswitchd: terminated", "daemon exited: <nil>"} {
		if !strings.Contains(log, want) {
			t.Errorf("unexpected log:\n- want: a line with %q\n-  got:\n%s", want, log)
		}
	}
	if _, err := os.Stat(h.APISocket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unexpected API socket state after Down:\n- want: %v\n-  got: %v", os.ErrNotExist, err)
	}
	assertNoNamespaces(t, l.Config().Name)
}

func TestPrivilegedLabDaemonIgnoresSIGTERM(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLab(t, Config{Hosts: 1, DaemonCmd: []string{self, fakeDaemonArg}, ExtraArgs: []string{"--ignore-term"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	h := l.Hosts()[0]
	pid := h.DaemonPID()
	if err := h.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatalf("StopDaemon: %v", err)
	}
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("unexpected state of daemon %d:\n- want: %v\n-  got: %v", pid, unix.ESRCH, err)
	}
	logb, err := os.ReadFile(h.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fake-vxswitchd: ignoring signal", "daemon exited: signal: killed"} {
		if !strings.Contains(string(logb), want) {
			t.Errorf("unexpected log:\n- want: a line with %q\n-  got:\n%s", want, logb)
		}
	}
}

// checkBridgeNetfilterOff: with br_netfilter loaded, the lab's underlay
// namespace has bridge-nf-call-* at 0 (they default to 1 in every new
// namespace), and the host's own settings are untouched.
func checkBridgeNetfilterOff(t *testing.T, l *Lab) {
	t.Helper()
	const p = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	host, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		t.Log("br_netfilter not loaded: nothing to check")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"} {
		var got []byte
		err := l.UnderlayNS().Do(func() error {
			var err error
			got, err = os.ReadFile("/proc/sys/net/bridge/" + f)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(got)) != "0" {
			t.Errorf("unexpected %s in the underlay namespace:\n- want: 0\n-  got: %s", f, got)
		}
	}
	after, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(host) {
		t.Errorf("the host's bridge-nf-call-iptables changed:\n- want: %s-  got: %s", host, after)
	}
}
