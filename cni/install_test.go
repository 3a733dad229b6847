package cni

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNodeRange(t *testing.T) {
	tests := []struct {
		block       string
		first, last string
		wantErr     bool
	}{
		{"198.18.5.0/24", "198.18.5.1", "198.18.5.254", false},
		{"198.18.5.7/24", "198.18.5.1", "198.18.5.254", false}, // host bits ignored
		{"198.18.0.0/16", "198.18.0.1", "198.18.255.254", false},
		{"198.18.5.64/26", "198.18.5.65", "198.18.5.126", false},
		{"198.18.5.0/30", "198.18.5.1", "198.18.5.2", false},
		{"198.18.5.0/31", "", "", true},
		{"198.18.5.1/32", "", "", true},
		{"2001:db8:1:2::/64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", false},
		{"2001:db8::/127", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.block, func(t *testing.T) {
			first, last, err := NodeRange(netip.MustParsePrefix(tt.block))
			if (err != nil) != tt.wantErr {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
			if err != nil {
				return
			}
			if want, got := tt.first+"-"+tt.last, first.String()+"-"+last.String(); want != got {
				t.Errorf("unexpected range:\n- want: %s\n-  got: %s", want, got)
			}
		})
	}
}

// template is the shipped DaemonSet's conflist shape.
const template = `{"cniVersion": "1.1.0", "name": "vxswitch", "plugins": [{"type": "vxswitch", "vni": 100,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.0.0/16", "rangeStart": "__NODE_RANGE_START__",
  "rangeEnd": "__NODE_RANGE_END__", "gateway": "198.18.0.1"}]]}, "args": {"block": "__NODE_POD_CIDR__"}}]}`

func TestRenderConflist(t *testing.T) {
	out, err := RenderConflist([]byte(template), netip.MustParsePrefix("198.18.7.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Plugins []struct {
			IPAM struct {
				Ranges [][]map[string]string `json:"ranges"`
			} `json:"ipam"`
			Args map[string]string `json:"args"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("rendered conflist: %v\n%s", err, out)
	}
	want := map[string]string{"subnet": "198.18.0.0/16", "rangeStart": "198.18.7.1", "rangeEnd": "198.18.7.254", "gateway": "198.18.0.1"}
	if diff := cmp.Diff(want, got.Plugins[0].IPAM.Ranges[0][0]); diff != "" {
		t.Errorf("unexpected host-local range (-want +got):\n%s", diff)
	}
	if want, got := "198.18.7.0/24", got.Plugins[0].Args["block"]; want != got {
		t.Errorf("unexpected block:\n- want: %s\n-  got: %s", want, got)
	}
	if _, err := RenderConflist([]byte(`{"x": __NODE_RANGE_START__}`), netip.MustParsePrefix("198.18.7.0/24")); err == nil {
		t.Error("a template that renders to invalid JSON was accepted")
	}
}

// FuzzRenderConflist checks that no template panics and that every
// success is JSON without placeholders.
func FuzzRenderConflist(f *testing.F) {
	f.Add([]byte(template), "198.18.7.0/24")   // the DaemonSet's shape
	f.Add([]byte(`{}`), "2001:db8::/64")       // IPv6, nothing to replace
	f.Add([]byte(`"__NODE_`), "198.18.7.0/31") // truncated placeholder, block too small
	f.Fuzz(func(t *testing.T, tmpl []byte, block string) {
		p, err := netip.ParsePrefix(block)
		if err != nil {
			return
		}
		out, err := RenderConflist(tmpl, p)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("RenderConflist returned invalid JSON: %q", out)
		}
		for _, ph := range []string{PlaceholderPodCIDR, PlaceholderRangeStart, PlaceholderRangeEnd} {
			if strings.Contains(string(out), ph) {
				t.Fatalf("placeholder %s left in %q", ph, out)
			}
		}
	})
}

// fakeAPIServer serves GET /api/v1/nodes/<name> from nodes over TLS and
// checks the bearer token.
func fakeAPIServer(t *testing.T, nodes map[string]string) (NodeSource, func(node string) NodeSource) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sekrit" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/nodes/")
		body, found := nodes[name]
		if !ok || !found {
			http.Error(w, `{"kind":"Status","code":404}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	token, ca := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	os.WriteFile(token, []byte("sekrit\n"), 0o600)
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	base := NodeSource{Server: srv.URL, TokenFile: token, CAFile: ca}
	return base, func(node string) NodeSource { s := base; s.Node = node; return s }
}

func TestNodePodCIDR(t *testing.T) {
	_, src := fakeAPIServer(t, map[string]string{
		"plain":     `{"spec": {"podCIDR": "198.18.3.0/24", "podCIDRs": ["198.18.3.0/24"]}}`,
		"dual":      `{"spec": {"podCIDR": "198.18.4.0/24", "podCIDRs": ["198.18.4.0/24", "2001:db8:4::/64"]}}`,
		"annotated": `{"metadata": {"annotations": {"vxswitch.dev/pod-cidr": "198.18.9.0/24"}}, "spec": {"podCIDR": "198.18.3.0/24"}}`,
		"old":       `{"spec": {"podCIDR": "198.18.5.0/24"}}`,
		"none":      `{"spec": {}}`,
		"garbage":   `{"spec": {"podCIDR": "not-a-cidr"}}`,
	})
	tests := []struct {
		node    string
		family  int
		want    string
		wantErr string
	}{
		{"plain", 0, "198.18.3.0/24", ""},
		{"plain", 4, "198.18.3.0/24", ""},
		{"dual", 6, "2001:db8:4::/64", ""},
		{"annotated", 0, "198.18.9.0/24", ""},
		{"old", 0, "198.18.5.0/24", ""},
		{"plain", 6, "", "no IPv6 Pod CIDR"},
		{"none", 0, "", "no Pod CIDR"},
		{"garbage", 0, "", "not-a-cidr"},
		{"missing", 0, "", "404"},
		{"", 0, "", "no node name"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.node, tt.family), func(t *testing.T) {
			got, err := NodePodCIDR(context.Background(), src(tt.node), tt.family)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("unexpected error:\n- want: containing %q\n-  got: %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("unexpected Pod CIDR:\n- want: %s\n-  got: %s", tt.want, got)
			}
		})
	}

	t.Run("bad token", func(t *testing.T) {
		s := src("plain")
		os.WriteFile(s.TokenFile, []byte("wrong"), 0o600)
		defer os.WriteFile(s.TokenFile, []byte("sekrit\n"), 0o600)
		if _, err := NodePodCIDR(context.Background(), s, 0); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("unexpected error with a wrong token:\n- want: 401\n-  got: %v", err)
		}
	})
	t.Run("untrusted CA", func(t *testing.T) {
		s := src("plain")
		s.CAFile = filepath.Join(t.TempDir(), "none.crt")
		os.WriteFile(s.CAFile, []byte("no certificate here"), 0o644)
		if _, err := NodePodCIDR(context.Background(), s, 0); err == nil || !strings.Contains(err.Error(), "no certificate") {
			t.Errorf("unexpected error with an empty CA file:\n- want: no certificate\n-  got: %v", err)
		}
	})
}

func TestInstallConflist(t *testing.T) {
	_, src := fakeAPIServer(t, map[string]string{"n1": `{"spec": {"podCIDR": "198.18.12.0/24"}}`})
	dir := t.TempDir()
	tmpl, out := filepath.Join(dir, "tmpl"), filepath.Join(dir, "net.d", "10-vxswitch.conflist")
	os.WriteFile(tmpl, []byte(template), 0o644)
	os.MkdirAll(filepath.Dir(out), 0o755)

	if err := InstallConflist(context.Background(), src("n1"), 0, tmpl, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"rangeStart": "198.18.12.1"`, `"rangeEnd": "198.18.12.254"`} {
		if !strings.Contains(string(got), s) {
			t.Errorf("installed conflist lacks %s:\n%s", s, got)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("unexpected files in the conf dir:\n- want: 1 (no .tmp left)\n-  got: %v", ents)
	}

	// Failure leaves the installed file alone.
	if err := InstallConflist(context.Background(), src("n2"), 0, tmpl, out); err == nil {
		t.Error("install for an unknown node succeeded")
	}
	if again, _ := os.ReadFile(out); string(again) != string(got) {
		t.Errorf("failed install changed the conflist")
	}

	// No placeholders: copied, no API server needed.
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte(`{"name": "x"}`), 0o644)
	if err := InstallConflist(context.Background(), NodeSource{}, 0, plain, out); err != nil {
		t.Fatalf("install of a template without placeholders: %v", err)
	}
	if got, _ := os.ReadFile(out); string(got) != `{"name": "x"}` {
		t.Errorf("unexpected copy:\n- want: %s\n-  got: %s", `{"name": "x"}`, got)
	}
}
