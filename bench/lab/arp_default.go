//go:build !linux

package lab

import (
	"context"
	"errors"
	"net/netip"

	"github.com/vxswitch/vxswitch/encap"
)

// ARPProbe needs AF_PACKET sockets, which only Linux has.
func (h *Host) ARPProbe(ctx context.Context, dst netip.Addr) (encap.MAC, error) {
	return encap.MAC{}, errors.New("lab: ARP probes need Linux")
}
