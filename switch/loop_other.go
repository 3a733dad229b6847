//go:build !linux

package vswitch

import (
	"errors"

	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// loop is the single forwarding loop; it needs epoll(7) and eventfd, so
// off Linux Config.SingleLoop is refused by New.
type loop struct{}

type loopSource struct{}

func newLoop(*Switch) (*loop, error) {
	return nil, errors.New("vswitch: SingleLoop needs Linux")
}

func portSource(*Switch, *Port, tap.Device) *loopSource              { return nil }
func recvSource(int, vtep.ReceiveFunc, func() bool, int) *loopSource { return nil }
func (l *loop) add(...*loopSource)                                   {}
func (l *loop) remove(*Port) int                                     { return 0 }
func (l *loop) shutdown()                                            {}
func (l *loop) run()                                                 {}
func (l *loop) startLocked() bool                                    { return false }
