package main

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/internal/testutil"
)

// buildBinaries builds vxswitchd and vxctl into a temporary directory.
func buildBinaries(t *testing.T) (vxswitchd, vxctl string) {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []struct{ pkg, out string }{
		{"github.com/vxswitch/vxswitch/cmd/vxswitchd", filepath.Join(dir, "vxswitchd")},
		{"github.com/vxswitch/vxswitch/cmd/vxctl", filepath.Join(dir, "vxctl")},
	} {
		if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return filepath.Join(dir, "vxswitchd"), filepath.Join(dir, "vxctl")
}

// TestPrivilegedCaptureLive runs a real two-host lab and shows what the
// issue asks of captures: `vxctl capture -w - | tcpdump -r -` prints live
// packets while a ping runs, and a --drops capture records an unknown-VNI
// packet with its reason in the packet comment (read back by tshark).
func TestPrivilegedCaptureLive(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"tcpdump", "tshark", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	daemonBin, vxctlBin := buildBinaries(t)
	l, err := lab.New(lab.Config{Name: testutil.UniqueName("cap"), Hosts: 2, DaemonCmd: []string{daemonBin}, Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab.Down: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("lab.Up: %v", err)
	}
	h0, h1 := l.Hosts()[0], l.Hosts()[1]

	t.Run("live pipe to tcpdump", func(t *testing.T) {
		// The capture stops after 6 packets; the ping keeps running
		// until then.
		pipe := vxctlBin + " --api " + h0.APISocket + " capture --port " + lab.TAPDev + " --filter icmp -c 6 --duration 30s -w - | tcpdump -n -r -"
		cmd := exec.CommandContext(ctx, "sh", "-c", pipe)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Ping until the capture has its packets (the capture may start a
		// moment after the pipe does).
	loop:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: %v\n%s", pipe, err, errb.String())
				}
				break loop
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			default:
				h0.Ping(ctx, h1.Overlay.Addr(), 1, time.Second)
			}
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		echo := 0
		for _, ln := range lines {
			if strings.Contains(ln, "ICMP echo") {
				echo++
			}
		}
		if len(lines) != 6 || echo != 6 {
			t.Errorf("unexpected tcpdump output (want 6 ICMP echo lines):\n%s\nstderr:\n%s", out.String(), errb.String())
		}
		if !strings.Contains(errb.String(), "6 packets captured") {
			t.Errorf("unexpected vxctl summary:\n- want: containing %q\n-  got: %s", "6 packets captured", errb.String())
		}
	})

	t.Run("drop with reason", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "drops.pcapng")
		cmd := exec.CommandContext(ctx, vxctlBin, "--api", h0.APISocket, "capture", "--drops", "-c", "1", "--duration", "30s", "-w", file)
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// VXLAN for VNI 999, which h0 does not serve, from h1's namespace.
		pkt := make([]byte, 8+60)
		pkt[0] = 0x08
		binary.BigEndian.PutUint32(pkt[4:], 999<<8)
		copy(pkt[8:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 9, 0x08, 0x06})
		dst := netip.AddrPortFrom(h0.Underlay, lab.VXLANPort)
		var werr error
	loop:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("vxctl capture --drops: %v\n%s", err, errb.String())
				}
				break loop
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(100 * time.Millisecond):
				werr = h1.NS.Do(func() error {
					c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
					if err != nil {
						return err
					}
					defer c.Close()
					_, err = c.Write(pkt)
					return err
				})
				if werr != nil {
					t.Fatalf("send from %s: %v", h1.Name, werr)
				}
			}
		}
		out, err := exec.CommandContext(ctx, "tshark", "-r", file, "-T", "fields", "-e", "frame.comment", "-e", "vxlan.vni").CombinedOutput()
		if err != nil {
			t.Fatalf("tshark -r %s: %v\n%s", file, err, out)
		}
		got := strings.TrimSpace(string(out))
		if !strings.Contains(got, "drop: unknown_vni") || !strings.Contains(got, "999") {
			t.Errorf("unexpected drop record (want the reason unknown_vni and VNI 999):\n%s", got)
		}
		if st, err := os.Stat(file); err != nil || st.Size() == 0 {
			t.Errorf("capture file missing or empty: %v", err)
		}
	})
}
