package tap

import "strings"

// Offloads says which virtio-net offloads a TAP runs with: what the kernel
// accepted with TUNSETOFFLOAD when Config.Offload asked for them. The zero
// value means a plain TAP (one frame per read and write).
type Offloads struct {
	// VnetHdr: the TAP was opened with IFF_VNET_HDR; every frame read or
	// written is preceded by a 10-byte virtio-net header, handled inside
	// Read and Write (callers never see it).
	VnetHdr bool
	// Csum (TUN_F_CSUM): the kernel may hand over frames whose TCP/UDP
	// checksum is only partial; Read finishes it.
	Csum bool
	// TSO4 and TSO6 (TUN_F_TSO4, TUN_F_TSO6): the kernel may hand over TCP
	// super-frames up to 64 KiB; Read splits them into MSS-sized frames.
	// Write may hand coalesced TCP super-frames to the kernel.
	TSO4, TSO6 bool
	// USO (TUN_F_USO4|TUN_F_USO6, Linux 6.2 and later): UDP super-frames,
	// split by Read.
	USO bool
	// Reason is why offloads are off (or reduced) when they were asked
	// for: the kernel's refusal, for the operator's log.
	Reason string
}

// String lists the enabled offloads, e.g. "csum,tso4,tso6,uso4,uso6", or
// "off" followed by the reason in parentheses.
func (o Offloads) String() string {
	var parts []string
	for _, f := range []struct {
		on   bool
		name string
	}{{o.Csum, "csum"}, {o.TSO4, "tso4"}, {o.TSO6, "tso6"}, {o.USO, "uso4,uso6"}} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	s := strings.Join(parts, ",")
	if s == "" {
		s = "off"
	}
	if o.Reason != "" {
		s += " (" + o.Reason + ")"
	}
	return s
}

// OffloadBatchSize is BatchSize for a TAP with offloads: enough frames for
// one 64 KiB TCP super-frame cut at a small MSS (65535/536 = 123), so that
// one read(2) usually fits one Read. Segments that do not fit stay pending
// for the next Read.
const OffloadBatchSize = 128

// PlainBatchSize is BatchSize for a plain TAP: the most frames one Read
// returns, each read with its own read(2) from what is already queued.
const PlainBatchSize = 64
