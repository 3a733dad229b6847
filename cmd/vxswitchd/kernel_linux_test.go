package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

// TestPrivilegedKernelInterop: "one host runs vxswitchd, the other a kernel
// vxlan device (ip link add … type vxlan id 42 dstport 4789, bridge fdb
// append 00:00:00:00:00:00 … dst <peer>). Ping both ways, iperf3 TCP both
// ways; the kernel's bridge fdb show has learned the TAP's MAC behind our
// address and our FDB has learned the kernel device's MAC behind its
// address."
//
// It runs with the defaults (TAP TSO/USO, UDP GSO/GRO, one forwarding
// loop), with offloads forced off (--offload=false, the plain per-frame
// data path), with a loop per TAP queue and socket (--wait=thread, with and
// without offloads), with those loops waiting in the runtime poller
// (--wait=poller), with the single loop busy polling (a fixed 50 µs
// window, --busy-poll=50us --busy-poll-fixed, and an adaptive one of at
// most 200 µs, --busy-poll=200us), with the loop's thread real-time
// while it is behind (--rt-priority=10) and all the time
// (--rt-priority-fixed), and with a two-queue TAP (--tap-queues=2), in the
// single loop and with --wait=thread.
func TestPrivilegedKernelInterop(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		queues int
	}{
		{name: "offload", args: nil, queues: 1},
		{name: "no-offload", args: []string{"--offload=false"}, queues: 1},
		{name: "thread", args: []string{"--wait=thread"}, queues: 1},
		{name: "thread-no-offload", args: []string{"--wait=thread", "--offload=false"}, queues: 1},
		{name: "poller", args: []string{"--wait=poller"}, queues: 1},
		{name: "busy-poll", args: []string{"--busy-poll=50us", "--busy-poll-fixed"}, queues: 1},
		{name: "busy-poll-adaptive", args: []string{"--busy-poll=200us"}, queues: 1},
		{name: "rt-priority", args: []string{"--rt-priority=10"}, queues: 1},
		{name: "rt-priority-fixed", args: []string{"--rt-priority=10", "--rt-priority-fixed"}, queues: 1},
		{name: "tap-queues", args: []string{"--tap-queues=2"}, queues: 2},
		{name: "thread-tap-queues", args: []string{"--wait=thread", "--tap-queues=2"}, queues: 2},
	} {
		t.Run(tt.name, func(t *testing.T) { testKernelInterop(t, tt.args, tt.queues) })
	}
}

func testKernelInterop(t *testing.T, extraArgs []string, queues int) {
	l, ctx := startLab(t, lab.Config{Hosts: 2, KernelHosts: []int{1}, ExtraArgs: extraArgs})
	hosts := l.Hosts()
	sw, kern := hosts[0], hosts[1]

	// The TAP has the queues asked for (a multi-queue TAP gets the mq
	// qdisc with one child per queue), and the switch reads them all.
	ports, err := api.NewClient(sw.APISocket).Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 1 || ports[0].Queues != queues {
		t.Errorf("unexpected ports:\n- want: %s with %d queues\n-  got: %+v", lab.TAPDev, queues, ports)
	}
	if queues > 1 {
		out, err := sw.Run(ctx, "tc", "qdisc", "show", "dev", lab.TAPDev)
		if err != nil {
			t.Fatalf("tc qdisc show: %v", err)
		}
		if !strings.Contains(string(out), "qdisc mq") || strings.Count(string(out), "parent :") != queues {
			t.Errorf("unexpected qdiscs of %s:\n- want: mq with %d children\n-  got:\n%s", lab.TAPDev, queues, out)
		}
	}

	if !slices.Contains(extraArgs, "--wait=thread") && !slices.Contains(extraArgs, "--wait=poller") {
		// The single loop (the default) serves the receive sockets and
		// every TAP queue, busy polling as asked (the daemon logs what it
		// polls and how).
		logb, err := os.ReadFile(sw.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		busy := "busy_poll=off"
		switch {
		case slices.Contains(extraArgs, "--busy-poll-fixed"):
			busy = `busy_poll="50µs fixed"`
		case slices.Contains(extraArgs, "--busy-poll=200us"):
			busy = `busy_poll="adaptive up to 200µs"`
		}
		rtLog, rtThreads := "rt_priority=off", 0
		switch {
		case slices.Contains(extraArgs, "--rt-priority-fixed"):
			rtLog, rtThreads = `rt_priority="10 fixed"`, 1
		case slices.Contains(extraArgs, "--rt-priority=10"):
			rtLog = `rt_priority="10 while behind"` // and not behind yet
		}
		for _, want := range []string{"receivers_in_loop=true", fmt.Sprintf("queues_in_loop=%d", queues), busy, rtLog} {
			if !strings.Contains(string(logb), want) {
				t.Errorf("daemon log does not say %q:\n%s", want, logb)
			}
		}
		// Only the loop's thread runs real-time, and only when asked.
		if n := fifoThreads(t, sw.DaemonPID(), -1); n != rtThreads {
			t.Errorf("vxswitchd with %q, idle: %d threads under SCHED_FIFO, want %d", extraArgs, n, rtThreads)
		}
	}

	mustPing(t, ctx, sw, kern.Overlay.Addr(), 3)
	mustPing(t, ctx, kern, sw.Overlay.Addr(), 3)

	t.Run("iperf3", func(t *testing.T) {
		requireTools(t, "iperf3")
		for _, tt := range []struct {
			name           string
			server, client *lab.Host
		}{
			{name: "vxswitchd to kernel", server: kern, client: sw},
			{name: "kernel to vxswitchd", server: sw, client: kern},
		} {
			t.Run(tt.name, func(t *testing.T) {
				bytes, bps := iperf3(t, ctx, tt.server, tt.client)
				if bytes == 0 {
					t.Fatalf("iperf3 %s -> %s: no bytes received", tt.client.Name, tt.server.Name)
				}
				t.Logf("iperf3 TCP %s -> %s: %d bytes, %.0f Mbit/s", tt.client.Name, tt.server.Name, bytes, bps/1e6)
			})
		}
	})

	// The loop busy polled after that traffic only when asked to: with
	// --busy-poll every poll counts a hit or a miss. (An adaptive window
	// opens while frames follow each other within it, as in a TCP stream;
	// a handful of pings alone may leave it shut.)
	st, err := api.NewClient(sw.APISocket).Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	busy := slices.ContainsFunc(extraArgs, func(a string) bool { return strings.HasPrefix(a, "--busy-poll=") })
	if polled := st.BusyPoll.Hits+st.BusyPoll.Misses > 0; polled != busy {
		t.Errorf("unexpected busy-poll counters with args %q: %+v (want busy polls: %v)", extraArgs, st.BusyPoll, busy)
	}
	// With --rt-priority the TCP streams made the loop fall behind (or it
	// was real-time from the start): it went real-time at least once.
	rt := slices.Contains(extraArgs, "--rt-priority=10")
	if engaged := st.RTEngaged > 0; engaged != rt {
		t.Errorf("unexpected rt_engaged with args %q: %d (want some: %v)", extraArgs, st.RTEngaged, rt)
	}

	t.Run("our FDB learned the kernel MAC", func(t *testing.T) {
		kernMAC := linkMAC(t, ctx, kern.NS, lab.KernelDev)
		want := fdbView{MAC: kernMAC, Remote: kern.Underlay.String(), Origin: "learned"}
		e, err := fdbEntry(ctx, sw, 42, kernMAC)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, viewOf(e)); diff != "" {
			t.Errorf("unexpected FDB entry on %s (-want +got):\n%s", sw.Name, diff)
		}
	})

	t.Run("kernel FDB learned our TAP MAC", func(t *testing.T) {
		tapMAC := linkMAC(t, ctx, sw.NS, lab.TAPDev)
		if want := daemon.StableMAC(sw.Underlay, lab.TAPDev); tapMAC != want {
			t.Errorf("unexpected TAP MAC (StableMAC):\n- want: %v\n-  got: %v", want, tapMAC)
		}
		var entries []struct {
			MAC   string   `json:"mac"`
			Dst   string   `json:"dst"`
			Flags []string `json:"flags"`
		}
		out := runStdout(t, ctx, kern.NS, "bridge", "-j", "fdb", "show", "dev", lab.KernelDev)
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("bridge -j fdb show: %v: %s", err, out)
		}
		var got []string
		for _, e := range entries {
			if e.MAC == tapMAC.String() {
				got = append(got, e.Dst)
			}
		}
		if diff := cmp.Diff([]string{sw.Underlay.String()}, got); diff != "" {
			t.Errorf("unexpected dst of %s in the kernel FDB (-want +got):\n%s\n%s", tapMAC, diff, out)
		}
	})
}

// iperf3 runs a one-shot iperf3 server on server's overlay address and a
// 2-second TCP client on client, and returns the bytes and bits per second
// the receiver saw.
func iperf3(t *testing.T, ctx context.Context, server, client *lab.Host) (uint64, float64) {
	t.Helper()
	r := iperf3Run(t, ctx, server, client, "-t", "2")
	return r.Bytes, r.BitsPerSecond
}

// iperf3Result is what the tests read from `iperf3 -c ... -J`.
type iperf3Result struct {
	Bytes         uint64
	BitsPerSecond float64
	Retransmits   int
}

// iperf3Run runs one iperf3 TCP test from client to server with the extra
// client args (e.g. "-t", "2") and returns its result; the server exits
// after the test.
func iperf3Run(t *testing.T, ctx context.Context, server, client *lab.Host, args ...string) iperf3Result {
	t.Helper()
	srv := server.NS.Command(ctx, "iperf3", "-s", "-1", "-B", server.Overlay.Addr().String())
	var srvOut syncBuffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatalf("start iperf3 server: %v", err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()
	t.Cleanup(func() {
		srv.Process.Kill()
		<-srvDone
	})
	// iperf3 buffers its output when it is not a terminal: ask ss instead.
	poll(t, 10*time.Second, "iperf3 server listening", func() error {
		out, err := server.Run(ctx, "ss", "-Hltn", "sport = :5201")
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), ":5201") {
			return errors.New("no listener on :5201 yet")
		}
		return nil
	})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out := runStdout(t, cctx, client.NS, "iperf3", append([]string{"-c", server.Overlay.Addr().String(), "-J"}, args...)...)
	var res struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes         uint64  `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("iperf3 -J output: %v\n%s", err, out)
	}
	if res.Error != "" {
		t.Fatalf("iperf3: %s", res.Error)
	}
	select {
	case err := <-srvDone:
		srvDone <- err
	case <-time.After(10 * time.Second):
		t.Errorf("iperf3 -s -1 did not exit after one test:\n%s", srvOut.String())
	}
	return iperf3Result{Bytes: res.End.SumReceived.Bytes, BitsPerSecond: res.End.SumReceived.BitsPerSecond, Retransmits: res.End.SumSent.Retransmits}
}

// fifoThreads counts process pid's threads under SCHED_FIFO at prio (any
// priority if prio is negative).
func fifoThreads(t *testing.T, pid, prio int) int {
	t.Helper()
	n, err := testutil.FIFOThreads(pid, prio)
	if err != nil {
		t.Fatalf("threads of vxswitchd: %v", err)
	}
	return n
}
