package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/api/apitest"
)

// FuzzHandler throws arbitrary requests at the API. Whatever comes in, the
// server must not panic or answer 500, and every error must be a JSON
// object with a non-empty message.
func FuzzHandler(f *testing.F) {
	env := apitest.New(f, fdb.Config{})
	env.AddPort(f, "vxtap0", 42, encap.MustParseMAC("02:00:00:00:00:01"))
	h := env.Server.Handler()

	// A valid static entry towards a remote VTEP.
	f.Add("POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:09","remote":"192.0.2.9"}`)
	// A valid static entry on a local port.
	f.Add("POST", "/v1/fdb", `{"vni":42,"mac":"02:00:00:00:00:0a","port":"vxtap0"}`)
	// Wrong types, unknown fields, nesting.
	f.Add("POST", "/v1/fdb", `{"vni":"x","mac":[1],"remote":{"a":1},"z":null}`)
	// VNI beyond 24 bits and beyond 32 bits.
	f.Add("POST", "/v1/fdb", `{"vni":4294967296,"mac":"02:00:00:00:00:09","remote":"192.0.2.9"}`)
	// A flood peer, IPv6 with zone.
	f.Add("POST", "/v1/flood", `{"vni":42,"remote":"2001:db8::1%lo"}`)
	// Deletes with odd query strings.
	f.Add("DELETE", "/v1/fdb?vni=42&mac=02:00:00:00:00:01&mac=x", "")
	f.Add("DELETE", "/v1/flood?vni=-1&remote=%zz", "")
	// Reads.
	f.Add("GET", "/v1/fdb?vni=42", "")
	f.Add("GET", "/v1/stats", "")
	f.Add("PATCH", "/v1/status", "{")
	// Settings: a valid change, a wrong type.
	f.Add("PATCH", "/v1/settings", `{"tap_gro":false}`)
	f.Add("PATCH", "/v1/settings", `{"tap_gro":1}`)

	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return // not an HTTP request net/http would hand to the handler
		}
		req, err := http.NewRequest(method, "http://vxswitchd"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: unexpected status %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var eb struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Fatalf("%s %s %q: error body is not {\"error\": msg}: %s", method, path, body, rec.Body)
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// TestConcurrentRequests runs readers and writers against one server; run
// with -race.
func TestConcurrentRequests(t *testing.T) {
	env, p0 := newEnv(t)
	c := ctx(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				mac := encap.MAC{0x06, 0, 0, 0, byte(w), byte(i)}
				if _, err := env.Client.AddFDB(c, api.FDBRequest{VNI: 42, MAC: mac, Remote: remote}); err != nil {
					t.Errorf("AddFDB: %v", err)
					return
				}
				if _, err := env.Client.FDB(c, 0, true); err != nil {
					t.Errorf("FDB: %v", err)
					return
				}
				if _, err := env.Client.Stats(c); err != nil {
					t.Errorf("Stats: %v", err)
					return
				}
				gro := i%2 == 0
				if _, err := env.Client.UpdateSettings(c, api.SettingsUpdate{TAPGRO: &gro}); err != nil {
					t.Errorf("UpdateSettings: %v", err)
					return
				}
				if err := env.Client.DelFDB(c, 42, mac); err != nil {
					t.Errorf("DelFDB: %v", err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // traffic while the API works
		defer wg.Done()
		for range 100 {
			p0.Inbound <- ethFrame(mac0)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			scrapeOK(t, env)
		}
	}()
	wg.Wait()
	if got, want := env.Switch.FDB().Len(), 2; got != want {
		t.Errorf("unexpected FDB size:\n- want: %d\n-  got: %d", want, got)
	}
}

func scrapeOK(t *testing.T, env *apitest.Env) {
	rec := httptest.NewRecorder()
	api.MetricsHandler(env.Switch).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("unexpected metrics status:\n- want: 200\n-  got: %d", rec.Code)
	}
}
