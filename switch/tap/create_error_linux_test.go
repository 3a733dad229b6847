package tap

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCreateError checks the advice added to water's errors: a bare errno
// comes from opening /dev/net/tun, an *os.SyscallError from an ioctl.
func TestCreateError(t *testing.T) {
	tests := []struct {
		name     string
		in       error
		wantIs   error
		wantText string
	}{
		{name: "no /dev/net/tun", in: unix.ENOENT, wantIs: os.ErrNotExist, wantText: "load the tun module"},
		{name: "tun module missing", in: unix.ENODEV, wantIs: unix.ENODEV, wantText: "create /dev/net/tun"},
		{name: "open not permitted", in: unix.EACCES, wantIs: os.ErrPermission, wantText: "root or CAP_NET_ADMIN"},
		{name: "TUNSETIFF not permitted", in: os.NewSyscallError("ioctl", unix.EPERM), wantIs: os.ErrPermission, wantText: "root or CAP_NET_ADMIN"},
		{name: "busy", in: os.NewSyscallError("ioctl", unix.EBUSY), wantIs: unix.EBUSY, wantText: "already open"},
		{name: "flags mismatch", in: os.NewSyscallError("ioctl", unix.EINVAL), wantIs: unix.EINVAL, wantText: "other flags"},
		{name: "other errors pass through", in: os.NewSyscallError("ioctl", unix.ENOMEM), wantIs: unix.ENOMEM, wantText: "ioctl: cannot allocate memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := createError("vx0", tt.in)
			var op *OpError
			if !errors.As(err, &op) || op.Op != "create" || op.Name != "vx0" {
				t.Fatalf("unexpected error type:\n- want: *OpError{create vx0}\n-  got: %#v", err)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("unexpected errors.Is(err, %v):\n- want: true\n-  got: false (%v)", tt.wantIs, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("unexpected message:\n- want: containing %q\n-  got: %q", tt.wantText, err.Error())
			}
		})
	}
}
