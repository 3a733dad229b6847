package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"strings"

	current "github.com/containernetworking/cni/pkg/types/100"
)

// masqChain names the per-attachment nat chain, like the bridge plugin's
// CNI-<hash>: "VXSW-" and 16 hex digits of the network name and container.
func masqChain(network, containerID string) string {
	sum := sha256.Sum256([]byte(network + "\x00" + containerID))
	return "VXSW-" + strings.ToUpper(hex.EncodeToString(sum[:8]))
}

func iptablesFor(ip *current.IPConfig) string {
	if ip.Address.IP.To4() != nil {
		return "iptables"
	}
	return "ip6tables"
}

func runIPT(prog string, args ...string) error {
	out, err := exec.Command(prog, append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -t nat %s: %v: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupMasq masquerades traffic from each of ips leaving its subnet: a
// chain per attachment that accepts the subnet and masquerades the rest
// (not multicast), jumped to from POSTROUTING by source address. It runs
// in the host's namespace and needs iptables.
func setupMasq(network, containerID string, ips []*current.IPConfig) (err error) {
	chain := masqChain(network, containerID)
	comment := fmt.Sprintf("vxswitch %s %s", network, containerID)
	defer func() {
		if err != nil {
			teardownMasq(network, containerID)
		}
	}()
	for _, prog := range []string{"iptables", "ip6tables"} {
		var mine []*current.IPConfig
		for _, ip := range ips {
			if iptablesFor(ip) == prog {
				mine = append(mine, ip)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("ipMasq needs %s on the node: %w", prog, err)
		}
		multicast := "224.0.0.0/4"
		if prog == "ip6tables" {
			multicast = "ff00::/8"
		}
		if err := runIPT(prog, "-N", chain); err != nil {
			return err
		}
		for _, ip := range mine {
			subnet := net.IPNet{IP: ip.Address.IP.Mask(ip.Address.Mask), Mask: ip.Address.Mask}
			if err := runIPT(prog, "-A", chain, "-d", subnet.String(), "-j", "ACCEPT", "-m", "comment", "--comment", comment); err != nil {
				return err
			}
		}
		if err := runIPT(prog, "-A", chain, "!", "-d", multicast, "-j", "MASQUERADE", "-m", "comment", "--comment", comment); err != nil {
			return err
		}
		for _, ip := range mine {
			if err := runIPT(prog, "-A", "POSTROUTING", "-s", ip.Address.IP.String(), "-j", chain, "-m", "comment", "--comment", comment); err != nil {
				return err
			}
		}
	}
	return nil
}

// teardownMasq removes what setupMasq added; missing rules, chains or
// iptables binaries are not errors.
func teardownMasq(network, containerID string) error {
	chain := masqChain(network, containerID)
	for _, prog := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(prog); err != nil {
			continue
		}
		out, err := exec.Command(prog, "-w", "-t", "nat", "-S", "POSTROUTING").Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, "-j "+chain) || !strings.HasPrefix(line, "-A ") {
				continue
			}
			args := strings.Fields(strings.Replace(line, "-A ", "-D ", 1))
			args = unquote(args)
			if err := runIPT(prog, args...); err != nil {
				return err
			}
		}
		runIPT(prog, "-F", chain)
		runIPT(prog, "-X", chain)
	}
	return nil
}

// unquote joins the quoted comment iptables -S prints ("vxswitch a b") back
// into one argument.
func unquote(fields []string) []string {
	var out []string
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if strings.HasPrefix(f, `"`) {
			j := i
			for !strings.HasSuffix(fields[j], `"`) || (j == i && len(f) == 1) {
				if j+1 >= len(fields) {
					break
				}
				j++
			}
			out = append(out, strings.Trim(strings.Join(fields[i:j+1], " "), `"`))
			i = j
			continue
		}
		out = append(out, f)
	}
	return out
}
