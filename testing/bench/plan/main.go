// Command plan measures the real `escalator plan` binary, with its sim
// provider plugin, on generated clouds and prints one line per size:
//
//	go run ./testing/bench/plan -hosts 1000,10000
//
//	BENCH name=plan hosts=10000 instances=200000 groups=40000 wall_s=1.23 rss_mb=456
//
// For each size it generates a cloud with sim.Generate (2 zones, 20
// instances per host, anti-affinity groups of 3, seed 1, no controllers,
// 5% of each zone's hosts spare: the clouds of bench-schedule),
// writes it and a campaign (max_unavailable 5% per zone, an anti-affinity
// guard) into a temporary directory, installs the plugin in the campaign's
// .escalator/plugins, runs `escalator init`, then `escalator plan
// -out=plan.json` -runs times (3 by default).
//
// wall_s is the best run's wall-clock time, from starting escalator to its
// exit: plugin start, Configure, ReadInventory, the planner and writing the
// plan. rss_mb is the worst run's peak resident memory of escalator plus
// the peak of its plugin process (they run at the same time): escalator's
// from its rusage, the plugin's from VmHWM in /proc/PID/status, polled
// while the plan runs (a plugin this benchmark cannot see, on a system
// without /proc, counts 0 and the breakdown on stderr says so). A
// breakdown per process goes to stderr; stdout carries only BENCH lines.
//
// With -profile DIR, each run also writes escalator's CPU profile and
// execution trace to DIR (escalator-HOSTS-RUN.cpu.pprof and .trace, through
// ESCALATOR_CPUPROFILE and ESCALATOR_TRACE), for `go tool pprof` and
// `go tool trace`; profiling slows the runs a little.
//
// Figures, not assertions: see `make bench-plan` and
// website/docs/benchmarks.md for the targets.
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

// campaign is the benchmark's upgrade campaign; %s is max_unavailable.
const campaign = `escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {
  cloud      = "cloud.json"
  create     = false
  time_scale = 0
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
}

guard "anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity", "soft-anti-affinity"]
  max_unavailable = 1
}
`

// pluginName is the sim plugin's executable name.
const pluginName = "escalator-provider-sim"

type options struct {
	hosts      []int
	perHost    int
	zones      int
	groupSize  int
	maxUnavail string
	spare      float64
	seed       uint64
	runs       int
	escalator  string
	plugin     string
	keep       bool
	verbose    bool
	profile    string
}

func main() {
	var o options
	hostsFlag := flag.String("hosts", "1000,10000", "comma-separated cloud sizes (compute hosts)")
	flag.IntVar(&o.perHost, "instances-per-host", 20, "instances per host")
	flag.IntVar(&o.zones, "zones", 2, "availability zones")
	flag.IntVar(&o.groupSize, "group-size", 3, "anti-affinity group size")
	flag.StringVar(&o.maxUnavail, "max-unavailable", "5%", "max_unavailable of the rollout")
	flag.Uint64Var(&o.seed, "seed", 1, "generator seed")
	flag.Float64Var(&o.spare, "spare", 0.05, "share of each zone's hosts left empty (spare hosts), as in bench-schedule")
	flag.IntVar(&o.runs, "runs", 3, "plan runs per size (best wall time, worst memory)")
	flag.StringVar(&o.escalator, "escalator", "", "escalator binary to measure (default: build bin/escalator from this checkout)")
	flag.StringVar(&o.plugin, "plugin", "", "sim plugin binary to measure (default: build bin/"+pluginName+" from this checkout)")
	flag.BoolVar(&o.keep, "keep", false, "keep the campaign directories and print their paths on stderr")
	flag.BoolVar(&o.verbose, "v", false, "print each run's figures on stderr")
	flag.StringVar(&o.profile, "profile", "", "write escalator's CPU profile and execution trace of each run into this directory")
	flag.Parse()
	for _, hs := range strings.Split(*hostsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(hs))
		if err != nil || n < 1 {
			fail(fmt.Errorf("bad -hosts entry %q: want a positive number", hs))
		}
		o.hosts = append(o.hosts, n)
	}
	if o.runs < 1 {
		fail(errors.New("-runs must be at least 1"))
	}
	if err := buildBinaries(&o); err != nil {
		fail(err)
	}
	if o.profile != "" {
		abs, err := filepath.Abs(o.profile)
		if err == nil {
			err = os.MkdirAll(abs, 0o755)
		}
		if err != nil {
			fail(fmt.Errorf("-profile: %w", err))
		}
		o.profile = abs
	}
	for _, n := range o.hosts {
		if err := bench(o, n); err != nil {
			fail(fmt.Errorf("%d hosts: %w", n, err))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench plan:", err)
	os.Exit(1)
}

// buildBinaries builds escalator and the sim plugin into bin/ (of the
// module root) for each binary whose flag is empty, so that by default the
// benchmark measures the checkout it runs from.
func buildBinaries(o *options) error {
	var root string
	if o.escalator == "" || o.plugin == "" {
		var err error
		if root, err = benchbin.ModuleRoot(); err != nil {
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

// bench prepares one campaign and measures its plan runs.
func bench(o options, n int) error {
	g := sim.DefaultGenOptions()
	g.Hosts, g.InstancesPerHost, g.Zones, g.GroupSize = n, o.perHost, o.zones, o.groupSize
	g.Seed, g.Controllers, g.SpareFraction = o.seed, 0, o.spare
	cloud, err := sim.Generate(g)
	if err != nil {
		return fmt.Errorf("generating the cloud: %w", err)
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("bench-plan-%d-", n))
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "bench plan: %d hosts: campaign in %s\n", n, dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := sim.WriteCloudFile(filepath.Join(dir, "cloud.json"), cloud); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf(campaign, o.maxUnavail)), 0o644); err != nil {
		return err
	}
	pluginDir := filepath.Join(dir, ".escalator", "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return err
	}
	if err := benchbin.CopyFile(o.plugin, filepath.Join(pluginDir, pluginName)); err != nil {
		return fmt.Errorf("installing the plugin: %w", err)
	}
	if out, err := escalatorCmd(o.escalator, dir, "init").CombinedOutput(); err != nil {
		return fmt.Errorf("escalator init: %w\n%s", err, out)
	}
	instances, groups := len(cloud.Instances), len(cloud.ServerGroups)
	cloud = nil // the runs should not pay for our copy in GC pressure

	best := time.Duration(1<<63 - 1)
	var worst, worstEsc, worstPlugin int64
	pluginSeen := false
	for i := 0; i < o.runs; i++ {
		var prof string
		if o.profile != "" {
			prof = filepath.Join(o.profile, fmt.Sprintf("escalator-%d-%d", n, i+1))
		}
		r, err := runPlan(o.escalator, dir, prof)
		if err != nil {
			return err
		}
		best = min(best, r.wall)
		if total := r.escalatorKB + r.pluginKB; total > worst {
			worst = total
		}
		worstEsc, worstPlugin = max(worstEsc, r.escalatorKB), max(worstPlugin, r.pluginKB)
		pluginSeen = pluginSeen || r.pluginSeen
		if o.verbose {
			fmt.Fprintf(os.Stderr, "bench plan: %d hosts: run %d: wall %.3fs, rss escalator %d MB + plugin %d MB\n",
				n, i+1, r.wall.Seconds(), r.escalatorKB>>10, r.pluginKB>>10)
		}
	}
	note := ""
	if !pluginSeen {
		note = " (plugin not measured: no escalator-provider-sim child seen in /proc; rss_mb is escalator's alone)"
	}
	fmt.Fprintf(os.Stderr, "bench plan: %d hosts (spare %g): peak rss escalator %d MB, plugin %d MB%s\n", n, o.spare, worstEsc>>10, worstPlugin>>10, note)
	fmt.Printf("BENCH name=plan hosts=%d instances=%d groups=%d wall_s=%.2f rss_mb=%d\n",
		n, instances, groups, best.Seconds(), (worst+512)>>10)
	return nil
}

func escalatorCmd(bin, dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"-chdir=" + dir}, args...)...)
	cmd.Dir = dir
	// No color codes, the default (quiet) logging and no profiling
	// whatever the caller's environment says (-profile asks for
	// profiles): debug logging and profiling would skew the figures.
	env := []string{"NO_COLOR=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ESCALATOR_LOG") && !strings.HasPrefix(kv, "ESCALATOR_CPUPROFILE=") && !strings.HasPrefix(kv, "ESCALATOR_TRACE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	return cmd
}

type result struct {
	wall        time.Duration
	escalatorKB int64
	pluginKB    int64
	pluginSeen  bool
}

// runPlan runs `escalator plan -out=plan.json` once; with prof set, it
// writes escalator's CPU profile to prof.cpu.pprof and its execution trace
// to prof.trace.
func runPlan(bin, dir, prof string) (result, error) {
	cmd := escalatorCmd(bin, dir, "plan", "-out=plan.json")
	if prof != "" {
		cmd.Env = append(cmd.Env, "ESCALATOR_CPUPROFILE="+prof+".cpu.pprof", "ESCALATOR_TRACE="+prof+".trace")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	w := &watcher{parent: cmd.Process.Pid, stop: make(chan struct{}), pids: map[int]int64{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.poll() }()
	err := cmd.Wait()
	wall := time.Since(start)
	close(w.stop)
	wg.Wait()
	if err != nil {
		return result{}, fmt.Errorf("escalator plan: %w\n%s", err, benchbin.Tail(out.Bytes(), 4000))
	}
	if _, err := os.Stat(filepath.Join(dir, "plan.json")); err != nil {
		return result{}, fmt.Errorf("escalator plan wrote no plan: %w", err)
	}
	r := result{wall: wall, pluginSeen: len(w.pids) > 0}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.escalatorKB = int64(ru.Maxrss) // kilobytes on Linux
	}
	for _, kb := range w.pids {
		r.pluginKB += kb
	}
	return r, nil
}

// watcher polls /proc for plugin processes whose parent is escalator and
// keeps the last VmHWM (peak resident set) read for each. The plugin lives
// until escalator has written the plan, and its peak is reached while it
// reads and sends the inventory, well before it exits, so a 5 ms poll
// catches it.
type watcher struct {
	parent int
	stop   chan struct{}
	pids   map[int]int64 // pid → VmHWM in kB
}

func (w *watcher) poll() {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		w.sample()
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

func (w *watcher) sample() {
	// A child belongs to the thread that forked it, and Go forks from
	// any thread: read every thread's children list.
	lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", w.parent))
	var pids []int
	for _, l := range lists {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if len(lists) == 0 {
		// No children lists (a kernel without CONFIG_PROC_CHILDREN):
		// find the parent in every process's stat.
		pids = scanChildren(w.parent)
	}
	for _, pid := range pids {
		if _, known := w.pids[pid]; known {
			continue
		}
		// The kernel truncates the name to 15 bytes.
		if name, _, ok := procStatus(pid); ok && name != "" && strings.HasPrefix(pluginName, name) {
			w.pids[pid] = 0
		}
	}
	// Known plugins are read until they are gone, including after they
	// left the children list while exiting.
	for pid := range w.pids {
		if _, hwm, ok := procStatus(pid); ok && hwm > w.pids[pid] {
			w.pids[pid] = hwm
		}
	}
}

// procStatus returns a process's name (as truncated by the kernel) and its
// VmHWM in kB.
func procStatus(pid int) (name string, hwmKB int64, ok bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Name:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "Name:"))
		case strings.HasPrefix(line, "VmHWM:"):
			fs := strings.Fields(strings.TrimPrefix(line, "VmHWM:"))
			if len(fs) > 0 {
				hwmKB, _ = strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return name, hwmKB, name != ""
}

// scanChildren lists the processes whose parent is ppid, from /proc/*/stat.
func scanChildren(ppid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fs := strings.Fields(string(b[i+1:]))
		if len(fs) > 1 {
			if p, err := strconv.Atoi(fs[1]); err == nil && p == ppid {
				out = append(out, pid)
			}
		}
	}
	return out
}
