//go:build !linux

package vswitch

import "errors"

// MaxRTPriority is the highest Config.RTPriority.
const MaxRTPriority = 99

type rtThread struct{}

func lockThread(int) (*rtThread, error) { return nil, errors.New("vswitch: RTPriority needs Linux") }
func (t *rtThread) set(bool) error      { return errors.New("vswitch: RTPriority needs Linux") }
func (t *rtThread) restore()            {}

func probeRealtime(int) error { return errors.New("vswitch: RTPriority needs Linux") }
