//go:build !linux

package main

import "errors"

func getsid(pid int) (int, error) { return 0, errors.New("getsid: not on this OS") }
