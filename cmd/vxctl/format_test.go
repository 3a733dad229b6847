package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
)

// TestPrintStatsBusyPoll: the stats table shows the busy-poll counters
// when the loop has busy polled (--busy-poll), and no such line when it
// has not (the default, busy polling off).
func TestPrintStatsBusyPoll(t *testing.T) {
	tests := []struct {
		name string
		bp   vswitch.BusyPollStats
		want string // a regexp; "" for no busy_poll line
	}{
		{name: "off", bp: vswitch.BusyPollStats{}},
		{name: "hits and misses", bp: vswitch.BusyPollStats{Hits: 1234, Misses: 56}, want: `busy_poll: +1234 hits, 56 misses\n`},
		{name: "misses only", bp: vswitch.BusyPollStats{Misses: 7}, want: `busy_poll: +0 hits, 7 misses\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printStats(&buf, api.Stats{Stats: vswitch.Stats{BusyPoll: tt.bp}}); err != nil {
				t.Fatalf("printStats: %v", err)
			}
			out := buf.String()
			if tt.want == "" {
				if strings.Contains(out, "busy_poll") {
					t.Errorf("unexpected busy_poll line with busy polling off:\n%s", out)
				}
				return
			}
			if !regexp.MustCompile(tt.want).MatchString(out) {
				t.Errorf("unexpected stats table:\n- want: a line matching %q\n-  got:\n%s", tt.want, out)
			}
		})
	}
}
