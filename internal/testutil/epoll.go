package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// InEpollSet reports whether descriptor fd of this process is watched by
// one of its epoll instances (in a test binary, the Go runtime's network
// poller), from the "tfd:" lines of /proc/self/fdinfo of every eventpoll
// descriptor. ok is false when no epoll instance is visible there. A
// switch's single loop (vswitch.Config.SingleLoop) keeps an epoll set of
// its own, so in a process that runs one, "in" does not mean the runtime
// poller.
func InEpollSet(fd int) (in, ok bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false, false
	}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue
		}
		ok = true
		for _, line := range strings.Split(string(info), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) {
				return true, true
			}
		}
	}
	return false, ok
}
