package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/capture"
)

const captureHelp = `vxctl capture: record packets at the switch's capture points.

Streams pcapng (default) or pcap from vxswitchd to FILE, or to stdout with
-w -, so 'vxctl capture -w - | tcpdump -r -' and '| tshark -r -' show
packets live. Capture points: each port's ingress and egress (inner
Ethernet frames), the underlay (VXLAN with its outer Ethernet/IP/UDP
headers) and drops (with the reason). In pcapng each point is one
interface, each packet has a direction flag and a comment with its VNI,
remote VTEP, the switch's decision and an ID shared by an inner frame and
the outer packets made from it. When done it prints "N packets captured,
M lost" to stderr (lost: the capture fell behind; forwarding never waits).

Usage:
  vxctl capture [--port NAME]... [--vni N] [--underlay] [--drops]
                [--filter EXPR] [-c COUNT] [--duration D] [--snaplen N]
                [--format pcapng|pcap] -w FILE|-

Flags:
  --port NAME      capture this port's ingress and egress (repeatable)
  --underlay       capture VXLAN sent and received
  --drops          capture dropped packets
                   (none of --port, --underlay, --drops: every point)
  --vni N          only VNI N
  --filter EXPR    vni N, mac M, host IP, net CIDR, port N, arp, ip, ip6,
                   icmp, icmp6, tcp, udp; and, or, not, parentheses
  -c COUNT         stop after COUNT packets
  --duration D     stop after D (e.g. 30s)
  --snaplen N      keep at most N bytes of each packet (default 65535)
  --format F       pcapng (default) or pcap (no comments, no points)
  -w FILE          write to FILE, or - for stdout

Example:
  vxctl capture --underlay --drops -c 100 -w /tmp/vx.pcapng
  vxctl capture --port vxtap0 --filter 'icmp or arp' -w - | tcpdump -n -r -
`

// captureStderr receives the final "N packets captured, M lost" line.
var captureStderr io.Writer = os.Stderr

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func cmdCapture(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	fs := newFlags("capture", nil)
	var (
		ports               listFlag
		vni                 vniFlag
		underlay, drops     bool
		filter, out, format string
		count, snaplen      int
		duration            time.Duration
	)
	fs.Var(&ports, "port", "")
	fs.Var(&vni, "vni", "")
	fs.BoolVar(&underlay, "underlay", false, "")
	fs.BoolVar(&drops, "drops", false, "")
	fs.StringVar(&filter, "filter", "", "")
	fs.IntVar(&count, "c", 0, "")
	fs.IntVar(&count, "count", 0, "")
	fs.DurationVar(&duration, "duration", 0, "")
	fs.IntVar(&snaplen, "snaplen", 0, "")
	fs.StringVar(&format, "format", "pcapng", "")
	fs.StringVar(&out, "w", "", "")
	if err := parseFlags(fs, w, captureHelp, args); err != nil {
		return err
	}
	switch {
	case out == "":
		return usagef("capture", "-w FILE or -w - is required")
	case count < 0 || snaplen < 0 || duration < 0:
		return usagef("capture", "-c, --snaplen and --duration must not be negative")
	}
	if _, err := capture.ParseFormat(format); err != nil {
		return usagef("capture", "--format: want pcapng or pcap")
	}
	if _, err := capture.ParseFilter(filter); err != nil {
		return usagef("capture", "%v", err)
	}
	q := api.CaptureQuery{
		Ports: ports, VNI: vni.vni, MatchVNI: vni.set, Filter: filter,
		Snaplen: snaplen, Count: count, Duration: duration, Format: format,
	}
	if len(ports) > 0 {
		q.Points = append(q.Points, capture.PortIn.String(), capture.PortOut.String())
	}
	if underlay {
		q.Points = append(q.Points, capture.UnderlayIn.String(), capture.UnderlayOut.String())
	}
	if drops {
		q.Points = append(q.Points, capture.Drop.String())
	}
	dst := w
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		dst = f
	}
	res, err := c.Capture(ctx, q, dst)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintln(captureStderr, "capture interrupted")
		return nil
	}
	fmt.Fprintf(captureStderr, "%d packets captured, %d lost\n", res.Captured, res.Lost)
	if f, ok := dst.(*os.File); ok && f != w {
		return f.Close()
	}
	return nil
}

var _ flag.Value = (*listFlag)(nil)
