//go:build !linux

package bench

import (
	"context"
	"errors"
)

func runPipe(context.Context, pipeConfig, func(string, ...any)) error {
	return errors.New("the ceiling pipe needs Linux (TAP devices, UDP_SEGMENT, UDP_GRO)")
}
