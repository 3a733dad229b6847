package encap

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMAC(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    MAC
		wantErr error
	}{
		{"colons", "02:00:5e:10:00:01", MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}, nil},
		{"hyphens upper", "02-00-5E-10-00-0A", MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a}, nil},
		{"broadcast", "ff:ff:ff:ff:ff:ff", BroadcastMAC, nil},
		{"empty", "", MAC{}, ErrInvalidMAC},
		{"too short", "02:00:00:00:00", MAC{}, ErrInvalidMAC},
		{"EUI-64 rejected", "02:00:00:00:00:00:00:01", MAC{}, ErrInvalidMAC},
		{"bad hex", "02:00:00:00:00:zz", MAC{}, ErrInvalidMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMAC(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
			if tt.want != got {
				t.Errorf("unexpected MAC:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestMACString(t *testing.T) {
	tests := []struct {
		in   MAC
		want string
	}{
		{MAC{}, "00:00:00:00:00:00"},
		{BroadcastMAC, "ff:ff:ff:ff:ff:ff"},
		{MAC{0x02, 0xab, 0xcd, 0xef, 0x01, 0x9a}, "02:ab:cd:ef:01:9a"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); tt.want != got {
				t.Errorf("unexpected string:\n- want: %s\n-  got: %s", tt.want, got)
			}
			if got := tt.in.HardwareAddr().String(); tt.want != got {
				t.Errorf("unexpected HardwareAddr:\n- want: %s\n-  got: %s", tt.want, got)
			}
			back, err := ParseMAC(tt.want)
			if err != nil || back != tt.in {
				t.Errorf("unexpected round trip:\n- want: %v\n-  got: %v (err %v)", tt.in, back, err)
			}
		})
	}
}

func TestMACText(t *testing.T) {
	type doc struct{ M MAC }
	in := doc{MustParseMAC("02:00:00:00:00:2a")}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"M":"02:00:00:00:00:2a"}`; want != string(b) {
		t.Errorf("unexpected JSON:\n- want: %s\n-  got: %s", want, b)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("unexpected JSON round trip (-want +got):\n%s", diff)
	}
	var m MAC
	if err := m.UnmarshalText([]byte("nope")); !errors.Is(err, ErrInvalidMAC) {
		t.Errorf("unexpected error:\n- want: %v\n-  got: %v", ErrInvalidMAC, err)
	}
}

func TestMACClass(t *testing.T) {
	type class struct{ Multicast, Broadcast, Zero, Unicast bool }
	tests := []struct {
		name string
		in   MAC
		want class
	}{
		{"zero", MAC{}, class{Zero: true}},
		{"unicast", MustParseMAC("02:00:00:00:00:01"), class{Unicast: true}},
		{"broadcast", BroadcastMAC, class{Multicast: true, Broadcast: true}},
		{"IPv4 multicast", MustParseMAC("01:00:5e:00:00:01"), class{Multicast: true}},
		{"IPv6 multicast", MustParseMAC("33:33:00:00:00:01"), class{Multicast: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := class{tt.in.IsMulticast(), tt.in.IsBroadcast(), tt.in.IsZero(), tt.in.IsUnicast()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected class (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMustParseMACPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("unexpected MustParseMAC result:\n- want: panic\n-  got: no panic")
		}
	}()
	MustParseMAC("not a mac")
}
