package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vxswitch/vxswitch/internal/netns"
)

// inNetns runs fn on a locked OS thread that entered the network namespace
// whose file is path. Commands started by fn (exec) inherit the namespace:
// they are forked from that thread.
func inNetns(path string, fn func() error) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	// netns.NS names a namespace relative to netns.Dir; a relative path
	// reaches any namespace file (/var/run/netns/…, /proc/PID/ns/net).
	rel, err := filepath.Rel(netns.Dir, abs)
	if err != nil {
		return err
	}
	return (&netns.NS{Name: rel}).Do(fn)
}

// ipCmd runs iproute2's ip with args in the calling thread's namespace.
func ipCmd(args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ipAddr is one entry of `ip -j addr show`'s addr_info.
type ipAddr struct {
	Local     string `json:"local"`
	PrefixLen int    `json:"prefixlen"`
}

// linkAddrs lists the addresses of dev ("198.18.100.5/24").
func linkAddrs(dev string) ([]string, error) {
	out, err := ipCmd("-j", "addr", "show", "dev", dev)
	if err != nil {
		return nil, err
	}
	var links []struct {
		AddrInfo []ipAddr `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("ip -j addr show: %w", err)
	}
	var addrs []string
	for _, l := range links {
		for _, a := range l.AddrInfo {
			addrs = append(addrs, fmt.Sprintf("%s/%d", a.Local, a.PrefixLen))
		}
	}
	return addrs, nil
}

// ipRoute is one entry of `ip -j route show`.
type ipRoute struct {
	Dst     string `json:"dst"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
}

// linkRoutes lists the main-table routes of family ("-4" or "-6") via dev.
func linkRoutes(family, dev string) ([]ipRoute, error) {
	out, err := ipCmd("-j", family, "route", "show", "dev", dev)
	if err != nil {
		return nil, err
	}
	var rs []ipRoute
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("ip -j route show: %w", err)
	}
	return rs, nil
}

// sameNet reports whether two CIDR strings name the same network
// ("default" is 0.0.0.0/0 or ::/0).
func sameNet(a, b string) bool {
	norm := func(s string) string {
		switch s {
		case "default", "0.0.0.0/0", "::/0":
			return "default"
		}
		if _, n, err := net.ParseCIDR(s); err == nil {
			return n.String()
		}
		if ip := net.ParseIP(s); ip != nil { // host route "198.18.0.1"
			if ip.To4() != nil {
				return ip.String() + "/32"
			}
			return ip.String() + "/128"
		}
		return s
	}
	return norm(a) == norm(b)
}
