package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxswitch/vxswitch/encap"
)

// Snapshot lengths.
const (
	// DefaultSnaplen is the snapshot length when Config.Snaplen is 0: a
	// whole 64 KiB IP packet.
	DefaultSnaplen = 65535
	// MaxSnaplen is the largest useful snapshot length: the largest frame
	// the switch handles with synthesized outer headers and VXLAN header.
	MaxSnaplen = outerMax + encap.MaxFrameSize
	// bufferBudget bounds the default slot memory of one session.
	bufferBudget = 16 << 20
)

// Hub fans captured packets out to the running Sessions. The switch
// engine owns one and calls Active at every hop, then Capture when it is
// true. All methods are safe for concurrent use. The zero value is ready.
type Hub struct {
	// sessions is the running sessions, copy on write under mu; nil when
	// none runs, so Active is one atomic load.
	sessions atomic.Pointer[[]*Session]
	mu       sync.Mutex
	nextID   atomic.Uint64
}

// Active reports whether any session runs. It is one atomic load: the
// whole cost of capture support on the datapath while nobody captures.
func (h *Hub) Active() bool { return h.sessions.Load() != nil }

// NextID returns a new packet ID (never 0) for Meta.ID. Call it only when
// Active is true.
func (h *Hub) NextID() uint64 { return h.nextID.Add(1) }

// Capture offers one packet to every running session. data is the inner
// Ethernet frame, or the VXLAN payload when m.VXLAN is set; Capture copies
// what a session wants into one of its preallocated slots before it
// returns and retains neither m nor data. It never blocks and never
// allocates: a session without a free slot counts the packet as lost.
func (h *Hub) Capture(m *Meta, data []byte) {
	ss := h.sessions.Load()
	if ss == nil {
		return
	}
	var now time.Time
	for _, s := range *ss {
		if !s.wants(m, data) {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		s.put(m, data, now)
	}
}

// Config selects what a Session captures. The zero value captures every
// point with the default snapshot length and buffer.
type Config struct {
	// Points are the capture points to record; 0 means AllPoints.
	Points PointSet
	// Ports, if not empty, limits PortIn and PortOut records to these
	// ports. Other points are not affected.
	Ports []string
	// VNI, with MatchVNI, limits every point to one VNI.
	VNI      uint32
	MatchVNI bool
	// Filter, if not nil, must match (see ParseFilter).
	Filter *Filter
	// Snaplen is the most bytes kept of each packet (outer headers
	// included); 0 means DefaultSnaplen. At most MaxSnaplen.
	Snaplen int
	// Buffer is the number of packet slots between the datapath and the
	// reader; 0 picks as many as fit 16 MiB (at least 64, at most 4096).
	Buffer int
}

// Packet is one captured packet in a Session's slot. It is owned by the
// session: the reader gets it from Next and returns it with Release, and
// must not use it afterwards.
type Packet struct {
	Meta
	// Time is when the switch handed the packet to the hub.
	Time time.Time
	// Length is the packet's full length (synthesized outer headers
	// included); len(Data) is smaller when the snapshot length cut it.
	Length int
	// Data is the captured bytes: an Ethernet frame (the synthesized outer
	// one for VXLAN).
	Data []byte

	buf []byte // the slot, len = max(snaplen, outerMax)
}

// Stats counts a session's packets.
type Stats struct {
	// Captured is the number of packets copied into the buffer.
	Captured uint64
	// Lost is the number of matching packets dropped because the buffer
	// was full (the reader was too slow).
	Lost uint64
}

// Session is one running capture. Its methods are safe for concurrent
// use, but packets should be read (Next or Copy) by one goroutine.
type Session struct {
	hub     *Hub
	cfg     Config
	snaplen int
	free    chan *Packet // empty slots
	full    chan *Packet // captured packets, in order
	done    chan struct{}
	once    sync.Once

	captured, lost atomic.Uint64
}

// Start starts a capture session. It fails on an invalid Config. The
// session holds its slots until Close.
func (h *Hub) Start(cfg Config) (*Session, error) {
	if cfg.Points == 0 {
		cfg.Points = AllPoints
	}
	if cfg.Points&^AllPoints != 0 {
		return nil, errors.New("capture: unknown capture point in Config.Points")
	}
	if cfg.MatchVNI && cfg.VNI > encap.MaxVNI {
		return nil, fmt.Errorf("capture: VNI %d out of range (0-%d)", cfg.VNI, encap.MaxVNI)
	}
	snap := cfg.Snaplen
	switch {
	case snap == 0:
		snap = DefaultSnaplen
	case snap < 0 || snap > MaxSnaplen:
		return nil, fmt.Errorf("capture: snaplen %d out of range (1-%d)", snap, MaxSnaplen)
	}
	n := cfg.Buffer
	switch {
	case n == 0:
		n = min(max(bufferBudget/snap, 64), 4096)
	case n < 0 || n > 1<<16:
		return nil, fmt.Errorf("capture: buffer of %d packets out of range (1-%d)", n, 1<<16)
	}
	cfg.Ports = slices.Clone(cfg.Ports)
	s := &Session{
		hub:     h,
		cfg:     cfg,
		snaplen: snap,
		free:    make(chan *Packet, n),
		full:    make(chan *Packet, n),
		done:    make(chan struct{}),
	}
	slot := max(snap, outerMax)
	mem := make([]byte, n*slot)
	for i := range n {
		s.free <- &Packet{buf: mem[i*slot : (i+1)*slot : (i+1)*slot]}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var ss []*Session
	if old := h.sessions.Load(); old != nil {
		ss = slices.Clone(*old)
	}
	ss = append(ss, s)
	h.sessions.Store(&ss)
	return s, nil
}

// Snaplen returns the session's snapshot length.
func (s *Session) Snaplen() int { return s.snaplen }

// Stats returns the session's counters so far.
func (s *Session) Stats() Stats {
	return Stats{Captured: s.captured.Load(), Lost: s.lost.Load()}
}

// Close detaches the session from the hub: no packet is added afterwards,
// and Next returns what is buffered and then ErrSessionClosed. It is
// idempotent.
func (s *Session) Close() error {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		old := h.sessions.Load()
		var ss []*Session
		if old != nil {
			ss = slices.DeleteFunc(slices.Clone(*old), func(x *Session) bool { return x == s })
		}
		if len(ss) == 0 {
			h.sessions.Store(nil)
		} else {
			h.sessions.Store(&ss)
		}
		h.mu.Unlock()
		close(s.done)
	})
	return nil
}

// ErrSessionClosed is returned by Next after Close once the buffer is
// empty.
var ErrSessionClosed = errors.New("capture: session closed")

// Next returns the next captured packet, blocking until there is one, ctx
// is done (ctx.Err()) or the session is closed and drained
// (ErrSessionClosed). The caller must Release the packet.
func (s *Session) Next(ctx context.Context) (*Packet, error) {
	select {
	case p := <-s.full:
		return p, nil
	default:
	}
	select {
	case p := <-s.full:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		// A hop may have filled a slot just before Close detached us.
		select {
		case p := <-s.full:
			return p, nil
		default:
			return nil, ErrSessionClosed
		}
	}
}

// Release returns p's slot to the session. p must not be used afterwards.
func (s *Session) Release(p *Packet) {
	p.Data = nil
	p.Meta = Meta{}
	select {
	case s.free <- p:
	default: // not ours or released twice: drop it rather than block
	}
}

// Writer consumes captured packets: NewPcapNGWriter, NewPcapWriter and
// NewRotatingWriter return one. WritePacket must not retain p.
type Writer interface {
	// WritePacket writes one packet (possibly buffered).
	WritePacket(p *Packet) error
	// Flush pushes buffered packets to the underlying stream.
	Flush() error
}

// Copy writes captured packets to w until count packets were written
// (count <= 0: no limit), ctx is done or the session is closed, flushing
// whenever the buffer runs empty so a live stream stays current. It
// returns the number of packets written; the end of ctx is not an error.
// Copy does not close the session.
func (s *Session) Copy(ctx context.Context, w Writer, count int) (int, error) {
	n := 0
	for count <= 0 || n < count {
		p, err := s.Next(ctx)
		if err != nil {
			if errors.Is(err, ErrSessionClosed) || ctx.Err() != nil {
				break
			}
			return n, err
		}
		err = w.WritePacket(p)
		s.Release(p)
		if err != nil {
			return n, err
		}
		n++
		if len(s.full) == 0 {
			if err := w.Flush(); err != nil {
				return n, err
			}
		}
	}
	return n, w.Flush()
}

// wants reports whether the session records m.
func (s *Session) wants(m *Meta, data []byte) bool {
	c := &s.cfg
	if !c.Points.Has(m.Point) {
		return false
	}
	if c.MatchVNI && m.VNI != c.VNI {
		return false
	}
	if len(c.Ports) > 0 && (m.Point == PortIn || m.Point == PortOut) && !slices.Contains(c.Ports, m.Port) {
		return false
	}
	if c.Filter != nil {
		var in input
		in.set(m, data)
		return c.Filter.match(&in)
	}
	return true
}

// put copies one packet into a free slot, or counts it lost.
func (s *Session) put(m *Meta, data []byte, now time.Time) {
	var p *Packet
	select {
	case p = <-s.free:
	default:
		s.lost.Add(1)
		return
	}
	p.Meta = *m
	p.Time = now
	if m.VXLAN {
		src, dst, out := m.Remote, m.Local, false
		if m.Point == UnderlayOut {
			src, dst, out = m.Local, m.Remote, true
		}
		hl := outerLen(src.Addr())
		writeOuter(p.buf[:hl], src, dst, out, data)
		p.Length = hl + len(data)
		n := 0
		if hl < s.snaplen {
			n = copy(p.buf[hl:s.snaplen], data)
		}
		p.Data = p.buf[:min(hl+n, s.snaplen)]
	} else {
		p.Length = len(data)
		p.Data = p.buf[:copy(p.buf[:s.snaplen], data)]
	}
	select {
	case s.full <- p:
		s.captured.Add(1)
	default: // cannot happen: full has room for every slot
		s.lost.Add(1)
	}
}
