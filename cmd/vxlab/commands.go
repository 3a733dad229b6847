package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vxswitch/vxswitch/bench/lab"
)

// stateFile is the file in the lab directory that `up` writes and `down`
// and `status` read.
const stateFile = "state.json"

// state is what `vxlab up` records about a running lab.
type state struct {
	Name  string       `json:"name"`
	VNI   uint32       `json:"vni"`
	Dir   string       `json:"dir"`
	Hosts []hostReport `json:"hosts"` // without FDBs
	// Started holds each daemon's start time in clock ticks since boot
	// (/proc/<pid>/stat field 22), by PID, so down never signals a
	// process that merely reused a PID.
	Started map[int]uint64 `json:"started"`
}

// hostReports describes the lab's hosts (no FDB yet).
func hostReports(l *lab.Lab) []hostReport {
	var hs []hostReport
	for _, h := range l.Hosts() {
		hr := hostReport{
			Name: h.Name, Namespace: h.NS.Name, Kind: kind(h.Kernel),
			Underlay: h.Underlay.String(), Overlay: h.Overlay.String(), Dev: h.Dev,
			PID: h.DaemonPID(),
		}
		if !h.Kernel {
			hr.API = h.APISocket
		}
		hs = append(hs, hr)
	}
	return hs
}

// pingAndReport pings every pair and collects every host's FDB.
func pingAndReport(ctx context.Context, l *lab.Lab) *report {
	res, _ := l.PingAll(ctx) // the results say everything the error does
	rep := &report{Lab: l.Config().Name, VNI: l.Config().VNI, Dir: l.Dir(), Hosts: hostReports(l)}
	rep.Pairs, rep.OK = pairReports(res)
	for i := range rep.Hosts {
		hostFDB(ctx, &rep.Hosts[i], rep.VNI)
	}
	return rep
}

// cmdRun is `vxlab run`: up, ping, show, down.
func cmdRun(ctx context.Context, o options, logf func(string, ...any), stdout, stderr io.Writer) int {
	cfg, err := o.labConfig(logf)
	if err != nil {
		fmt.Fprintf(stderr, "vxlab: %v\n", err)
		return 1
	}
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "vxlab: %v\n", err)
		if errors.Is(err, lab.ErrExists) {
			fmt.Fprintf(stderr, "vxlab: a lab %q is already there; remove it with: vxlab down --name %s\n", o.name, o.name)
		}
		return 1
	}
	printReport(stdout, rep, o.json)
	if !rep.OK {
		return 1
	}
	return 0
}

// run builds the lab described by cfg, pings every pair, reads the FDBs
// and takes the lab down again, also when ctx is cancelled or a step
// fails. The report is nil when the lab could not be built.
func run(ctx context.Context, cfg lab.Config) (rep *report, err error) {
	l, err := lab.New(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := l.Down(); derr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", derr))
		}
	}()
	if err := l.Up(ctx); err != nil {
		return nil, err
	}
	rep = pingAndReport(ctx, l)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("interrupted: %w", err)
	}
	return rep, nil
}

// cmdUp is `vxlab up`: build the lab with detached daemons, record it,
// ping once, print how to use it and leave it running.
func cmdUp(ctx context.Context, o options, logf func(string, ...any), stdout, stderr io.Writer) int {
	cfg, err := o.labConfig(logf)
	if err != nil {
		fmt.Fprintf(stderr, "vxlab: %v\n", err)
		return 1
	}
	rep, err := up(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "vxlab: %v\n", err)
		if errors.Is(err, lab.ErrExists) {
			fmt.Fprintf(stderr, "vxlab: a lab %q is already there; see it with `vxlab status --name %s`, remove it with `vxlab down --name %s`\n", o.name, o.name, o.name)
		}
		return 1
	}
	printReport(stdout, rep, o.json)
	if !o.json {
		printHowTo(stdout, o, rep)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// up builds the lab with detached daemons and writes its state file. On
// failure it removes everything again.
func up(ctx context.Context, cfg lab.Config) (rep *report, err error) {
	cfg.Detach = true
	l, err := lab.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := l.Up(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.Down()
			os.Remove(filepath.Join(l.Dir(), stateFile))
		}
	}()
	st := state{Name: cfg.Name, VNI: l.Config().VNI, Dir: l.Dir(), Hosts: hostReports(l), Started: map[int]uint64{}}
	for _, h := range st.Hosts {
		if h.PID != 0 {
			t, err := procStart(h.PID)
			if err != nil {
				return nil, fmt.Errorf("record daemon %d: %w", h.PID, err)
			}
			st.Started[h.PID] = t
		}
	}
	if err := writeState(&st); err != nil {
		return nil, err
	}
	rep = pingAndReport(ctx, l)
	return rep, ctx.Err()
}

// printHowTo tells the user how to enter and inspect a running lab.
func printHowTo(w io.Writer, o options, rep *report) {
	fmt.Fprintf(w, "\nLab %q is up and keeps running. Enter a host:\n", rep.Lab)
	h0 := rep.Hosts[0]
	fmt.Fprintf(w, "  sudo ip netns exec %s bash        # then e.g. ping %s\n", h0.Namespace, strings.TrimSuffix(rep.Hosts[len(rep.Hosts)-1].Overlay, "/24"))
	fmt.Fprintln(w, "Inspect the switches:")
	for _, h := range rep.Hosts {
		if h.API != "" {
			fmt.Fprintf(w, "  sudo go run ./cmd/vxctl --api %s fdb     # also: ports, stats, flood, status\n", h.API)
		} else {
			fmt.Fprintf(w, "  sudo ip netns exec %s bridge fdb show dev %s   # kernel vxlan host\n", h.Namespace, h.Dev)
		}
	}
	fmt.Fprintf(w, "Daemon logs: %s/h<i>.log\n", rep.Dir)
	args := ""
	if o.name != "vxlab" {
		args += " --name " + o.name
	}
	if o.root != DefaultRoot {
		args += " --root " + o.root
	}
	fmt.Fprintf(w, "Status: sudo go run ./cmd/vxlab status%s\nTear it down: sudo go run ./cmd/vxlab down%s\n", args, args)
}

func writeState(st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(st.Dir, stateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return os.Rename(tmp, path)
}

// readState reads the state file of lab o.name; it wraps os.ErrNotExist
// when there is none.
func readState(o options) (*state, error) {
	b, err := os.ReadFile(filepath.Join(o.labDir(), stateFile))
	if err != nil {
		return nil, fmt.Errorf("lab %q: %w", o.name, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("lab %q: corrupt %s: %w", o.name, stateFile, err)
	}
	return &st, nil
}

// cmdDown is `vxlab down`.
func cmdDown(o options, stdout, stderr io.Writer) int {
	if err := down(o); err != nil {
		fmt.Fprintf(stderr, "vxlab: down: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Lab %q is down.\n", o.name)
	return 0
}

// down stops the daemons recorded by up (SIGTERM, so they remove their
// TAPs, then SIGKILL), then kills whatever else runs in the lab's
// namespaces and deletes them (lab.Cleanup), and removes the sockets and
// the state file. Logs stay. A lab that is not there is not an error.
func down(o options) error {
	var errs []error
	st, err := readState(o)
	switch {
	case err == nil:
		for pid, started := range st.Started {
			stopProcess(pid, started)
		}
		for _, h := range st.Hosts {
			if h.API != "" {
				if err := os.Remove(h.API); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		errs = append(errs, err) // still clean the namespaces up
	}
	if err := lab.Cleanup(o.name); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.Remove(filepath.Join(o.labDir(), stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopProcess sends SIGTERM to pid if it is still the process that started
// at started, waits up to 5 s, then sends SIGKILL.
func stopProcess(pid int, started uint64) {
	alive := func() bool {
		t, err := procStart(pid)
		return err == nil && t == started
	}
	if !alive() {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for alive() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// procStart returns the start time of pid in clock ticks after boot
// (field 22 of /proc/<pid>/stat). A zombie counts as gone.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d: %w", pid, os.ErrProcessDone)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// cmdStatus is `vxlab status`: the recorded hosts, whether their
// namespaces and daemons are there, and their FDBs.
func cmdStatus(ctx context.Context, o options, stdout, stderr io.Writer) int {
	st, err := readState(o)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "vxlab: no lab %q is up (no %s in %s); start one with `vxlab up`\n", o.name, stateFile, o.labDir())
		} else {
			fmt.Fprintf(stderr, "vxlab: %v\n", err)
		}
		return 1
	}
	rep := &report{Lab: st.Name, VNI: st.VNI, Dir: st.Dir, Hosts: st.Hosts, OK: true}
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		if _, err := os.Stat(filepath.Join("/run/netns", h.Namespace)); err != nil {
			h.FDBError = "namespace " + h.Namespace + " is gone"
			rep.OK = false
			continue
		}
		if h.PID != 0 {
			if t, err := procStart(h.PID); err != nil || t != st.Started[h.PID] {
				h.FDBError = fmt.Sprintf("daemon %d is not running (see %s/%s.log)", h.PID, st.Dir, h.Name)
				rep.OK = false
				continue
			}
		}
		hostFDB(ctx, h, st.VNI)
		if h.FDBError != "" {
			rep.OK = false
		}
	}
	printReport(stdout, rep, o.json)
	if !o.json {
		if rep.OK {
			fmt.Fprintf(stdout, "\nLab %q is up.\n", st.Name)
		} else {
			fmt.Fprintf(stdout, "\nLab %q is damaged; `vxlab down --name %s` removes it.\n", st.Name, st.Name)
		}
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// runIn runs prog inside the named namespace and returns its stdout.
func runIn(ctx context.Context, ns, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, prog}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return out, fmt.Errorf("%s %s: %w", prog, strings.Join(args, " "), err)
	}
	return out, nil
}
