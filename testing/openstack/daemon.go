package openstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A daemon is one long-running process of the environment. It runs in a
// session of its own (setsid), so its PID is also its process group and
// session id: stopping it signals the whole group (uwsgi workers, erlang
// helpers, oslo.service children), and nothing of it survives a stop.
type daemon struct {
	Name string   // unique in the environment: "mariadb", "nova-compute-compute1" …
	Argv []string // Argv[0] is a path
	Env  []string // the whole environment (nothing inherited)
	Dir  string   // working directory
}

// pidRecord is what a pid file holds: the PID and the process's start time
// in clock ticks since boot, so a recycled PID is never mistaken for ours.
type pidRecord struct {
	PID   int
	Start uint64
}

func (e *Env) pidFile(name string) string { return filepath.Join(e.Dir, "run", name+".pid") }

// LogFile is the file that receives the standard output and error of the
// daemon name (e.g. "nova-api", "nova-compute-compute3").
func (e *Env) LogFile(name string) string { return filepath.Join(e.Dir, "log", name+".log") }

// start launches d detached in a new session, records its pid file and
// returns at once. A daemon already running under that name is an error:
// two copies would share ports and files.
func (e *Env) start(d daemon) error {
	if rec, ok := readPidFile(e.pidFile(d.Name)); ok && groupAlive(rec) {
		return fmt.Errorf("start %s: already running as PID %d (stop the environment first: osenv down -dir %s)", d.Name, rec.PID, e.Dir)
	}
	logf, err := os.OpenFile(e.LogFile(d.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", d.Name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: starting %s\n", time.Now().Format(time.RFC3339), strings.Join(d.Argv, " "))
	cmd := exec.Command(d.Argv[0], d.Argv[1:]...)
	cmd.Env = d.Env
	cmd.Dir = d.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.Name, err)
	}
	pid := cmd.Process.Pid
	// Reap the child when it exits, so that a dead daemon does not linger as
	// a zombie of this process (a zombie counts as gone anyway).
	go func() { _ = cmd.Wait() }()
	st, err := procStart(pid)
	if err != nil {
		// It exited already; the readiness wait reports it with its log.
		st = 0
	}
	rec := pidRecord{PID: pid, Start: st}
	if err := writeFileAtomic(e.pidFile(d.Name), []byte(fmt.Sprintf("%d %d\n", rec.PID, rec.Start))); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("start %s: pid file: %w", d.Name, err)
	}
	return nil
}

// running reports whether the daemon name has a live process group.
func (e *Env) running(name string) bool {
	rec, ok := readPidFile(e.pidFile(name))
	return ok && groupAlive(rec)
}

// leaderAlive reports whether the process the daemon was started as still
// runs (for readiness waits: a dead leader means the daemon failed).
func (e *Env) leaderAlive(name string) bool {
	rec, ok := readPidFile(e.pidFile(name))
	return ok && alive(rec)
}

// stopDaemons stops the named daemons together: SIGTERM to each process
// group, up to grace for every process of theirs to exit, then SIGKILL to
// each and up to 10 s more. Names without a pid file are already stopped.
// It fails, naming the survivors, only if a process is still there after
// SIGKILL.
func (e *Env) stopDaemons(ctx context.Context, names []string, grace time.Duration) error {
	recs := map[string]pidRecord{}
	for _, n := range names {
		if rec, ok := readPidFile(e.pidFile(n)); ok {
			recs[n] = rec
		}
	}
	// The processes to see gone, taken before any signal: once a parent
	// dies its children lose their lineage. Erlang's helpers (erl_child_setup,
	// inet_gethost) call setsid, so the process group alone misses them.
	procs := map[string][]pidRecord{}
	table := readProcTable()
	for n, rec := range recs {
		procs[n] = table.tree(rec)
	}
	signal := func(sig syscall.Signal) {
		for n, rec := range recs {
			_ = syscall.Kill(-rec.PID, sig)
			for _, p := range procs[n] {
				if alive(p) {
					_ = syscall.Kill(p.PID, sig)
				}
			}
		}
	}
	left := func() []string {
		var out []string
		for n, ps := range procs {
			for _, p := range ps {
				if alive(p) {
					out = append(out, n)
					break
				}
			}
		}
		sort.Strings(out)
		return out
	}
	waitGone := func(d time.Duration) []string {
		deadline := time.Now().Add(d)
		for {
			l := left()
			if len(l) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
				return l
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	signal(syscall.SIGTERM)
	if l := waitGone(grace); len(l) > 0 {
		signal(syscall.SIGKILL)
		if l := waitGone(10 * time.Second); len(l) > 0 {
			var pids []string
			for _, n := range l {
				pids = append(pids, fmt.Sprintf("%s (PID %d)", n, recs[n].PID))
			}
			return fmt.Errorf("stop: still running after SIGKILL: %s", strings.Join(pids, ", "))
		}
	}
	for n := range recs {
		os.Remove(e.pidFile(n))
	}
	return nil
}

func readPidFile(path string) (pidRecord, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return pidRecord{}, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return pidRecord{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	st, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 1 {
		return pidRecord{}, false
	}
	return pidRecord{PID: pid, Start: st}, true
}

// procStat is what the harness reads of /proc/PID/stat.
type procStat struct {
	State     byte
	PPid      int
	Pgrp, Sid int
	Start     uint64
	RSSPages  int64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses /proc/PID/stat; the command name (field 2) may hold
// spaces and parentheses, so fields are counted from its closing one.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, errors.New("short /proc stat")
	}
	var s procStat
	var err error
	s.State = f[0][0]
	if s.PPid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, err
	}
	if s.Pgrp, err = strconv.Atoi(f[2]); err != nil {
		return procStat{}, err
	}
	if s.Sid, err = strconv.Atoi(f[3]); err != nil {
		return procStat{}, err
	}
	if s.Start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return procStat{}, err
	}
	if s.RSSPages, err = strconv.ParseInt(f[21], 10, 64); err != nil {
		return procStat{}, err
	}
	return s, nil
}

func procStart(pid int) (uint64, error) {
	s, err := readProcStat(pid)
	return s.Start, err
}

// alive: the recorded process runs (not a zombie, not a recycled PID).
func alive(rec pidRecord) bool {
	s, err := readProcStat(rec.PID)
	if err != nil || s.State == 'Z' || s.State == 'X' {
		return false
	}
	return rec.Start == 0 || s.Start == rec.Start
}

// procTable is a snapshot of the live processes.
type procTable map[int]procStat

func readProcTable() procTable {
	t := procTable{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return t
	}
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		s, err := readProcStat(pid)
		if err != nil || s.State == 'Z' || s.State == 'X' {
			continue
		}
		t[pid] = s
	}
	return t
}

// tree lists the live processes of a daemon: its session and process
// group (both equal its PID, thanks to setsid) — so a uwsgi worker whose
// master died still counts — and every descendant of those, wherever it
// moved to.
func (t procTable) tree(rec pidRecord) []pidRecord {
	in := map[int]bool{}
	for pid, p := range t {
		if (p.Pgrp == rec.PID && p.Sid == rec.PID) || (pid == rec.PID && (rec.Start == 0 || p.Start == rec.Start)) {
			in[pid] = true
		}
	}
	for grew := true; grew; {
		grew = false
		for pid, p := range t {
			if !in[pid] && in[p.PPid] {
				in[pid] = true
				grew = true
			}
		}
	}
	var out []pidRecord
	for pid := range in {
		out = append(out, pidRecord{PID: pid, Start: t[pid].Start})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

func groupAlive(rec pidRecord) bool { return alive(rec) || len(readProcTable().tree(rec)) > 0 }

// groupRSS is the resident memory of the daemon's processes, in bytes.
func groupRSS(t procTable, rec pidRecord) int64 {
	var total int64
	page := int64(os.Getpagesize())
	for _, p := range t.tree(rec) {
		total += t[p.PID].RSSPages * page
	}
	return total
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
