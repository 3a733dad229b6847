package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vxswitch/vxswitch/switch/api"
)

const peersHelp = `vxctl peers: show the gossip cluster's members.

One line per member, this node included (marked *): its name, state
(alive, suspect, dead or left), VTEP address, the VNIs it serves, how many
FDB entries and IP bindings this node holds from it (for itself: how many
it announces) and how long ago it was last heard from. Empty when the
daemon runs with --no-gossip.

Usage:
  vxctl peers [-o table|json]

Flags:
  -o FORMAT   table (default) or json (a JSON array of members)

Example:
  $ vxctl peers
  NAME    STATE  VTEP        VNIS  ENTRIES  LAST_CONTACT
  *h0     alive  192.0.2.10  42    2        0s
  h1      alive  192.0.2.11  42    2        1s
`

func cmdPeers(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	var out outputFlag
	fs := newFlags("peers", &out)
	if err := parseFlags(fs, w, peersHelp, args); err != nil {
		return err
	}
	peers, err := c.Peers(ctx)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(w, peers)
	}
	return printPeers(w, peers, time.Now())
}

func printPeers(w io.Writer, peers []api.PeerInfo, now time.Time) error {
	if len(peers) == 0 {
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tSTATE\tVTEP\tVNIS\tENTRIES\tLAST_CONTACT")
	for _, p := range peers {
		name := p.Name
		if p.Self {
			name = "*" + name
		}
		vnis := make([]string, len(p.VNIs))
		for i, v := range p.VNIs {
			vnis[i] = fmt.Sprint(v)
		}
		vs := strings.Join(vnis, ",")
		if vs == "" {
			vs = "-"
		}
		last := "-"
		if !p.LastContact.IsZero() {
			last = now.Sub(p.LastContact).Truncate(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", name, p.State, p.VTEP, vs, p.Entries, last)
	}
	return tw.Flush()
}
