package gossip

import (
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var cmpRecord = cmp.Options{cmp.AllowUnexported(record{}, state{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

func sampleRecords() []record {
	return []record{
		{kind: kindMAC, vni: 42, mac: testMAC(1, 0), version: 7, incarnation: 3, owner: "n1", vtep: testVTEP(1)},
		{kind: kindMAC, deleted: true, vni: 1<<24 - 1, mac: testMAC(1, 1), version: 1<<64 - 1, incarnation: 1, owner: strings.Repeat("x", 255), vtep: netip.MustParseAddr("2001:db8::1")},
		{kind: kindNeigh, vni: 0, mac: testMAC(2, 0), version: 1, incarnation: 9, owner: "n2", vtep: testVTEP(2), ip: netip.MustParseAddr("198.18.0.2")},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		t.Run(r.name(), func(t *testing.T) {
			got, err := decodeRecord(appendRecord(nil, &r))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, got, cmpRecord); diff != "" {
				t.Errorf("unexpected record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := appendRecord(nil, &sampleRecords()[0])
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"wire version 2", mut(func(b []byte) []byte { b[0] = 2; return b })},
		{"kind 3", mut(func(b []byte) []byte { b[1] = kindState; return b })},
		{"unknown flag", mut(func(b []byte) []byte { b[2] = 0x80; return b })},
		{"VNI 2^24", mut(func(b []byte) []byte { b[3], b[4], b[5], b[6] = 1, 0, 0, 0; return b })},
		{"multicast MAC", mut(func(b []byte) []byte { b[7] = 0x01; return b })},
		{"version 0", mut(func(b []byte) []byte { copy(b[13:21], make([]byte, 8)); return b })},
		{"empty owner", mut(func(b []byte) []byte { b[29] = 0; return b })},
		{"address length 5", mut(func(b []byte) []byte { b[32] = 5; return b })},
		{"unspecified VTEP", mut(func(b []byte) []byte { copy(b[33:37], []byte{0, 0, 0, 0}); return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRecord(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("unexpected error:\n- want: %v\n-  got: %v", ErrMalformed, err)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	recs := sampleRecords()
	own := []record{recs[0]}
	own[0].owner, own[0].incarnation = "me", 5
	others := recs[1:]
	others[0].deleted = false
	tests := []struct {
		name      string
		max       int
		wantOwn   int
		wantOther int
		truncated bool
	}{
		{name: "whole", max: 1 << 20, wantOwn: 1, wantOther: 2},
		{name: "others cut", max: 150, wantOwn: 1, wantOther: 0, truncated: true},
		{name: "all cut", max: 10, truncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeState("me", 5, 99, own, others, tt.max)
			s, err := decodeState(b)
			if err != nil {
				t.Fatal(err)
			}
			want := state{owner: "me", incarnation: 5, clock: 99, truncated: tt.truncated, digest: s.digest}
			if tt.wantOwn > 0 {
				want.own = own[:tt.wantOwn]
			}
			if tt.wantOther > 0 {
				want.others = others[:tt.wantOther]
			}
			if diff := cmp.Diff(want, s, cmpRecord); diff != "" {
				t.Errorf("unexpected state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeStateErrors(t *testing.T) {
	recs := sampleRecords()
	own := []record{recs[0]}
	good := encodeState("n1", 3, 10, own, nil, 1<<20)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	otherOwner := encodeState("n9", 3, 10, own, nil, 1<<20) // own record names n1
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"kind", mut(func(b []byte) []byte { b[1] = kindMAC; return b })},
		{"digest", mut(func(b []byte) []byte { b[len(b)-len(appendRecord(nil, &own[0]))-3] ^= 1; return b })},
		{"own record of another owner", otherOwner},
		{"huge count", mut(func(b []byte) []byte { b[4+2+16+4+8] = 0xff; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeState(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("unexpected error:\n- want: %v\n-  got: %v", ErrMalformed, err)
			}
		})
	}
}

func TestMetaRoundTrip(t *testing.T) {
	many := make([]uint32, MaxMetaVNIs+10)
	for i := range many {
		many[i] = uint32(1<<24 - 1 - i)
	}
	tests := []struct {
		name string
		in   Meta
		want Meta
	}{
		{"IPv4 no VNIs", Meta{VTEP: testVTEP(1), VXLANPort: 4789}, Meta{VTEP: testVTEP(1), VXLANPort: 4789, VNIs: []uint32{}}},
		{"sorted and deduplicated", Meta{VTEP: testVTEP(1), VXLANPort: 8472, VNIs: []uint32{42, 7, 42}}, Meta{VTEP: testVTEP(1), VXLANPort: 8472, VNIs: []uint32{7, 42}}},
		{"IPv6 capped", Meta{VTEP: netip.MustParseAddr("2001:db8::1"), VXLANPort: 4789, VNIs: many}, Meta{VTEP: netip.MustParseAddr("2001:db8::1"), VXLANPort: 4789, VNIs: sortedTail(many, MaxMetaVNIs)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeMeta(tt.in)
			if len(b) > metaMaxSize {
				t.Fatalf("metadata of %d bytes exceeds %d", len(b), metaMaxSize)
			}
			got, err := decodeMeta(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("unexpected meta (-want +got):\n%s", diff)
			}
		})
	}
}

// sortedTail returns the n smallest of vs, ascending (vs is descending).
func sortedTail(vs []uint32, n int) []uint32 {
	out := make([]uint32, 0, n)
	for i := len(vs) - 1; i >= len(vs)-n; i-- {
		out = append(out, vs[i])
	}
	return out
}

func TestDecodeMetaErrors(t *testing.T) {
	good := encodeMeta(Meta{VTEP: testVTEP(1), VXLANPort: 4789, VNIs: []uint32{1, 2}})
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version", mut(func(b []byte) []byte { b[0] = 9; return b })},
		{"port 0", mut(func(b []byte) []byte { b[1], b[2] = 0, 0; return b })},
		{"VNIs not ascending", mut(func(b []byte) []byte { b[len(b)-1] = 1; return b })},
		{"count mismatch", mut(func(b []byte) []byte { return b[:len(b)-1] })},
		{"too long", make([]byte, 513)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeMeta(tt.in); !errors.Is(err, ErrMalformed) {
				t.Errorf("unexpected error:\n- want: %v\n-  got: %v", ErrMalformed, err)
			}
		})
	}
}

func TestParseKeys(t *testing.T) {
	k16 := base64.StdEncoding.EncodeToString(make([]byte, 16))
	k32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name    string
		in      string
		wantN   int
		wantErr bool
	}{
		{name: "one key", in: k16 + "\n", wantN: 1},
		{name: "comments and two keys", in: "# primary\n" + k32 + "\n\n" + k16, wantN: 2},
		{name: "not base64", in: "!!!\n", wantErr: true},
		{name: "wrong length", in: base64.StdEncoding.EncodeToString(make([]byte, 15)), wantErr: true},
		{name: "no key", in: "# nothing\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(tt.in))
			if (err != nil) != tt.wantErr || len(keys) != tt.wantN {
				t.Errorf("unexpected result:\n- want: %d keys, error %v\n-  got: %d keys, %v", tt.wantN, tt.wantErr, len(keys), err)
			}
		})
	}
}

func TestWins(t *testing.T) {
	tests := []struct {
		name      string
		v         uint64
		owner     string
		inc, curV uint64
		curOwner  string
		curInc    uint64
		want      bool
	}{
		{"newer version, other owner", 10, "a", 1, 9, "b", 1, true},
		{"older version, other owner", 8, "a", 1, 9, "b", 1, false},
		{"tie broken by owner name", 9, "c", 1, 9, "b", 1, true},
		{"tie lost by owner name", 9, "a", 1, 9, "b", 1, false},
		{"same owner newer incarnation, smaller version", 1, "a", 2, 9, "a", 1, true},
		{"same owner older incarnation", 99, "a", 1, 9, "a", 2, false},
		{"same owner same incarnation same version", 9, "a", 1, 9, "a", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wins(tt.v, tt.owner, tt.inc, tt.curV, tt.curOwner, tt.curInc); got != tt.want {
				t.Errorf("unexpected wins:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}
