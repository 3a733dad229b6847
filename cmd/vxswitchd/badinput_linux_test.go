package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/encap"
)

// TestPrivilegedBadInput: "truncated, flag-less, unknown-VNI and oversize
// packets sent at the daemon are dropped and counted by reason; the daemon
// keeps forwarding." The datagrams come from h1's namespace (a plain UDP
// socket) to h0's VTEP; h0's TAP MTU is 1000, so a 1400-byte inner frame is
// oversize. With --strict, reserved bits are a drop instead of a count.
func TestPrivilegedBadInput(t *testing.T) {
	const n = 3 // datagrams of each kind
	srcMAC := encap.MAC{0x02, 0, 0, 0, 0xe2, 0xe1}
	valid := func(vni uint32, src encap.MAC, innerLen int) []byte {
		b := make([]byte, encap.VXLANHeaderLen+innerLen)
		b[0] = 0x08 // I flag, RFC 7348 §5
		binary.BigEndian.PutUint32(b[4:8], vni<<8)
		copy(b[8:14], encap.BroadcastMAC[:])
		copy(b[14:20], src[:])
		binary.BigEndian.PutUint16(b[20:22], etherTypeExperimental)
		return b
	}
	noIFlag := valid(42, srcMAC, 60)
	noIFlag[0] = 0
	reserved := valid(42, srcMAC, 60)
	reserved[1], reserved[7] = 0x01, 0x01 // reserved fields: "MUST be ... ignored on receipt"
	kinds := []struct {
		name string
		pkt  []byte
	}{
		{"truncated header", []byte{0x08, 0, 0, 0}},
		{"truncated inner", valid(42, srcMAC, 60)[:encap.VXLANHeaderLen+10]},
		{"I flag clear", noIFlag},
		{"unknown VNI", valid(999, srcMAC, 60)},
		{"reserved bits", reserved},
		{"oversize", valid(42, srcMAC, 1400)},
		{"multicast source", valid(42, encap.MAC{0x01, 0x00, 0x5e, 0, 0, 1}, 60)},
	}
	for _, tt := range []struct {
		name      string
		strict    bool
		wantDrops map[string]uint64 // increase per reason
		wantRBA   uint64            // increase of reserved_bits_accepted
	}{
		{
			name:      "default",
			wantDrops: map[string]uint64{"truncated": 2 * n, "bad_flags": n, "unknown_vni": n, "oversize": n, "bad_source_mac": n},
			wantRBA:   n,
		},
		{
			name:      "strict",
			strict:    true,
			wantDrops: map[string]uint64{"truncated": 2 * n, "bad_flags": n, "unknown_vni": n, "oversize": n, "bad_source_mac": n, "reserved_bits": n},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--mtu", "1000"}
			if tt.strict {
				args = append(args, "--strict")
			}
			l, ctx := startLab(t, lab.Config{Hosts: 2, ExtraArgs: args})
			hosts := l.Hosts()
			h0, h1 := hosts[0], hosts[1]
			mustPing(t, ctx, h0, h1.Overlay.Addr(), 2)
			before := stats(t, ctx, h0)

			var pkts [][]byte
			for _, k := range kinds {
				for i := 0; i < n; i++ {
					pkts = append(pkts, k.pkt)
				}
			}
			sendUDP(t, h1, netip.AddrPortFrom(h0.Underlay, lab.VXLANPort), pkts)

			delta := func(st, base map[string]uint64) map[string]uint64 {
				d := map[string]uint64{}
				for k, v := range st {
					if v != base[k] {
						d[k] = v - base[k]
					}
				}
				return d
			}
			var got map[string]uint64
			var gotRBA uint64
			poll(t, 5*time.Second, "drop counters", func() error {
				st := stats(t, ctx, h0)
				got, gotRBA = delta(st.Drops, before.Drops), st.ReservedBitsAccepted-before.ReservedBitsAccepted
				if !cmp.Equal(tt.wantDrops, got) || gotRBA != tt.wantRBA {
					return fmt.Errorf("drops +%v, reserved_bits_accepted +%d", got, gotRBA)
				}
				return nil
			})
			// Nothing more trickles in: the counts are exact, not a lower bound.
			mustPing(t, ctx, h0, h1.Overlay.Addr(), 2)
			mustPing(t, ctx, h1, h0.Overlay.Addr(), 2)
			st := stats(t, ctx, h0)
			if diff := cmp.Diff(tt.wantDrops, delta(st.Drops, before.Drops)); diff != "" {
				t.Errorf("unexpected drop increases (-want +got):\n%s", diff)
			}
			if got := st.ReservedBitsAccepted - before.ReservedBitsAccepted; got != tt.wantRBA {
				t.Errorf("unexpected reserved_bits_accepted increase:\n- want: %d\n-  got: %d", tt.wantRBA, got)
			}
		})
	}
}

// sendUDP sends each payload as one UDP datagram from h's namespace to dst.
func sendUDP(t *testing.T, h *lab.Host, dst netip.AddrPort, payloads [][]byte) {
	t.Helper()
	err := h.NS.Do(func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		for _, p := range payloads {
			if _, err := c.Write(p); err != nil {
				return fmt.Errorf("send %d bytes to %s: %w", len(p), dst, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
}
