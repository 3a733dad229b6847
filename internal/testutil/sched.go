package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FIFOThreads counts the threads of process pid (0: this process) that run
// under SCHED_FIFO, at priority prio or at any priority if prio is
// negative, from /proc/PID/task/*/stat, whose 40th and 41st fields are
// rt_priority and policy. Threads that end while it reads are skipped.
func FIFOThreads(pid, prio int) (int, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		// The fields after the command name, which is in parentheses and
		// may hold spaces and parentheses: the first is the 3rd, state.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 39 {
			return 0, fmt.Errorf("%s: %d fields after the command name, want at least 39", filepath.Join(dir, task.Name(), "stat"), len(f))
		}
		const schedFIFO = "1"
		if f[38] == schedFIFO && (prio < 0 || f[37] == strconv.Itoa(prio)) {
			n++
		}
	}
	return n, nil
}
