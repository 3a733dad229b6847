package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/api/apitest"
	"github.com/vxswitch/vxswitch/switch/tap"
)

// vxctl runs the CLI in-process against sock (via --api unless sock is "").
func vxctl(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// vxlanFrame is a VXLAN packet for vni with a broadcast frame from src.
func vxlanFrame(vni uint32, src encap.MAC) []byte {
	pkt := make([]byte, encap.VXLANHeaderLen+60)
	encap.VXLAN(pkt[:encap.VXLANHeaderLen]).Encode(&encap.VXLANFields{VNI: vni})
	copy(pkt[8:14], encap.BroadcastMAC[:])
	copy(pkt[14:20], src[:])
	pkt[20], pkt[21] = 0x08, 0x06
	return pkt
}

func TestCommands(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	p0 := env.AddPort(t, "vxtap0", 42, encap.MustParseMAC("02:00:00:00:00:01"))
	p0.SetOffloads(tap.Offloads{VnetHdr: true, Csum: true, TSO4: true, TSO6: true, USO: true})
	env.AddPort(t, "vxtap1", 43, encap.MustParseMAC("02:00:00:00:00:02"))
	if err := env.Switch.AddVNI(44); err != nil {
		t.Fatal(err)
	}
	// One unknown-VNI drop, and one learned MAC behind the peer VTEP.
	if err := env.Peer.Send([][]byte{vxlanFrame(99, encap.MustParseMAC("02:00:00:00:00:aa")), vxlanFrame(42, encap.MustParseMAC("02:00:00:00:00:aa"))}, env.LocalAddr); err != nil {
		t.Fatal(err)
	}
	<-p0.Outbound
	deadline := time.Now().Add(10 * time.Second)
	for env.Switch.Drops(vswitch.DropUnknownVNI) != 1 || env.Switch.FDB().Len() != 3 {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the drop and the learned entry")
		}
		time.Sleep(5 * time.Millisecond)
	}

	sock := env.Socket
	api := []string{"--api", sock}
	// The steps run in order against one daemon: later ones see what
	// earlier ones changed.
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantOut  string         // exact stdout, when wantRE is nil
		wantRE   *regexp.Regexp // stdout must match
		wantErr  string         // substring of stderr ("" means stderr empty)
	}{
		{name: "fdb", args: []string{"fdb"}, wantRE: regexp.MustCompile(`^02:00:00:00:00:01 dev vxtap0 vni 42 local
02:00:00:00:00:aa dst 192\.0\.2\.2 vni 42 learned age \d+s
02:00:00:00:00:02 dev vxtap1 vni 43 local
$`)},
		{name: "fdb via env", env: map[string]string{"VXSWITCH_API": sock}, args: []string{"fdb", "--vni", "43"},
			wantOut: "02:00:00:00:00:02 dev vxtap1 vni 43 local\n"},
		{name: "fdb show", args: []string{"fdb", "show", "--vni", "43"}, wantOut: "02:00:00:00:00:02 dev vxtap1 vni 43 local\n"},
		{name: "fdb empty", args: []string{"fdb", "--vni", "44"}, wantOut: ""},
		{name: "fdb empty json", args: []string{"fdb", "--vni", "44", "-o", "json"}, wantOut: "[]\n"},
		{name: "fdb add remote", args: []string{"fdb", "add", "--vni", "42", "--mac", "02:00:00:00:00:0b", "--remote", "192.0.2.11"}},
		{name: "fdb add port", args: []string{"fdb", "add", "--vni", "43", "--mac", "02:00:00:00:00:0c", "--port", "vxtap1"}},
		{name: "fdb after add", args: []string{"fdb", "--vni", "43"},
			wantOut: "02:00:00:00:00:02 dev vxtap1 vni 43 local\n02:00:00:00:00:0c dev vxtap1 vni 43 static\n"},
		{name: "fdb del", args: []string{"fdb", "del", "--vni", "43", "--mac", "02:00:00:00:00:0c"}},
		{name: "fdb del again", args: []string{"fdb", "del", "--vni", "43", "--mac", "02:00:00:00:00:0c"}, wantCode: 1,
			wantErr: "vxctl: no FDB entry for 02:00:00:00:00:0c in VNI 43\n"},
		{name: "fdb add unknown port", args: []string{"fdb", "add", "--vni", "42", "--mac", "02:00:00:00:00:0d", "--port", "nope"}, wantCode: 1,
			wantErr: `vxctl: no port "nope" attached`},
		{name: "fdb add unserved vni", args: []string{"fdb", "add", "--vni", "7", "--mac", "02:00:00:00:00:0d", "--remote", "192.0.2.11"}, wantCode: 1,
			wantErr: "VNI 7 is not served"},
		{name: "fdb add bad mac", args: []string{"fdb", "add", "--vni", "42", "--mac", "zz", "--remote", "192.0.2.11"}, wantCode: 2,
			wantErr: `vxctl fdb add: invalid value "zz" for flag -mac`},
		{name: "fdb add vni out of range", args: []string{"fdb", "add", "--vni", "16777216", "--mac", "02:00:00:00:00:0d", "--remote", "192.0.2.11"}, wantCode: 2,
			wantErr: "want a VNI, a number from 0 to 16777215"},
		{name: "fdb add no dest", args: []string{"fdb", "add", "--vni", "42", "--mac", "02:00:00:00:00:0d"}, wantCode: 2,
			wantErr: "give exactly one of --remote IP and --port NAME"},
		{name: "fdb add missing mac", args: []string{"fdb", "add", "--vni", "42", "--remote", "192.0.2.11"}, wantCode: 2, wantErr: "missing --mac"},
		{name: "fdb del missing vni", args: []string{"fdb", "del", "--mac", "02:00:00:00:00:0d"}, wantCode: 2, wantErr: "missing --vni"},
		{name: "fdb stray argument", args: []string{"fdb", "extra"}, wantCode: 2, wantErr: `unexpected argument "extra"`},
		{name: "fdb bad output", args: []string{"fdb", "-o", "yaml"}, wantCode: 2, wantErr: `want "table" or "json"`},
		{name: "flood add", args: []string{"flood", "add", "--vni", "42", "--remote", "192.0.2.11"}},
		{name: "flood add v6", args: []string{"flood", "add", "--vni", "42", "--remote", "2001:db8::12"}},
		{name: "flood", args: []string{"flood"},
			wantOut: "00:00:00:00:00:00 dst 192.0.2.11 vni 42\n00:00:00:00:00:00 dst 2001:db8::12 vni 42\n"},
		{name: "flood json", args: []string{"flood", "--vni", "42", "-o", "json"},
			wantOut: "[\n  {\n    \"vni\": 42,\n    \"remotes\": [\n      \"192.0.2.11\",\n      \"2001:db8::12\"\n    ]\n  }\n]\n"},
		{name: "flood del", args: []string{"flood", "del", "--vni", "42", "--remote", "2001:db8::12"}},
		{name: "flood del again", args: []string{"flood", "del", "--vni", "42", "--remote", "2001:db8::12"}, wantCode: 1,
			wantErr: "2001:db8::12 is not in the flood list of VNI 42"},
		{name: "flood add missing remote", args: []string{"flood", "add", "--vni", "42"}, wantCode: 2, wantErr: "missing --remote"},
		{name: "flood add bad remote", args: []string{"flood", "add", "--vni", "42", "--remote", "x"}, wantCode: 2, wantErr: "want an IP address"},
		{name: "ports", args: []string{"ports"}, wantOut: "" +
			"NAME    VNI  MTU   MAC                RX_PACKETS  RX_BYTES  TX_PACKETS  TX_BYTES  QUEUES  OFFLOADS                  GRO\n" +
			"vxtap0  42   1450  02:00:00:00:00:01  0           0         1           60        1       csum,tso4,tso6,uso4,uso6  on\n" +
			"vxtap1  43   1450  02:00:00:00:00:02  0           0         0           0         1       off                       off\n"},
		{name: "settings", args: []string{"settings"}, wantOut: "tap-gro  on\n"},
		{name: "settings set off", args: []string{"settings", "set", "--tap-gro", "off"}, wantOut: "tap-gro  off\n"},
		{name: "ports after tap-gro off", args: []string{"ports", "-o", "json"}, wantRE: regexp.MustCompile(`(?s)"name": "vxtap0".*"tap_gro": false.*"name": "vxtap1".*"tap_gro": false`)},
		{name: "settings json", args: []string{"settings", "-o", "json"}, wantOut: "{\n  \"tap_gro\": false\n}\n"},
		{name: "settings set on", args: []string{"settings", "set", "--tap-gro=true", "-o", "json"}, wantOut: "{\n  \"tap_gro\": true\n}\n"},
		{name: "settings set nothing", args: []string{"settings", "set"}, wantCode: 2, wantErr: "nothing to change: give --tap-gro on|off"},
		{name: "settings set bad value", args: []string{"settings", "set", "--tap-gro", "maybe"}, wantCode: 2, wantErr: `invalid value "maybe" for flag -tap-gro: want on or off`},
		{name: "settings no set flag", args: []string{"settings", "--tap-gro", "off"}, wantCode: 2, wantErr: "flag provided but not defined: -tap-gro"},
		{name: "stats", args: []string{"stats"}, wantRE: regexp.MustCompile(`(?s)^PORT +VNI +RX_PACKETS.*\nvxtap0 +42 +0 +0 +1 +60\n.*\nVNI +PORTS.*\n42 +1 +1 +68 +0 +0\n.*drops:\n  unknown_vni +1\nreserved_bits_accepted +0\nfdb: +4 entries \(1 learned\)`)},
		{name: "status", args: []string{"status"}, wantRE: regexp.MustCompile(`^version +apitest\nuptime +\d+s\nlocal +192\.0\.2\.1\nport +4789\nvnis +42 43 44\n$`)},
		{name: "version", args: []string{"version"}, wantOut: "vxctl dev\nvxswitchd apitest\n"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantErr: `unknown command "frobnicate"`},
		{name: "no command", args: []string{}, wantCode: 2, wantErr: "missing command"},
		{name: "help", args: []string{"--help"}, wantRE: regexp.MustCompile(`(?s)^vxctl: .*Commands:.*Example:`)},
		{name: "help command", args: []string{"help", "fdb"}, wantRE: regexp.MustCompile(`(?s)^vxctl fdb: .*Example:`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.env == nil {
				args = append(append([]string{}, api...), args...)
			}
			code, out, errOut := vxctl(t, tt.env, args...)
			if code != tt.wantCode {
				t.Errorf("unexpected exit code:\n- want: %d\n-  got: %d (stderr %q)", tt.wantCode, code, errOut)
			}
			if tt.wantRE != nil {
				if !tt.wantRE.MatchString(out) {
					t.Errorf("unexpected output:\n- want: %s\n-  got: %s", tt.wantRE, out)
				}
			} else if out != tt.wantOut {
				t.Errorf("unexpected output (-want +got):\n%s", cmp.Diff(tt.wantOut, out))
			}
			if (tt.wantErr == "") != (errOut == "") || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("unexpected stderr:\n- want: …%s…\n-  got: %q", tt.wantErr, errOut)
			}
		})
	}
}

// TestJSONOutput checks that -o json prints exactly what the API returns.
func TestJSONOutput(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	env.AddPort(t, "vxtap0", 42, encap.MustParseMAC("02:00:00:00:00:01"))
	ctx := context.Background()
	tests := []struct {
		args []string
		want func() (any, error)
		got  any
	}{
		{[]string{"fdb", "-o", "json"}, func() (any, error) { return env.Client.FDB(ctx, 0, true) }, &[]api.FDBEntry{}},
		{[]string{"ports", "-o", "json"}, func() (any, error) { return env.Client.Ports(ctx) }, &[]api.PortInfo{}},
		{[]string{"flood", "-o", "json"}, func() (any, error) { return env.Client.Flood(ctx, 0, true) }, &[]api.FloodList{}},
		{[]string{"stats", "-o", "json"}, func() (any, error) { return env.Client.Stats(ctx) }, &api.Stats{}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := vxctl(t, nil, append([]string{"--api", env.Socket}, tt.args...)...)
			if code != 0 {
				t.Fatalf("unexpected exit code:\n- want: 0\n-  got: %d (%s)", code, errOut)
			}
			if err := json.Unmarshal([]byte(out), tt.got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			want, err := tt.want()
			if err != nil {
				t.Fatal(err)
			}
			// Ages move between the two reads.
			if es, ok := want.([]api.FDBEntry); ok {
				for i := range es {
					es[i].AgeSeconds = 0
				}
				for i := range *tt.got.(*[]api.FDBEntry) {
					(*tt.got.(*[]api.FDBEntry))[i].AgeSeconds = 0
				}
			}
			wantJSON, _ := json.Marshal(want)
			gotJSON, _ := json.Marshal(tt.got)
			if diff := cmp.Diff(string(wantJSON), string(gotJSON)); diff != "" {
				t.Errorf("unexpected JSON (-want +got):\n%s", diff)
			}
		})
	}
	// Every drop reason is in the JSON stats, zero or not.
	_, out, _ := vxctl(t, nil, "--api", env.Socket, "stats", "-o", "json")
	var st struct {
		Drops map[string]uint64 `json:"drops"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if got, want := len(st.Drops), len(vswitch.DropReasons()); got != want {
		t.Errorf("unexpected number of drop reasons:\n- want: %d\n-  got: %d", want, got)
	}
}

// TestHelp checks that --help works on every level, exits 0 and explains
// flags with an example.
func TestHelp(t *testing.T) {
	tests := [][]string{
		{"--help"}, {"-h"}, {"fdb", "--help"}, {"fdb", "add", "--help"}, {"fdb", "del", "-h"},
		{"flood", "--help"}, {"flood", "add", "--help"}, {"flood", "del", "--help"},
		{"ports", "--help"}, {"stats", "--help"}, {"status", "--help"}, {"version", "--help"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// No daemon: help must not need one.
			code, out, errOut := vxctl(t, nil, append([]string{"--api", filepath.Join(t.TempDir(), "none.sock")}, args...)...)
			if code != 0 || errOut != "" {
				t.Errorf("unexpected result:\n- want: exit 0, empty stderr\n-  got: exit %d, stderr %q", code, errOut)
			}
			for _, want := range []string{"Usage:", "Example"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{[]string{"status"}, 1, "", "vxctl: cannot reach vxswitchd at " + sock + ": is it running?"},
		{[]string{"fdb", "-o", "json"}, 1, "", "vxctl: cannot reach vxswitchd at " + sock},
		{[]string{"version"}, 0, "vxctl dev\n", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := vxctl(t, map[string]string{"VXSWITCH_API": sock}, tt.args...)
			if code != tt.wantCode {
				t.Errorf("unexpected exit code:\n- want: %d\n-  got: %d", tt.wantCode, code)
			}
			if out != tt.wantOut {
				t.Errorf("unexpected stdout:\n- want: %q\n-  got: %q", tt.wantOut, out)
			}
			if !strings.HasPrefix(errOut, tt.wantErr) || (tt.wantErr == "") != (errOut == "") {
				t.Errorf("unexpected stderr:\n- want: %s…\n-  got: %q", tt.wantErr, errOut)
			}
		})
	}
}
