package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vxswitch/vxswitch/switch/api"
)

const fdbHelp = `vxctl fdb: show the forwarding database.

Each line is one MAC address in one VNI and where the switch sends frames
for it: a local port (dev NAME) or a remote VTEP (dst ADDRESS), with its
origin: local (a port's own address), static (added with 'vxctl fdb add'),
learned (from traffic; ages out when idle) or gossip (from a cluster peer).

Usage:
  vxctl fdb [--vni N] [-o table|json]
  vxctl fdb add --vni N --mac MAC (--remote IP | --port NAME)
  vxctl fdb del --vni N --mac MAC

Flags:
  --vni N     only entries of VNI N (default: every VNI)
  -o FORMAT   table (default) or json (a JSON array of entries)

Example:
  $ vxctl fdb --vni 42
  02:00:00:00:00:01 dev vxtap0 vni 42 local
  9a:3c:11:02:5e:7f dst 192.0.2.11 vni 42 learned age 12s
`

const fdbAddHelp = `vxctl fdb add: add a static FDB entry.

Frames for MAC in VNI N go to the remote VTEP at IP, or out of the local
port NAME (which must be attached to VNI N). A static entry never ages and
is never moved by learning; it replaces a learned entry for the same MAC.

Usage:
  vxctl fdb add --vni N --mac MAC (--remote IP | --port NAME)

Flags:
  --vni N        the VNI (0-16777215); the switch must serve it
  --mac MAC      a unicast MAC address, e.g. 02:00:00:00:00:01
  --remote IP    the VTEP the MAC lives behind
  --port NAME    or the local port the MAC lives behind

Example:
  vxctl fdb add --vni 42 --mac 02:00:00:00:00:0b --remote 192.0.2.11
`

const fdbDelHelp = `vxctl fdb del: delete an FDB entry.

Deletes a static or learned entry (a learned one comes back with the next
frame from that MAC). A port's own address goes away with the port.

Usage:
  vxctl fdb del --vni N --mac MAC

Flags:
  --vni N     the VNI
  --mac MAC   the MAC address

Example:
  vxctl fdb del --vni 42 --mac 02:00:00:00:00:0b
`

func cmdFDB(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return cmdFDBAdd(ctx, c, w, args[1:])
		case "del", "delete":
			return cmdFDBDel(ctx, c, w, args[1:])
		case "show":
			args = args[1:]
		}
	}
	var out outputFlag
	var vni vniFlag
	fs := newFlags("fdb", &out)
	fs.Var(&vni, "vni", "")
	if err := parseFlags(fs, w, fdbHelp, args); err != nil {
		return err
	}
	entries, err := c.FDB(ctx, vni.vni, !vni.set)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(w, entries)
	}
	return printFDB(w, entries)
}

func cmdFDBAdd(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	var (
		vni    vniFlag
		mac    macFlag
		remote addrFlag
		port   string
	)
	fs := newFlags("fdb add", nil)
	fs.Var(&vni, "vni", "")
	fs.Var(&mac, "mac", "")
	fs.Var(&remote, "remote", "")
	fs.StringVar(&port, "port", "", "")
	if err := parseFlags(fs, w, fdbAddHelp, args); err != nil {
		return err
	}
	switch {
	case !vni.set:
		return usagef(fs.Name(), "missing --vni")
	case !mac.set:
		return usagef(fs.Name(), "missing --mac")
	case remote.addr.IsValid() == (port != ""):
		return usagef(fs.Name(), "give exactly one of --remote IP and --port NAME")
	}
	_, err := c.AddFDB(ctx, api.FDBRequest{VNI: vni.vni, MAC: mac.mac, Remote: remote.addr, Port: port})
	return err
}

func cmdFDBDel(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	var (
		vni vniFlag
		mac macFlag
	)
	fs := newFlags("fdb del", nil)
	fs.Var(&vni, "vni", "")
	fs.Var(&mac, "mac", "")
	if err := parseFlags(fs, w, fdbDelHelp, args); err != nil {
		return err
	}
	switch {
	case !vni.set:
		return usagef(fs.Name(), "missing --vni")
	case !mac.set:
		return usagef(fs.Name(), "missing --mac")
	}
	return c.DelFDB(ctx, vni.vni, mac.mac)
}

const floodHelp = `vxctl flood: show the flood lists.

A VNI's flood list holds the remote VTEPs that get a copy of every
broadcast, multicast and unknown-unicast frame (head-end replication). The
lines look like the kernel's all-zeros 'bridge fdb' entries.

Usage:
  vxctl flood [--vni N] [-o table|json]
  vxctl flood add --vni N --remote IP
  vxctl flood del --vni N --remote IP

Flags:
  --vni N     only VNI N (default: every VNI)
  -o FORMAT   table (default) or json (a JSON array of {vni, remotes})

Example:
  $ vxctl flood
  00:00:00:00:00:00 dst 192.0.2.11 vni 42
  00:00:00:00:00:00 dst 192.0.2.12 vni 42
`

const floodAddHelp = `vxctl flood add: add a VTEP to a VNI's flood list.

Usage:
  vxctl flood add --vni N --remote IP

Flags:
  --vni N       a VNI the switch serves
  --remote IP   the VTEP's underlay address

Example:
  vxctl flood add --vni 42 --remote 192.0.2.12
`

const floodDelHelp = `vxctl flood del: remove a VTEP from a VNI's flood list.

Usage:
  vxctl flood del --vni N --remote IP

Flags:
  --vni N       the VNI
  --remote IP   the VTEP's underlay address

Example:
  vxctl flood del --vni 42 --remote 192.0.2.12
`

func cmdFlood(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add", "del", "delete":
			return cmdFloodEdit(ctx, c, w, args[0], args[1:])
		case "show":
			args = args[1:]
		}
	}
	var out outputFlag
	var vni vniFlag
	fs := newFlags("flood", &out)
	fs.Var(&vni, "vni", "")
	if err := parseFlags(fs, w, floodHelp, args); err != nil {
		return err
	}
	lists, err := c.Flood(ctx, vni.vni, !vni.set)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(w, lists)
	}
	return printFlood(w, lists)
}

func cmdFloodEdit(ctx context.Context, c *api.Client, w io.Writer, verb string, args []string) error {
	var (
		vni    vniFlag
		remote addrFlag
	)
	help := floodAddHelp
	if verb != "add" {
		verb, help = "del", floodDelHelp
	}
	fs := newFlags("flood "+verb, nil)
	fs.Var(&vni, "vni", "")
	fs.Var(&remote, "remote", "")
	if err := parseFlags(fs, w, help, args); err != nil {
		return err
	}
	switch {
	case !vni.set:
		return usagef(fs.Name(), "missing --vni")
	case !remote.addr.IsValid():
		return usagef(fs.Name(), "missing --remote")
	}
	if verb == "add" {
		_, err := c.AddFlood(ctx, vni.vni, remote.addr)
		return err
	}
	return c.DelFlood(ctx, vni.vni, remote.addr)
}

const portsHelp = `vxctl ports: show the switch's ports.

One line per port (a TAP device attached to one VNI) with its MTU, MAC,
counters, queues and offloads: rx is what the switch read from the port, tx
what it wrote to it; QUEUES is the number of device queues read
(--tap-queues); OFFLOADS lists what the TAP was opened with (csum, tso4,
tso6, uso4,uso6) or "off" (--offload=false, or refused by the kernel, with
the reason); GRO says whether the switch coalesces TCP segments into
super-frames when it writes to the port (always off without offloads; see
'vxctl settings').

Usage:
  vxctl ports [-o table|json]

Flags:
  -o FORMAT   table (default) or json (a JSON array of ports)

Example:
  $ vxctl ports
  NAME    VNI  MTU   MAC                RX_PACKETS  RX_BYTES  TX_PACKETS  TX_BYTES  QUEUES  OFFLOADS                  GRO
  vxtap0  42   1450  02:00:00:00:00:01  12          1176      10          980       1       csum,tso4,tso6,uso4,uso6  on
`

func cmdPorts(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	var out outputFlag
	fs := newFlags("ports", &out)
	if err := parseFlags(fs, w, portsHelp, args); err != nil {
		return err
	}
	ports, err := c.Ports(ctx)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(w, ports)
	}
	return printPorts(w, ports)
}

const statsHelp = `vxctl stats: show the switch's counters.

Per port and per VNI packet and byte counters, the drop counters that are
not zero (every drop reason with -o json), VXLAN packets accepted with
reserved bits set, the single loop's busy polls (with vxswitchd
--busy-poll: hits found traffic, misses waited), and the forwarding
database's counters.

Usage:
  vxctl stats [-o table|json]

Flags:
  -o FORMAT   table (default) or json (the whole stats object)

Example:
  vxctl stats
  vxctl stats -o json | jq .drops
`

func cmdStats(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	var out outputFlag
	fs := newFlags("stats", &out)
	if err := parseFlags(fs, w, statsHelp, args); err != nil {
		return err
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(w, st)
	}
	return printStats(w, st)
}

const statusHelp = `vxctl status: show the daemon's status.

The version of vxswitchd, how long it has run, its underlay address, the
VXLAN UDP port and the VNIs it serves.

Usage:
  vxctl status [-o table|json]

Flags:
  -o FORMAT   table (default) or json

Example:
  $ vxctl status
  version  v0.1.0
  uptime   3h2m1s
  local    192.0.2.10
  port     4789
  vnis     42 43
`

func cmdStatus(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	var out outputFlag
	fs := newFlags("status", &out)
	if err := parseFlags(fs, w, statusHelp, args); err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(w, st)
	}
	return printStatus(w, st)
}

const versionHelp = `vxctl version: show versions.

Prints vxctl's version and, when the daemon answers, vxswitchd's.

Usage:
  vxctl version

Example:
  $ vxctl version
  vxctl v0.1.0
  vxswitchd v0.1.0
`

func cmdVersion(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	fs := newFlags("version", nil)
	if err := parseFlags(fs, w, versionHelp, args); err != nil {
		return err
	}
	fmt.Fprintf(w, "vxctl %s\n", Version)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if st, err := c.Status(ctx); err == nil {
		fmt.Fprintf(w, "vxswitchd %s\n", st.Version)
	}
	return nil
}

const settingsHelp = `vxctl settings: show or change what vxswitchd can change while it runs.

Usage:
  vxctl settings [-o table|json]
  vxctl settings set --tap-gro on|off [-o table|json]

Settings:
  tap-gro   whether the switch coalesces received TCP segments into
            super-frames when it writes them to offload TAPs (GRO on write;
            the daemon's --tap-gro, on by default). Turning it off works
            around a kernel with bugs there without restarting the daemon,
            which would interrupt every port's traffic. It applies to every
            port, also those attached later, until the daemon restarts;
            then --tap-gro (or the config file) decides again. 'vxctl
            ports' shows what each port does (GRO column).

Flags:
  --tap-gro on|off   with set: the new value (also true/false, 1/0)
  -o FORMAT          table (default) or json ({"tap_gro": true})

Example:
  $ vxctl settings set --tap-gro off
  tap-gro  off
`

func cmdSettings(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
	set := len(args) > 0 && args[0] == "set"
	name := "settings"
	if set {
		args, name = args[1:], "settings set"
	}
	var out outputFlag
	var gro onOffFlag
	fs := newFlags(name, &out)
	if set {
		fs.Var(&gro, "tap-gro", "")
	}
	if err := parseFlags(fs, w, settingsHelp, args); err != nil {
		return err
	}
	var st api.Settings
	var err error
	if set {
		if !gro.set {
			return usagef(name, "nothing to change: give --tap-gro on|off")
		}
		st, err = c.UpdateSettings(ctx, api.SettingsUpdate{TAPGRO: &gro.on})
	} else {
		st, err = c.Settings(ctx)
	}
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(w, st)
	}
	return printSettings(w, st)
}
