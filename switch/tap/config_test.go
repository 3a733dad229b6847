package tap

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{name: "empty lets the kernel pick", in: "", want: nil},
		{name: "plain", in: "vxtap0", want: nil},
		{name: "pattern", in: DefaultNamePattern, want: nil},
		{name: "15 bytes", in: strings.Repeat("a", 15), want: nil},
		{name: "16 bytes", in: strings.Repeat("a", 16), want: ErrNameTooLong},
		{name: "dot", in: ".", want: ErrInvalidName},
		{name: "dotdot", in: "..", want: ErrInvalidName},
		{name: "slash", in: "a/b", want: ErrInvalidName},
		{name: "colon", in: "eth0:1", want: ErrInvalidName},
		{name: "space", in: "a b", want: ErrInvalidName},
		{name: "NUL", in: "a\x00b", want: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validateName(tt.in); !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("unexpected error for %q:\n- want: %v\n-  got: %v", tt.in, tt.want, got)
			}
		})
	}
}

func TestOpError(t *testing.T) {
	tests := []struct {
		name    string
		err     *OpError
		wantMsg string
		wantIs  error
	}{
		{
			name:    "with name",
			err:     &OpError{Op: "create", Name: "vx0", Err: ErrNameTooLong},
			wantMsg: "tap: create vx0: interface name longer than 15 bytes",
			wantIs:  ErrNameTooLong,
		},
		{
			name:    "without name",
			err:     &OpError{Op: "read", Err: os.ErrClosed},
			wantMsg: "tap: read: file already closed",
			wantIs:  os.ErrClosed,
		},
		{
			name:    "through a hint",
			err:     &OpError{Op: "create", Name: "vx0", Err: &hintError{err: os.ErrPermission, hint: "be root"}},
			wantMsg: "tap: create vx0: permission denied (be root)",
			wantIs:  os.ErrPermission,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("unexpected message:\n- want: %q\n-  got: %q", tt.wantMsg, got)
			}
			if !errors.Is(tt.err, tt.wantIs) {
				t.Errorf("unexpected errors.Is result for %v:\n- want: true\n-  got: false", tt.wantIs)
			}
		})
	}
}
