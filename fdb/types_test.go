package fdb

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOriginText(t *testing.T) {
	tests := []struct {
		in      Origin
		want    string
		wantErr error
	}{
		{OriginLearned, "learned", nil},
		{OriginLocal, "local", nil},
		{OriginStatic, "static", nil},
		{OriginGossip, "gossip", nil},
		{0, "Origin(0)", ErrInvalidOrigin},
		{OriginGossip + 1, "Origin(5)", ErrInvalidOrigin},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("unexpected String:\n- want: %v\n-  got: %v", tt.want, got)
		}
		b, err := tt.in.MarshalText()
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("unexpected MarshalText error for %v:\n- want: %v\n-  got: %v", tt.want, tt.wantErr, err)
		}
		if err != nil {
			continue
		}
		var back Origin
		if err := back.UnmarshalText(b); err != nil || back != tt.in {
			t.Errorf("unexpected round trip of %q:\n- want: %v\n-  got: %v (%v)", b, tt.in, back, err)
		}
	}
	for _, s := range []string{"", "Learned", "dynamic", "Origin(1)"} {
		if o, err := ParseOrigin(s); !errors.Is(err, ErrInvalidOrigin) {
			t.Errorf("ParseOrigin(%q): unexpected result:\n- want: %v\n-  got: %v, %v", s, ErrInvalidOrigin, o, err)
		}
	}
}

func TestOriginJSON(t *testing.T) {
	// Origin marshals as text, so API types can embed it directly.
	type doc struct{ Origin Origin }
	b, err := json.Marshal(doc{OriginGossip})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Origin":"gossip"}`; string(b) != want {
		t.Errorf("unexpected JSON:\n- want: %v\n-  got: %s", want, b)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil || back.Origin != OriginGossip {
		t.Errorf("unexpected round trip:\n- want: %v\n-  got: %v (%v)", OriginGossip, back.Origin, err)
	}
	if err := json.Unmarshal([]byte(`{"Origin":"bogus"}`), &back); !errors.Is(err, ErrInvalidOrigin) {
		t.Errorf("unexpected error for a bad origin:\n- want: %v\n-  got: %v", ErrInvalidOrigin, err)
	}
}

func TestDest(t *testing.T) {
	tests := []struct {
		in        Dest
		wantValid bool
		wantLocal bool
		wantStr   string
	}{
		{Dest{Port: 7}, true, true, "port:7"},
		{Dest{Remote: remoteA}, true, false, "remote:192.0.2.1"},
		{Dest{Remote: remoteC}, true, false, "remote:2001:db8::3"},
		{Dest{}, false, false, "invalid(port:0 remote:invalid IP)"},
		{Dest{Port: 1, Remote: remoteA}, false, true, "invalid(port:1 remote:192.0.2.1)"},
		{Dest{Remote: netip.IPv4Unspecified()}, false, false, "invalid(port:0 remote:0.0.0.0)"},
	}
	for _, tt := range tests {
		got := [3]any{tt.in.Valid(), tt.in.IsLocal(), tt.in.String()}
		want := [3]any{tt.wantValid, tt.wantLocal, tt.wantStr}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("unexpected Valid/IsLocal/String of %#v (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	tests := []struct {
		in   interface{ String() string }
		want string
	}{
		{LearnRefreshed, "refreshed"},
		{LearnAdded, "added"},
		{LearnMoved, "moved"},
		{LearnIgnoredControlPlane, "ignored-control-plane"},
		{LearnRejectedMAC, "rejected-mac"},
		{LearnRejectedCap, "rejected-cap"},
		{LearnRejectedInvalid, "rejected-invalid"},
		{LearnResult(0), "LearnResult(0)"},
		{EventAdded, "added"},
		{EventMoved, "moved"},
		{EventDeleted, "deleted"},
		{EventAged, "aged"},
		{EventKind(9), "EventKind(9)"},
		{Key{VNI: 42, MAC: macN(1)}, "42/02:00:00:00:00:01"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("unexpected String:\n- want: %v\n-  got: %v", tt.want, got)
		}
	}
}

func FuzzParseOrigin(f *testing.F) {
	f.Add("learned") // each valid name
	f.Add("local")
	f.Add("static")
	f.Add("gossip")
	f.Add("")           // empty
	f.Add("Static")     // wrong case
	f.Add("gossip\x00") // trailing NUL
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOrigin(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidOrigin) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if got := o.String(); got != s {
			t.Fatalf("unexpected round trip:\n- want: %q\n-  got: %q", s, got)
		}
	})
}
