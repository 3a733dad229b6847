//go:build !linux

package lab

import (
	"os"
	"syscall"
)

// daemonProcAttr has nothing to add off Linux, where labs cannot run.
func daemonProcAttr(detach bool) *syscall.SysProcAttr { return nil }

// killPID kills pid if it still exists.
func killPID(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}
