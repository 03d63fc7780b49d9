// Command apply measures the overhead of the real `escalator apply` per
// step, on a generated sim cloud whose actions take no time:
//
//	go run ./testing/bench/apply -hosts 1000
//
//	BENCH name=apply hosts=1000 steps=22919 wall_s=22.62 overhead_ms_per_step=0.99
//
// It generates a cloud with sim.Generate (2 zones, 20 instances per host,
// anti-affinity groups of 3, 5% of each zone's hosts spare, no
// controllers, seed 1: the clouds of bench-plan and bench-schedule),
// writes it and a campaign (nova_compute with disruption "host" on every
// compute host, so every instance is evacuated; max_unavailable 5% per
// zone; an anti-affinity guard; the sim with time_scale = 0, so every
// action is instant) into a temporary directory, installs the plugin, runs
// `escalator init`, `escalator plan -out=plan.json`, then times `escalator
// apply -auto-approve plan.json`.
//
// steps is the number of steps the run's journal shows started; wall_s is
// the apply's wall-clock time from start to exit; overhead_ms_per_step is
// wall_s / steps: the actions take no simulated time, so all of it is
// overhead (escalator's journal, the plugin protocol, and the sim's own
// bookkeeping: one fsync'd step log record per action, the changed host or
// instance rewritten in place in the cloud file; see
// website/docs/providers/sim.md). The breakdown on stderr splits the CPU
// time between escalator and the plugin.
//
// -cpuprofile DIR builds both binaries with a CPU profile around their
// main function (testing/bench/apply/profiled/...) and writes
// DIR/escalator.pprof and DIR/plugin.pprof; read them with
// `go tool pprof -top -cum`.
//
// Figures, not assertions: see `make bench-apply` and
// website/docs/testing.md for the target (2 ms per step).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sim"
	"github.com/escalator-nfv/escalator/testing/bench/internal/benchbin"
)

// campaign is the benchmark's campaign; %s is max_unavailable.
const campaign = `escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {
  cloud        = "cloud.json"
  create       = false
  time_scale   = 0
  lock_timeout = "5m"
}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
}

component "nova_compute" {
  hosts      = hosts.compute
  version    = "27.1.0"
  disruption = "host"
}

rollout "compute" {
  components      = [component.nova_compute]
  max_unavailable = "%s"
  group_by        = host.availability_zone

  evacuate {
    parallel = %d
  }
}

guard "anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity", "soft-anti-affinity"]
  max_unavailable = 1
}
`

const pluginName = "escalator-provider-sim"

type options struct {
	hosts       int
	perHost     int
	zones       int
	groupSize   int
	maxUnavail  string
	evacPar     int
	parallelism int
	spare       float64
	seed        uint64
	escalator   string
	plugin      string
	cpuprofile  string
	keep        bool
	verbose     bool
}

func main() {
	var o options
	flag.IntVar(&o.hosts, "hosts", 1000, "compute hosts of the generated cloud")
	flag.IntVar(&o.perHost, "instances-per-host", 20, "instances per loaded host")
	flag.IntVar(&o.zones, "zones", 2, "availability zones")
	flag.IntVar(&o.groupSize, "group-size", 3, "anti-affinity group size")
	flag.StringVar(&o.maxUnavail, "max-unavailable", "5%", "max_unavailable of the rollout")
	flag.IntVar(&o.evacPar, "evacuate-parallel", 2, "evacuate.parallel of the rollout: migrations at once per host")
	flag.IntVar(&o.parallelism, "parallelism", 0, "escalator apply -parallelism (hosts of a wave at once); 0: escalator's default")
	flag.Float64Var(&o.spare, "spare", 0.05, "share of each zone's hosts left empty (spare hosts)")
	flag.Uint64Var(&o.seed, "seed", 1, "generator seed")
	flag.StringVar(&o.escalator, "escalator", "", "escalator binary to measure (default: build bin/escalator from this checkout)")
	flag.StringVar(&o.plugin, "plugin", "", "sim plugin binary to measure (default: build bin/"+pluginName+" from this checkout)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write CPU profiles of escalator and the plugin into this directory (builds profiling binaries; ignores -escalator and -plugin)")
	flag.BoolVar(&o.keep, "keep", false, "keep the campaign directory and print its path on stderr")
	flag.BoolVar(&o.verbose, "v", false, "report progress on stderr every 10 seconds")
	flag.Parse()
	if o.hosts < 1 {
		fail(errors.New("-hosts must be at least 1"))
	}
	if err := buildBinaries(&o); err != nil {
		fail(err)
	}
	if err := bench(o); err != nil {
		fail(fmt.Errorf("%d hosts: %w", o.hosts, err))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench apply:", err)
	os.Exit(1)
}

// buildBinaries builds escalator and the sim plugin for each binary whose
// flag is empty (into bin/ of the module root), or the profiling variants
// into the profile directory.
func buildBinaries(o *options) error {
	var root string
	if o.escalator == "" || o.plugin == "" || o.cpuprofile != "" {
		var err error
		if root, err = benchbin.ModuleRoot(); err != nil {
			return err
		}
	}
	if o.cpuprofile != "" {
		abs, err := filepath.Abs(o.cpuprofile)
		if err != nil {
			return err
		}
		o.cpuprofile = abs
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return err
		}
		o.escalator, o.plugin = "", ""
		if err := benchbin.Build(root, &o.escalator, filepath.Join(abs, "escalator"), "./testing/bench/apply/profiled/escalator"); err != nil {
			return err
		}
		if err := benchbin.Build(root, &o.plugin, filepath.Join(abs, pluginName), "./testing/bench/apply/profiled/sim"); err != nil {
			return err
		}
	}
	if err := benchbin.Build(root, &o.escalator, filepath.Join(root, "bin", "escalator"), "."); err != nil {
		return err
	}
	if err := benchbin.Build(root, &o.plugin, filepath.Join(root, "bin", pluginName), "./plugins/sim/cmd/escalator-provider-sim"); err != nil {
		return err
	}
	return benchbin.Absolute(&o.escalator, &o.plugin)
}

func bench(o options) error {
	g := sim.DefaultGenOptions()
	g.Hosts, g.InstancesPerHost, g.Zones, g.GroupSize = o.hosts, o.perHost, o.zones, o.groupSize
	g.Seed, g.Controllers, g.SpareFraction = o.seed, 0, o.spare
	cloud, err := sim.Generate(g)
	if err != nil {
		return fmt.Errorf("generating the cloud: %w", err)
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("bench-apply-%d-", o.hosts))
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "bench apply: campaign in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := sim.WriteCloudFile(filepath.Join(dir, "cloud.json"), cloud); err != nil {
		return err
	}
	fi, err := os.Stat(filepath.Join(dir, "cloud.json"))
	if err != nil {
		return err
	}
	instances, groups := len(cloud.Instances), len(cloud.ServerGroups)
	cloud = nil
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf(campaign, o.maxUnavail, o.evacPar)), 0o644); err != nil {
		return err
	}
	pluginDir := filepath.Join(dir, ".escalator", "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return err
	}
	if err := benchbin.CopyFile(o.plugin, filepath.Join(pluginDir, pluginName)); err != nil {
		return fmt.Errorf("installing the plugin: %w", err)
	}
	if out, err := escalatorCmd(o, dir, "init").CombinedOutput(); err != nil {
		return fmt.Errorf("escalator init: %w\n%s", err, out)
	}
	start := time.Now()
	if out, err := escalatorCmd(o, dir, "plan", "-out=plan.json").CombinedOutput(); err != nil {
		return fmt.Errorf("escalator plan: %w\n%s", err, benchbin.Tail(out, 4000))
	}
	planWall := time.Since(start)
	fmt.Fprintf(os.Stderr, "bench apply: %d hosts, %d instances, %d groups, cloud file %.1f MB; plan in %.2fs\n",
		o.hosts, instances, groups, float64(fi.Size())/1e6, planWall.Seconds())

	args := []string{"apply", "-auto-approve"}
	if o.parallelism > 0 {
		args = append(args, fmt.Sprintf("-parallelism=%d", o.parallelism))
	}
	cmd := escalatorCmd(o, dir, append(args, "plan.json")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start = time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	w := &watcher{parent: cmd.Process.Pid, stop: make(chan struct{}), cpu: map[int]cpuTime{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.poll(o.verbose, dir, start) }()
	err = cmd.Wait()
	wall := time.Since(start)
	close(w.stop)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("escalator apply: %w\n%s", err, benchbin.Tail(out.Bytes(), 4000))
	}
	j, err := readJournal(dir)
	if err != nil {
		return err
	}
	if !j.finished {
		return fmt.Errorf("the run did not finish:\n%s", benchbin.Tail(out.Bytes(), 4000))
	}
	if j.started == 0 {
		return errors.New("the journal shows no step")
	}
	// escalator's rusage counts the plugin too (wait4 adds the children
	// a process reaped): its own share is the rest.
	var total cpuTime
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		total = cpuTime{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}
	}
	var plugCPU cpuTime
	for _, c := range w.cpu {
		plugCPU.user += c.user
		plugCPU.sys += c.sys
	}
	escCPU := cpuTime{user: max(total.user-plugCPU.user, 0), sys: max(total.sys-plugCPU.sys, 0)}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(j.started) }
	fmt.Fprintf(os.Stderr, "bench apply: %d steps (%d migrations) in %.2fs; per step: escalator CPU %.2f ms (user %.2f, sys %.2f), plugin CPU %.2f ms (user %.2f, sys %.2f)%s\n",
		j.started, j.migrations, wall.Seconds(),
		ms(escCPU.user+escCPU.sys), ms(escCPU.user), ms(escCPU.sys),
		ms(plugCPU.user+plugCPU.sys), ms(plugCPU.user), ms(plugCPU.sys), w.note())
	if o.cpuprofile != "" {
		fmt.Fprintf(os.Stderr, "bench apply: CPU profiles in %s (escalator.pprof, plugin.pprof): go tool pprof -top -cum %s\n",
			o.cpuprofile, filepath.Join(o.cpuprofile, "plugin.pprof"))
	}
	fmt.Printf("BENCH name=apply hosts=%d steps=%d wall_s=%.2f overhead_ms_per_step=%.2f\n",
		o.hosts, j.started, wall.Seconds(), wall.Seconds()*1000/float64(j.started))
	return nil
}

func escalatorCmd(o options, dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(o.escalator, append([]string{"-chdir=" + dir}, args...)...)
	cmd.Dir = dir
	// No color, the default (quiet) logging whatever the caller's
	// environment says: debug logging would skew the figures.
	env := []string{"NO_COLOR=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ESCALATOR_") {
			env = append(env, kv)
		}
	}
	if o.cpuprofile != "" {
		env = append(env, "ESCALATOR_BENCH_CPUPROFILE="+o.cpuprofile)
	}
	cmd.Env = env
	return cmd
}

// journal is what the benchmark reads of the run's journal.
type journal struct {
	started, migrations int
	finished            bool
}

func readJournal(dir string) (journal, error) {
	var j journal
	files, err := filepath.Glob(filepath.Join(dir, ".escalator", "state.journal", "*.jsonl"))
	if err != nil || len(files) != 1 {
		return j, fmt.Errorf("want one run journal, found %d (%v)", len(files), err)
	}
	f, err := os.Open(files[0])
	if err != nil {
		return j, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.Contains(line, []byte(`"kind":"step_started"`)):
			j.started++
			if bytes.Contains(line, []byte(`"action":"migrate"`)) {
				j.migrations++
			}
		case bytes.Contains(line, []byte(`"kind":"run_finished"`)):
			j.finished = true
		}
	}
	return j, sc.Err()
}

type cpuTime struct{ user, sys time.Duration }

// watcher polls /proc for escalator's plugin processes and keeps the last
// CPU times read for each (a plugin's own rusage is not ours to read: it
// is escalator's child; the last 20 ms of a plugin's life may be missed),
// and reports progress.
type watcher struct {
	parent int
	stop   chan struct{}
	cpu    map[int]cpuTime
}

func (w *watcher) note() string {
	if len(w.cpu) == 0 {
		return " (plugin not seen in /proc)"
	}
	return ""
}

func (w *watcher) poll(verbose bool, dir string, start time.Time) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		w.sample()
		if verbose && time.Since(last) > 10*time.Second {
			last = time.Now()
			if j, err := readJournal(dir); err == nil {
				fmt.Fprintf(os.Stderr, "bench apply: %.0fs: %d steps started (%.2f ms per step so far)\n",
					time.Since(start).Seconds(), j.started, float64(time.Since(start).Milliseconds())/float64(max(j.started, 1)))
			}
		}
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTick = 100

func (w *watcher) sample() {
	for _, pid := range children(w.parent) {
		if _, known := w.cpu[pid]; !known {
			w.cpu[pid] = cpuTime{}
		}
	}
	for pid := range w.cpu {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After the comm: state ppid pgrp session tty tpgid flags minflt
		// cminflt majflt cmajflt utime stime …
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		w.cpu[pid] = cpuTime{user: time.Duration(ut) * time.Second / clockTick, sys: time.Duration(st) * time.Second / clockTick}
	}
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, l := range lists {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}
