package vtep

import "net/netip"

// groQueue holds the datagrams of one recvmmsg(2) call on a UDP_GRO socket
// until the caller has taken every segment. Message i is data[i], sent
// from src[i]; when seg[i] > 0 the kernel coalesced it from datagrams of
// seg[i] bytes each (the last may be shorter), as the UDP_GRO control
// message says. A truncated message (trunc[i]) is passed on as one
// oversize packet.
//
// A groQueue belongs to one receiver and is used by one goroutine. data
// points into buffers owned by that receiver, which the next recvmmsg
// overwrites, so the queue must be empty before the next read.
type groQueue struct {
	data  [][]byte
	seg   []int
	src   []netip.AddrPort
	trunc []bool

	n    int // messages held
	next int // first message not fully taken
	off  int // bytes of data[next] already taken

	// zeroCopy makes drain point bufs[i] into data rather than copy.
	zeroCopy bool
}

func newGROQueue(msgs int) groQueue {
	return groQueue{
		data:  make([][]byte, msgs),
		seg:   make([]int, msgs),
		src:   make([]netip.AddrPort, msgs),
		trunc: make([]bool, msgs),
	}
}

// empty reports whether every segment has been taken.
func (q *groQueue) empty() bool { return q.next >= q.n }

// reset drops anything held; the next read refills the queue.
func (q *groQueue) reset() { q.n, q.next, q.off = 0, 0, 0 }

// drain hands out the next segments, one per entry of bufs, in order, and
// returns how many it filled. It copies each into bufs[i], or with
// zeroCopy sets bufs[i] to the segment inside the receiver's buffer
// (capacity cut to its length), which stays valid until the queue is
// refilled, that is until the next call of the ReceiveFunc. A segment
// longer than len(bufs[i]) is copied cut to it and reported with size
// len(bufs[i])+1, per the ReceiveFunc contract. The caller bounds the
// batch by len(bufs); sizes and eps must be at least as long.
//
// The segments of one datagram stay together: a datagram that does not
// fit in what is left of bufs waits for the next call, unless bufs is
// still empty (then it is split over calls). A datagram is what the
// sender handed to one UDP_SEGMENT send, typically one TSO super-frame of
// a local TCP sender, and its segments coalesce back into one TAP write
// only when they reach the coalescer in one batch.
func (q *groQueue) drain(bufs [][]byte, sizes []int, eps []netip.AddrPort) int {
	k := 0
	for k < len(bufs) && q.next < q.n {
		d := q.data[q.next]
		seg := q.seg[q.next]
		if q.trunc[q.next] || seg <= 0 || seg > len(d) {
			seg = len(d) // one datagram
		}
		if q.off == 0 && k > 0 && seg > 0 && (len(d)+seg-1)/seg > len(bufs)-k {
			break // keep the datagram whole for the next call
		}
		rest := d[q.off:]
		take := min(seg, len(rest))
		switch {
		case take > len(bufs[k]) || q.trunc[q.next]:
			copy(bufs[k], rest[:take])
			sizes[k] = len(bufs[k]) + 1
		case q.zeroCopy:
			bufs[k] = rest[:take:take]
			sizes[k] = take
		default:
			sizes[k] = copy(bufs[k], rest[:take])
		}
		eps[k] = q.src[q.next]
		k++
		q.off += take
		if q.off >= len(d) || q.trunc[q.next] {
			q.data[q.next] = nil
			q.next++
			q.off = 0
		}
	}
	return k
}
