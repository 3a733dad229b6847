package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrParse is wrapped by every error of the output parsers.
var ErrParse = errors.New("bench: cannot parse tool output")

// Iperf3Result is what the benchmark reads from `iperf3 -J` client output.
type Iperf3Result struct {
	// Seconds is the test's duration as iperf3 measured it.
	Seconds float64
	// BitsPerSecond is the receiver's rate for TCP and the sender's
	// (offered) rate for UDP.
	BitsPerSecond float64
	// Bytes is what the receiver got (TCP) or the sender sent (UDP).
	Bytes int64
	// Packets and LostPackets are set for UDP only: datagrams sent and
	// datagrams the server did not receive.
	Packets, LostPackets int64
	// Retransmits is the sender's TCP retransmission count (TCP only;
	// iperf3 reads it from the kernel's TCP_INFO).
	Retransmits int64
	// Congestion is the sender's TCP congestion control (TCP only, when
	// iperf3 reports it), e.g. "cubic" or "bbr".
	Congestion string
}

// LossFraction is LostPackets/Packets, from 0 to 1 (1 when nothing was
// sent, so an empty trial never passes).
func (r Iperf3Result) LossFraction() float64 {
	if r.Packets <= 0 {
		return 1
	}
	return float64(r.LostPackets) / float64(r.Packets)
}

type iperf3Sum struct {
	Seconds       float64 `json:"seconds"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Packets       int64   `json:"packets"`
	LostPackets   int64   `json:"lost_packets"`
	Retransmits   int64   `json:"retransmits"`
}

type iperf3JSON struct {
	Error string `json:"error"`
	End   struct {
		Sum         *iperf3Sum `json:"sum"`          // UDP: sender side plus the server's loss count
		SumReceived *iperf3Sum `json:"sum_received"` // TCP: receiver side
		SumSent     *iperf3Sum `json:"sum_sent"`     // TCP: sender side (retransmits)
		Congestion  string     `json:"sender_tcp_congestion"`
	} `json:"end"`
}

// ParseIperf3 parses the JSON report of an iperf3 client (`-J`). udp
// selects which summary to read. An "error" field in the report becomes the
// returned error.
func ParseIperf3(out []byte, udp bool) (Iperf3Result, error) {
	var j iperf3JSON
	if err := json.Unmarshal(out, &j); err != nil {
		return Iperf3Result{}, fmt.Errorf("%w: iperf3 JSON: %v", ErrParse, err)
	}
	if j.Error != "" {
		return Iperf3Result{}, fmt.Errorf("bench: iperf3: %s", j.Error)
	}
	s := j.End.SumReceived
	if udp {
		s = j.End.Sum
	}
	if s == nil {
		return Iperf3Result{}, fmt.Errorf("%w: iperf3 JSON has no end summary", ErrParse)
	}
	if s.Seconds < 0 || s.Bytes < 0 || s.BitsPerSecond < 0 || s.Packets < 0 || s.LostPackets < 0 || s.LostPackets > s.Packets && udp {
		return Iperf3Result{}, fmt.Errorf("%w: iperf3 summary out of range: %+v", ErrParse, *s)
	}
	r := Iperf3Result{Seconds: s.Seconds, BitsPerSecond: s.BitsPerSecond, Bytes: s.Bytes, Packets: s.Packets, LostPackets: s.LostPackets}
	if !udp && j.End.SumSent != nil {
		if j.End.SumSent.Retransmits < 0 {
			return Iperf3Result{}, fmt.Errorf("%w: iperf3 retransmits out of range: %d", ErrParse, j.End.SumSent.Retransmits)
		}
		r.Retransmits = j.End.SumSent.Retransmits
	}
	if !udp {
		r.Congestion = j.End.Congestion
	}
	return r, nil
}

// Latency holds round-trip percentiles in microseconds.
type Latency struct {
	P50, P99 float64
	// Observations is the number of round trips measured.
	Observations int
}

// ParseSockperf parses the percentile lines that `sockperf ping-pong
// --full-rtt` prints:
//
//	sockperf: ---> percentile 99.000 =  101.941
//	sockperf: ---> percentile 50.000 =   63.003
//
// and the observation count ("Total 8551 observations", possibly wrapped
// in terminal colour codes).
func ParseSockperf(out []byte) (Latency, error) {
	var l Latency
	var have50, have99 bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "Total "); i >= 0 && strings.Contains(line, " observations") {
			f := strings.Fields(line[i+len("Total "):])
			if len(f) > 0 {
				if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 {
					l.Observations = n
				}
			}
			continue
		}
		_, rest, ok := strings.Cut(line, "---> percentile ")
		if !ok {
			continue
		}
		pct, val, ok := strings.Cut(rest, "=")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || v < 0 {
			return Latency{}, fmt.Errorf("%w: sockperf line %q", ErrParse, line)
		}
		switch strings.TrimSpace(pct) {
		case "50.000":
			l.P50, have50 = v, true
		case "99.000":
			l.P99, have99 = v, true
		}
	}
	if !have50 || !have99 {
		return Latency{}, fmt.Errorf("%w: sockperf output has no 50th and 99th percentile lines", ErrParse)
	}
	return l, nil
}

// PingOutput is what the benchmark reads from iputils ping(8) output.
type PingOutput struct {
	// RTTs are the round trips of the replies, in microseconds, in the
	// order printed (duplicates left out).
	RTTs []float64
	// Transmitted is the number of echo requests sent, from the summary.
	Transmitted int
}

// ParsePing parses the output of iputils `ping -n` (without -q): one line
// per reply,
//
//	64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=0.123 ms
//
// (lines marked "(DUP!)" are duplicates and left out) and the summary
// line "10 packets transmitted, 9 received, ...". The summary is required,
// so output cut short is an error; a reply count above the transmitted
// count is too.
func ParsePing(out []byte) (PingOutput, error) {
	var p PingOutput
	summary := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if n, rest, ok := strings.Cut(line, " packets transmitted, "); ok && strings.Contains(rest, " received") {
			t, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || t < 0 {
				return PingOutput{}, fmt.Errorf("%w: ping summary %q", ErrParse, line)
			}
			p.Transmitted, summary = t, true
			continue
		}
		_, rest, ok := strings.Cut(line, " time=")
		if !ok || !strings.Contains(line, "icmp_seq=") || strings.Contains(line, "(DUP!)") {
			continue
		}
		val, unit, _ := strings.Cut(rest, " ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || !(v >= 0) || math.IsInf(v, 0) || !strings.HasPrefix(unit, "ms") {
			return PingOutput{}, fmt.Errorf("%w: ping reply line %q", ErrParse, line)
		}
		p.RTTs = append(p.RTTs, v*1000)
	}
	if !summary {
		return PingOutput{}, fmt.Errorf("%w: ping output has no \"packets transmitted\" summary", ErrParse)
	}
	if len(p.RTTs) > p.Transmitted {
		return PingOutput{}, fmt.Errorf("%w: ping printed %d replies for %d echoes", ErrParse, len(p.RTTs), p.Transmitted)
	}
	return p, nil
}

// ParseProcPIDStat returns utime+stime, in clock ticks, from the contents
// of /proc/<pid>/stat (fields 14 and 15, counted after the parenthesized
// command name, which may contain spaces and parentheses).
func ParseProcPIDStat(b []byte) (uint64, error) {
	ut, st, err := ParseProcPIDTimes(b)
	return ut + st, err
}

// ParseProcPIDTimes returns utime and stime (fields 14 and 15, clock
// ticks) from /proc/<pid>/stat.
func ParseProcPIDTimes(b []byte) (user, system uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("%w: /proc/<pid>/stat without command field", ErrParse)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%w: /proc/<pid>/stat has %d fields", ErrParse, len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("%w: /proc/<pid>/stat: %v", ErrParse, err)
	}
	return ut, st, nil
}

// CPUTimes are the whole machine's CPU times in clock ticks, from the
// "cpu" line of /proc/stat.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ uint64
}

// Busy is the time the CPUs were not idle: user, nice, system, irq and
// softirq (idle and iowait left out; steal and guest are not parsed).
func (t CPUTimes) Busy() uint64 { return t.User + t.Nice + t.System + t.IRQ + t.SoftIRQ }

// ParseProcStat parses the aggregate "cpu " line of /proc/stat.
func ParseProcStat(b []byte) (CPUTimes, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var v [7]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return CPUTimes{}, fmt.Errorf("%w: /proc/stat cpu line: %v", ErrParse, err)
			}
			v[i] = n
		}
		return CPUTimes{User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5], SoftIRQ: v[6]}, nil
	}
	return CPUTimes{}, fmt.Errorf("%w: /proc/stat has no cpu line", ErrParse)
}
