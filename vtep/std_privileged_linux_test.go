package vtep

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/testutil"
)

// TestPrivilegedStdBindDontFragment connects two fresh network namespaces
// with a veth pair of MTU 1280 and checks that a datagram larger than the
// MTU is refused (EMSGSIZE) instead of being fragmented, that smaller ones
// still flow, and that a destination without a route fails without
// breaking the bind.
func TestPrivilegedStdBindDontFragment(t *testing.T) {
	testutil.RequireRoot(t)
	tests := []struct {
		name        string
		a, b        netip.Prefix
		unreachable netip.AddrPort // no route in the namespace: never leaves it
	}{
		{"IPv4", netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.2/24"), netip.MustParseAddrPort("198.51.100.1:4789")},
		{"IPv6", netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64"), netip.MustParseAddrPort("[2001:db8:1::1]:4789")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			nsA, nsB := testutil.NewNS(t), testutil.NewNS(t)
			vA, vB := testutil.UniqueName("vxa"), testutil.UniqueName("vxb")
			// The veth pair dies with the namespaces.
			if _, err := nsA.Run(ctx, "ip", "link", "add", vA, "mtu", "1280", "type", "veth", "peer", "name", vB, "mtu", "1280", "netns", nsB.Name); err != nil {
				t.Fatal(err)
			}
			for _, side := range []struct {
				run  func(context.Context, string, ...string) ([]byte, error)
				link string
				pfx  netip.Prefix
			}{{nsA.Run, vA, tt.a}, {nsB.Run, vB, tt.b}} {
				args := []string{"addr", "add", side.pfx.String(), "dev", side.link}
				if side.pfx.Addr().Is6() {
					args = append(args, "nodad")
				}
				if _, err := side.run(ctx, "ip", args...); err != nil {
					t.Fatal(err)
				}
				if _, err := side.run(ctx, "ip", "link", "set", side.link, "up"); err != nil {
					t.Fatal(err)
				}
			}
			var a, b *StdBind
			var recv ReceiveFunc
			if err := nsA.Do(func() error {
				var err error
				a, _, err = openInNS(t, tt.a.Addr())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := nsB.Do(func() error {
				var err error
				b, recv, err = openInNS(t, tt.b.Addr())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			dst := netip.AddrPortFrom(tt.b.Addr(), b.LocalAddr().Port())

			// Outer size = IP header + 8 (UDP) + payload; 1400 > 1280 either way.
			small, big := testFrame(1, 1000), testFrame(1, 1400)
			if err := a.Send([][]byte{small}, dst); err != nil {
				t.Fatalf("Send small: %v", err)
			}
			if err := a.Send([][]byte{big}, dst); !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("unexpected error sending above the MTU:\n- want: %v\n-  got: %v", syscall.EMSGSIZE, err)
			}
			if err := a.Send([][]byte{small}, tt.unreachable); err == nil {
				t.Fatalf("unexpected success sending to %v without a route", tt.unreachable)
			}
			if err := a.Send([][]byte{testFrame(1, 1001)}, dst); err != nil {
				t.Fatalf("Send after errors: %v", err)
			}
			// Only the two small datagrams arrive, whole and in flow order:
			// the big one was neither fragmented nor sent.
			_, sizes, eps := receiveN(t, b, recv, 2, 2048)
			if diff := cmp.Diff([]int{1000, 1001}, sizes); diff != "" {
				t.Fatalf("unexpected received sizes (-want +got):\n%s", diff)
			}
			if eps[0].Addr() != tt.a.Addr() {
				t.Fatalf("unexpected source address:\n- want: %v\n-  got: %v", tt.a.Addr(), eps[0].Addr())
			}
		})
	}
}

// openInNS opens a StdBind on local in the calling thread's namespace and
// closes it at test cleanup.
func openInNS(t *testing.T, local netip.Addr) (*StdBind, ReceiveFunc, error) {
	b, err := NewStdBind(Config{Local: local, SrcSockets: 2, RecvSockets: 1})
	if err != nil {
		return nil, nil, err
	}
	fns, _, err := b.Open(4789)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { b.Close() })
	return b, fns[0], nil
}

// TestPrivilegedStdBindReceiveDrops overflows a receive socket with a tiny
// buffer that nobody reads, in a fresh namespace, and checks that
// ReceiveDrops reports the kernel's drops: none before, some but not more
// than were sent after, and the same count once the bind is closed.
func TestPrivilegedStdBindReceiveDrops(t *testing.T) {
	ns := testutil.NewNS(t)
	ctx := context.Background()
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "192.0.2.1/24", "dev", "lo"}} {
		if out, err := ns.Run(ctx, "ip", args...); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	local := netip.MustParseAddr("192.0.2.1")
	const sent = 200
	var b *StdBind
	var port uint16
	err := ns.Do(func() error {
		var err error
		if b, err = NewStdBind(Config{Local: local, RecvSockets: 1, SocketBuffer: 4096}); err != nil {
			return err
		}
		if _, port, err = b.Open(0); err != nil {
			return err
		}
		if d := b.ReceiveDrops(); d != 0 {
			return fmt.Errorf("drops before any traffic: %d", d)
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		payload := make([]byte, 1000)
		to := &unix.SockaddrInet4{Addr: local.As4(), Port: int(port)}
		for range sent {
			if err := unix.Sendto(fd, payload, 0, to); err != nil {
				return err
			}
		}
		return nil
	})
	if b != nil {
		t.Cleanup(func() { b.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	drops := b.ReceiveDrops()
	t.Logf("rcvbuf %d bytes: %d of %d datagrams dropped by the kernel", b.Offload().RecvBuffer, drops, sent)
	if drops == 0 || drops > sent {
		t.Fatalf("unexpected ReceiveDrops:\n- want: 1..%d\n-  got: %d", sent, drops)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := b.ReceiveDrops(); got != drops {
		t.Errorf("unexpected ReceiveDrops after Close:\n- want: %d (kept)\n-  got: %d", drops, got)
	}
}
