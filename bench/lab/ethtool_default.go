//go:build !linux

package lab

import "errors"

func setTxChecksum(name string, on bool) error { return errors.New("lab: ethtool needs Linux") }
