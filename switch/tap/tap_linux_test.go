package tap

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/internal/netns"
	"github.com/vxswitch/vxswitch/internal/testutil"
)

// testEtherType is IEEE 802 "Local Experimental EtherType 1": test frames
// carry it so they can be told from anything the kernel sends.
const testEtherType = 0x88b5

var (
	testSrcMAC = encap.MustParseMAC("02:00:5e:00:53:01")
	testTAPMAC = encap.MustParseMAC("02:00:5e:00:53:02")
)

// goroutineLeakCheck fails the test if, when it ends, more goroutines run
// than when it started (after waiting up to 10s for them to exit). Call it
// first so that its cleanup runs last.
func goroutineLeakCheck(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutine leak: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// newTestNS makes a namespace for the test with IPv6 off, so that no
// router solicitations or MLD reports show up on the test's links.
func newTestNS(t *testing.T) *netns.NS {
	t.Helper()
	ns := testutil.NewNS(t)
	// Best effort: the tests filter on testEtherType anyway.
	ns.Run(context.Background(), "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// createIn creates a TAP inside ns and closes it when the test ends.
func createIn(t *testing.T, ns *netns.NS, cfg Config) *TAP {
	t.Helper()
	var tp *TAP
	err := ns.Do(func() (err error) { tp, err = Create(cfg); return err })
	if err != nil {
		t.Fatalf("Create(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// ipLink is the part of `ip -j -d link show` the tests look at.
type ipLink struct {
	Index    int      `json:"ifindex"`
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	Address  string   `json:"address"`
	GSOSegs  int      `json:"gso_max_segs"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
		Data struct {
			Type       string `json:"type"`
			MultiQueue bool   `json:"multi_queue"`
			Persist    bool   `json:"persist"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

func (l ipLink) up() bool { return slices.Contains(l.Flags, "UP") }

// showLink returns the link called name in ns, or ok == false if there is
// none.
func showLink(t *testing.T, ns *netns.NS, name string) (l ipLink, ok bool) {
	t.Helper()
	out, err := ns.Command(context.Background(), "ip", "-j", "-d", "link", "show", "dev", name).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && strings.Contains(string(ee.Stderr), "does not exist") {
			return ipLink{}, false
		}
		t.Fatalf("ip link show %s: %v: %s", name, err, out)
	}
	var links []ipLink
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("parse ip -j link show %s: %v (%d links): %s", name, err, len(links), out)
	}
	return links[0], true
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens an AF_PACKET socket bound to ifindex in ns. Receives
// time out after 100ms so that callers can poll against a deadline.
func packetSocket(t *testing.T, ns *netns.NS, ifindex int) int {
	t.Helper()
	var fd int
	err := ns.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("packet socket on ifindex %d: %v", ifindex, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// testFrame is an Ethernet frame with testEtherType and payload.
func testFrame(dst, src encap.MAC, payload string) []byte {
	f := make([]byte, 0, encap.EthernetHeaderLen+len(payload))
	f = append(f, dst[:]...)
	f = append(f, src[:]...)
	f = binary.BigEndian.AppendUint16(f, testEtherType)
	return append(f, payload...)
}

func isTestFrame(f []byte) bool {
	return len(f) >= encap.EthernetHeaderLen && binary.BigEndian.Uint16(f[12:14]) == testEtherType
}

func TestPrivilegedTAPCreate(t *testing.T) {
	testutil.RequireRoot(t)
	tests := []struct {
		name        string
		cfg         Config
		wantPrefix  string // for kernel-picked names
		wantMTU     int
		wantMAC     encap.MAC // zero: any unicast
		wantUp      bool
		wantPersist bool
	}{
		{name: "name mtu mac up", cfg: Config{Name: testutil.UniqueName("vxtp"), MTU: 1400, MAC: testTAPMAC, Up: true}, wantMTU: 1400, wantMAC: testTAPMAC, wantUp: true},
		{name: "kernel defaults", cfg: Config{}, wantPrefix: "vxtap", wantMTU: 1500},
		{name: "pattern", cfg: Config{Name: "vxp%d", MTU: 9000}, wantPrefix: "vxp", wantMTU: 9000},
		{name: "persistent", cfg: Config{Name: testutil.UniqueName("vxtp"), Persist: true, Up: true}, wantMTU: 1500, wantUp: true, wantPersist: true},
		{name: "multi-queue", cfg: Config{Name: testutil.UniqueName("vxtp"), MultiQueue: true}, wantMTU: 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newTestNS(t)
			tp := createIn(t, ns, tt.cfg)

			if tt.wantPrefix != "" {
				if !strings.HasPrefix(tp.Name(), tt.wantPrefix) {
					t.Errorf("unexpected name:\n- want: %s…\n-  got: %s", tt.wantPrefix, tp.Name())
				}
			} else if tp.Name() != tt.cfg.Name {
				t.Errorf("unexpected name:\n- want: %s\n-  got: %s", tt.cfg.Name, tp.Name())
			}
			l, ok := showLink(t, ns, tp.Name())
			if !ok {
				t.Fatalf("link %s not found in namespace %s", tp.Name(), ns.Name)
			}
			type state struct {
				Index, MTU          int
				Up, Persist, MultiQ bool
				Kind, Type          string
			}
			want := state{Index: tp.Index(), MTU: tt.wantMTU, Up: tt.wantUp, Persist: tt.wantPersist, MultiQ: tt.cfg.MultiQueue, Kind: "tun", Type: "tap"}
			got := state{Index: l.Index, MTU: l.MTU, Up: l.up(), Persist: l.LinkInfo.Data.Persist, MultiQ: l.LinkInfo.Data.MultiQueue, Kind: l.LinkInfo.Kind, Type: l.LinkInfo.Data.Type}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("unexpected link state (-want +got):\n%s", diff)
			}
			if got := tp.MTU(); got != tt.wantMTU {
				t.Errorf("unexpected MTU():\n- want: %d\n-  got: %d", tt.wantMTU, got)
			}
			mac, err := encap.ParseMAC(l.Address)
			if err != nil {
				t.Fatalf("ip reported address %q: %v", l.Address, err)
			}
			if !tt.wantMAC.IsZero() && mac != tt.wantMAC {
				t.Errorf("unexpected link address:\n- want: %v\n-  got: %v", tt.wantMAC, mac)
			}
			if got := tp.HardwareAddr(); got != mac || !got.IsUnicast() {
				t.Errorf("unexpected HardwareAddr():\n- want: %v (unicast)\n-  got: %v", mac, got)
			}
			if got := tp.BatchSize(); got != PlainBatchSize {
				t.Errorf("unexpected BatchSize():\n- want: %d\n-  got: %d", PlainBatchSize, got)
			}

			if err := tp.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := tp.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, exists := showLink(t, ns, tp.Name()); exists != tt.wantPersist {
				t.Fatalf("unexpected link existence after Close:\n- want: %v\n-  got: %v", tt.wantPersist, exists)
			}
			if got := tp.HardwareAddr(); !got.IsZero() {
				t.Errorf("unexpected HardwareAddr() after Close:\n- want: %v\n-  got: %v", encap.MAC{}, got)
			}
			if err := tp.SetMTU(1300); !errors.Is(err, os.ErrClosed) {
				t.Errorf("unexpected SetMTU error after Close:\n- want: %v\n-  got: %v", os.ErrClosed, err)
			}
			// Delete removes a persistent TAP and is a no-op when nothing is there.
			for range 2 {
				if err := ns.Do(func() error { return Delete(tp.Name()) }); err != nil {
					t.Fatalf("Delete(%s): %v", tp.Name(), err)
				}
				if _, exists := showLink(t, ns, tp.Name()); exists {
					t.Fatalf("link %s still exists after Delete", tp.Name())
				}
			}
		})
	}
}

// TestPrivilegedTAPReattachPersistent checks that Create attaches to an
// existing persistent TAP (as a CNI plugin leaves it) and that a
// non-persistent Create takes ownership: its Close removes the link.
func TestPrivilegedTAPReattachPersistent(t *testing.T) {
	ns := newTestNS(t)
	name := testutil.UniqueName("vxtp")
	first := createIn(t, ns, Config{Name: name, Persist: true, MAC: testTAPMAC})
	idx := first.Index()
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := createIn(t, ns, Config{Name: name, Up: true})
	if second.Index() != idx || second.HardwareAddr() != testTAPMAC {
		t.Errorf("unexpected reattached link:\n- want: index %d, %v\n-  got: index %d, %v", idx, testTAPMAC, second.Index(), second.HardwareAddr())
	}
	if err := second.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, exists := showLink(t, ns, name); exists {
		t.Errorf("link %s still exists after closing the non-persistent reattach", name)
	}
}

// TestPrivilegedTAPReattachPlainClearsOffloads: a persistent TAP opened
// with offloads and re-opened without them (a daemon restarted with
// --offload=false re-adopting a Pod port) no longer offers TSO to the
// kernel, which would otherwise hand the plain reader 64 KiB frames.
func TestPrivilegedTAPReattachPlainClearsOffloads(t *testing.T) {
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("ethtool not installed (.ci/test installs it)")
	}
	ns := newTestNS(t)
	name := testutil.UniqueName("vxtp")
	tso := func() string {
		t.Helper()
		out, err := ns.Run(context.Background(), "ethtool", "-k", name)
		if err != nil {
			t.Fatalf("ethtool -k %s: %v", name, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "tcp-segmentation-offload:") {
				return strings.TrimSpace(strings.TrimPrefix(l, "tcp-segmentation-offload:"))
			}
		}
		t.Fatalf("no tcp-segmentation-offload line in:\n%s", out)
		return ""
	}
	first := createIn(t, ns, Config{Name: name, Persist: true, Offload: true})
	if !first.Offloads().TSO4 {
		t.Skipf("kernel refused offloads: %s", first.Offloads())
	}
	if got := tso(); got != "on" {
		t.Fatalf("unexpected TSO with offloads:\n- want: on\n-  got: %s", got)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := createIn(t, ns, Config{Name: name})
	defer second.Close()
	if got := tso(); got != "off" {
		t.Errorf("unexpected TSO after re-opening without offloads:\n- want: off\n-  got: %s", got)
	}
}

// TestPrivilegedTAPFrames checks both directions against an AF_PACKET
// socket on the TAP: Write makes the kernel receive a frame, and a frame the
// kernel sends out of the TAP comes out of Read at the requested offset.
func TestPrivilegedTAPFrames(t *testing.T) {
	ns := newTestNS(t)
	tp := createIn(t, ns, Config{Name: testutil.UniqueName("vxtp"), MAC: testTAPMAC, Up: true})
	ps := packetSocket(t, ns, tp.Index())

	t.Run("Write to packet socket", func(t *testing.T) {
		const offset = encap.VXLANHeaderLen
		want := testFrame(testTAPMAC, testSrcMAC, "written to the TAP")
		buf := append(make([]byte, offset), want...)
		n, err := tp.Write([][]byte{buf}, offset)
		if err != nil || n != 1 {
			t.Fatalf("unexpected Write:\n- want: 1, <nil>\n-  got: %d, %v", n, err)
		}
		rbuf := make([]byte, 2048)
		deadline := time.Now().Add(10 * time.Second)
		for {
			m, _, err := unix.Recvfrom(ps, rbuf, 0)
			if err == nil && isTestFrame(rbuf[:m]) {
				if diff := cmp.Diff(want, rbuf[:m]); diff != "" {
					t.Errorf("unexpected frame on packet socket (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
				t.Fatalf("recvfrom: %v", err)
			}
			if time.Now().After(deadline) {
				t.Fatal("frame written to the TAP not seen on the packet socket within 10s")
			}
		}
	})

	t.Run("packet socket to Read", func(t *testing.T) {
		const offset = encap.VXLANHeaderLen
		want := testFrame(encap.BroadcastMAC, testTAPMAC, "sent out of the TAP")
		sa := &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: tp.Index(), Halen: 6}
		copy(sa.Addr[:], encap.BroadcastMAC[:])
		if err := unix.Sendto(ps, want, 0, sa); err != nil {
			t.Fatalf("sendto: %v", err)
		}
		type result struct {
			frame, head []byte
			err         error
		}
		done := make(chan result, 1)
		go func() {
			bufs, sizes := [][]byte{make([]byte, 2048)}, make([]int, 1)
			for {
				copy(bufs[0][:offset], "HEADROOM")
				n, err := tp.Read(bufs, sizes, offset)
				if err != nil {
					done <- result{err: err}
					return
				}
				if f := bufs[0][offset : offset+sizes[0]]; n == 1 && isTestFrame(f) {
					done <- result{frame: f, head: bufs[0][:offset]}
					return
				}
			}
		}()
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatalf("Read: %v", r.err)
			}
			if diff := cmp.Diff(want, r.frame); diff != "" {
				t.Errorf("unexpected frame from Read (-want +got):\n%s", diff)
			}
			if !bytes.Equal(r.head, []byte("HEADROOM")) {
				t.Errorf("unexpected headroom after Read:\n- want: %q\n-  got: %q", "HEADROOM", r.head)
			}
		case <-time.After(10 * time.Second):
			tp.Close() // unblocks the reader
			<-done
			t.Fatal("frame sent out of the TAP not returned by Read within 10s")
		}
	})
}

// TestPrivilegedTAPReadBatch checks that one Read returns every frame
// already queued, in order, up to BatchSize, that a lone frame comes back
// at once rather than waiting for a batch to fill, and that a Read that
// had to wait returns the frame that woke it alone, for a plain TAP and
// one with offloads, waiting in ppoll or in the runtime poller.
func TestPrivilegedTAPReadBatch(t *testing.T) {
	for _, tc := range []struct{ offload, poller bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		offload := tc.offload
		t.Run(fmt.Sprintf("offload=%v/poller=%v", offload, tc.poller), func(t *testing.T) {
			ns := newTestNS(t)
			tp := createIn(t, ns, Config{Name: testutil.UniqueName("vxtp"), MAC: testTAPMAC, Up: true, Offload: offload, PollerWait: tc.poller})
			if offload && !tp.Offloads().VnetHdr {
				t.Skipf("kernel refused offloads: %v", tp.Offloads())
			}
			ps := packetSocket(t, ns, tp.Index())
			bs := tp.BatchSize()
			sa := &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: tp.Index(), Halen: 6}
			copy(sa.Addr[:], encap.BroadcastMAC[:])
			send := func(from, to int) {
				t.Helper()
				for i := from; i < to; i++ {
					f := testFrame(encap.BroadcastMAC, testTAPMAC, fmt.Sprintf("frame %04d", i))
					if err := unix.Sendto(ps, f, 0, sa); err != nil {
						t.Fatalf("sendto: %v", err)
					}
				}
			}
			const offset = encap.VXLANHeaderLen
			bufs, sizes := make([][]byte, bs), make([]int, bs)
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			// read returns the test frames' numbers from one Read (the
			// kernel may queue frames of its own, IPv6 router
			// solicitations for example; they are skipped).
			read := func() []int {
				t.Helper()
				n, err := readTimeout(t, tp, bufs, sizes, offset)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				var got []int
				for i := range n {
					f := bufs[i][offset : offset+sizes[i]]
					if !isTestFrame(f) {
						continue
					}
					var k int
					if _, err := fmt.Sscanf(string(f[encap.EthernetHeaderLen:]), "frame %04d", &k); err != nil {
						t.Fatalf("frame %d of the batch: %q: %v", i, f[encap.EthernetHeaderLen:], err)
					}
					got = append(got, k)
				}
				return got
			}
			seq := func(from, to int) []int {
				var s []int
				for i := from; i < to; i++ {
					s = append(s, i)
				}
				return s
			}

			send(0, bs+5)
			if got := read(); !slices.Equal(got, seq(0, bs)) {
				t.Errorf("first Read with %d frames queued:\n- want: frames 0..%d\n-  got: %v", bs+5, bs-1, got)
			}
			if got := read(); !slices.Equal(got, seq(bs, bs+5)) {
				t.Errorf("second Read:\n- want: %v\n-  got: %v", seq(bs, bs+5), got)
			}
			send(bs+5, bs+6)
			if got := read(); !slices.Equal(got, seq(bs+5, bs+6)) {
				t.Errorf("Read of a lone frame:\n- want: %v\n-  got: %v", seq(bs+5, bs+6), got)
			}

			// A Read that had to wait returns the frame that woke it
			// alone (the queue was idle; latency first), and the next
			// Read the rest of a burst that arrived meanwhile. The burst
			// is sent once the Read has had time to block; if it had
			// not (a loaded machine), it returns the whole burst, and
			// the check is tried again.
			next := bs + 6
			for attempt := 1; ; attempt++ {
				type result struct {
					got []int
				}
				done := make(chan result, 1)
				go func() { done <- result{read()} }()
				time.Sleep(200 * time.Millisecond)
				send(next, next+5)
				first := (<-done).got
				if len(first) == 5 && attempt < 3 {
					t.Logf("attempt %d: Read had not blocked yet (got the whole burst); again", attempt)
					next += 5
					continue
				}
				if !slices.Equal(first, seq(next, next+1)) {
					t.Fatalf("Read that waited:\n- want: %v\n-  got: %v", seq(next, next+1), first)
				}
				if got := read(); !slices.Equal(got, seq(next+1, next+5)) {
					t.Errorf("Read after it:\n- want: %v\n-  got: %v", seq(next+1, next+5), got)
				}
				break
			}
		})
	}
}

// readTimeout is tp.Read, failing the test if it takes longer than 10
// seconds (Close unblocks it).
func readTimeout(t *testing.T, tp *TAP, bufs [][]byte, sizes []int, offset int) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := tp.Read(bufs, sizes, offset)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(10 * time.Second):
		tp.Close()
		<-done
		t.Fatal("Read did not return within 10s")
		return 0, nil
	}
}

// TestPrivilegedTAPCloseUnblocksRead checks that Close wakes a Read that
// is blocked (in ppoll through internal/fdwait by default, in the runtime
// poller with PollerWait) with os.ErrClosed, removes the link, and leaves
// no goroutine behind.
func TestPrivilegedTAPCloseUnblocksRead(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    Config
		waitIn string // the frame a blocked Read waits in
	}{
		{"thread", Config{}, "fdwait.(*Waiter).Wait"},
		{"poller", Config{PollerWait: true}, "runtime_pollWait"},
		{"thread offload", Config{Offload: true}, "fdwait.(*Waiter).Wait"},
		{"poller offload", Config{Offload: true, PollerWait: true}, "runtime_pollWait"},
	} {
		t.Run(tt.name, func(t *testing.T) { testCloseUnblocksRead(t, tt.cfg, tt.waitIn) })
	}
}

func testCloseUnblocksRead(t *testing.T, cfg Config, waitIn string) {
	goroutineLeakCheck(t)
	ns := newTestNS(t)
	cfg.Name = testutil.UniqueName("vxtp")
	tp := createIn(t, ns, cfg) // down: nothing to read
	done := make(chan error, 1)
	go func() {
		_, err := tp.Read([][]byte{make([]byte, 2048)}, []int{0}, encap.VXLANHeaderLen)
		done <- err
	}()
	// Wait until the reader is parked, so Close really has a blocked Read
	// to wake.
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if strings.Contains(stacks, "(*TAP).Read") && strings.Contains(stacks, waitIn) {
			break
		}
		if time.Now().After(deadline) {
			tp.Close()
			t.Fatalf("reader not blocked after 10s:\n%s", stacks)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("unexpected Read error after Close:\n- want: %v\n-  got: %v", os.ErrClosed, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked 10s after Close")
	}
	if _, exists := showLink(t, ns, tp.Name()); exists {
		t.Errorf("link %s still exists after Close", tp.Name())
	}
	if n, err := tp.Write([][]byte{make([]byte, 64)}, 0); !errors.Is(err, os.ErrClosed) || n != 0 {
		t.Errorf("unexpected Write after Close:\n- want: 0, %v\n-  got: %d, %v", os.ErrClosed, n, err)
	}
}

func TestPrivilegedTAPErrors(t *testing.T) {
	ns := newTestNS(t)
	veth, peer := testutil.UniqueName("vxv"), testutil.UniqueName("vxv")
	bridge, tun, busy := testutil.UniqueName("vxb"), testutil.UniqueName("vxu"), testutil.UniqueName("vxtp")
	ctx := context.Background()
	for _, args := range [][]string{
		{"link", "add", veth, "type", "veth", "peer", "name", peer},
		{"link", "add", bridge, "type", "bridge"},
		{"tuntap", "add", "mode", "tun", "name", tun},
	} {
		if _, err := ns.Run(ctx, "ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	createIn(t, ns, Config{Name: busy})

	tests := []struct {
		name     string
		cfg      Config
		wantIs   error
		wantText string
	}{
		{name: "name too long", cfg: Config{Name: "vxtap-name-too-long"}, wantIs: ErrNameTooLong},
		{name: "invalid name", cfg: Config{Name: "vx/0"}, wantIs: ErrInvalidName},
		{name: "negative MTU", cfg: Config{Name: testutil.UniqueName("vxtp"), MTU: -1}, wantIs: ErrInvalidMTU},
		{name: "veth has the name", cfg: Config{Name: veth}, wantIs: ErrNameInUse, wantText: "veth"},
		{name: "bridge has the name", cfg: Config{Name: bridge}, wantIs: ErrNameInUse, wantText: "bridge"},
		{name: "TUN has the name", cfg: Config{Name: tun}, wantIs: ErrNameInUse, wantText: "TUN"},
		{name: "TAP open elsewhere", cfg: Config{Name: busy}, wantIs: unix.EBUSY, wantText: "MultiQueue"},
		{name: "MTU too large", cfg: Config{Name: testutil.UniqueName("vxtp"), MTU: 70000}, wantIs: unix.EINVAL, wantText: "set mtu"},
		{name: "multicast MAC", cfg: Config{Name: testutil.UniqueName("vxtp"), MAC: encap.BroadcastMAC}, wantIs: unix.EADDRNOTAVAIL, wantText: "set mac"},
		{name: "persistent, rolled back", cfg: Config{Name: testutil.UniqueName("vxtp"), MTU: 70000, Persist: true}, wantIs: unix.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tp *TAP
			err := ns.Do(func() (err error) { tp, err = Create(tt.cfg); return err })
			if err == nil {
				tp.Close()
				t.Fatalf("Create(%+v) succeeded, want error", tt.cfg)
			}
			t.Logf("error: %v", err)
			var op *OpError
			if !errors.As(err, &op) {
				t.Errorf("unexpected error type:\n- want: *OpError\n-  got: %T", err)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("unexpected error:\n- want: errors.Is %v\n-  got: %v", tt.wantIs, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) || !strings.HasPrefix(err.Error(), "tap: ") {
				t.Errorf("unexpected message:\n- want: \"tap: …%s…\"\n-  got: %q", tt.wantText, err.Error())
			}
			// A failed Create leaves no new link behind.
			if strings.HasPrefix(tt.cfg.Name, "vxtp") && tt.cfg.Name != busy && len(tt.cfg.Name) <= MaxNameLen {
				if _, exists := showLink(t, ns, tt.cfg.Name); exists {
					t.Errorf("link %s left behind by failed Create", tt.cfg.Name)
				}
			}
		})
	}
}

// TestPrivilegedTAPSetters checks the TAP's setters, called from the test
// goroutine outside the namespace (they use the TAP's own control socket),
// and the Link functions inside it.
func TestPrivilegedTAPSetters(t *testing.T) {
	ns := newTestNS(t)
	tp := createIn(t, ns, Config{Name: testutil.UniqueName("vxtp"), Up: true})

	if err := tp.SetMTU(1450); err != nil {
		t.Fatalf("SetMTU: %v", err)
	}
	if err := tp.SetUp(false); err != nil {
		t.Fatalf("SetUp(false): %v", err)
	}
	l, _ := showLink(t, ns, tp.Name())
	if l.MTU != 1450 || l.up() || tp.MTU() != 1450 {
		t.Errorf("unexpected link after SetMTU(1450), SetUp(false):\n- want: mtu 1450, down\n-  got: mtu %d (MTU() %d), up %v", l.MTU, tp.MTU(), l.up())
	}
	if _, err := tp.Write([][]byte{testFrame(encap.BroadcastMAC, testSrcMAC, "down")}, 0); !errors.Is(err, unix.EIO) {
		t.Errorf("unexpected Write error while down:\n- want: %v\n-  got: %v", unix.EIO, err)
	}
	if err := tp.SetUp(true); err != nil {
		t.Fatalf("SetUp(true): %v", err)
	}

	mac := encap.MustParseMAC("02:00:5e:00:53:42")
	type linkState struct {
		Index, MTU int
		MAC        encap.MAC
		Up         bool
	}
	var got linkState
	err := ns.Do(func() error {
		name := tp.Name()
		if err := LinkSetDown(name); err != nil {
			return err
		}
		if err := LinkSetHardwareAddr(name, mac); err != nil {
			return err
		}
		if err := LinkSetMTU(name, 1280); err != nil {
			return err
		}
		if err := LinkSetUp(name); err != nil {
			return err
		}
		var err error
		if got.Index, err = LinkIndex(name); err != nil {
			return err
		}
		if got.MTU, err = LinkMTU(name); err != nil {
			return err
		}
		got.MAC, err = LinkHardwareAddr(name)
		return err
	})
	if err != nil {
		t.Fatalf("Link functions in the namespace: %v", err)
	}
	l, _ = showLink(t, ns, tp.Name())
	got.Up = l.up()
	want := linkState{Index: tp.Index(), MTU: 1280, MAC: mac, Up: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected link state via Link functions (-want +got):\n%s", diff)
	}

	// The Link functions act in the caller's namespace: the TAP is not there.
	if _, err := LinkIndex(tp.Name()); !errors.Is(err, unix.ENODEV) {
		t.Errorf("unexpected LinkIndex error outside the namespace:\n- want: %v\n-  got: %v", unix.ENODEV, err)
	}
}

// TestPrivilegedLinkGSOMaxSegments sets a TAP's gso_max_segs over
// rtnetlink and checks it with ip(8), and that bad requests fail clearly.
func TestPrivilegedLinkGSOMaxSegments(t *testing.T) {
	ns := newTestNS(t)
	tp := createIn(t, ns, Config{Name: testutil.UniqueName("vxtp"), Offload: true, Up: true})
	name := tp.Name()
	l, _ := showLink(t, ns, name)
	if l.GSOSegs != 65535 {
		t.Fatalf("unexpected gso_max_segs of a new TAP: want 65535 (the kernel default), got %d", l.GSOSegs)
	}
	for _, n := range []int{44, 1, 65535, 7} {
		var got int
		err := ns.Do(func() (err error) {
			if err := LinkSetGSOMaxSegments(name, n); err != nil {
				return err
			}
			got, err = LinkGSOMaxSegments(name)
			return err
		})
		if err != nil {
			t.Fatalf("LinkSetGSOMaxSegments(%d): %v", n, err)
		}
		l, _ := showLink(t, ns, name)
		if got != n || l.GSOSegs != n {
			t.Errorf("after LinkSetGSOMaxSegments(%d): LinkGSOMaxSegments %d, ip link gso_max_segs %d", n, got, l.GSOSegs)
		}
	}
	tests := []struct {
		name string
		dev  string
		n    int
		want error
	}{
		{"zero segments", name, 0, nil},
		{"too many segments", name, 65536, nil},
		{"no such link", "vxnosuchlink0", 44, unix.ENODEV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ns.Do(func() error { return LinkSetGSOMaxSegments(tt.dev, tt.n) })
			var oe *OpError
			if !errors.As(err, &oe) || oe.Op != "set gso_max_segs" || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("unexpected error: want an OpError %q wrapping %v, got %v", "set gso_max_segs", tt.want, err)
			}
		})
	}
	if l, _ := showLink(t, ns, name); l.GSOSegs != 7 {
		t.Errorf("a refused request changed gso_max_segs: want 7, got %d", l.GSOSegs)
	}
}

// TestPrivilegedTAPAllocs asserts that Read and Write allocate nothing.
func TestPrivilegedTAPAllocs(t *testing.T) {
	ns := newTestNS(t)
	tp := createIn(t, ns, Config{Name: testutil.UniqueName("vxtp"), Up: true})
	ps := packetSocket(t, ns, tp.Index())

	frame := append(make([]byte, encap.VXLANHeaderLen), testFrame(encap.BroadcastMAC, testSrcMAC, "allocs")...)
	wbufs := [][]byte{frame}
	if got := testing.AllocsPerRun(100, func() {
		if _, err := tp.Write(wbufs, encap.VXLANHeaderLen); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("unexpected allocations per Write:\n- want: 0\n-  got: %v", got)
	}

	// Queue more frames than reads so that no Read blocks.
	const runs = 100
	sa := &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: tp.Index(), Halen: 6}
	copy(sa.Addr[:], encap.BroadcastMAC[:])
	for range runs + 10 {
		if err := unix.Sendto(ps, frame[encap.VXLANHeaderLen:], 0, sa); err != nil {
			t.Fatalf("sendto: %v", err)
		}
	}
	rbufs, sizes := [][]byte{make([]byte, 2048)}, make([]int, 1)
	if got := testing.AllocsPerRun(runs, func() {
		if _, err := tp.Read(rbufs, sizes, encap.VXLANHeaderLen); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("unexpected allocations per Read:\n- want: 0\n-  got: %v", got)
	}
}

// TestPrivilegedTAPNoNetAdmin runs Create in a child process without
// CAP_NET_ADMIN and checks that the error says what is missing.
func TestPrivilegedTAPNoNetAdmin(t *testing.T) {
	ns := newTestNS(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, "setpriv", "--bounding-set", "-net_admin", os.Args[0], "-test.run=^TestHelperProcessCreate$", "-test.v")
	cmd.Env = append(os.Environ(), "VXTAP_HELPER_NAME="+testutil.UniqueName("vxtp"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	for _, want := range []string{"create error: tap: create", "operation not permitted", "CAP_NET_ADMIN", "is ErrPermission: true"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("unexpected helper output:\n- want: containing %q\n-  got: %s", want, out)
		}
	}
}

// TestHelperProcessCreate is the child of TestPrivilegedTAPNoNetAdmin; it
// only runs when that test starts it.
func TestHelperProcessCreate(t *testing.T) {
	name := os.Getenv("VXTAP_HELPER_NAME")
	if name == "" {
		t.Skip("helper process for TestPrivilegedTAPNoNetAdmin")
	}
	tp, err := Create(Config{Name: name})
	if err == nil {
		tp.Close()
		t.Fatal("Create succeeded without CAP_NET_ADMIN")
	}
	fmt.Printf("create error: %v\nis ErrPermission: %v\n", err, errors.Is(err, os.ErrPermission))
}

// TestPrivilegedTAPOutOfPoller: unless Read waits in the runtime poller
// (PollerWait), the TAP's descriptor is outside the runtime's epoll set
// (internal/rawfd), so frames queued do not wake the runtime's idle
// thread; PollFD reports it only with NoWait. In every mode the
// descriptor is non-blocking (the forwarding system calls are raw).
func TestPrivilegedTAPOutOfPoller(t *testing.T) {
	ns := newTestNS(t)
	for _, tt := range []struct {
		name     string
		cfg      Config
		inPoller bool
	}{
		{"thread", Config{}, false},
		{"thread offload", Config{Offload: true}, false},
		{"NoWait", Config{NoWait: true}, false},
		{"PollerWait", Config{PollerWait: true}, true},
		{"PollerWait offload", Config{PollerWait: true, Offload: true}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Name, tt.cfg.Up = testutil.UniqueName("vxtp"), true
			tp := createIn(t, ns, tt.cfg)
			in, ok := testutil.InEpollSet(tp.rd.fd)
			if !ok {
				t.Skip("no epoll instance visible in /proc/self/fdinfo")
			}
			if in != tt.inPoller {
				t.Errorf("fd %d in the runtime poller = %v, want %v", tp.rd.fd, in, tt.inPoller)
			}
			// Read, Write and the vnet writev issue their system calls
			// raw (internal/rawfd): they must never block.
			if fl, err := unix.FcntlInt(uintptr(tp.rd.fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
				t.Errorf("fd %d is not non-blocking (flags %#x, %v)", tp.rd.fd, fl, err)
			}
			if got := tp.PollFD(); (got >= 0) != tt.cfg.NoWait || (got >= 0 && got != tp.rd.fd) {
				t.Errorf("unexpected PollFD %d (descriptor %d, NoWait %v)", got, tp.rd.fd, tt.cfg.NoWait)
			}
		})
	}
}

// TestPrivilegedTAPNoWait: a TAP created with NoWait returns no frames
// and no error at once when nothing is queued, everything queued (up to a
// batch) otherwise, and os.ErrClosed after Close; with and without
// offloads.
func TestPrivilegedTAPNoWait(t *testing.T) {
	ns := newTestNS(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			tp := createIn(t, ns, Config{Name: testutil.UniqueName("vxtp"), MAC: testTAPMAC, Up: true, Offload: offload, NoWait: true})
			ps := packetSocket(t, ns, tp.Index())
			const offset = encap.VXLANHeaderLen
			bufs, sizes := make([][]byte, tp.BatchSize()), make([]int, tp.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			// Drain what the kernel queued by itself (IPv6 router
			// solicitations, for example).
			for {
				n, err := tp.Read(bufs, sizes, offset)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if n == 0 {
					break
				}
			}
			start := time.Now()
			if n, err := tp.Read(bufs, sizes, offset); n != 0 || err != nil {
				t.Fatalf("Read with nothing queued: %d, %v; want 0, <nil>", n, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Read with nothing queued took %v", d)
			}
			sa := &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: tp.Index(), Halen: 6}
			copy(sa.Addr[:], encap.BroadcastMAC[:])
			for i := range 3 {
				if err := unix.Sendto(ps, testFrame(encap.BroadcastMAC, testTAPMAC, fmt.Sprintf("frame %d", i)), 0, sa); err != nil {
					t.Fatal(err)
				}
			}
			got := 0
			for deadline := time.Now().Add(10 * time.Second); got < 3 && time.Now().Before(deadline); {
				n, err := tp.Read(bufs, sizes, offset)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				for i := range n {
					if isTestFrame(bufs[i][offset : offset+sizes[i]]) {
						got++
					}
				}
				if n == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			if got != 3 {
				t.Fatalf("read %d of 3 frames", got)
			}
			tp.Close()
			if _, err := tp.Read(bufs, sizes, offset); !errors.Is(err, os.ErrClosed) {
				t.Errorf("Read after Close: %v, want os.ErrClosed", err)
			}
		})
	}
}

// TestPrivilegedTAPReadKeepsSuperFramesWhole hands an offload TAP TSO
// super-frames through a packet socket with PACKET_VNET_HDR (the kernel
// passes them to the TAP unsegmented) and checks that Read returns whole
// super-frames per batch: a super-frame that does not fit in the rest of
// a batch starts the next one, Buffered reports it meanwhile, and the
// segments come out in order. Only a super-frame larger than a whole
// batch is split over Reads.
func TestPrivilegedTAPReadKeepsSuperFramesWhole(t *testing.T) {
	for _, noWait := range []bool{false, true} {
		t.Run(fmt.Sprintf("noWait=%v", noWait), func(t *testing.T) {
			ns := newTestNS(t)
			tp := createIn(t, ns, Config{Name: testutil.UniqueName("vxtp"), MAC: testTAPMAC, Up: true, Offload: true, NoWait: noWait})
			if !tp.Offloads().TSO4 {
				t.Skipf("kernel refused TSO4: %v", tp.Offloads())
			}
			var ps int
			err := ns.Do(func() (err error) {
				ps, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				return unix.SetsockoptInt(ps, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1)
			})
			if err != nil {
				t.Fatalf("packet socket with PACKET_VNET_HDR: %v", err)
			}
			t.Cleanup(func() { unix.Close(ps) })
			sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: tp.Index(), Halen: 6}
			copy(sa.Addr[:], testTAPMAC[:])

			const mss = 200
			seq := uint32(1000)
			// send queues a TSO super-frame of segs segments of one flow.
			send := func(segs int) {
				t.Helper()
				payload := segs * mss
				pkt := make([]byte, encap.VirtioNetHdrLen+14+20+20+payload)
				encap.VirtioNetHdr(pkt).Encode(&encap.VirtioNetHdrFields{
					Flags: encap.VirtioNetHdrFNeedsCsum, GSOType: encap.VirtioNetHdrGSOTCPv4,
					HdrLen: 54, GSOSize: mss, CsumStart: 34, CsumOffset: 16,
				})
				f := pkt[encap.VirtioNetHdrLen:]
				copy(f[0:6], testTAPMAC[:])
				copy(f[6:12], testSrcMAC[:])
				binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
				ip := f[14:]
				ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_TCP
				binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
				binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
				copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
				tcp := ip[20:]
				binary.BigEndian.PutUint16(tcp[0:], 40000)
				binary.BigEndian.PutUint16(tcp[2:], 5201)
				binary.BigEndian.PutUint32(tcp[4:], seq)
				tcp[12], tcp[13] = 5<<4, 0x10 // ACK
				binary.BigEndian.PutUint16(tcp[14:], 1000)
				for i := range payload {
					tcp[20+i] = byte(i / mss) // segment number within this super-frame
				}
				seq += uint32(payload)
				if err := unix.Sendto(ps, pkt, 0, sa); err != nil {
					t.Fatalf("sendto (super-frame of %d segments): %v", segs, err)
				}
			}

			bs := tp.BatchSize()
			bufs, sizes := make([][]byte, bs), make([]int, bs)
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			const offset = encap.VXLANHeaderLen
			next := uint32(1000)
			// read returns the segment counts of one Read, checking that
			// the segments continue the stream in order.
			read := func() int {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for {
					n, err := tp.Read(bufs, sizes, offset)
					if err != nil {
						t.Fatalf("Read: %v", err)
					}
					if n == 0 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond) // NoWait: nothing queued yet
						continue
					}
					for i := range n {
						tcp := encap.TCP(encap.IPv4(encap.Ethernet(bufs[i][offset : offset+sizes[i]]).Payload()).Payload())
						if got := tcp.SequenceNumber(); got != next {
							t.Fatalf("segment %d of the Read: sequence %d, want %d", i, got, next)
						}
						next += mss
					}
					return n
				}
			}

			// Three super-frames of 50 segments: 2 fit in a batch of 128,
			// the third waits for the next Read.
			for range 3 {
				send(50)
			}
			time.Sleep(50 * time.Millisecond) // let all three reach the TAP's queue
			if n := read(); n != 100 {
				t.Errorf("first Read: %d frames, want 100 (two whole super-frames of 50)", n)
			}
			if !tp.Buffered() {
				t.Errorf("Buffered after a Read that left a super-frame: false, want true")
			}
			if n := read(); n != 50 {
				t.Errorf("second Read: %d frames, want 50 (the super-frame kept back)", n)
			}
			if tp.Buffered() {
				t.Errorf("Buffered after the last segment: true, want false")
			}
			// A super-frame larger than a batch is split over Reads.
			big := bs + 20
			if big*mss > 65000 {
				t.Fatalf("test super-frame of %d segments too large", big)
			}
			send(big)
			if n := read(); n != bs {
				t.Errorf("Read of a super-frame of %d segments: %d frames, want a full batch of %d", big, n, bs)
			}
			if !tp.Buffered() {
				t.Errorf("Buffered in the middle of a super-frame: false, want true")
			}
			if n := read(); n != 20 {
				t.Errorf("Read of the rest: %d frames, want 20", n)
			}
		})
	}
}

// TestPrivilegedTAPMultiQueueSteering pins down the tun behaviour that
// vswitch.Port.deliver relies on when it writes every frame of a flow
// through one queue: a multi-queue TAP sends a flow out of the queue its
// other direction was last written through, whichever that was. For four
// flows, frames from the peer are written alternately through queue 0 and
// queue 1, and each time the local reply must come out of that queue.
func TestPrivilegedTAPMultiQueueSteering(t *testing.T) {
	ns := newTestNS(t)
	name := testutil.UniqueName("vxtp")
	qs := []*TAP{
		createIn(t, ns, Config{Name: name, MAC: testTAPMAC, Up: true, MultiQueue: true, NoWait: true}),
		createIn(t, ns, Config{Name: name, MultiQueue: true, NoWait: true}),
	}
	local, peer := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	ctx := context.Background()
	for _, args := range [][]string{
		{"addr", "add", "198.18.0.1/24", "dev", name},
		{"neigh", "replace", "198.18.0.2", "lladdr", testSrcMAC.String(), "dev", name},
	} {
		if out, err := ns.Run(ctx, "ip", args...); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	const localPort = 7000
	var sock int
	err := ns.Do(func() (err error) {
		if sock, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(sock, &unix.SockaddrInet4{Addr: local, Port: localPort})
	})
	if err != nil {
		t.Fatalf("UDP socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(sock) })

	bufs, sizes := [][]byte{make([]byte, 2048)}, make([]int, 1)
	// replyQueue sends a datagram to peerPort and returns the queue the
	// frame carrying it comes out of (other frames are skipped).
	replyQueue := func(peerPort int) int {
		if err := unix.Sendto(sock, []byte("reply"), 0, &unix.SockaddrInet4{Addr: peer, Port: peerPort}); err != nil {
			t.Fatalf("sendto: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for i, q := range qs {
				n, err := q.Read(bufs, sizes, 0)
				if err != nil {
					t.Fatalf("queue %d: Read: %v", i, err)
				}
				if n == 1 && isUDPFrame(bufs[0][:sizes[0]], localPort, peerPort) {
					return i
				}
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("reply to port %d not read from any queue within 5s", peerPort)
		return -1
	}
	for peerPort := 40000; peerPort < 40004; peerPort++ {
		for _, k := range []int{0, 1, 0, 1} {
			f := udpFrame(testTAPMAC, testSrcMAC, peer, local, peerPort, localPort)
			if n, err := qs[k].Write([][]byte{f}, 0); n != 1 || err != nil {
				t.Fatalf("queue %d: Write: %d, %v", k, n, err)
			}
			if got := replyQueue(peerPort); got != k {
				t.Errorf("flow %d: unexpected queue of the reply to a frame written through queue %d:\n- want: %d\n-  got: %d", peerPort, k, k, got)
			}
		}
	}
}

// udpFrame is an Ethernet/IPv4/UDP frame from src:sport to dst:dport
// (UDP checksum 0, IPv4 header checksum set).
func udpFrame(dstMAC, srcMAC encap.MAC, src, dst [4]byte, sport, dport int) []byte {
	payload := []byte("vxswitch steering test")
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^encap.Checksum(ip, 0))
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], uint16(sport))
	binary.BigEndian.PutUint16(udp[2:], uint16(dport))
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	return f
}

// isUDPFrame reports whether f is an Ethernet/IPv4 (no options)/UDP frame
// from port sport to port dport.
func isUDPFrame(f []byte, sport, dport int) bool {
	return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[14] == 0x45 && f[23] == 17 &&
		int(binary.BigEndian.Uint16(f[34:])) == sport && int(binary.BigEndian.Uint16(f[36:])) == dport
}

// TestPrivilegedTAPTxDropped fills a TAP whose queue holds 4 frames and
// that nobody reads, and checks that TxDropped, asked from outside the
// TAP's namespace, reports what `ip -s link` reports as TX dropped: none
// before, the overflow after.
func TestPrivilegedTAPTxDropped(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			ns := newTestNS(t)
			name := testutil.UniqueName("vxtp")
			tp := createIn(t, ns, Config{Name: name, MAC: testTAPMAC, Up: true, Offload: offload})
			ctx := context.Background()
			for _, args := range [][]string{
				{"link", "set", name, "txqueuelen", "4"},
				{"addr", "add", "198.18.0.1/24", "dev", name},
				{"neigh", "replace", "198.18.0.2", "lladdr", testSrcMAC.String(), "dev", name},
			} {
				if out, err := ns.Run(ctx, "ip", args...); err != nil {
					t.Fatalf("ip %v: %v: %s", args, err, out)
				}
			}
			if d, err := tp.TxDropped(); err != nil || d != 0 {
				t.Fatalf("unexpected TxDropped before traffic:\n- want: 0, <nil>\n-  got: %d, %v", d, err)
			}
			const sent = 100
			err := ns.Do(func() error {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				to := &unix.SockaddrInet4{Addr: [4]byte{198, 18, 0, 2}, Port: 9}
				for range sent {
					if err := unix.Sendto(fd, []byte("fills the TAP's queue"), 0, to); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			got, err := tp.TxDropped()
			if err != nil {
				t.Fatal(err)
			}
			out, err := ns.Run(ctx, "ip", "-j", "-s", "link", "show", name)
			if err != nil {
				t.Fatalf("ip -s link: %v: %s", err, out)
			}
			ls, err := testutil.ParseLinkStats(out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d datagrams into a 4-frame queue: TxDropped %d, ip -s link TX dropped %d", sent, got, ls.TX.Dropped)
			if got == 0 || got > sent || got != ls.TX.Dropped {
				t.Errorf("unexpected TxDropped:\n- want: %d (ip -s link), between 1 and %d\n-  got: %d", ls.TX.Dropped, sent, got)
			}
			tp.Close()
			if _, err := tp.TxDropped(); err == nil {
				t.Error("TxDropped after Close: want an error")
			}
		})
	}
}
