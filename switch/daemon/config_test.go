package daemon

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
)

// base are the arguments every valid command line starts from.
var base = []string{"--local", "192.0.2.10"}

// withBase returns base followed by args.
func withBase(args ...string) []string { return append(append([]string{}, base...), args...) }

// writeFile writes a config file into a temporary directory.
func writeFile(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vxswitchd.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParseArgs checks that each flag lands in its Config field on top of
// the defaults.
func TestParseArgs(t *testing.T) {
	def := DefaultConfig()
	def.Local = "192.0.2.10"
	tests := []struct {
		name string
		args []string
		want func(c *Config)
	}{
		{name: "defaults", args: base, want: func(c *Config) {}},
		{name: "IPv6 local", args: []string{"--local", "2001:db8::1"}, want: func(c *Config) { c.Local = "2001:db8::1" }},
		{name: "single-dash flags", args: []string{"-local", "192.0.2.10", "-port", "8472"}, want: func(c *Config) { c.Port = 8472 }},
		{
			name: "every flag",
			args: withBase("--port", "4790", "--tap", "vxtap0:42", "--tap", "vxtap1:0", "--remote", "192.0.2.11", "--remote", "192.0.2.12",
				"--ageing", "90s", "--max-learned", "100", "--mtu", "1400", "--api", "/tmp/x.sock", "--metrics", "127.0.0.1:9100",
				"--log-level", "debug", "--log-format", "json", "--strict", "--no-learning", "--src-ports", "1000-2000",
				"--state-dir", "/tmp/state", "--gateway", "100:198.18.100.1/24", "--wait", "poller", "--tap-queues", "2"),
			want: func(c *Config) {
				c.Port = 4790
				c.TAPs = []TAPSpec{{Name: "vxtap0", VNI: 42}, {Name: "vxtap1", VNI: 0}}
				c.Remotes = []string{"192.0.2.11", "192.0.2.12"}
				c.Ageing = 90 * time.Second
				c.MaxLearned = 100
				c.MTU = 1400
				c.API = "/tmp/x.sock"
				c.Metrics = "127.0.0.1:9100"
				c.LogLevel = "debug"
				c.LogFormat = "json"
				c.Strict = true
				c.NoLearning = true
				c.SrcPorts = "1000-2000"
				c.StateDir = "/tmp/state"
				c.Gateways = []string{"100:198.18.100.1/24"}
				c.Wait = WaitPoller
				c.TAPQueues = 2
			},
		},
		{name: "busy poll", args: withBase("--busy-poll", "50us"), want: func(c *Config) { c.BusyPoll = 50 * time.Microsecond }},
		{name: "busy poll at its limit", args: withBase("--busy-poll", "1ms"), want: func(c *Config) { c.BusyPoll = time.Millisecond }},
		{name: "busy poll fixed", args: withBase("--busy-poll", "50us", "--busy-poll-fixed"), want: func(c *Config) { c.BusyPoll, c.BusyPollFixed = 50*time.Microsecond, true }},
		{name: "real-time priority", args: withBase("--rt-priority", "10"), want: func(c *Config) { c.RTPriority = 10 }},
		{name: "real-time priority at its limit", args: withBase("--rt-priority", "99"), want: func(c *Config) { c.RTPriority = 99 }},
		{name: "real-time priority fixed", args: withBase("--rt-priority", "10", "--rt-priority-fixed"), want: func(c *Config) { c.RTPriority, c.RTPriorityFixed = 10, true }},
		{name: "largest VNI", args: withBase("--tap", "t:16777215"), want: func(c *Config) { c.TAPs = []TAPSpec{{Name: "t", VNI: encap.MaxVNI}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := def
			tt.want(&want)
			var stderr bytes.Buffer
			got, err := ParseArgs(tt.args, &stderr)
			if err != nil {
				t.Fatalf("ParseArgs: unexpected error: %v (stderr %q)", err, stderr.String())
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("unexpected config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseArgsErrors checks that every bad flag value is refused with a
// message that names the flag and the bad value.
func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{name: "no local", args: nil, want: []string{"--local is required"}},
		{name: "local not an address", args: []string{"--local", "host.example"}, want: []string{"--local", "host.example", "not an IP address"}},
		{name: "local unspecified", args: []string{"--local", "0.0.0.0"}, want: []string{"--local", "0.0.0.0", "unicast"}},
		{name: "local multicast", args: []string{"--local", "239.1.1.1"}, want: []string{"--local", "239.1.1.1", "unicast"}},
		{name: "port 0", args: withBase("--port", "0"), want: []string{"--port", "0"}},
		{name: "port too big", args: withBase("--port", "65536"), want: []string{"--port", "65536"}},
		{name: "port not a number", args: withBase("--port", "vxlan"), want: []string{"port", "vxlan"}},
		{name: "tap without VNI", args: withBase("--tap", "vxtap0"), want: []string{"--tap", "vxtap0", "NAME:VNI"}},
		{name: "tap with empty name", args: withBase("--tap", ":42"), want: []string{"--tap", ":42"}},
		{name: "tap VNI not a number", args: withBase("--tap", "vxtap0:x"), want: []string{"--tap", "vxtap0:x", "VNI"}},
		{name: "tap VNI above 2^24-1", args: withBase("--tap", "vxtap0:16777216"), want: []string{"--tap", "vxtap0:16777216", "VNI"}},
		{name: "tap name too long", args: withBase("--tap", "abcdefghijklmnop:1"), want: []string{"--tap", "abcdefghijklmnop", "1-15 characters"}},
		{name: "tap name with a slash", args: withBase("--tap", "a/b:1"), want: []string{"--tap", "a/b"}},
		{name: "tap given twice", args: withBase("--tap", "t0:1", "--tap", "t0:2"), want: []string{"--tap", "t0", "twice"}},
		{name: "remote not an address", args: withBase("--remote", "peer"), want: []string{"--remote", "peer", "not an IP address"}},
		{name: "remote of the other family", args: withBase("--remote", "2001:db8::2"), want: []string{"--remote", "2001:db8::2", "family"}},
		{name: "remote multicast", args: withBase("--remote", "239.1.1.1"), want: []string{"--remote", "239.1.1.1", "unicast"}},
		{name: "busy poll negative", args: withBase("--busy-poll", "-1us"), want: []string{"--busy-poll", "-1µs", "0 (off) to 1ms"}},
		{name: "busy poll too long", args: withBase("--busy-poll", "2ms"), want: []string{"--busy-poll", "2ms", "0 (off) to 1ms"}},
		{name: "busy poll not a duration", args: withBase("--busy-poll", "50"), want: []string{"busy-poll", "50"}},
		{name: "busy poll fixed without a window", args: withBase("--busy-poll-fixed"), want: []string{"--busy-poll-fixed", "needs --busy-poll"}},
		{name: "busy poll without the loop", args: withBase("--busy-poll", "50us", "--wait", "thread"), want: []string{"--busy-poll", "needs --wait=loop", "thread"}},
		{name: "rt priority negative", args: withBase("--rt-priority", "-1"), want: []string{"--rt-priority", "-1", "0 (off) or 1-99"}},
		{name: "rt priority too high", args: withBase("--rt-priority", "100"), want: []string{"--rt-priority", "100", "0 (off) or 1-99"}},
		{name: "rt priority not a number", args: withBase("--rt-priority", "high"), want: []string{"rt-priority", "high"}},
		{name: "rt priority without the loop", args: withBase("--rt-priority", "10", "--wait", "thread"), want: []string{"--rt-priority", "needs --wait=loop", "thread"}},
		{name: "rt priority fixed without a priority", args: withBase("--rt-priority-fixed"), want: []string{"--rt-priority-fixed", "needs --rt-priority"}},
		{name: "rt priority with busy polling", args: withBase("--rt-priority", "10", "--busy-poll", "50us"), want: []string{"--rt-priority", "--busy-poll", "exclude each other"}},
		{name: "ageing zero", args: withBase("--ageing", "0s"), want: []string{"--ageing", "0s", "positive"}},
		{name: "ageing negative", args: withBase("--ageing", "-1s"), want: []string{"--ageing", "-1s"}},
		{name: "ageing not a duration", args: withBase("--ageing", "5"), want: []string{"ageing", "5"}},
		{name: "mtu too small", args: withBase("--mtu", "67"), want: []string{"--mtu", "67"}},
		{name: "mtu too big", args: withBase("--mtu", "65522"), want: []string{"--mtu", "65522"}},
		{name: "api empty", args: withBase("--api", ""), want: []string{"--api"}},
		{name: "log level", args: withBase("--log-level", "loud"), want: []string{"--log-level", "loud"}},
		{name: "log format", args: withBase("--log-format", "xml"), want: []string{"--log-format", "xml"}},
		{name: "src ports reversed", args: withBase("--src-ports", "2000-1000"), want: []string{"--src-ports", "2000-1000"}},
		{name: "src ports from 0", args: withBase("--src-ports", "0-10"), want: []string{"--src-ports", "0-10"}},
		{name: "src ports not a range", args: withBase("--src-ports", "4000"), want: []string{"--src-ports", "4000"}},
		{name: "gateway without CIDR", args: withBase("--gateway", "100:198.18.100.1"), want: []string{"--gateway", "100:198.18.100.1"}},
		{name: "two gateways for one VNI", args: withBase("--gateway", "100:198.18.100.1/24", "--gateway", "100:198.18.101.1/24"), want: []string{"--gateway", "VNI 100"}},
		{name: "no TAP queues", args: withBase("--tap-queues", "0"), want: []string{"--tap-queues", "0", "1-64"}},
		{name: "too many TAP queues", args: withBase("--tap-queues", "65"), want: []string{"--tap-queues", "65"}},
		{name: "wait mode", args: withBase("--wait", "spin"), want: []string{"--wait", "spin", "thread, poller or loop"}},
		{name: "unknown flag", args: withBase("--colour"), want: []string{"colour"}},
		{name: "stray argument", args: withBase("extra"), want: []string{"extra"}},
		{name: "missing config file", args: withBase("--config", "/nonexistent/vxswitchd.yaml"), want: []string{"/nonexistent/vxswitchd.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := ParseArgs(tt.args, &stderr)
			if err == nil {
				t.Fatalf("unexpected success:\n- want: error containing %q\n-  got: nil", tt.want)
			}
			// flag's own errors (unknown flag, bad number) are printed to
			// stderr as well as returned.
			msg := err.Error() + "\n" + stderr.String()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("unexpected error:\n- want: containing %q\n-  got: %v", w, err)
				}
			}
		})
	}
}

// TestValidateMAC checks the TAP MAC rules of Validate (only reachable
// through the file or the struct).
func TestValidateMAC(t *testing.T) {
	tests := []struct {
		name    string
		mac     encap.MAC
		wantErr string
	}{
		{name: "zero means StableMAC", mac: encap.MAC{}},
		{name: "unicast", mac: encap.MustParseMAC("02:00:00:00:00:01")},
		{name: "multicast", mac: encap.MustParseMAC("01:00:5e:00:00:01"), wantErr: "tap vxtap0: mac 01:00:5e:00:00:01"},
		{name: "broadcast", mac: encap.BroadcastMAC, wantErr: "tap vxtap0: mac ff:ff:ff:ff:ff:ff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Local = "192.0.2.10"
			c.TAPs = []TAPSpec{{Name: "vxtap0", VNI: 1, MAC: tt.mac}}
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("unexpected error:\n- want: containing %q\n-  got: %v", tt.wantErr, err)
			}
		})
	}
}

// TestConfigFile checks the YAML file: every key, both tap forms, the
// file-only keys, and that flags given on the command line win.
func TestConfigFile(t *testing.T) {
	const full = `
local: 192.0.2.20
port: 4790
tap:
  - vxtap0:42
  - name: vxtap1
    vni: 43
    mac: 02:00:00:00:00:aa
remote: [192.0.2.21, 192.0.2.22]
vni-remote:
  43: [192.0.2.23]
ageing: 2m
max-learned: 10
mtu: 1450
api: /tmp/vx.sock
metrics: 127.0.0.1:9101
log-level: warn
log-format: json
strict: true
no-learning: true
src-ports: 3000-4000
state-dir: /tmp/vxstate
gateway: ["100:198.18.100.1/24"]
wait: poller
tap-queues: 4
`
	wantFull := DefaultConfig()
	wantFull.Local = "192.0.2.20"
	wantFull.Port = 4790
	wantFull.TAPs = []TAPSpec{{Name: "vxtap0", VNI: 42}, {Name: "vxtap1", VNI: 43, MAC: encap.MustParseMAC("02:00:00:00:00:aa")}}
	wantFull.Remotes = []string{"192.0.2.21", "192.0.2.22"}
	wantFull.VNIRemotes = map[uint32][]string{43: {"192.0.2.23"}}
	wantFull.Ageing = 2 * time.Minute
	wantFull.MaxLearned = 10
	wantFull.MTU = 1450
	wantFull.API = "/tmp/vx.sock"
	wantFull.Metrics = "127.0.0.1:9101"
	wantFull.LogLevel = "warn"
	wantFull.LogFormat = "json"
	wantFull.Strict = true
	wantFull.NoLearning = true
	wantFull.SrcPorts = "3000-4000"
	wantFull.StateDir = "/tmp/vxstate"
	wantFull.Gateways = []string{"100:198.18.100.1/24"}
	wantFull.Wait = WaitPoller
	wantFull.TAPQueues = 4

	tests := []struct {
		name    string
		file    string
		flags   []string
		want    func() Config
		wantErr []string
	}{
		{name: "every key", file: full, want: func() Config { return wantFull }},
		{name: "empty file needs --local", file: "", wantErr: []string{"--local is required"}},
		{name: "empty file plus flags", file: "", flags: base, want: func() Config { c := DefaultConfig(); c.Local = "192.0.2.10"; return c }},
		{
			name: "flags override the file",
			file: full,
			flags: []string{"--local", "192.0.2.30", "--port", "4791", "--tap", "other:7", "--remote", "192.0.2.31",
				"--ageing", "1m", "--max-learned", "5", "--mtu", "1300", "--api", "/tmp/o.sock", "--metrics", "127.0.0.1:9102",
				"--log-level", "error", "--log-format", "text", "--strict=false", "--no-learning=false", "--src-ports", "5000-6000",
				"--state-dir", "/tmp/o", "--gateway", "200:198.18.200.1/24"},
			want: func() Config {
				c := wantFull
				c.Local, c.Port = "192.0.2.30", 4791
				c.TAPs = []TAPSpec{{Name: "other", VNI: 7}}
				c.Remotes = []string{"192.0.2.31"}
				c.Ageing, c.MaxLearned, c.MTU = time.Minute, 5, 1300
				c.API, c.Metrics = "/tmp/o.sock", "127.0.0.1:9102"
				c.LogLevel, c.LogFormat = "error", "text"
				c.Strict, c.NoLearning = false, false
				c.SrcPorts, c.StateDir = "5000-6000", "/tmp/o"
				c.Gateways = []string{"200:198.18.200.1/24"}
				return c
			},
		},
		{name: "busy poll", file: "local: 192.0.2.20\nbusy-poll: 50us\n", want: func() Config {
			c := DefaultConfig()
			c.Local, c.BusyPoll = "192.0.2.20", 50*time.Microsecond
			return c
		}},
		{name: "--busy-poll overrides the file", file: "local: 192.0.2.20\nbusy-poll: 50us\n", flags: []string{"--busy-poll", "0s"}, want: func() Config {
			c := DefaultConfig()
			c.Local = "192.0.2.20"
			return c
		}},
		{name: "busy-poll-fixed in the file, turned off by the flag", file: "local: 192.0.2.20\nbusy-poll: 200us\nbusy-poll-fixed: true\n", flags: []string{"--busy-poll-fixed=false"}, want: func() Config {
			c := DefaultConfig()
			c.Local, c.BusyPoll = "192.0.2.20", 200*time.Microsecond
			return c
		}},
		{name: "busy-poll-fixed in the file", file: "local: 192.0.2.20\nbusy-poll: 200us\nbusy-poll-fixed: true\n", want: func() Config {
			c := DefaultConfig()
			c.Local, c.BusyPoll, c.BusyPollFixed = "192.0.2.20", 200*time.Microsecond, true
			return c
		}},
		{name: "rt-priority in the file", file: "local: 192.0.2.20\nrt-priority: 5\n", want: func() Config {
			c := DefaultConfig()
			c.Local, c.RTPriority = "192.0.2.20", 5
			return c
		}},
		{name: "--rt-priority 0 overrides the file", file: "local: 192.0.2.20\nrt-priority: 5\n", flags: []string{"--rt-priority", "0"}, want: func() Config {
			c := DefaultConfig()
			c.Local = "192.0.2.20"
			return c
		}},
		{name: "rt-priority-fixed in the file, turned off by the flag", file: "local: 192.0.2.20\nrt-priority: 5\nrt-priority-fixed: true\n", flags: []string{"--rt-priority-fixed=false"}, want: func() Config {
			c := DefaultConfig()
			c.Local, c.RTPriority = "192.0.2.20", 5
			return c
		}},
		{name: "rt-priority with busy-poll in the file", file: "local: 192.0.2.20\nrt-priority: 5\nbusy-poll: 50us\n", wantErr: []string{"--rt-priority", "exclude each other"}},
		{name: "busy poll with --wait=poller in the file", file: "local: 192.0.2.20\nbusy-poll: 50us\nwait: poller\n", wantErr: []string{"--busy-poll", "needs --wait=loop"}},
		{name: "unknown key", file: "local: 192.0.2.20\nlocall: 192.0.2.21\n", wantErr: []string{"locall"}},
		{name: "bad tap string", file: "local: 192.0.2.20\ntap: [vxtap0]\n", wantErr: []string{"line 2", "vxtap0", "NAME:VNI"}},
		{name: "unknown tap key", file: "local: 192.0.2.20\ntap:\n  - {name: t, vni: 1, colour: red}\n", wantErr: []string{"colour"}},
		{name: "tap as a list", file: "local: 192.0.2.20\ntap:\n  - [t, 1]\n", wantErr: []string{"line 3", "NAME:VNI"}},
		{name: "bad tap mac", file: "local: 192.0.2.20\ntap:\n  - {name: t, vni: 1, mac: nonsense}\n", wantErr: []string{"nonsense"}},
		{name: "multicast tap mac", file: "local: 192.0.2.20\ntap:\n  - {name: t, vni: 1, mac: \"01:00:00:00:00:01\"}\n", wantErr: []string{"tap t", "01:00:00:00:00:01"}},
		{name: "bad vni-remote", file: "local: 192.0.2.20\nvni-remote: {42: [peer]}\n", wantErr: []string{"vni-remote[42]", "peer"}},
		{name: "vni-remote VNI too big", file: "local: 192.0.2.20\nvni-remote: {16777216: [192.0.2.1]}\n", wantErr: []string{"vni-remote", "16777216"}},
		{name: "port 0 in the file", file: "local: 192.0.2.20\nport: 0\n", wantErr: []string{"--port"}},
		{name: "not YAML", file: "local: [", wantErr: []string{"config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file)
			var stderr bytes.Buffer
			got, err := ParseArgs(append([]string{"--config", p}, tt.flags...), &stderr)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("unexpected success:\n- want: error containing %q\n-  got: nil", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("unexpected error:\n- want: containing %q\n-  got: %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs: unexpected error: %v", err)
			}
			if diff := cmp.Diff(tt.want(), got); diff != "" {
				t.Errorf("unexpected config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStableMAC checks that StableMAC is stable, a locally administered
// unicast address, and differs by port name and by host address.
func TestStableMAC(t *testing.T) {
	a4, b4 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	a6 := netip.MustParseAddr("2001:db8::10")
	seen := map[encap.MAC]string{}
	for _, local := range []netip.Addr{a4, b4, a6} {
		for _, name := range []string{"vxtap0", "vxtap1", "pod-a", ""} {
			m := StableMAC(local, name)
			if again := StableMAC(local, name); again != m {
				t.Errorf("StableMAC(%s, %q) not stable:\n- want: %s\n-  got: %s", local, name, m, again)
			}
			if !m.IsUnicast() || m[0]&0x02 == 0 {
				t.Errorf("StableMAC(%s, %q) = %s: want a locally administered unicast address", local, name, m)
			}
			key := local.String() + "/" + name
			if other, dup := seen[m]; dup {
				t.Errorf("StableMAC(%s) = StableMAC(%s) = %s: want different MACs", key, other, m)
			}
			seen[m] = key
		}
	}
	// A known value pins the derivation: changing it would change every
	// deployed port's MAC on upgrade.
	const want = "ea:a3:a6:50:b2:ca"
	if got := StableMAC(a4, "vxtap0").String(); got != want {
		t.Errorf("unexpected StableMAC(192.0.2.10, vxtap0):\n- want: %s\n-  got: %s", want, got)
	}
}

// TestHelp checks that --help succeeds with ErrHelp and that the usage
// lists every flag, and that every YAML key of Config is a flag (apart
// from the documented file-only keys).
func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	_, err := ParseArgs([]string{"--help"}, &stderr)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("unexpected --help error:\n- want: %v\n-  got: %v", ErrHelp, err)
	}
	usage := stderr.String()
	// Every YAML key of Config is a flag, apart from the documented
	// file-only keys; --config and --version exist only as flags.
	flags := []string{"config", "version"}
	fileOnly := map[string]bool{"vni-remote": true, "capture": true}
	ct := reflect.TypeOf(Config{})
	for i := range ct.NumField() {
		key, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ",")
		if key != "" && key != "-" && !fileOnly[key] {
			flags = append(flags, key)
		}
	}
	flags = append(flags, "tap") // Config.TAPs is "tap" in the file (loadFile)
	for _, must := range []string{"local", "port", "remote", "ageing", "max-learned", "mtu", "api", "metrics",
		"log-level", "log-format", "strict", "no-learning", "src-ports", "state-dir", "gateway"} {
		if !slices.Contains(flags, must) {
			t.Errorf("Config has no YAML key %q", must)
		}
	}
	for _, f := range flags {
		if !strings.Contains(usage, "  -"+f+" ") && !strings.Contains(usage, "  -"+f+"\n") {
			t.Errorf("usage does not list -%s:\n%s", f, usage)
		}
	}
	if !strings.Contains(usage, "Usage:") || !strings.Contains(usage, "vxswitchd --local") {
		t.Errorf("usage lacks the synopsis:\n%s", usage)
	}
}

// TestVersionFlag checks that --version is reported, not treated as an
// error of the configuration.
func TestVersionFlag(t *testing.T) {
	_, err := ParseArgs([]string{"--version"}, &bytes.Buffer{})
	if !errors.Is(err, errVersion) {
		t.Errorf("unexpected --version result:\n- want: %v\n-  got: %v", errVersion, err)
	}
}

func TestValidateRemoteFamilyAndSelf(t *testing.T) {
	tests := []struct {
		name    string
		remote  string
		wantErr string // "" = valid
	}{
		{name: "IPv4-mapped peer of an IPv4 host", remote: "::ffff:192.0.2.11"},
		{name: "own address", remote: "192.0.2.10", wantErr: "own --local address"},
		{name: "own address, mapped", remote: "::ffff:192.0.2.10", wantErr: "own --local address"},
		{name: "other family", remote: "2001:db8::1", wantErr: "address family differs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Local = "192.0.2.10"
			cfg.Remotes = []string{tt.remote}
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error:\n- want: nil\n-  got: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("unexpected error:\n- want: containing %q\n-  got: %v", tt.wantErr, err)
			}
		})
	}
}
