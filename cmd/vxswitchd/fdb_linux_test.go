package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

// TestPrivilegedAgeingAndStatic: with --ageing 2s, learned remote entries
// disappear within about twice the ageing time once traffic stops; a static
// entry added through the API is not moved by frames that carry its MAC
// from another VTEP.
func TestPrivilegedAgeingAndStatic(t *testing.T) {
	const ageing = 2 * time.Second
	l, ctx := startLab(t, lab.Config{Hosts: 3, ExtraArgs: []string{"--ageing", ageing.String()}})
	hosts := l.Hosts()
	h0, h1, h2 := hosts[0], hosts[1], hosts[2]
	// No IPv6 chatter (router solicitations, MLD) to refresh the entries.
	disableIPv6(t, ctx, lab.TAPDev, hosts...)
	mac1 := daemon.StableMAC(h1.Underlay, lab.TAPDev)

	t.Run("learned entries age out", func(t *testing.T) {
		mustPing(t, ctx, h0, h1.Overlay.Addr(), 2)
		e, err := fdbEntry(ctx, h0, 42, mac1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fdbView{MAC: mac1, Remote: h1.Underlay.String(), Origin: "learned"}, viewOf(e)); diff != "" {
			t.Fatalf("unexpected entry after ping (-want +got):\n%s", diff)
		}
		start := time.Now()
		poll(t, 2*ageing+time.Second, "learned entry of h1 aged out on h0", func() error {
			if e, err := fdbEntry(ctx, h0, 42, mac1); err == nil {
				return fmt.Errorf("still there: %+v", e)
			}
			return nil
		})
		t.Logf("learned entry gone after %v (ageing %v)", time.Since(start).Round(10*time.Millisecond), ageing)
	})

	t.Run("static entry is not moved by learning", func(t *testing.T) {
		req := api.FDBRequest{VNI: 42, MAC: mac1, Remote: h1.Underlay}
		if _, err := client(h0).AddFDB(ctx, req); err != nil {
			t.Fatalf("AddFDB: %v", err)
		}
		want := fdbView{MAC: mac1, Remote: h1.Underlay.String(), Origin: "static"}
		before := vniRx(stats(t, ctx, h0), 42)
		// h2 sends broadcast frames with h1's MAC as source: its daemon
		// floods them to h0, which must keep the static entry.
		const frames = 5
		sendRawFrames(t, h2, lab.TAPDev, encap.BroadcastMAC, mac1, frames)
		poll(t, 5*time.Second, "h0 received h2's frames", func() error {
			if got := vniRx(stats(t, ctx, h0), 42) - before; got < frames {
				return fmt.Errorf("VNI 42 rx_packets grew by %d, want >= %d", got, frames)
			}
			return nil
		})
		e, err := fdbEntry(ctx, h0, 42, mac1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, viewOf(e)); diff != "" {
			t.Errorf("unexpected static entry after frames from another VTEP (-want +got):\n%s", diff)
		}
		// h0 still reaches h1 through the static entry.
		mustPing(t, ctx, h0, h1.Overlay.Addr(), 1)
	})
}

// etherTypeExperimental is IEEE 802 "Local Experimental EtherType 1", for
// test frames no stack will answer.
const etherTypeExperimental = 0x88b5

// sendRawFrames writes n minimum-size Ethernet frames from src to dst on
// dev inside h's namespace through an AF_PACKET socket, as a local
// application (or a VM behind the TAP) would.
func sendRawFrames(t *testing.T, h *lab.Host, dev string, dst, src encap.MAC, n int) {
	t.Helper()
	frame := make([]byte, encap.EthernetMinimumSize+46)
	copy(frame[0:6], dst[:])
	copy(frame[6:12], src[:])
	binary.BigEndian.PutUint16(frame[12:14], etherTypeExperimental)
	copy(frame[14:], "vxswitch e2e raw frame")
	err := h.NS.Do(func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // 0: send only
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Protocol: htons(etherTypeExperimental)}
		for i := 0; i < n; i++ {
			if err := unix.Sendto(fd, frame, 0, sa); err != nil {
				return fmt.Errorf("send on %s: %w", dev, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
