package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

// TestPrivilegedThreeHostsFloodAndLearn: "the first ARP is flooded to both
// others; after learning, unicast goes only to the right VTEP (count it on
// the third host's underlay)".
func TestPrivilegedThreeHostsFloodAndLearn(t *testing.T) {
	l, ctx := startLab(t, lab.Config{Hosts: 3})
	hosts := l.Hosts()
	h0, h1, h2 := hosts[0], hosts[1], hosts[2]
	disableIPv6(t, ctx, lab.TAPDev, hosts...)
	for _, h := range hosts {
		run(t, ctx, h.NS, "ip", "neigh", "flush", "dev", lab.TAPDev)
	}

	before := stats(t, ctx, h2)
	capt := startCapture(t, ctx, h2.NS, lab.UnderlayDev, "udp", "port", "4789")
	mustPing(t, ctx, h0, h1.Overlay.Addr(), 5)
	pcap := capt.stop(t)
	after := stats(t, ctx, h2)

	// What reached h2's underlay, decoded by tshark.
	arps := tsharkFields(t, ctx, pcap, "arp.opcode == 1 && arp.dst.proto_ipv4 == "+h1.Overlay.Addr().String(), "ip.dst")
	icmps := tsharkFields(t, ctx, pcap, "icmp", "ip.src", "ip.dst")
	if len(arps) == 0 {
		t.Errorf("h2's underlay saw no flooded ARP request for %s", h1.Overlay.Addr())
	}
	for _, a := range arps {
		// The flooded copy travels to h2 itself: outer ip.dst is h2.
		if !strings.HasPrefix(a[0], h2.Underlay.String()+",") && a[0] != h2.Underlay.String() {
			t.Errorf("unexpected outer destination of a flooded ARP request:\n- want: %s\n-  got: %s", h2.Underlay, a[0])
		}
	}
	if len(icmps) != 0 {
		t.Errorf("unexpected ICMP on h2's underlay (unicast leaked to a third VTEP):\n- want: 0 packets\n-  got: %d: %v", len(icmps), icmps)
	}
	// Second witness: h2's switch counted the flood but not the 10 echoes.
	rx := vniRx(after, 42) - vniRx(before, 42)
	if rx < uint64(len(arps)) || rx >= 10 {
		t.Errorf("unexpected VNI 42 rx_packets delta on h2:\n- want: >= %d (flooded ARP) and < 10 (the echoes)\n-  got: %d", len(arps), rx)
	}
	t.Logf("h2 underlay: %d ARP request(s), %d ICMP; h2 VNI 42 rx +%d", len(arps), len(icmps), rx)

	// Each side learned the other behind its underlay address and holds
	// its own MAC as a local entry of its TAP.
	mac0 := daemon.StableMAC(h0.Underlay, lab.TAPDev)
	mac1 := daemon.StableMAC(h1.Underlay, lab.TAPDev)
	for _, tt := range []struct {
		host *lab.Host
		want []fdbView
	}{
		{host: h0, want: []fdbView{
			{MAC: mac0, Port: lab.TAPDev, Origin: "local"},
			{MAC: mac1, Remote: h1.Underlay.String(), Origin: "learned"},
		}},
		{host: h1, want: []fdbView{
			{MAC: mac0, Remote: h0.Underlay.String(), Origin: "learned"},
			{MAC: mac1, Port: lab.TAPDev, Origin: "local"},
		}},
	} {
		var got []fdbView
		for _, w := range tt.want {
			e, err := fdbEntry(ctx, tt.host, 42, w.MAC)
			if err != nil {
				t.Error(err)
				continue
			}
			got = append(got, viewOf(e))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("unexpected FDB entries on %s (-want +got):\n%s", tt.host.Name, diff)
		}
	}
}

// TestPrivilegedVNIIsolation: hosts h0 and h1 on VNI 42, h2 on VNI 43,
// all three with overlay addresses in the same /24. h0 and h1 reach each
// other; nobody reaches h2, and h2's TAP never sees a frame of h0.
func TestPrivilegedVNIIsolation(t *testing.T) {
	l, ctx := startLab(t, lab.Config{Hosts: 3})
	hosts := l.Hosts()
	h0, h1, h2 := hosts[0], hosts[1], hosts[2]
	restartDaemonWithArgs(t, ctx, h2, func(args []string) []string {
		for i, a := range args {
			if a == lab.TAPDev+":42" {
				args[i] = lab.TAPDev + ":43"
			}
		}
		return args
	})
	disableIPv6(t, ctx, lab.TAPDev, hosts...)
	st, err := client(h2).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint32{43}, st.VNIs); diff != "" {
		t.Fatalf("unexpected VNIs of h2 (-want +got):\n%s", diff)
	}

	mac0 := daemon.StableMAC(h0.Underlay, lab.TAPDev)
	before0, before2 := stats(t, ctx, h0), stats(t, ctx, h2)
	capt := startCapture(t, ctx, h2.NS, lab.TAPDev, "ether", "src", mac0.String())

	mustPing(t, ctx, h0, h1.Overlay.Addr(), 3)
	mustPing(t, ctx, h1, h0.Overlay.Addr(), 3)
	for _, tt := range []struct{ from, to *lab.Host }{{h0, h2}, {h2, h0}, {h2, h1}} {
		res, err := tt.from.Ping(ctx, tt.to.Overlay.Addr(), 2, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if res.Received != 0 {
			t.Errorf("unexpected replies %s -> %s across VNIs:\n- want: 0\n-  got: %d", tt.from.Name, tt.to.Name, res.Received)
		}
	}
	pcap := capt.stop(t)
	if frames := tsharkFields(t, ctx, pcap, "", "eth.src"); len(frames) != 0 {
		t.Errorf("unexpected frames from h0 (%s) on h2's VNI 43 TAP:\n- want: 0\n-  got: %d", mac0, len(frames))
	}
	// h0's flooded ARP reached h2's switch, which does not serve VNI 42,
	// and the other way round.
	after0, after2 := stats(t, ctx, h0), stats(t, ctx, h2)
	for _, tt := range []struct {
		host          *lab.Host
		before, after uint64
	}{
		{h2, before2.Drops["unknown_vni"], after2.Drops["unknown_vni"]},
		{h0, before0.Drops["unknown_vni"], after0.Drops["unknown_vni"]},
	} {
		if tt.after <= tt.before {
			t.Errorf("unexpected drops.unknown_vni on %s:\n- want: > %d\n-  got: %d", tt.host.Name, tt.before, tt.after)
		}
	}
	if _, err := fdbEntry(ctx, h2, 43, mac0); err == nil {
		t.Errorf("h2 learned h0's MAC %s in VNI 43", mac0)
	}
}

// restartDaemonWithArgs replaces host h's lab daemon by one whose command
// line is edit(h.DaemonArgs()), waits until its API answers, and gives its
// TAP the host's overlay address. The daemon is stopped with SIGTERM when
// the test ends (before the lab goes down).
func restartDaemonWithArgs(t *testing.T, ctx context.Context, h *lab.Host, edit func([]string) []string) {
	t.Helper()
	if err := h.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	argv := edit(h.DaemonArgs())
	logFile, err := os.OpenFile(h.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logFile, "=== test: starting %s\n", strings.Join(argv, " "))
	cmd := h.NS.Command(context.Background(), argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		logFile.Close()
	}()
	t.Cleanup(func() { stopProcess(t, cmd, exited) })
	poll(t, 15*time.Second, h.Name+" daemon ready", func() error {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s: daemon exited: %v", h.Name, err)
		default:
		}
		_, err := client(h).Status(ctx)
		return err
	})
	run(t, ctx, h.NS, "ip", "addr", "replace", h.Overlay.String(), "dev", lab.TAPDev)
	run(t, ctx, h.NS, "ip", "link", "set", lab.TAPDev, "up")
}

// stopProcess sends SIGTERM to cmd and waits for exited, escalating to
// SIGKILL after 5 s.
func stopProcess(t *testing.T, cmd *exec.Cmd, exited chan error) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		return
	case <-time.After(5 * time.Second):
		t.Errorf("pid %d ignored SIGTERM for 5 s; killing it", cmd.Process.Pid)
		cmd.Process.Kill()
		err := <-exited
		exited <- err
	}
}
