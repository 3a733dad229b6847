package capture

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Point is where in the switch a packet was captured.
type Point uint8

// Capture points.
const (
	// PortIn: an inner Ethernet frame read from a local port.
	PortIn Point = iota
	// PortOut: an inner Ethernet frame written to a local port.
	PortOut
	// UnderlayIn: a VXLAN packet received from a remote VTEP.
	UnderlayIn
	// UnderlayOut: a VXLAN packet sent to a remote VTEP.
	UnderlayOut
	// Drop: a frame or packet the switch dropped; Decision.Reason says why.
	Drop

	numPoints
)

var pointNames = [numPoints]string{
	PortIn:      "port-in",
	PortOut:     "port-out",
	UnderlayIn:  "underlay-in",
	UnderlayOut: "underlay-out",
	Drop:        "drop",
}

// String returns the point's stable name, e.g. "underlay-in". ParsePoint
// accepts the same names.
func (p Point) String() string {
	if p < numPoints {
		return pointNames[p]
	}
	return "point(" + strconv.Itoa(int(p)) + ")"
}

// Inbound reports whether packets at p travel towards the switch (pcapng
// direction "inbound"): PortIn, UnderlayIn and Drop (every drop happens to
// a packet the switch received).
func (p Point) Inbound() bool { return p == PortIn || p == UnderlayIn || p == Drop }

// ParsePoint parses a point name as returned by Point.String.
func ParsePoint(s string) (Point, error) {
	for i, n := range pointNames {
		if n == s {
			return Point(i), nil
		}
	}
	return 0, fmt.Errorf("capture: unknown point %q (want port-in, port-out, underlay-in, underlay-out or drop)", s)
}

// PointSet is a set of points, one bit per Point. The zero value is empty.
type PointSet uint8

// AllPoints holds every point.
const AllPoints = PointSet(1<<numPoints - 1)

// Points returns the set of the given points.
func Points(ps ...Point) PointSet {
	var s PointSet
	for _, p := range ps {
		s |= 1 << p
	}
	return s
}

// Has reports whether p is in s.
func (s PointSet) Has(p Point) bool { return s&(1<<p) != 0 }

// DecisionKind is what the switch did with a packet.
type DecisionKind uint8

// Decision kinds.
const (
	// DecisionNone: no forwarding decision is attached (egress records,
	// whose decision is on the ingress record with the same ID).
	DecisionNone DecisionKind = iota
	// DecisionPort: delivered to one local port (Decision.Port).
	DecisionPort
	// DecisionUnicast: encapsulated to one remote VTEP (Decision.Remote).
	DecisionUnicast
	// DecisionFlood: replicated to Decision.Count destinations (local ports
	// and remote VTEPs).
	DecisionFlood
	// DecisionDrop: dropped for Decision.Reason.
	DecisionDrop
)

// Decision is the switch's forwarding decision for one packet. It is a
// value; its strings are the switch's own (port names, drop reason names),
// so building one does not allocate.
type Decision struct {
	Kind   DecisionKind
	Port   string     // DecisionPort: the destination port's name
	Remote netip.Addr // DecisionUnicast: the destination VTEP
	Count  int        // DecisionFlood: number of copies sent
	Reason string     // DecisionDrop: the drop reason's name, e.g. "unknown_vni"
}

// String renders d as it appears in pcapng comments: "local port tap0",
// "unicast to VTEP 192.0.2.2", "flood to 3", "drop: unknown_vni", or "" for
// DecisionNone.
func (d Decision) String() string { return string(d.appendTo(nil)) }

func (d Decision) appendTo(b []byte) []byte {
	switch d.Kind {
	case DecisionPort:
		b = append(b, "local port "...)
		b = append(b, d.Port...)
	case DecisionUnicast:
		b = append(b, "unicast to VTEP "...)
		b = d.Remote.AppendTo(b)
	case DecisionFlood:
		b = append(b, "flood to "...)
		b = strconv.AppendInt(b, int64(d.Count), 10)
	case DecisionDrop:
		b = append(b, "drop: "...)
		b = append(b, d.Reason...)
	}
	return b
}

// Meta describes one captured packet. The switch fills one on its stack
// per hop; Hub.Capture copies it.
type Meta struct {
	Point Point
	// Port is the local port for PortIn and PortOut, and the ingress port
	// of a dropped frame that came from a port.
	Port string
	// VNI is the segment the packet belongs to.
	VNI uint32
	// VXLAN says the data handed to Capture is a VXLAN payload (header and
	// inner frame) that travels between Local and Remote: capture writes it
	// with synthesized outer Ethernet, IP and UDP headers. Set for
	// UnderlayIn, UnderlayOut, and drops of received VXLAN.
	VXLAN bool
	// Local is this VTEP's underlay address and port (may be invalid when
	// the bind does not say; the outer header then carries the unspecified
	// address).
	Local netip.AddrPort
	// Remote is the peer VTEP: the source of received VXLAN, the
	// destination of sent VXLAN.
	Remote netip.AddrPort
	// Decision is what the switch did with the packet.
	Decision Decision
	// ID links records of one packet's journey: a frame read from a port
	// and every copy (port egress, underlay packet) made from it share it,
	// as do a received VXLAN packet and the inner frame delivered from it.
	// 0 means none.
	ID uint64
}

// Comment renders m as the pcapng per-packet comment, for example
// "point=underlay-out vni=42 remote=192.0.2.2:4789 id=7" or
// "point=port-in port=tap0 vni=42 decision=flood to 2 id=3". It allocates;
// writers call it on the reader side, never on the datapath.
func (m *Meta) Comment() string { return string(m.appendComment(nil)) }

func (m *Meta) appendComment(b []byte) []byte {
	b = append(b, "point="...)
	b = append(b, m.Point.String()...)
	if m.Port != "" {
		b = append(b, " port="...)
		b = append(b, m.Port...)
	}
	b = append(b, " vni="...)
	b = strconv.AppendUint(b, uint64(m.VNI), 10)
	if m.Remote.IsValid() {
		b = append(b, " remote="...)
		b = m.Remote.AppendTo(b)
	}
	if m.Decision.Kind != DecisionNone {
		b = append(b, " decision="...)
		b = m.Decision.appendTo(b)
	}
	if m.ID != 0 {
		b = append(b, " id="...)
		b = strconv.AppendUint(b, m.ID, 10)
	}
	return b
}
