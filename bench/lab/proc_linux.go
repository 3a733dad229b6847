package lab

import "syscall"

// daemonProcAttr makes a daemon die with the lab's process, so a crashed
// test or vxlab leaves no vxswitchd behind. (Down is still needed for the
// namespaces.) A detached daemon instead gets its own session and outlives
// the lab's process (Config.Detach).
func daemonProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// killPID sends SIGKILL to pid, ignoring a process that is already gone.
func killPID(pid int) { syscall.Kill(pid, syscall.SIGKILL) }
