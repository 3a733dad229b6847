package fdb

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/vxswitch/vxswitch/encap"
)

// MaxVNI is the largest VXLAN Network Identifier: the VNI is a 24-bit field
// (RFC 7348 §5).
const MaxVNI = 1<<24 - 1

// Key identifies a MAC within one VXLAN segment. It is a comparable value
// and is used directly as a map key.
type Key struct {
	VNI uint32
	MAC encap.MAC
}

// String returns "<vni>/<mac>", e.g. "42/02:00:00:00:00:01".
func (k Key) String() string { return strconv.FormatUint(uint64(k.VNI), 10) + "/" + k.MAC.String() }

// Origin says who installed an entry.
type Origin uint8

// Origins. The zero value is not a valid Origin.
const (
	// OriginLearned entries come from the source MAC of received frames.
	// Only they age, count against the per-VNI cap and move.
	OriginLearned Origin = iota + 1
	// OriginLocal entries are the MACs of the switch's own ports.
	OriginLocal
	// OriginStatic entries are configured by an operator.
	OriginStatic
	// OriginGossip entries are announced by another node (Entry.Owner).
	OriginGossip
)

var originNames = [...]string{
	OriginLearned: "learned",
	OriginLocal:   "local",
	OriginStatic:  "static",
	OriginGossip:  "gossip",
}

// ErrInvalidOrigin is returned by ParseOrigin, Origin.MarshalText and
// Table.Add for a value that is not one of the Origin constants (Add also
// rejects OriginLearned: learned entries come only from Learn).
var ErrInvalidOrigin = errors.New("fdb: invalid origin")

// Valid reports whether o is one of the Origin constants.
func (o Origin) Valid() bool { return o >= OriginLearned && o <= OriginGossip }

// String returns "learned", "local", "static" or "gossip", or "Origin(N)"
// for an invalid value.
func (o Origin) String() string {
	if o.Valid() {
		return originNames[o]
	}
	return "Origin(" + strconv.Itoa(int(o)) + ")"
}

// ParseOrigin is the inverse of Origin.String.
func ParseOrigin(s string) (Origin, error) {
	for o := OriginLearned; o <= OriginGossip; o++ {
		if originNames[o] == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrInvalidOrigin, s)
}

// MarshalText implements encoding.TextMarshaler. It fails for an invalid
// Origin.
func (o Origin) MarshalText() ([]byte, error) {
	if !o.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidOrigin, uint8(o))
	}
	return []byte(originNames[o]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *Origin) UnmarshalText(b []byte) error {
	p, err := ParseOrigin(string(b))
	if err != nil {
		return err
	}
	*o = p
	return nil
}

// Dest is where a MAC lives: a local port (Port != 0) or a remote VTEP
// (Remote valid). A valid Dest has exactly one of the two set; the zero
// Dest is invalid.
type Dest struct {
	// Port is the switch's port number; 0 means "not a local port".
	Port uint32
	// Remote is the underlay address of the remote VTEP.
	Remote netip.Addr
}

// IsLocal reports whether d is a local port.
func (d Dest) IsLocal() bool { return d.Port != 0 }

// Valid reports whether exactly one of Port and Remote is set and Remote,
// if set, is a specified address.
func (d Dest) Valid() bool {
	if d.Port != 0 {
		return !d.Remote.IsValid()
	}
	return d.Remote.IsValid() && !d.Remote.IsUnspecified()
}

// String returns "port:N" for a local port, "remote:ADDR" for a remote
// VTEP, or "invalid(...)" otherwise.
func (d Dest) String() string {
	switch {
	case !d.Valid():
		return "invalid(port:" + strconv.FormatUint(uint64(d.Port), 10) + " remote:" + d.Remote.String() + ")"
	case d.IsLocal():
		return "port:" + strconv.FormatUint(uint64(d.Port), 10)
	default:
		return "remote:" + d.Remote.String()
	}
}

// Entry is a snapshot of one FDB entry. Entries returned by the Table are
// copies; changing them does not change the table.
type Entry struct {
	Key
	Dest
	Origin Origin
	// Updated is when the entry was added or last refreshed by traffic.
	Updated time.Time
	// Owner is the owning node's name for gossip entries ("" otherwise).
	Owner string
	// Version is the owner's version of the entry for gossip entries (0
	// otherwise).
	Version uint64
	// Incarnation is the owner's incarnation for gossip entries (0
	// otherwise).
	Incarnation uint64
}

// LearnResult is what Table.Learn did with a source MAC.
type LearnResult uint8

// Learn results.
const (
	// LearnRefreshed: the MAC was known behind the same Dest; its
	// timestamp was refreshed.
	LearnRefreshed LearnResult = iota + 1
	// LearnAdded: a new learned entry was added.
	LearnAdded
	// LearnMoved: a learned entry now points at the new Dest (counted in
	// Stats.Moves).
	LearnMoved
	// LearnIgnoredControlPlane: a local, static or gossip entry owns the
	// MAC; learning never moves or refreshes it.
	LearnIgnoredControlPlane
	// LearnRejectedMAC: the MAC is multicast, broadcast or all zeros and
	// is never learned (counted in Stats.LearnRejectedMAC).
	LearnRejectedMAC
	// LearnRejectedCap: the VNI already holds MaxLearnedPerVNI learned
	// entries; the MAC was not added (counted in Stats.LearnRejectedCap).
	LearnRejectedCap
	// LearnRejectedInvalid: the VNI is above MaxVNI or the Dest is not
	// valid (counted in Stats.LearnRejectedInvalid).
	LearnRejectedInvalid
)

var learnResultNames = [...]string{
	LearnRefreshed:           "refreshed",
	LearnAdded:               "added",
	LearnMoved:               "moved",
	LearnIgnoredControlPlane: "ignored-control-plane",
	LearnRejectedMAC:         "rejected-mac",
	LearnRejectedCap:         "rejected-cap",
	LearnRejectedInvalid:     "rejected-invalid",
}

// String returns a short lower-case name such as "refreshed" or
// "rejected-cap".
func (r LearnResult) String() string {
	if r >= LearnRefreshed && r <= LearnRejectedInvalid {
		return learnResultNames[r]
	}
	return "LearnResult(" + strconv.Itoa(int(r)) + ")"
}

// EventKind says what happened to an entry.
type EventKind uint8

// Event kinds.
const (
	// EventAdded: a new entry, or Add replaced an entry keeping its Dest.
	EventAdded EventKind = iota + 1
	// EventMoved: an existing entry now has a different Dest (by learning
	// or by Add).
	EventMoved
	// EventDeleted: Delete or DeleteIf removed the entry.
	EventDeleted
	// EventAged: Age removed the idle learned entry.
	EventAged
)

var eventKindNames = [...]string{
	EventAdded:   "added",
	EventMoved:   "moved",
	EventDeleted: "deleted",
	EventAged:    "aged",
}

// String returns "added", "moved", "deleted" or "aged".
func (k EventKind) String() string {
	if k >= EventAdded && k <= EventAged {
		return eventKindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change of the table, delivered to OnChange subscribers. Entry
// is the entry after the change (for EventDeleted and EventAged: the entry
// as it was when removed).
type Event struct {
	Kind  EventKind
	Entry Entry
}
