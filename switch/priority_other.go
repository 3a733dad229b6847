//go:build !linux

package vswitch

import "errors"

// MaxRTPriority is the highest Config.RTPriority.
const MaxRTPriority = 99

func lockRealtime(int) (func(), error) {
	return func() {}, errors.New("vswitch: RTPriority needs Linux")
}

func probeRealtime(int) error { return errors.New("vswitch: RTPriority needs Linux") }
