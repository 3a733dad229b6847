package bench

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseIperf3(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		udp     bool
		want    Iperf3Result
		wantErr bool
	}{
		{"tcp", `{"end":{"sum_sent":{"bytes":9,"bits_per_second":1},"sum_received":{"seconds":10.0,"bytes":1250000000,"bits_per_second":1e9}}}`, false,
			Iperf3Result{Seconds: 10, BitsPerSecond: 1e9, Bytes: 1250000000}, false},
		{"tcp with retransmits", `{"end":{"sum_sent":{"bytes":9,"retransmits":17},"sum_received":{"seconds":2,"bytes":100,"bits_per_second":400}}}`, false,
			Iperf3Result{Seconds: 2, BitsPerSecond: 400, Bytes: 100, Retransmits: 17}, false},
		{"tcp with congestion control", `{"end":{"sum_sent":{"bytes":9},"sum_received":{"seconds":2,"bytes":100,"bits_per_second":400},"sender_tcp_congestion":"cubic","receiver_tcp_congestion":"bbr"}}`, false,
			Iperf3Result{Seconds: 2, BitsPerSecond: 400, Bytes: 100, Congestion: "cubic"}, false},
		{"udp ignores congestion control", `{"end":{"sum":{"seconds":1,"bytes":10,"packets":1},"sender_tcp_congestion":"cubic"}}`, true,
			Iperf3Result{Seconds: 1, Bytes: 10, Packets: 1}, false},
		{"negative retransmits", `{"end":{"sum_sent":{"retransmits":-1},"sum_received":{"seconds":2,"bytes":100}}}`, false, Iperf3Result{}, true},
		{"udp", `{"end":{"sum":{"seconds":1.000347,"bytes":1249560,"bits_per_second":9995680.3,"lost_packets":7,"packets":69420,"lost_percent":0.01}}}`, true,
			Iperf3Result{Seconds: 1.000347, BitsPerSecond: 9995680.3, Bytes: 1249560, Packets: 69420, LostPackets: 7}, false},
		{"iperf3 error", `{"start":{},"error":"unable to connect to server: Connection refused"}`, false, Iperf3Result{}, true},
		{"no summary", `{"end":{}}`, false, Iperf3Result{}, true},
		{"not JSON", `iperf3: error`, false, Iperf3Result{}, true},
		{"negative", `{"end":{"sum_received":{"seconds":-1}}}`, false, Iperf3Result{}, true},
		{"more lost than sent", `{"end":{"sum":{"seconds":1,"packets":1,"lost_packets":2}}}`, true, Iperf3Result{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIperf3([]byte(tt.in), tt.udp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("unexpected error:\n- want: error %v\n-  got: %v", tt.wantErr, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIperf3LossFraction(t *testing.T) {
	tests := []struct {
		in   Iperf3Result
		want float64
	}{
		{Iperf3Result{Packets: 1000, LostPackets: 1}, 0.001},
		{Iperf3Result{Packets: 1000}, 0},
		{Iperf3Result{}, 1}, // nothing sent never passes
	}
	for _, tt := range tests {
		if got := tt.in.LossFraction(); got != tt.want {
			t.Errorf("unexpected loss of %+v:\n- want: %v\n-  got: %v", tt.in, tt.want, got)
		}
	}
}

const sockperfOut = "sockperf: Summary: Round trip is 64.319 usec\n" +
	"sockperf: \x1b[2;35mTotal 8551 observations\x1b[0m; each percentile contains 85.51 observations\n" +
	"sockperf: ---> <MAX> observation = 3816.627\n" +
	"sockperf: ---> percentile 99.999 = 3816.627\n" +
	"sockperf: ---> percentile 99.000 =  101.941\n" +
	"sockperf: ---> percentile 90.000 =   75.221\n" +
	"sockperf: ---> percentile 50.000 =   63.003\n" +
	"sockperf: ---> <MIN> observation =   15.042\n"

func TestParseSockperf(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Latency
		wantErr error
	}{
		{"sockperf 3.7 output", sockperfOut, Latency{P50: 63.003, P99: 101.941, Observations: 8551}, nil},
		{"no percentiles", "sockperf: Test ended\n", Latency{}, ErrParse},
		{"only p50", "sockperf: ---> percentile 50.000 = 1.5\n", Latency{}, ErrParse},
		{"garbage value", "sockperf: ---> percentile 50.000 = x\n", Latency{}, ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSockperf([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected latency (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProcPIDStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"plain", "1234 (vxlab) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 5000 1000 200", 325, false},
		{"command with spaces and parens", "1 (a) b) c) R 0 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1", 10, false},
		{"truncated", "1 (x) S 1 2", 0, true},
		{"no command", "1 x S", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u s 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcPIDStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("unexpected error:\n- want: error %v\n-  got: %v", tt.wantErr, err)
			}
			if got != tt.want {
				t.Errorf("unexpected ticks:\n- want: %d\n-  got: %d", tt.want, got)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	in := "cpu  10 1 20 300 4 5 6 0 0 0\ncpu0 5 0 10 150 2 2 3 0 0 0\nintr 1\n"
	want := CPUTimes{User: 10, Nice: 1, System: 20, Idle: 300, IOWait: 4, IRQ: 5, SoftIRQ: 6}
	got, err := ParseProcStat([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected times (-want +got):\n%s", diff)
	}
	if b := got.Busy(); b != 10+1+20+5+6 {
		t.Errorf("unexpected busy time: want %d, got %d", 10+1+20+5+6, b)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7\n", "cpu a b c d e f g\n"} {
		if _, err := ParseProcStat([]byte(bad)); !errors.Is(err, ErrParse) {
			t.Errorf("unexpected error for %q:\n- want: %v\n-  got: %v", bad, ErrParse, err)
		}
	}
}

// pingOut is real iputils ping -n output (three replies, one lost, one
// duplicate).
const pingOut = `PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data.
64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=0.123 ms
64 bytes from 198.18.0.2: icmp_seq=2 ttl=64 time=1.85 ms
64 bytes from 198.18.0.2: icmp_seq=2 ttl=64 time=1.90 ms (DUP!)
64 bytes from 198.18.0.2: icmp_seq=4 ttl=64 time=12.5 ms

--- 198.18.0.2 ping statistics ---
4 packets transmitted, 3 received, +1 duplicates, 25% packet loss, time 31ms
rtt min/avg/max/mdev = 0.123/4.824/12.500/5.521 ms
`

func TestParsePing(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    PingOutput
		wantErr bool
	}{
		{"replies, a loss and a duplicate", pingOut, PingOutput{RTTs: []float64{123, 1850, 12500}, Transmitted: 4}, false},
		{"no replies", "PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data.\n\n--- 198.18.0.2 ping statistics ---\n5 packets transmitted, 0 received, 100% packet loss, time 40ms\n", PingOutput{Transmitted: 5}, false},
		{"cut short: no summary", "64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=0.123 ms\n", PingOutput{}, true},
		{"empty", "", PingOutput{}, true},
		{"bad time", "64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=x ms\n1 packets transmitted, 1 received\n", PingOutput{}, true},
		{"negative time", "64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=-1 ms\n1 packets transmitted, 1 received\n", PingOutput{}, true},
		{"NaN time", "64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=NaN ms\n1 packets transmitted, 1 received\n", PingOutput{}, true},
		{"unit not ms", "64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=3 s\n1 packets transmitted, 1 received\n", PingOutput{}, true},
		{"bad count", "x packets transmitted, 1 received\n", PingOutput{}, true},
		{"more replies than echoes", "64 bytes from a: icmp_seq=1 ttl=64 time=1 ms\n64 bytes from a: icmp_seq=2 ttl=64 time=1 ms\n1 packets transmitted, 1 received\n", PingOutput{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePing([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("unexpected error:\n- want: error %v\n-  got: %v", tt.wantErr, err)
			}
			if err != nil && !errors.Is(err, ErrParse) {
				t.Errorf("error does not wrap ErrParse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected result (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParsers feeds arbitrary bytes to every tool-output parser: none may
// panic, and a successful parse returns values in range.
func FuzzParsers(f *testing.F) {
	f.Add([]byte(sockperfOut))                                                             // real sockperf output
	f.Add([]byte(pingOut))                                                                 // real ping output
	f.Add([]byte(`{"end":{"sum":{"seconds":1,"packets":10,"lost_packets":1}}}`))           // iperf3 UDP
	f.Add([]byte(`{"end":{"sum_received":{"seconds":1,"bytes":5,"bits_per_second":40}}}`)) // iperf3 TCP
	f.Add([]byte("1 (x) y) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0"))                               // /proc/<pid>/stat
	f.Add([]byte("cpu  1 2 3 4 5 6 7 8\n"))                                                // /proc/stat
	f.Add([]byte(")"))                                                                     // lone parenthesis
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, udp := range []bool{false, true} {
			if r, err := ParseIperf3(b, udp); err == nil {
				if l := r.LossFraction(); l < 0 || l > 1 {
					t.Errorf("loss %v out of [0,1] for %+v", l, r)
				}
			}
		}
		if l, err := ParseSockperf(b); err == nil && (l.P50 < 0 || l.P99 < 0) {
			t.Errorf("negative percentile %+v", l)
		}
		if p, err := ParsePing(b); err == nil {
			if len(p.RTTs) > p.Transmitted {
				t.Errorf("%d replies for %d echoes", len(p.RTTs), p.Transmitted)
			}
			for _, v := range p.RTTs {
				if !(v >= 0) || math.IsInf(v, 0) {
					t.Errorf("round trip %v out of range", v)
				}
			}
		}
		ParseProcPIDStat(b)
		ParseProcStat(b)
	})
}

func TestCPUPercent(t *testing.T) {
	tests := []struct {
		busy    uint64 // clock ticks (1/100 s)
		elapsed time.Duration
		want    float64
	}{
		{busy: 100, elapsed: time.Second, want: 100},          // one CPU busy
		{busy: 100, elapsed: 2 * time.Second, want: 50},       // half of one
		{busy: 400, elapsed: 2 * time.Second, want: 200},      // two CPUs busy
		{busy: 0, elapsed: 5 * time.Second, want: 0},          // idle
		{busy: 7, elapsed: 0, want: 0},                        // no time passed
		{busy: 15, elapsed: 500 * time.Millisecond, want: 30}, // 0.15 s of 0.5 s
	}
	for _, tt := range tests {
		if got := cpuPercent(tt.busy, tt.elapsed); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("cpuPercent(%d ticks, %v) = %v, want %v", tt.busy, tt.elapsed, got, tt.want)
		}
	}
}
