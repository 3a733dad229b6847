package bench

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPipeSockaddrs(t *testing.T) {
	tests := []struct {
		local, remote string
		family        int
	}{
		{"192.0.2.10", "192.0.2.11", unix.AF_INET},
		{"2001:db8::a", "2001:db8::b", unix.AF_INET6},
	}
	for _, tt := range tests {
		c := pipeConfig{Local: netip.MustParseAddr(tt.local), Remote: netip.MustParseAddr(tt.remote), Port: 4789}
		family, local, remote := pipeSockaddrs(c)
		if family != tt.family {
			t.Errorf("%s: family:\n- want: %d\n-  got: %d", tt.local, tt.family, family)
		}
		for _, sa := range []struct {
			got  unix.Sockaddr
			want netip.Addr
		}{{local, c.Local}, {remote, c.Remote}} {
			var addr netip.Addr
			var port int
			switch a := sa.got.(type) {
			case *unix.SockaddrInet4:
				addr, port = netip.AddrFrom4(a.Addr), a.Port
			case *unix.SockaddrInet6:
				addr, port = netip.AddrFrom16(a.Addr), a.Port
			}
			if addr != sa.want || port != 4789 {
				t.Errorf("sockaddr %T: want %s:4789, got %s:%d", sa.got, sa.want, addr, port)
			}
		}
	}
}
