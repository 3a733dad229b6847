package encap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// segSpec describes one TCP segment for the test stream builder.
type segSpec struct {
	v6      bool
	sport   uint16 // flow: source port (destination 443)
	seq     uint32
	id      uint16 // IPv4 Identification
	flags   uint8  // TCPFlag… bits
	payload []byte
	opts    []layers.TCPOption
	ttl     uint8
	window  uint16
}

// buildSegment serializes s with gopacket (an independent encoder) into a
// complete Ethernet frame with valid checksums.
func buildSegment(tb testing.TB, s segSpec) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: hw(testMAC1), DstMAC: hw(testMAC2)}
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	var netLayer gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if s.v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: layers.IPProtocolTCP, SrcIP: ipOf(testIP61), DstIP: ipOf(testIP62)}
		netLayer, nl = ip6, ip6
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: s.id, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocolTCP, SrcIP: ipOf(testIP1), DstIP: ipOf(testIP2)}
		netLayer, nl = ip4, ip4
	}
	win := s.window
	if win == 0 {
		win = 502
	}
	t := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: 443, Seq: s.seq, Ack: 77, Window: win,
		FIN: s.flags&TCPFlagFin != 0, SYN: s.flags&TCPFlagSyn != 0, RST: s.flags&TCPFlagRst != 0,
		PSH: s.flags&TCPFlagPsh != 0, ACK: s.flags&TCPFlagAck != 0, URG: s.flags&TCPFlagUrg != 0,
		ECE: s.flags&TCPFlagEce != 0, CWR: s.flags&TCPFlagCwr != 0, Options: s.opts}
	if err := t.SetNetworkLayerForChecksum(nl); err != nil {
		tb.Fatal(err)
	}
	return serialize(tb, eth, netLayer, t, gopacket.Payload(s.payload))
}

// tsOption is a TCP timestamp option (10 bytes, padded to 12 by gopacket).
var tsOption = []layers.TCPOption{
	{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
	{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 1, 2, 0, 0, 3, 4}},
}

// reserialize decodes frame with gopacket and encodes it again with lengths
// and checksums recomputed: the result equals frame exactly when every
// length and checksum in frame is right.
func reserialize(tb testing.TB, frame []byte) []byte {
	tb.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket decode: %v", el.Error())
	}
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			nl = l
		case *layers.IPv6:
			nl = l
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(nl)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(nl)
		}
		if sl, ok := l.(gopacket.SerializableLayer); ok {
			ls = append(ls, sl)
		} else {
			ls = append(ls, gopacket.Payload(l.LayerContents()))
		}
	}
	return serialize(tb, ls...)
}

// makeSuper builds a TSO/USO super-frame the way the kernel hands it to a
// TAP: full headers, all the payload, the pseudo-header sum in the L4
// checksum field, and the matching virtio-net header.
func makeSuper(tb testing.TB, v6, tcp bool, flags uint8, mss, n int) ([]byte, VirtioNetHdrFields) {
	tb.Helper()
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	var frame []byte
	if tcp {
		frame = buildSegment(tb, segSpec{v6: v6, sport: 40000, seq: 0xfffff000, id: 0xfffe, flags: flags, payload: payload, opts: tsOption})
	} else {
		frame = tcpUDPFrame(tb, v6, false, 40000, 5001, payload)
	}
	h := VirtioNetHdrFields{Flags: VirtioNetHdrFNeedsCsum, GSOSize: uint16(mss)}
	l4 := EthernetHeaderLen + IPv4MinimumSize
	sum := uint32(Checksum(frame[EthernetHeaderLen+ipv4SrcOffset:EthernetHeaderLen+20], 0))
	h.GSOType = VirtioNetHdrGSOTCPv4
	if v6 {
		l4 = EthernetHeaderLen + IPv6HeaderLen
		sum = uint32(Checksum(frame[EthernetHeaderLen+ipv6SrcOffset:EthernetHeaderLen+40], 0))
		h.GSOType = VirtioNetHdrGSOTCPv6
	}
	h.CsumStart = uint16(l4)
	proto, csumOff, hl := ProtocolTCP, uint16(tcpChecksumOffset), TCP(frame[l4:]).DataOffset()
	if !tcp {
		proto, csumOff, hl = ProtocolUDP, udpChecksumOffset, UDPMinimumSize
		h.GSOType = VirtioNetHdrGSOUDPL4
	}
	h.CsumOffset = csumOff
	h.HdrLen = uint16(l4 + hl)
	sum += uint32(proto) + uint32(len(frame)-l4)
	binary.BigEndian.PutUint16(frame[l4+int(csumOff):], Checksum(nil, sum))
	return frame, h
}

func newBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

func TestVirtioNetHdrEncodeDecode(t *testing.T) {
	want := VirtioNetHdrFields{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOTCPv6 | VirtioNetHdrGSOECN,
		HdrLen: 0x1234, GSOSize: 1448, CsumStart: 54, CsumOffset: 16}
	b := make(VirtioNetHdr, VirtioNetHdrLen)
	b.Encode(&want)
	// Little endian on the wire (struct virtio_net_hdr, legacy layout).
	wantBytes := []byte{1, 0x84, 0x34, 0x12, 0xa8, 0x05, 54, 0, 16, 0}
	if diff := cmp.Diff(wantBytes, []byte(b)); diff != "" {
		t.Errorf("unexpected encoding (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, b.Decode()); diff != "" {
		t.Errorf("unexpected Decode (-want +got):\n%s", diff)
	}
}

func TestVirtioNetHdrValidate(t *testing.T) {
	tcp := VirtioNetHdrFields{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	tests := []struct {
		name    string
		h       VirtioNetHdrFields
		n       int
		wantErr error
	}{
		{"plain", VirtioNetHdrFields{}, 60, nil},
		{"needs csum", VirtioNetHdrFields{Flags: VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 6}, 42, nil},
		{"csum field past end", VirtioNetHdrFields{Flags: VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 6}, 41, ErrVirtioHdr},
		{"tso4", tcp, 100, nil},
		{"tso4 ecn", VirtioNetHdrFields{Flags: 1, GSOType: VirtioNetHdrGSOTCPv4 | VirtioNetHdrGSOECN, GSOSize: 1, CsumStart: 34, CsumOffset: 16}, 100, nil},
		{"uso ecn", VirtioNetHdrFields{Flags: 1, GSOType: VirtioNetHdrGSOUDPL4 | VirtioNetHdrGSOECN, GSOSize: 1, CsumStart: 34, CsumOffset: 6}, 100, ErrVirtioHdr},
		{"ecn alone", VirtioNetHdrFields{GSOType: VirtioNetHdrGSOECN}, 100, ErrVirtioHdr},
		{"ufo", VirtioNetHdrFields{Flags: 1, GSOType: VirtioNetHdrGSOUDP, GSOSize: 1, CsumStart: 34, CsumOffset: 6}, 100, ErrVirtioHdr},
		{"unknown type", VirtioNetHdrFields{Flags: 1, GSOType: 9, GSOSize: 1}, 100, ErrVirtioHdr},
		{"gso without csum", VirtioNetHdrFields{GSOType: VirtioNetHdrGSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}, 100, ErrVirtioHdr},
		{"gso size 0", VirtioNetHdrFields{Flags: 1, GSOType: VirtioNetHdrGSOTCPv4, CsumStart: 34, CsumOffset: 16}, 100, ErrVirtioHdr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate(tt.n)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
		})
	}
}

func TestSegmentAgainstGopacket(t *testing.T) {
	tests := []struct {
		name     string
		v6, tcp  bool
		flags    uint8
		mss, n   int
		wantSegs int
	}{
		{"tso4 full", false, true, TCPFlagAck | TCPFlagPsh | TCPFlagFin | TCPFlagCwr, 1448, 1448 * 45, 45},
		{"tso4 tail", false, true, TCPFlagAck | TCPFlagPsh, 1448, 65000, 45},
		{"tso4 one", false, true, TCPFlagAck, 1448, 100, 1},
		{"tso6", true, true, TCPFlagAck | TCPFlagPsh | TCPFlagEce | TCPFlagCwr, 1428, 30000, 22},
		{"tso6 mss 1", true, true, TCPFlagAck, 1, 7, 7},
		{"uso4", false, false, 0, 1400, 9000, 7},
		{"uso6", true, false, 0, 1200, 2400, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			super, h := makeSuper(t, tt.v6, tt.tcp, tt.flags, tt.mss, tt.n)
			orig := append([]byte(nil), super...)
			n, err := SegmentCount(super, h)
			if err != nil || n != tt.wantSegs {
				t.Fatalf("unexpected SegmentCount:\n- want: %d, <nil>\n-  got: %d, %v", tt.wantSegs, n, err)
			}
			bufs, sizes := newBufs(64, 2048)
			n, err = Segment(super, h, bufs, sizes, 8)
			if err != nil || n != tt.wantSegs {
				t.Fatalf("unexpected Segment:\n- want: %d, <nil>\n-  got: %d, %v", tt.wantSegs, n, err)
			}
			if !bytes.Equal(orig, super) {
				t.Error("Segment modified the super-frame")
			}
			ref := gopacket.NewPacket(super, layers.LayerTypeEthernet, gopacket.Default)
			var payload []byte
			for i := 0; i < n; i++ {
				seg := bufs[i][8 : 8+sizes[i]]
				if got := reserialize(t, seg); !bytes.Equal(seg, got) {
					t.Fatalf("segment %d: lengths or checksums wrong:\n- want: %x\n-  got: %x", i, got, seg)
				}
				p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
				if ip4, ok := p.NetworkLayer().(*layers.IPv4); ok {
					if want := ref.NetworkLayer().(*layers.IPv4).Id + uint16(i); ip4.Id != want {
						t.Errorf("segment %d: unexpected IPv4 ID:\n- want: %d\n-  got: %d", i, want, ip4.Id)
					}
				}
				payload = append(payload, p.TransportLayer().LayerPayload()...)
				if l, ok := p.TransportLayer().(*layers.TCP); ok {
					r := ref.TransportLayer().(*layers.TCP)
					last, first := i == n-1, i == 0
					want := []any{r.Seq + uint32(i*tt.mss), r.FIN && last, r.PSH && last, r.CWR && first, r.ECE, r.ACK, r.Options}
					got := []any{l.Seq, l.FIN, l.PSH, l.CWR, l.ECE, l.ACK, l.Options}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("segment %d: unexpected TCP fields (-want +got):\n%s", i, diff)
					}
					if len(l.Payload) != tt.mss && !last {
						t.Errorf("segment %d: unexpected payload length:\n- want: %d\n-  got: %d", i, tt.mss, len(l.Payload))
					}
				}
			}
			if want := ref.TransportLayer().LayerPayload(); !bytes.Equal(want, payload) {
				t.Errorf("unexpected reassembled payload: %d bytes, want %d", len(payload), len(want))
			}
		})
	}
}

func TestSegmentFinishChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			t.Run(fmt.Sprintf("v6=%v/tcp=%v", v6, tcp), func(t *testing.T) {
				super, h := makeSuper(t, v6, tcp, TCPFlagAck|TCPFlagPsh, 1448, 333)
				h.GSOType, h.GSOSize = VirtioNetHdrGSONone, 0
				bufs, sizes := newBufs(1, 2048)
				n, err := Segment(super, h, bufs, sizes, 0)
				if err != nil || n != 1 {
					t.Fatalf("unexpected Segment:\n- want: 1, <nil>\n-  got: %d, %v", n, err)
				}
				seg := bufs[0][:sizes[0]]
				if want := reserialize(t, seg); !bytes.Equal(want, seg) {
					t.Errorf("unexpected frame after finishing the checksum:\n- want: %x\n-  got: %x", want, seg)
				}
			})
		}
	}
}

func TestSegmentErrors(t *testing.T) {
	super, h := makeSuper(t, false, true, TCPFlagAck, 1000, 3000)
	mod := func(f func(b []byte, h *VirtioNetHdrFields)) ([]byte, VirtioNetHdrFields) {
		b, hh := append([]byte(nil), super...), h
		f(b, &hh)
		return b, hh
	}
	type tc struct {
		name    string
		b       []byte
		h       VirtioNetHdrFields
		nbufs   int
		size    int
		wantErr error
	}
	tests := []tc{
		{"ok", super, h, 3, 2048, nil},
		{"too few bufs", super, h, 2, 2048, ErrShortBuffer},
		{"bufs too small", super, h, 3, 1000, ErrShortBuffer},
	}
	add := func(name string, wantErr error, f func(b []byte, h *VirtioNetHdrFields)) {
		b, hh := mod(f)
		tests = append(tests, tc{name, b, hh, 3, 2048, wantErr})
	}
	add("tcpv6 type on ipv4", ErrGSOFrame, func(b []byte, h *VirtioNetHdrFields) { h.GSOType = VirtioNetHdrGSOTCPv6 })
	add("udp type on tcp", ErrGSOFrame, func(b []byte, h *VirtioNetHdrFields) { h.GSOType = VirtioNetHdrGSOUDPL4; h.CsumOffset = 6 })
	add("csum_start off", ErrGSOFrame, func(b []byte, h *VirtioNetHdrFields) { h.CsumStart = 30 })
	add("not ip", ErrGSOFrame, func(b []byte, h *VirtioNetHdrFields) { b[12], b[13] = 0x08, 0x06 })
	add("fragment", ErrGSOFrame, func(b []byte, h *VirtioNetHdrFields) { b[14+6] |= 0x20 })
	add("data offset below 20", ErrGSOFrame, func(b []byte, h *VirtioNetHdrFields) { b[34+12] = 0x40 })
	add("no payload", ErrGSOFrame, func(b []byte, h *VirtioNetHdrFields) {})
	tests[len(tests)-1].b = super[:int(h.HdrLen)]
	add("bad virtio", ErrVirtioHdr, func(b []byte, h *VirtioNetHdrFields) { h.Flags = 0 })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bufs, sizes := newBufs(tt.nbufs, tt.size)
			_, err := Segment(tt.b, tt.h, bufs, sizes, 0)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
		})
	}
}

func TestSegmentRange(t *testing.T) {
	super, h := makeSuper(t, true, true, TCPFlagAck|TCPFlagPsh, 1000, 9500)
	want, wantSizes := newBufs(10, 2048)
	if n, err := Segment(super, h, want, wantSizes, 4); err != nil || n != 10 {
		t.Fatalf("unexpected Segment:\n- want: 10, <nil>\n-  got: %d, %v", n, err)
	}
	got, sizes := newBufs(3, 2048)
	for first := 0; first < 10; {
		n, err := SegmentRange(super, h, first, got, sizes, 4)
		if err != nil || n != min(3, 10-first) {
			t.Fatalf("unexpected SegmentRange(first=%d):\n- want: %d, <nil>\n-  got: %d, %v", first, min(3, 10-first), n, err)
		}
		for j := 0; j < n; j++ {
			if !bytes.Equal(want[first+j][:4+wantSizes[first+j]], got[j][:4+sizes[j]]) {
				t.Errorf("segment %d differs from Segment's", first+j)
			}
		}
		first += n
	}
}

// TestSegmentHeaders checks SegmentHeaders against SegmentRange: for TSO
// and USO over IPv4 and IPv6, with a short last segment and in ranges of 3,
// each segment's headers followed by its payload slice are the frame
// SegmentRange makes; the payloads alias the super-frame (no copy); and a
// frame without GSO, a negative offset or a header buffer too small for
// the headers are refused.
func TestSegmentHeaders(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			t.Run(fmt.Sprintf("v6=%v/tcp=%v", v6, tcp), func(t *testing.T) {
				super, h := makeSuper(t, v6, tcp, TCPFlagAck|TCPFlagPsh|TCPFlagCwr, 1000, 9500)
				want, wantSizes := newBufs(10, 2048)
				if n, err := Segment(super, h, want, wantSizes, 8); err != nil || n != 10 {
					t.Fatalf("Segment: %d, %v", n, err)
				}
				hdrs, sizes := newBufs(3, 128)
				pays := make([][]byte, 3)
				for first := 0; first < 10; {
					n, err := SegmentHeaders(super, h, first, hdrs, sizes, pays, 8)
					if err != nil || n != min(3, 10-first) {
						t.Fatalf("SegmentHeaders(first=%d): %d, %v; want %d, <nil>", first, n, err, min(3, 10-first))
					}
					for j := range n {
						got := append(append([]byte(nil), hdrs[j][8:8+sizes[j]]...), pays[j]...)
						if !bytes.Equal(got, want[first+j][8:8+wantSizes[first+j]]) {
							t.Errorf("segment %d differs from SegmentRange's", first+j)
						}
						if off := len(super) - 9500 + (first+j)*1000; &pays[j][0] != &super[off] {
							t.Errorf("segment %d: payload is not a slice of the super-frame", first+j)
						}
					}
					first += n
				}
			})
		}
	}
	super, h := makeSuper(t, false, true, TCPFlagAck, 1000, 3000)
	plain := VirtioNetHdrFields{}
	for _, tt := range []struct {
		name   string
		h      VirtioNetHdrFields
		size   int
		offset int
		want   error
	}{
		{"no GSO", plain, 128, 0, ErrGSOFrame},
		{"negative offset", h, 128, -1, ErrShortBuffer},
		{"header buffer too small", h, 60, 8, ErrShortBuffer},
	} {
		hdrs, sizes := newBufs(3, tt.size)
		if _, err := SegmentHeaders(super, tt.h, 0, hdrs, sizes, make([][]byte, 3), tt.offset); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// flatten joins the pieces AppendFrame returned into the virtio-net header
// and the frame.
func flatten(pieces [][]byte) (VirtioNetHdrFields, []byte) {
	var all []byte
	for _, p := range pieces {
		all = append(all, p...)
	}
	return VirtioNetHdr(all).Decode(), all[VirtioNetHdrLen:]
}

// flowKey names the ordering domain of a frame: its TCP 4-tuple, or
// "other" for everything else (which the coalescer never reorders).
func flowKey(frame []byte) string {
	var g coalesceGroup
	if parseSegment(frame, &g) == segOther {
		return "other"
	}
	if g.v6 {
		return string(frame[g.ipStart+ipv6SrcOffset:g.ipStart+IPv6HeaderLen]) + string(frame[g.l4Start:g.l4Start+4])
	}
	return string(frame[g.ipStart+ipv4SrcOffset:g.ipStart+IPv4MinimumSize]) + string(frame[g.l4Start:g.l4Start+4])
}

// coalesceRoundTrip coalesces frames, splits every output frame again and
// checks that each flow's frames come back byte for byte, in order. It
// returns the number of output frames.
func coalesceRoundTrip(tb testing.TB, c *Coalescer, frames [][]byte) int {
	tb.Helper()
	const offset = 8
	in := make([][]byte, len(frames))
	for i, f := range frames {
		in[i] = append(make([]byte, offset), f...)
	}
	n := c.Coalesce(in, offset)
	var out [][]byte
	// Segments are at most 2 KiB; a frame passed through (not coalesced)
	// is split into itself, so the buffers must hold the longest input.
	longest := 2048
	for _, f := range frames {
		longest = max(longest, len(f))
	}
	bufs, sizes := newBufs(64, longest)
	for i := 0; i < n; i++ {
		h, frame := flatten(c.AppendFrame(nil, i))
		if segs, ok := c.Coalesced(i); ok {
			if h.GSOType == VirtioNetHdrGSONone || h.HdrLen == 0 {
				tb.Fatalf("output %d: %d segments without a GSO header: %+v", i, segs, h)
			}
			if segs > MaxCoalescedSegments || len(frame)-int(h.CsumStart) > MaxCoalescedIPLen {
				tb.Fatalf("output %d: %d bytes, over the limit", i, len(frame))
			}
		}
		if len(frame) < EthernetMinimumSize { // passed through; Segment rejects it
			out = append(out, frame)
			continue
		}
		m, err := Segment(frame, h, bufs, sizes, 0)
		if err != nil {
			tb.Fatalf("output %d: Segment: %v (hdr %+v)", i, err, h)
		}
		for j := 0; j < m; j++ {
			out = append(out, append([]byte(nil), bufs[j][:sizes[j]]...))
		}
	}
	byFlow := func(fs [][]byte) map[string][][]byte {
		m := map[string][][]byte{}
		for _, f := range fs {
			m[flowKey(f)] = append(m[flowKey(f)], f)
		}
		return m
	}
	want, got := byFlow(frames), byFlow(out)
	same := len(want) == len(got)
	for k, w := range want {
		g := got[k]
		same = same && len(w) == len(g)
		for i := 0; same && i < len(w); i++ {
			same = bytes.Equal(w[i], g[i])
		}
	}
	if !same { // cmp.Diff is slow: only for the report
		tb.Fatalf("unexpected frames after coalesce and split (-want +got):\n%s", cmp.Diff(want, got, cmpopts.EquateEmpty()))
	}
	for i, b := range in {
		if !bytes.Equal(b[offset:], frames[i]) {
			tb.Fatalf("Coalesce modified input frame %d", i)
		}
	}
	return n
}

// stream builds n consecutive segments of one flow.
func stream(tb testing.TB, v6 bool, sport uint16, n, mss int, opts []layers.TCPOption) [][]byte {
	var fs [][]byte
	seq, id := uint32(0xffffff00), uint16(0xfffe)
	for i := 0; i < n; i++ {
		p := bytes.Repeat([]byte{byte(i + 1)}, mss)
		fs = append(fs, buildSegment(tb, segSpec{v6: v6, sport: sport, seq: seq, id: id, flags: TCPFlagAck, payload: p, opts: opts}))
		seq += uint32(mss)
		id++
	}
	return fs
}

func edited(f []byte, fn func(b []byte)) []byte {
	b := append([]byte(nil), f...)
	fn(b)
	return b
}

func TestCoalesce(t *testing.T) {
	arp := serialize(t, &layers.Ethernet{SrcMAC: hw(testMAC1), DstMAC: hw(testMAC2), EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: hw(testMAC1), SourceProtAddress: ipOf(testIP1), DstHwAddress: make([]byte, 6), DstProtAddress: ipOf(testIP2)})
	s4 := stream(t, false, 1000, 10, 1448, tsOption)
	s6 := stream(t, true, 2000, 10, 1428, nil)
	other := stream(t, false, 3000, 4, 1448, nil)
	// Re-segment the last of s4 with PSH and a short payload.
	short := buildSegment(t, segSpec{sport: 1000, seq: uint32(0xffffff00 + 10*1448 - 1<<32), id: 0xfffe + 10 - 1<<16, flags: TCPFlagAck | TCPFlagPsh, payload: []byte("end"), opts: tsOption})
	withPSH := func(fs [][]byte, i int, v6 bool) [][]byte {
		fs = append([][]byte(nil), fs...)
		fs[i] = edited(fs[i], func(b []byte) {
			l4 := EthernetHeaderLen + IPv4MinimumSize
			if v6 {
				l4 = EthernetHeaderLen + IPv6HeaderLen
			}
			tcp := TCP(b[l4:])
			tcp.SetFlags(tcp.Flags() | TCPFlagPsh)
			tcp.SetChecksum(0)
			tcp.SetChecksum(^Checksum(tcp, PseudoHeaderChecksum(ProtocolTCP, IPv4(b[14:]).Src(), IPv4(b[14:]).Dst(), uint32(len(tcp)))))
			if v6 {
				tcp.SetChecksum(0)
				tcp.SetChecksum(tcp.CalculateChecksum(IPv6(b[14:]).Src(), IPv6(b[14:]).Dst()))
			}
		})
		return fs
	}
	cat := func(fss ...[][]byte) [][]byte {
		var out [][]byte
		for _, fs := range fss {
			out = append(out, fs...)
		}
		return out
	}
	badCsum := append([][]byte(nil), s4...)
	badCsum[4] = edited(badCsum[4], func(b []byte) { b[len(b)-1] ^= 0xff })
	gap := append(append([][]byte(nil), s4[:3]...), s4[4:]...)
	idGap := append([][]byte(nil), s4...)
	idGap[5] = edited(idGap[5], func(b []byte) {
		ip := IPv4(b[14:])
		binary.BigEndian.PutUint16(ip[ipv4IDOffset:], ip.ID()+7)
		ip.SetChecksum(ip.CalculateChecksum())
	})
	ttl := append([][]byte(nil), s4...)
	ttl[2] = edited(ttl[2], func(b []byte) {
		ip := IPv4(b[14:])
		b[14+ipv4TTLOffset]--
		ip.SetChecksum(ip.CalculateChecksum())
	})
	interleaved := [][]byte{s4[0], s6[0], s4[1], arp, s6[1], s4[2], other[0], s4[3], other[1]}
	tests := []struct {
		name   string
		frames [][]byte
		want   int // output frames
	}{
		{"empty", nil, 0},
		{"one", s4[:1], 1},
		{"ipv4 stream", s4, 1},
		{"ipv6 stream", s6, 1},
		{"short last", append(append([][]byte(nil), s4...), short), 1},
		{"psh in the middle", withPSH(s4, 4, false), 2},
		{"psh in the middle v6", withPSH(s6, 6, true), 2},
		{"bad checksum", badCsum, 3},
		{"sequence gap", gap, 2},
		{"ipv4 id gap", idGap, 3},
		{"ttl differs", ttl, 3},
		{"interleaved flows", interleaved, 4},
		{"arp only", [][]byte{arp, arp}, 2},
		{"two streams", cat(s4, s6), 2},
		{"truncated frames", [][]byte{s4[0][:10], s4[0][:40], s4[1]}, 3},
	}
	var c Coalescer
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coalesceRoundTrip(t, &c, tt.frames); tt.want != got {
				t.Errorf("unexpected output frames:\n- want: %d\n-  got: %d", tt.want, got)
			}
		})
	}
}

func TestCoalesceHeader(t *testing.T) {
	s := stream(t, false, 1000, 5, 1000, tsOption)
	var c Coalescer
	in := make([][]byte, len(s))
	for i, f := range s {
		in[i] = append(make([]byte, 8), f...)
	}
	if n := c.Coalesce(in, 8); n != 1 {
		t.Fatalf("unexpected output frames:\n- want: 1\n-  got: %d", n)
	}
	h, frame := flatten(c.AppendFrame(nil, 0))
	hdrLen := EthernetHeaderLen + IPv4MinimumSize + TCPMinimumSize + 12
	want := VirtioNetHdrFields{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOTCPv4, HdrLen: uint16(hdrLen),
		GSOSize: 1000, CsumStart: 34, CsumOffset: 16}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("unexpected virtio-net header (-want +got):\n%s", diff)
	}
	ip := IPv4(frame[14:])
	if want, got := 5000+hdrLen-14, int(ip.TotalLength()); want != got || !ip.IsChecksumValid() {
		t.Errorf("unexpected IPv4 total length / checksum:\n- want: %d, true\n-  got: %d, %v", want, got, ip.IsChecksumValid())
	}
	// Finishing the partial checksum gives a valid segment.
	finishChecksum(frame, 34, 16)
	if !TCP(ip.Payload()).IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Error("unexpected TCP checksum after finishing it:\n- want: valid\n-  got: invalid")
	}
}

// randomStream builds a batch of frames from r: a few flows (IPv4/IPv6,
// random MSS), mostly in order, with random PSH, short segments, gaps,
// flag changes, bad checksums and ARP frames mixed in.
func randomStream(tb testing.TB, r *rand.Rand) [][]byte {
	type flow struct {
		v6   bool
		port uint16
		seq  uint32
		id   uint16
		mss  int
		opts []layers.TCPOption
		ece  bool
	}
	flows := make([]*flow, 1+r.IntN(3))
	for i := range flows {
		f := &flow{v6: r.IntN(2) == 0, port: uint16(1000 + i), seq: r.Uint32(), id: uint16(r.Uint32()),
			mss: 1 + r.IntN(1460), ece: r.IntN(4) == 0}
		if r.IntN(2) == 0 {
			f.opts = tsOption
		}
		if r.IntN(3) == 0 {
			f.mss = 1 + r.IntN(64)
		}
		flows[i] = f
	}
	n := r.IntN(64)
	var out [][]byte
	for i := 0; i < n; i++ {
		if r.IntN(20) == 0 {
			out = append(out, tcpUDPFrame(tb, r.IntN(2) == 0, false, 5, 6, []byte("udp")))
			continue
		}
		f := flows[r.IntN(len(flows))]
		size := f.mss
		if r.IntN(8) == 0 {
			size = r.IntN(f.mss + 1)
		}
		flags := TCPFlagAck
		if f.ece {
			flags |= TCPFlagEce
		}
		switch r.IntN(24) {
		case 0:
			flags |= TCPFlagPsh
		case 1:
			flags |= TCPFlagCwr
		case 2:
			flags |= TCPFlagFin
		case 3:
			f.seq += uint32(r.IntN(3000)) // gap
		case 4:
			f.id += 3
		}
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		frame := buildSegment(tb, segSpec{v6: f.v6, sport: f.port, seq: f.seq, id: f.id, flags: flags, payload: payload, opts: f.opts})
		if r.IntN(30) == 0 {
			frame[len(frame)-1-r.IntN(20)] ^= 0x40 // corrupt: bad checksum
		}
		out = append(out, frame)
		f.seq += uint32(size)
		f.id++
	}
	return out
}

func TestCoalesceSegmentOracle(t *testing.T) {
	var c Coalescer
	r := rand.New(rand.NewPCG(1, 2))
	in, out := 0, 0
	for i := 0; i < 1000; i++ {
		frames := randomStream(t, r)
		in += len(frames)
		out += coalesceRoundTrip(t, &c, frames)
	}
	if out >= in {
		t.Errorf("nothing was coalesced: %d frames in, %d out", in, out)
	}
	t.Logf("%d frames coalesced into %d", in, out)
}

func TestAllocsOffload(t *testing.T) {
	super, h := makeSuper(t, false, true, TCPFlagAck|TCPFlagPsh, 1448, 65000)
	bufs, sizes := newBufs(64, 2048)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := Segment(super, h, bufs, sizes, 8); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("unexpected allocations in Segment:\n- want: 0\n-  got: %v", a)
	}
	bad := h
	bad.GSOType = VirtioNetHdrGSOUDP
	if a := testing.AllocsPerRun(100, func() { Segment(super, bad, bufs, sizes, 8) }); a != 0 {
		t.Errorf("unexpected allocations in Segment (error):\n- want: 0\n-  got: %v", a)
	}
	s := stream(t, false, 1000, 44, 1448, tsOption)
	s = append(s, stream(t, true, 1001, 20, 1428, nil)...)
	var c Coalescer
	var pieces [][]byte
	run := func() {
		n := c.Coalesce(s, 0)
		for i := 0; i < n; i++ {
			pieces = c.AppendFrame(pieces[:0], i)
		}
	}
	run() // warm up: the Coalescer and pieces grow once
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("unexpected allocations in Coalesce+AppendFrame:\n- want: 0\n-  got: %v", a)
	}
}

func BenchmarkSegment(b *testing.B) {
	for _, tt := range []struct {
		name string
		v6   bool
	}{{"tso4", false}, {"tso6", true}} {
		b.Run(tt.name, func(b *testing.B) {
			super, h := makeSuper(b, tt.v6, true, TCPFlagAck, 1448, 65000)
			bufs, sizes := newBufs(64, 2048)
			b.ReportAllocs()
			b.SetBytes(int64(len(super)))
			for b.Loop() {
				Segment(super, h, bufs, sizes, 8)
			}
		})
		b.Run(tt.name+"/headers", func(b *testing.B) {
			super, h := makeSuper(b, tt.v6, true, TCPFlagAck, 1448, 65000)
			bufs, sizes := newBufs(64, 128)
			pays := make([][]byte, 64)
			b.ReportAllocs()
			b.SetBytes(int64(len(super)))
			for b.Loop() {
				SegmentHeaders(super, h, 0, bufs, sizes, pays, 8)
			}
		})
	}
}

func BenchmarkCoalesce(b *testing.B) {
	s := stream(b, false, 1000, 44, 1448, tsOption)
	var c Coalescer
	var pieces [][]byte
	b.ReportAllocs()
	b.SetBytes(int64(44 * 1448))
	for b.Loop() {
		n := c.Coalesce(s, 0)
		for i := 0; i < n; i++ {
			pieces = c.AppendFrame(pieces[:0], i)
		}
	}
}

// FuzzSegment feeds arbitrary virtio-net headers and frames to Segment: it
// must return an error or segments that fit their buffers, never panic.
func FuzzSegment(f *testing.F) {
	super, h := makeSuper(f, false, true, TCPFlagAck|TCPFlagFin, 100, 1000)
	hb := make(VirtioNetHdr, VirtioNetHdrLen)
	hb.Encode(&h)
	f.Add([]byte(hb), super, uint8(8)) // valid TSO4, 10 segments
	super6, h6 := makeSuper(f, true, false, 0, 7, 50)
	hb6 := make(VirtioNetHdr, VirtioNetHdrLen)
	hb6.Encode(&h6)
	f.Add([]byte(hb6), super6, uint8(0))                                     // valid USO6
	f.Add(make([]byte, VirtioNetHdrLen), super[:60], uint8(3))               // plain frame, no GSO
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, super, uint8(0)) // NEEDS_CSUM far out of range
	f.Add([]byte{1, 1, 0, 0, 1, 0, 34, 0, 16, 0}, []byte{}, uint8(0))        // TSO4 header, empty frame
	f.Fuzz(func(t *testing.T, hdr, frame []byte, offset uint8) {
		if len(hdr) < VirtioNetHdrLen {
			return
		}
		h := VirtioNetHdr(hdr).Decode()
		bufs, sizes := newBufs(16, 1600)
		n, err := Segment(frame, h, bufs, sizes, int(offset))
		if err != nil {
			if n != 0 {
				t.Fatalf("Segment returned %d frames and error %v", n, err)
			}
			return
		}
		total := 0
		for i := 0; i < n; i++ {
			if sizes[i] > len(bufs[i])-int(offset) || sizes[i] < EthernetMinimumSize {
				t.Fatalf("segment %d: size %d out of range", i, sizes[i])
			}
			total += sizes[i]
		}
		if c, err := SegmentCount(frame, h); err != nil || c != n {
			t.Fatalf("SegmentCount = %d, %v; Segment made %d", c, err, n)
		}
		// SegmentHeaders makes the same segments without the payload
		// copies (or refuses a frame without GSO).
		hdrs, hsizes := newBufs(16, 1600)
		pays := make([][]byte, 16)
		k, err := SegmentHeaders(frame, h, 0, hdrs, hsizes, pays, int(offset))
		if h.GSOType == VirtioNetHdrGSONone {
			if k != 0 || !errors.Is(err, ErrGSOFrame) {
				t.Fatalf("SegmentHeaders on a frame without GSO: %d, %v", k, err)
			}
			return
		}
		if k != n || err != nil {
			t.Fatalf("SegmentHeaders = %d, %v; Segment made %d", k, err, n)
		}
		for i := range n {
			got := append(append([]byte(nil), hdrs[i][offset:int(offset)+hsizes[i]]...), pays[i]...)
			if !bytes.Equal(got, bufs[i][offset:int(offset)+sizes[i]]) {
				t.Fatalf("segment %d: SegmentHeaders and Segment differ", i)
			}
		}
	})
}

// FuzzCoalesce cuts the input into frames (a length byte before each) and
// coalesces them: it must never panic, and splitting the output again must
// give back every flow's frames in order.
func FuzzCoalesce(f *testing.F) {
	pack := func(frames ...[]byte) []byte {
		var b []byte
		for _, fr := range frames {
			b = append(b, byte(len(fr)>>8), byte(len(fr)))
			b = append(b, fr...)
		}
		return b
	}
	s := stream(f, false, 1000, 3, 100, tsOption)
	s6 := stream(f, true, 1000, 3, 50, nil)
	f.Add(pack(s...))                           // three mergeable IPv4 segments
	f.Add(pack(s6...))                          // three mergeable IPv6 segments
	f.Add(pack(s[0], s6[0], s[1], s6[1], s[2])) // interleaved flows
	f.Add(pack(s[0][:20], s[1][:54], s[2][:0])) // truncated frames
	f.Add([]byte{0xff, 0xff, 1, 2, 3})          // length past the end
	f.Fuzz(func(t *testing.T, data []byte) {
		var frames [][]byte
		for len(data) >= 2 {
			n := min(int(data[0])<<8|int(data[1]), len(data)-2)
			frames = append(frames, data[2:2+n])
			data = data[2+n:]
		}
		var c Coalescer
		coalesceRoundTrip(t, &c, frames)
	})
}

// FuzzCoalesceStream drives the random stream generator from fuzzed seeds.
func FuzzCoalesceStream(f *testing.F) {
	f.Add(uint64(1), uint64(2)) // the oracle test's first stream
	f.Add(uint64(7), uint64(0)) // another seed
	f.Fuzz(func(t *testing.T, a, b uint64) {
		var c Coalescer
		coalesceRoundTrip(t, &c, randomStream(t, rand.New(rand.NewPCG(a, b))))
	})
}
