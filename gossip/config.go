package gossip

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vxswitch/vxswitch/encap"
)

// DefaultGossipPort is memberlist's (and Serf's) customary port.
const DefaultGossipPort = 7946

// Config configures a Node. DefaultConfig fills every field; zero fields
// of a hand-built Config take the defaults described on each line.
type Config struct {
	// Name is the node's unique name in the cluster; "" means the host name.
	Name string
	// VTEP is this node's underlay address, announced in the metadata as
	// the destination of VXLAN for its MACs (required).
	VTEP netip.Addr
	// VXLANPort is the announced VXLAN UDP port; 0 means 4789.
	VXLANPort uint16
	// BindAddr is where memberlist listens (TCP and UDP); an invalid value
	// means VTEP:7946. Port 0 picks a free port (tests).
	BindAddr netip.AddrPort
	// Join lists peers ("host" or "host:port", port 7946 by default) to
	// join at Start and to re-join every RejoinInterval.
	Join []string
	// RejoinInterval is how often Join peers are joined again, which heals
	// partitions longer than memberlist's dead-node memory; a node alone
	// in its cluster retries six times as often. 0 means 30 s, negative
	// disables.
	RejoinInterval time.Duration
	// Keys is the memberlist keyring (AES-128/192/256-GCM keys of 16, 24
	// or 32 bytes); the first is the primary key used to encrypt. Empty
	// means unencrypted, unauthenticated gossip (a loud warning is logged).
	Keys [][]byte
	// Label is memberlist's cluster label: packets with another label are
	// rejected. "" means none.
	Label string
	// Incarnation identifies this run of the node; 0 means the start time
	// in nanoseconds. A restarted node must use a larger value.
	Incarnation uint64
	// MaxStateBytes caps a push/pull state (own entries first, then
	// others'; a truncated state is marked and repairs nothing
	// authoritatively). memberlist accepts up to 20 MiB; 0 means 1 MiB.
	MaxStateBytes int
	// RetransmitMult scales how often each broadcast is retransmitted
	// (RetransmitMult × log(N+1)); 0 means memberlist's LAN default, 4.
	RetransmitMult int
	// MaxPending bounds received messages waiting to be applied; beyond it
	// they are dropped and counted (anti-entropy repairs them). 0 means
	// 8192.
	MaxPending int
	// Memberlist, if set, is called on the memberlist configuration last,
	// to tune probe, suspicion and push/pull timing (tests).
	Memberlist func(*memberlist.Config)
	// Transport, if set, replaces memberlist's UDP/TCP transport
	// (BindAddr is then ignored).
	Transport memberlist.Transport
	// LAN selects memberlist.DefaultLANConfig (true, the default) or
	// DefaultLocalConfig (false: loopback and tests).
	LAN bool
	// Logger receives lifecycle logs; memberlist's own logs go to it at
	// debug level. nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration vxswitchd starts from; VTEP must
// still be set.
func DefaultConfig() Config {
	name, _ := os.Hostname()
	return Config{
		Name:           name,
		VXLANPort:      encap.VXLANPort,  // IANA-assigned, RFC 7348 §5
		RejoinInterval: 30 * time.Second, // memberlist LAN forgets dead nodes after GossipToTheDeadTime = 30 s
		MaxStateBytes:  1 << 20,          // well under memberlist's 20 MiB push/pull cap and its 10 s TCP timeout
		RetransmitMult: 4,                // memberlist LAN default
		MaxPending:     8192,             // a burst of broadcasts, about 1 MiB of queued messages
		LAN:            true,             // memberlist's LAN timing: 1 s probes, 200 ms gossip
	}
}

// DefaultLocalConfig is DefaultConfig with memberlist's loopback timing
// and a 5 s re-join, for tests and single-machine labs.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.LAN = false
	c.RejoinInterval = 5 * time.Second
	return c
}

// LoadKeyFile reads a keyring file: one base64 key of 16, 24 or 32 bytes
// per line, the first being the primary key. Blank lines and lines
// starting with '#' are skipped.
func LoadKeyFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip: key file: %w", err)
	}
	return ParseKeys(data)
}

// ParseKeys parses the contents of a key file (see LoadKeyFile).
func ParseKeys(data []byte) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("gossip: key file line %d: not base64: %w", line, err)
		}
		if err := memberlist.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("gossip: key file line %d: %w", line, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gossip: key file: %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossip: key file holds no key")
	}
	return keys, nil
}
