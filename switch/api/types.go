package api

import (
	"net/netip"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// FDBEntry is one forwarding database entry as the API shows it. Exactly
// one of Remote and Port is set.
type FDBEntry struct {
	VNI uint32    `json:"vni"`
	MAC encap.MAC `json:"mac"` // "aa:bb:cc:dd:ee:ff"
	// Remote is the VTEP the MAC lives behind; the zero Addr (JSON "")
	// for a local entry.
	Remote netip.Addr `json:"remote"`
	// Port is the name of the local port the MAC lives behind; "" for a
	// remote entry. It is also "" for a local entry whose port was removed
	// while the snapshot was taken.
	Port string `json:"port"`
	// Origin is "learned", "local", "static" or "gossip".
	Origin string `json:"origin"`
	// AgeSeconds is the time since the entry was added or last refreshed
	// by traffic, in seconds (millisecond resolution).
	AgeSeconds float64 `json:"age_seconds"`
	// Owner is the gossip node that owns the entry ("" otherwise).
	Owner string `json:"owner,omitempty"`
}

// Age returns AgeSeconds as a duration.
func (e FDBEntry) Age() time.Duration { return time.Duration(e.AgeSeconds * float64(time.Second)) }

// FDBRequest is the body of POST /v1/fdb: a static entry to add (or to
// replace an existing static or learned entry). Set exactly one of Remote
// and Port; the port must be attached to VNI, and VNI must be served.
type FDBRequest struct {
	VNI    uint32     `json:"vni"`
	MAC    encap.MAC  `json:"mac"`
	Remote netip.Addr `json:"remote,omitzero"`
	Port   string     `json:"port,omitempty"`
}

// FloodList is one VNI's head-end replication list: the VTEPs that get a
// copy of every broadcast, unknown-unicast and multicast frame (the
// kernel's all-zeros FDB entries).
type FloodList struct {
	VNI     uint32       `json:"vni"`
	Remotes []netip.Addr `json:"remotes"` // never null; sorted
}

// FloodRequest is the body of POST /v1/flood: a static flood peer to add
// to a served VNI.
type FloodRequest struct {
	VNI    uint32     `json:"vni"`
	Remote netip.Addr `json:"remote"`
}

// PortInfo is one attached port with its counters. rx counts frames the
// switch read from the port, tx frames it wrote to it.
type PortInfo struct {
	Name string `json:"name"`
	VNI  uint32 `json:"vni"`
	MTU  int    `json:"mtu"`
	// MAC is the device's own address when the device reports one
	// (a HardwareAddr() encap.MAC method); omitted otherwise.
	MAC       encap.MAC `json:"mac,omitzero"`
	RxPackets uint64    `json:"rx_packets"`
	RxBytes   uint64    `json:"rx_bytes"`
	TxPackets uint64    `json:"tx_packets"`
	TxBytes   uint64    `json:"tx_bytes"`
	// Offloads lists the TAP offloads the port runs with ("csum,tso4,..."
	// or "off", with the kernel's refusal in parentheses), for devices
	// that report them; omitted otherwise.
	Offloads string `json:"offloads,omitempty"`
	// Queues is the number of device queues the switch reads (above 1 for
	// a multi-queue TAP, --tap-queues).
	Queues int `json:"queues"`
	// TAPGRO says whether the switch coalesces TCP segments into
	// super-frames when it writes to the port (GRO on write: the daemon's
	// --tap-gro, PATCH /v1/settings); always false for a TAP without
	// offloads. Omitted for devices that cannot coalesce.
	TAPGRO *bool `json:"tap_gro,omitempty"`
}

// Settings is the body of GET and PATCH /v1/settings: what can be changed
// while the daemon runs.
type Settings struct {
	// TAPGRO: the switch coalesces received TCP segments into super-frames
	// written to offload TAPs (GRO on write; the daemon's --tap-gro). Off
	// works around kernels with bugs there. It applies to every port,
	// also those attached later, until the daemon restarts (then the flag
	// or config file decides again).
	TAPGRO bool `json:"tap_gro"`
}

// SettingsUpdate is the body of PATCH /v1/settings: the settings to
// change; a field left out (nil) keeps its value.
type SettingsUpdate struct {
	TAPGRO *bool `json:"tap_gro,omitempty"`
}

// Stats is the body of GET /v1/stats: the switch's counters (ports, VNIs,
// every drop reason, reserved_bits_accepted) and the FDB's.
type Stats struct {
	vswitch.Stats
	FDB FDBStats `json:"fdb"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Version       string   `json:"version"`
	UptimeSeconds float64  `json:"uptime_seconds"`
	Local         string   `json:"local"` // underlay address; "" if unknown
	Port          uint16   `json:"port"`  // VXLAN UDP port
	VNIs          []uint32 `json:"vnis"`  // served VNIs, ascending; never null
}

// Uptime returns UptimeSeconds as a duration.
func (s Status) Uptime() time.Duration {
	return time.Duration(s.UptimeSeconds * float64(time.Second))
}

// Info is what the daemon knows about itself and the switch does not; the
// Server reports it in GET /v1/status.
type Info struct {
	Version string    // e.g. "v0.1.0" or "dev"
	Local   string    // underlay address the VTEP is bound to
	Port    uint16    // VXLAN UDP port; 0 means the switch's Config().Port
	Started time.Time // zero means when NewServer ran
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
}

// FDBStats are the forwarding database's counters as the API shows them.
type FDBStats struct {
	Entries              int    `json:"entries"`                // entries of every origin
	Learned              int    `json:"learned"`                // of which learned from traffic
	LearnRejectedCap     uint64 `json:"learn_rejected_cap"`     // learning refused: per-VNI cap reached
	LearnRejectedMAC     uint64 `json:"learn_rejected_mac"`     // learning refused: multicast/broadcast/zero source
	LearnRejectedInvalid uint64 `json:"learn_rejected_invalid"` // learning refused: VNI out of range or bad destination
	Moves                uint64 `json:"moves"`                  // learned MACs seen behind a new destination
	Aged                 uint64 `json:"aged"`                   // learned entries expired by ageing
}
