package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vxswitch/vxswitch/encap"
)

// Filter is a compiled capture filter expression. It is immutable and safe
// for concurrent use; matching never allocates.
//
// The language is a small subset of pcap-filter(7) plus "vni":
//
//	vni N          the packet's VNI is N
//	mac M          inner source or destination MAC is M
//	host IP        inner IP source or destination (ARP sender or target)
//	               is IP, or, for VXLAN, the outer source or destination
//	net CIDR       the same addresses, inside the prefix
//	port N         inner TCP/UDP source or destination port, or, for
//	               VXLAN, the outer UDP port
//	arp, ip, ip6, icmp, icmp6, tcp, udp
//	               the inner frame carries that protocol (one 802.1Q tag is
//	               skipped; the outer UDP of VXLAN is not "udp")
//	not X, !X      X does not match
//	X and Y, X && Y, or juxtaposed "X Y"
//	X or Y, X || Y
//	( X )
//
// "and" binds tighter than "or"; "not" tighter than both. Keywords are
// case-insensitive.
type Filter struct {
	expr string
	root *node
}

// String returns the expression the filter was parsed from ("" for nil).
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.expr
}

// SyntaxError is returned by ParseFilter for an expression it cannot
// parse. Pos is the byte offset (0-based) of the offending token in Expr.
type SyntaxError struct {
	Expr string
	Pos  int
	Msg  string
}

// Error names the position and the problem, e.g.
// `capture filter "vni x": at position 4: want a VNI (0-16777215), got "x"`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("capture filter %q: at position %d: %s", e.Expr, e.Pos, e.Msg)
}

type opKind uint8

const (
	opAnd opKind = iota
	opOr
	opNot
	opVNI
	opMAC
	opHost
	opNet
	opPort
	opARP
	opIP
	opIP6
	opICMP
	opICMP6
	opTCP
	opUDP
)

type node struct {
	op   opKind
	l, r *node
	num  uint32
	mac  encap.MAC
	pfx  netip.Prefix
}

type token struct {
	s   string
	pos int
}

// ParseFilter compiles expr. An empty (or all blank) expression returns a
// nil *Filter, which matches everything when used in Config. An expression
// it cannot parse returns a *SyntaxError.
func ParseFilter(expr string) (*Filter, error) {
	toks := tokenize(expr)
	if len(toks) == 0 {
		return nil, nil
	}
	p := &parser{expr: expr, toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		return nil, p.errf(t.pos, "unexpected %q", t.s)
	}
	return &Filter{expr: expr, root: n}, nil
}

func tokenize(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, token{s[i : i+1], i})
			i++
		case c == '!' && !strings.HasPrefix(s[i:], "!="):
			toks = append(toks, token{"!", i})
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||"):
			toks = append(toks, token{s[i : i+2], i})
			i += 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()!&|", rune(s[j])) {
				j++
			}
			if j == i { // a lone & or |
				j++
			}
			toks = append(toks, token{s[i:j], i})
			i = j
		}
	}
	return toks
}

type parser struct {
	expr string
	toks []token
	i    int
}

func (p *parser) errf(pos int, format string, args ...any) error {
	return &SyntaxError{Expr: p.expr, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{pos: len(p.expr)}, false
}

func (p *parser) or() (*node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || (strings.ToLower(t.s) != "or" && t.s != "||") {
			return l, nil
		}
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &node{op: opOr, l: l, r: r}
	}
}

func (p *parser) and() (*node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || t.s == ")" || t.s == "||" || strings.EqualFold(t.s, "or") {
			return l, nil
		}
		if strings.EqualFold(t.s, "and") || t.s == "&&" {
			p.i++
		} // otherwise juxtaposition: "tcp port 80" is "tcp and port 80"
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &node{op: opAnd, l: l, r: r}
	}
}

func (p *parser) unary() (*node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, p.errf(t.pos, "expression ends early: want a primitive (vni, mac, host, net, port, arp, ip, ip6, icmp, icmp6, tcp, udp), not or (")
	}
	p.i++
	switch w := strings.ToLower(t.s); w {
	case "not", "!":
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: opNot, l: x}, nil
	case "(":
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		c, ok := p.peek()
		if !ok || c.s != ")" {
			return nil, p.errf(c.pos, "missing ) for ( at position %d", t.pos)
		}
		p.i++
		return x, nil
	case "arp":
		return &node{op: opARP}, nil
	case "ip":
		return &node{op: opIP}, nil
	case "ip6":
		return &node{op: opIP6}, nil
	case "icmp":
		return &node{op: opICMP}, nil
	case "icmp6":
		return &node{op: opICMP6}, nil
	case "tcp":
		return &node{op: opTCP}, nil
	case "udp":
		return &node{op: opUDP}, nil
	case "vni", "mac", "host", "net", "port":
		a, ok := p.peek()
		if !ok || a.s == "(" || a.s == ")" {
			return nil, p.errf(a.pos, "%s needs an argument", w)
		}
		p.i++
		return p.primitive(w, a)
	default:
		return nil, p.errf(t.pos, "unexpected %q: want a primitive (vni, mac, host, net, port, arp, ip, ip6, icmp, icmp6, tcp, udp), not or (", t.s)
	}
}

func (p *parser) primitive(w string, a token) (*node, error) {
	switch w {
	case "vni":
		n, err := strconv.ParseUint(a.s, 10, 32)
		if err != nil || n > encap.MaxVNI {
			return nil, p.errf(a.pos, "want a VNI (0-%d), got %q", encap.MaxVNI, a.s)
		}
		return &node{op: opVNI, num: uint32(n)}, nil
	case "mac":
		m, err := encap.ParseMAC(a.s)
		if err != nil {
			return nil, p.errf(a.pos, "want a MAC address like 02:00:00:00:00:01, got %q", a.s)
		}
		return &node{op: opMAC, mac: m}, nil
	case "host":
		ip, err := netip.ParseAddr(a.s)
		if err != nil || ip.Zone() != "" {
			return nil, p.errf(a.pos, "want an IP address, got %q", a.s)
		}
		return &node{op: opHost, pfx: netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())}, nil
	case "net":
		pfx, err := netip.ParsePrefix(a.s)
		if err != nil {
			return nil, p.errf(a.pos, "want a prefix like 198.18.0.0/15, got %q", a.s)
		}
		return &node{op: opNet, pfx: pfx.Masked()}, nil
	default: // "port"
		n, err := strconv.ParseUint(a.s, 10, 16)
		if err != nil {
			return nil, p.errf(a.pos, "want a port (0-65535), got %q", a.s)
		}
		return &node{op: opPort, num: uint32(n)}, nil
	}
}

// input is one packet as the filter sees it, parsed once.
type input struct {
	vni                uint32
	outerSrc, outerDst netip.AddrPort // valid for VXLAN records
	hasEth             bool
	src, dst           encap.MAC
	etherType          uint16
	ipSrc, ipDst       netip.Addr // IPv4/IPv6 addresses, or ARP sender/target
	proto              uint8      // IP protocol, if ip4 or ip6
	hasPorts           bool
	sport, dport       uint16
}

// set parses data (see Meta.VXLAN) into in. It never panics on short or
// garbled input: what is missing simply does not match.
func (in *input) set(m *Meta, data []byte) {
	in.vni = m.VNI
	frame := data
	if m.VXLAN {
		in.outerSrc, in.outerDst = m.Remote, m.Local
		if len(data) < encap.VXLANHeaderLen {
			return
		}
		frame = data[encap.VXLANHeaderLen:]
	}
	eth := encap.Ethernet(frame)
	if !eth.IsValid() {
		return
	}
	in.hasEth = true
	in.src, in.dst = eth.Source(), eth.Destination()
	in.etherType = eth.InnerEtherType()
	payload := frame[eth.PayloadOffset():]
	var l4 []byte
	switch in.etherType {
	case encap.EtherTypeARP:
		if a := encap.ARP(payload); a.IsValid() {
			in.ipSrc, in.ipDst = a.SenderIP(), a.TargetIP()
		}
		return
	case encap.EtherTypeIPv4:
		if len(payload) < encap.IPv4MinimumSize || payload[0]>>4 != 4 {
			in.etherType = 0
			return
		}
		ip := encap.IPv4(payload)
		hl := ip.HeaderLength()
		in.ipSrc, in.ipDst, in.proto = ip.Src(), ip.Dst(), ip.Protocol()
		if ip.FragmentOffset() == 0 && hl >= encap.IPv4MinimumSize && hl <= len(payload) {
			l4 = payload[hl:]
		}
	case encap.EtherTypeIPv6:
		if len(payload) < encap.IPv6HeaderLen || payload[0]>>4 != 6 {
			in.etherType = 0
			return
		}
		ip := encap.IPv6(payload)
		in.ipSrc, in.ipDst, in.proto = ip.Src(), ip.Dst(), ip.NextHeader()
		l4 = payload[encap.IPv6HeaderLen:]
	default:
		return
	}
	if (in.proto == encap.ProtocolTCP || in.proto == encap.ProtocolUDP) && len(l4) >= 4 {
		in.hasPorts = true
		in.sport = binary.BigEndian.Uint16(l4[0:])
		in.dport = binary.BigEndian.Uint16(l4[2:])
	}
}

// Match reports whether the filter matches the packet described by m and
// data (the same arguments as Hub.Capture). A nil Filter matches
// everything. It never allocates.
func (f *Filter) Match(m *Meta, data []byte) bool {
	if f == nil {
		return true
	}
	var in input
	in.set(m, data)
	return f.match(&in)
}

func (f *Filter) match(in *input) bool { return f.root.eval(in) }

func (n *node) eval(in *input) bool {
	switch n.op {
	case opAnd:
		return n.l.eval(in) && n.r.eval(in)
	case opOr:
		return n.l.eval(in) || n.r.eval(in)
	case opNot:
		return !n.l.eval(in)
	case opVNI:
		return in.vni == n.num
	case opMAC:
		return in.hasEth && (in.src == n.mac || in.dst == n.mac)
	case opHost, opNet:
		return contains(n.pfx, in.ipSrc) || contains(n.pfx, in.ipDst) ||
			contains(n.pfx, in.outerSrc.Addr()) || contains(n.pfx, in.outerDst.Addr())
	case opPort:
		p := uint16(n.num)
		return (in.hasPorts && (in.sport == p || in.dport == p)) ||
			(in.outerSrc.IsValid() && in.outerSrc.Port() == p) ||
			(in.outerDst.IsValid() && in.outerDst.Port() == p)
	case opARP:
		return in.etherType == encap.EtherTypeARP
	case opIP:
		return in.etherType == encap.EtherTypeIPv4
	case opIP6:
		return in.etherType == encap.EtherTypeIPv6
	case opICMP:
		return in.etherType == encap.EtherTypeIPv4 && in.proto == encap.ProtocolICMP
	case opICMP6:
		return in.etherType == encap.EtherTypeIPv6 && in.proto == encap.ProtocolICMPv6
	case opTCP:
		return (in.etherType == encap.EtherTypeIPv4 || in.etherType == encap.EtherTypeIPv6) && in.proto == encap.ProtocolTCP
	case opUDP:
		return (in.etherType == encap.EtherTypeIPv4 || in.etherType == encap.EtherTypeIPv6) && in.proto == encap.ProtocolUDP
	}
	return false
}

func contains(p netip.Prefix, a netip.Addr) bool {
	return a.IsValid() && p.Contains(a.Unmap())
}
