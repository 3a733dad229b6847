package vtep

import "github.com/vxswitch/vxswitch/encap"

const (
	// maxPayload4 is the largest UDP payload over IPv4: the 16-bit IPv4
	// total length (65 535) minus the 20-byte IPv4 and 8-byte UDP headers.
	maxPayload4 = 65535 - 20 - 8
	// maxPayload6 is the largest UDP payload over IPv6 without jumbograms:
	// the 16-bit payload length (65 535) minus the 8-byte UDP header.
	maxPayload6 = 65535 - 8
)

// SegmentsPerSend is the most full-size frames of an inner link with the
// given MTU that one UDP_SEGMENT send can carry as VXLAN datagrams: each
// frame (MTU bytes of IP, its Ethernet header and one 802.1Q tag) plus
// its VXLAN header, together within the largest IPv4 UDP payload (65 507
// bytes, the smaller of the two families' limits), and no more than
// DefaultMaxSegments. It is at least 1; an MTU of 0 or less counts as
// 1500.
//
// The switch caps its offload TAPs' TSO and USO super-frames at this many
// segments (tap.LinkSetGSOMaxSegments), so that each super-frame a local
// sender hands over leaves in one send and reaches the peer as one
// UDP_GRO datagram, instead of as a full train and a short tail that the
// peer would write to its TAP as two frames. For the usual inner MTU of
// 1450 it is 44.
func SegmentsPerSend(mtu int) int {
	if mtu <= 0 {
		mtu = 1500
	}
	n := maxPayload4 / (encap.VXLANHeaderLen + encap.EthernetHeaderLen + encap.VLANTagLen + mtu)
	return max(1, min(n, DefaultMaxSegments))
}

// minSendChunk is the fewest datagrams Send groups per chunk, whatever
// the BatchSize: enough for the frames of one batch from an offload TAP
// (tap.OffloadBatchSize, 128) and more. A chunk boundary ends a
// UDP_SEGMENT run, so a chunk smaller than the batch would cut the
// segments of a super-frame over two sends (and the peer would write them
// to its TAP as two frames).
const minSendChunk = 256

// sendChunk is the number of datagrams Send handles per chunk (and sizes
// a sendBatch for).
func sendChunk(batchSize int) int { return max(batchSize, minSendChunk) }
