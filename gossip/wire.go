package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
)

// Wire format, version 1. All integers are big-endian.
//
// A record (one broadcast message, or one element of a push/pull state):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  wireVersion  |     kind      |     flags     |    VNI ...    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            ... VNI (4 bytes, ≤ 2^24-1)        |  MAC (6) ...  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  version (8) | incarnation (8) | ownerLen (1) | owner (1-255) |
//	| vtepLen (1: 4 or 16) | vtep | [kindNeigh: ipLen (1) | ip]    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A push/pull state (also sent alone, as a user message, to greet a new
// member with the sender's own entries and no others):
//
//	wireVersion | kindState | flags (bit 0: truncated) | ownerLen | owner |
//	incarnation (8) | clock (8) | ownCount (4) | digest (8) | count (4) |
//	count × (recordLen (2) | record)
//
// The first ownCount records are the sender's own entries: unless the state
// is truncated they are authoritative for (owner, incarnation), so a
// receiver deletes that owner's entries of that incarnation which are not
// listed and not newer than clock (the sender's version clock when it took
// the snapshot). digest is an FNV-64a over the own records, an end-to-end
// check of the list the deletions rely on. The rest are entries the sender
// holds from other owners (additive only).
const (
	wireVersion = 1

	kindMAC   = 1 // a MAC entry
	kindNeigh = 2 // an IP↔MAC binding
	kindState = 3 // a push/pull state

	flagDeleted   = 0x01 // record: the entry was withdrawn (tombstone)
	flagTruncated = 0x01 // state: records were left out to stay under MaxStateBytes

	recordFixedLen = 3 + 4 + 6 + 8 + 8 // header, VNI, MAC, version, incarnation
	maxOwnerLen    = 255
)

// ErrMalformed is wrapped by every decoding error: the message is dropped
// and counted, and nothing is changed.
var ErrMalformed = errors.New("gossip: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// record is one announced entry: a MAC behind the owner's VTEP, or (kind
// kindNeigh) an IP bound to a MAC.
type record struct {
	kind        uint8
	deleted     bool
	vni         uint32
	mac         encap.MAC
	version     uint64
	incarnation uint64
	owner       string
	vtep        netip.Addr
	ip          netip.Addr // kindNeigh only
}

// name is the broadcast name: a newer record of the same name replaces a
// queued older one.
func (r *record) name() string {
	if r.kind == kindNeigh {
		return fmt.Sprintf("n/%d/%s", r.vni, r.ip)
	}
	return fdb.Key{VNI: r.vni, MAC: r.mac}.String()
}

func appendAddr(b []byte, a netip.Addr) []byte {
	s := a.AsSlice()
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// appendRecord appends r's encoding to b.
func appendRecord(b []byte, r *record) []byte {
	var flags byte
	if r.deleted {
		flags |= flagDeleted
	}
	b = append(b, wireVersion, r.kind, flags)
	b = binary.BigEndian.AppendUint32(b, r.vni)
	b = append(b, r.mac[:]...)
	b = binary.BigEndian.AppendUint64(b, r.version)
	b = binary.BigEndian.AppendUint64(b, r.incarnation)
	b = append(b, byte(len(r.owner)))
	b = append(b, r.owner...)
	b = appendAddr(b, r.vtep)
	if r.kind == kindNeigh {
		b = appendAddr(b, r.ip)
	}
	return b
}

// reader consumes a byte slice; the first short read sets err.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = malformed("truncated: need %d bytes, have %d", n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// addr reads a length-prefixed IPv4 or IPv6 address that must be a
// specified unicast address.
func (r *reader) addr(what string) netip.Addr {
	n := int(r.u8())
	if r.err != nil {
		return netip.Addr{}
	}
	if n != 4 && n != 16 {
		r.err = malformed("%s: address length %d", what, n)
		return netip.Addr{}
	}
	p := r.take(n)
	if p == nil {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(p)
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() {
		r.err = malformed("%s: %s is not a unicast address", what, a)
		return netip.Addr{}
	}
	return a
}

func (r *reader) owner() string {
	n := int(r.u8())
	if r.err == nil && n == 0 {
		r.err = malformed("empty owner name")
	}
	if p := r.take(n); p != nil {
		return string(p)
	}
	return ""
}

// decodeRecord decodes exactly one record from b; trailing bytes are an
// error.
func decodeRecord(b []byte) (record, error) {
	rd := reader{b: b}
	var r record
	if v := rd.u8(); rd.err == nil && v != wireVersion {
		return r, malformed("record version %d, want %d", v, wireVersion)
	}
	r.kind = rd.u8()
	flags := rd.u8()
	r.vni = rd.u32()
	if p := rd.take(6); p != nil {
		r.mac = encap.MAC(p)
	}
	r.version = rd.u64()
	r.incarnation = rd.u64()
	r.owner = rd.owner()
	r.vtep = rd.addr("vtep")
	if r.kind == kindNeigh {
		r.ip = rd.addr("ip")
	}
	switch {
	case rd.err != nil:
		return record{}, rd.err
	case r.kind != kindMAC && r.kind != kindNeigh:
		return record{}, malformed("record kind %d", r.kind)
	case flags&^flagDeleted != 0:
		return record{}, malformed("record flags %#x", flags)
	case r.vni > fdb.MaxVNI:
		return record{}, malformed("VNI %d above %d", r.vni, fdb.MaxVNI)
	case !r.mac.IsUnicast():
		return record{}, malformed("MAC %s is not unicast", r.mac)
	case r.version == 0:
		return record{}, malformed("version 0")
	case len(rd.b) != 0:
		return record{}, malformed("%d trailing bytes", len(rd.b))
	}
	r.deleted = flags&flagDeleted != 0
	return r, nil
}

// state is a decoded push/pull state.
type state struct {
	owner       string
	incarnation uint64
	clock       uint64
	truncated   bool
	digest      uint64
	own         []record // the sender's own entries
	others      []record // entries the sender holds from other owners
}

// digestRecords hashes encoded records in order.
func digestRecords(encoded [][]byte) uint64 {
	h := fnv.New64a()
	for _, e := range encoded {
		h.Write(e)
	}
	return h.Sum64()
}

// encodeState encodes a state of own then others, stopping before maxBytes
// would be exceeded (and setting the truncated flag).
func encodeState(owner string, inc, clock uint64, own, others []record, maxBytes int) []byte {
	var encOwn [][]byte
	for i := range own {
		encOwn = append(encOwn, appendRecord(nil, &own[i]))
	}
	b := []byte{wireVersion, kindState, 0}
	b = append(b, byte(len(owner)))
	b = append(b, owner...)
	b = binary.BigEndian.AppendUint64(b, inc)
	b = binary.BigEndian.AppendUint64(b, clock)
	ownCountAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, digestRecords(encOwn))
	countAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	truncated := false
	var nOwn, n uint32
	add := func(rec []byte) bool {
		if len(b)+2+len(rec) > maxBytes {
			truncated = true
			return false
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(rec)))
		b = append(b, rec...)
		n++
		return true
	}
	for _, rec := range encOwn {
		if !add(rec) {
			break
		}
		nOwn++
	}
	for i := range others {
		if truncated || !add(appendRecord(nil, &others[i])) {
			break
		}
	}
	if truncated {
		b[2] |= flagTruncated
	}
	binary.BigEndian.PutUint32(b[ownCountAt:], nOwn)
	binary.BigEndian.PutUint32(b[countAt:], n)
	return b
}

// decodeState decodes a push/pull state. Every record must decode; the
// sender's own records must name the sender and its incarnation.
func decodeState(b []byte) (state, error) {
	rd := reader{b: b}
	var s state
	if v := rd.u8(); rd.err == nil && v != wireVersion {
		return s, malformed("state version %d, want %d", v, wireVersion)
	}
	if k := rd.u8(); rd.err == nil && k != kindState {
		return s, malformed("state kind %d", k)
	}
	flags := rd.u8()
	if rd.err == nil && flags&^flagTruncated != 0 {
		return s, malformed("state flags %#x", flags)
	}
	s.truncated = flags&flagTruncated != 0
	s.owner = rd.owner()
	s.incarnation = rd.u64()
	s.clock = rd.u64()
	nOwn := rd.u32()
	s.digest = rd.u64()
	n := rd.u32()
	if rd.err != nil {
		return state{}, rd.err
	}
	if nOwn > n {
		return state{}, malformed("own count %d above count %d", nOwn, n)
	}
	// Each record takes at least 2+recordFixedLen+3 bytes: bound the
	// count by the input before allocating.
	if uint64(n)*(2+recordFixedLen+3) > uint64(len(rd.b)) {
		return state{}, malformed("count %d does not fit in %d bytes", n, len(rd.b))
	}
	var encOwn [][]byte
	for i := uint32(0); i < n; i++ {
		l := int(rd.u16())
		p := rd.take(l)
		if rd.err != nil {
			return state{}, rd.err
		}
		r, err := decodeRecord(p)
		if err != nil {
			return state{}, fmt.Errorf("state record %d: %w", i, err)
		}
		if i < nOwn {
			if r.owner != s.owner || r.incarnation != s.incarnation {
				return state{}, malformed("own record %d names %s/%d, state is from %s/%d", i, r.owner, r.incarnation, s.owner, s.incarnation)
			}
			s.own = append(s.own, r)
			encOwn = append(encOwn, p)
		} else {
			s.others = append(s.others, r)
		}
	}
	if len(rd.b) != 0 {
		return state{}, malformed("%d trailing bytes", len(rd.b))
	}
	if !s.truncated && digestRecords(encOwn) != s.digest {
		return state{}, malformed("digest mismatch")
	}
	return s, nil
}
