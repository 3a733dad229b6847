package testutil

import (
	"encoding/json"
	"fmt"
)

// LinkCounters are one direction's counters of a link.
type LinkCounters struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	Dropped uint64 `json:"dropped"`
}

// LinkStats are a link's counters as `ip -j -s link show dev NAME` prints
// them (its stats64 object).
type LinkStats struct {
	RX LinkCounters `json:"rx"`
	TX LinkCounters `json:"tx"`
}

// ParseLinkStats parses the output of `ip -j -s link show dev NAME`: one
// link with its stats64.
func ParseLinkStats(out []byte) (LinkStats, error) {
	var links []struct {
		Stats *LinkStats `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return LinkStats{}, fmt.Errorf("parse ip -j -s link: %v: %s", err, out)
	}
	if len(links) != 1 || links[0].Stats == nil {
		return LinkStats{}, fmt.Errorf("ip -j -s link: want one link with stats64, got: %s", out)
	}
	return *links[0].Stats, nil
}
