//go:build e2e_openstack && linux

package openstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/migrations"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sdk"
	osenv "github.com/escalator-nfv/escalator/testing/openstack"
)

// A real campaign against the real OpenStack: escalator plan and apply,
// the real binaries, upgrading a host-level component ("hostos", kept by
// the sim provider in a file: the stand-in for a host provider) on every
// compute host, while the OpenStack side — disabling the compute
// services, live-migrating the servers to the hosts the plan chose,
// enabling them again — is done by the openstack provider on Nova.

// campaign is one campaign directory and the binaries it runs.
type campaign struct {
	t   *testing.T
	dir string
	bin string
}

// buildBinaries builds escalator and the two plugins once per test.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for out, pkg := range map[string]string{
		"escalator":                    ".",
		"escalator-provider-openstack": "./plugins/openstack/cmd/escalator-provider-openstack",
		"escalator-provider-sim":       "./plugins/sim/cmd/escalator-provider-sim",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return dir
}

// campaignHCL upgrades hostos on every compute host the openstack
// provider reports, a zone at a time, two hosts per wave, live
// migrations to planned destinations, anti-affinity groups one member
// down at most.
func campaignHCL(env *osenv.Env, onFailure, rolloutExtra string) string {
	return fmt.Sprintf(`escalator {
  required_providers {
    openstack = { version = ">= 0.1.0" }
    sim       = { version = ">= 0.1.0" }
  }
  state "local" {
    path = ".escalator/state.json"
  }
}

provider "openstack" {
  cloud         = %q
  clouds_file   = %q
  poll_interval = "500ms"
}

# The host OS, as a host provider would upgrade it: here the sim
# provider keeps its version in a file, instantly.
provider "sim" {
  cloud      = "hostos.json"
  create     = false
  time_scale = 0
}

hosts "compute" {
  provider = provider.openstack
  role     = "compute"
  where    = host.state != "down"
}

component "hostos" {
  hosts      = hosts.compute
  provider   = provider.sim
  version    = "2.0.0"
  disruption = "host"
}

rollout "compute" {
  components      = [component.hostos]
  max_unavailable = 2
  group_by        = host.availability_zone

  evacuate {
    mode     = "live"
    timeout  = "3m"
    parallel = 2
  }

  verify {
    checks  = [check.compute_service_up]
    timeout = "2m"
  }

  on_failure {
    %s
  }
%s}

guard "anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity"]
  max_unavailable = 1
}

check "compute_service_up" {
  kind     = "provider"
  provider = provider.openstack
  probe    = "compute_service_up"
  when     = ["preflight", "after"]
}
`, env.CloudName, env.CloudsYAML, onFailure, rolloutExtra)
}

// hostosCloud is the sim's file: the computes with hostos 1.0.0 and no
// instances (Nova has them).
func hostosCloud(env *osenv.Env) []byte {
	type host struct {
		Name     string            `json:"name"`
		Role     string            `json:"role"`
		Zone     string            `json:"availability_zone"`
		Capacity map[string]int    `json:"capacity"`
		Versions map[string]string `json:"versions"`
		State    string            `json:"state"`
	}
	var hosts []host
	for _, cp := range env.Computes {
		hosts = append(hosts, host{Name: cp.Name, Role: "compute", Zone: cp.Zone, Capacity: map[string]int{},
			Versions: map[string]string{"hostos": "1.0.0"}, State: "up"})
	}
	b, _ := json.MarshalIndent(map[string]any{"format_version": 2, "name": "hostos", "hosts": hosts,
		"instances": []any{}, "server_groups": []any{}, "vnf_managers": []any{}}, "", "  ")
	return b
}

func newCampaign(t *testing.T, env *osenv.Env, bin, onFailure, rolloutExtra string) *campaign {
	t.Helper()
	c := &campaign{t: t, dir: t.TempDir(), bin: bin}
	if err := os.WriteFile(filepath.Join(c.dir, "main.hcl"), []byte(campaignHCL(env, onFailure, rolloutExtra)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "hostos.json"), hostosCloud(env), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := c.run(time.Minute, "init"); r.code != 0 {
		t.Fatalf("escalator init: %s", r)
	}
	return c
}

type result struct {
	args           []string
	code           int
	stdout, stderr string
	wall           time.Duration
}

func (r result) String() string {
	tail := func(s string) string {
		if len(s) > 6000 {
			return "…" + s[len(s)-6000:]
		}
		return s
	}
	return fmt.Sprintf("escalator %s: exit %d after %s\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), r.code, r.wall.Round(time.Millisecond), tail(r.stdout), tail(r.stderr))
}

func (c *campaign) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "escalator"), args...)
	cmd.Dir = c.dir
	env := []string{"NO_COLOR=1", "ESCALATOR_PLUGIN_PATH=" + c.bin}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ESCALATOR_") && !strings.HasPrefix(kv, "OS_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// run runs escalator to its end, within timeout.
func (c *campaign) run(timeout time.Duration, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := c.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), wall: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		c.t.Fatalf("escalator %s: %v (killed after %s)\n%s", strings.Join(args, " "), err, timeout, r)
	}
	return r
}

func (c *campaign) plan() *plans.Plan {
	c.t.Helper()
	if r := c.run(2*time.Minute, "plan", "-out=plan.json"); r.code != 0 {
		c.t.Fatalf("plan: %s", r)
	}
	f, err := plans.Read(filepath.Join(c.dir, "plan.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	return f.Plan
}

func (c *campaign) journal() []state.Event {
	c.t.Helper()
	files, err := filepath.Glob(filepath.Join(c.dir, ".escalator", "state.journal", "*.jsonl"))
	if err != nil {
		c.t.Fatal(err)
	}
	sort.Strings(files)
	var out []state.Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if e, err := state.DecodeEvent(line); err == nil {
				out = append(out, e)
			}
		}
	}
	return out
}

func (c *campaign) hostos() map[string]string {
	c.t.Helper()
	var cloud struct {
		Hosts []struct {
			Name     string            `json:"name"`
			Versions map[string]string `json:"versions"`
		} `json:"hosts"`
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "hostos.json"))
	if err == nil {
		err = json.Unmarshal(b, &cloud)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range cloud.Hosts {
		out[h.Name] = h.Versions["hostos"]
	}
	return out
}

// checkPlan checks the plan against what Nova reports: every compute
// visited once and evacuated; waves within a zone and max_unavailable;
// every server of a visited host moved off it in that visit, to a
// compute outside the wave; no anti-affinity group with two members on
// the hosts of one wave, nor two members on one host after a move; each
// server moved at most once. It returns the planned final hosts.
func checkPlan(t *testing.T, p *plans.Plan, env *osenv.Env, hostOf map[string]string, groups map[string][]string) map[string]string {
	t.Helper()
	zoneOf := map[string]string{}
	for _, cp := range env.Computes {
		zoneOf[cp.Name] = cp.Zone
	}
	groupOf := map[string]string{}
	for g, ms := range groups {
		for _, m := range ms {
			groupOf[m] = g
		}
	}
	where := map[string]string{}
	for id, h := range hostOf {
		where[id] = h
	}
	visited := map[string]int{}
	moved := map[string]int{}
	if len(p.Rollouts) != 1 {
		t.Fatalf("%d rollouts, want 1", len(p.Rollouts))
	}
	for _, w := range p.Rollouts[0].Waves {
		inWave := map[string]bool{}
		zones := map[string]bool{}
		for _, hv := range w.Hosts {
			inWave[hv.Host] = true
			zones[zoneOf[hv.Host]] = true
		}
		if len(w.Hosts) > 2 || len(zones) != 1 {
			t.Errorf("wave %d: %d hosts in zones %v, want at most 2 in one zone", w.Number, len(w.Hosts), zones)
		}
		perGroup := map[string]int{}
		for id, h := range where {
			if g := groupOf[id]; g != "" && inWave[h] {
				perGroup[g]++
				if perGroup[g] > 1 {
					t.Errorf("wave %d puts two members of anti-affinity group %s in maintenance", w.Number, g)
				}
			}
		}
		for _, hv := range w.Hosts {
			visited[hv.Host]++
			if !hv.Evacuate || hv.Provider != "openstack" || len(hv.Changes) != 1 || hv.Changes[0].From != "1.0.0" || hv.Changes[0].To != "2.0.0" {
				t.Errorf("visit of %s: evacuate %v provider %s changes %+v", hv.Host, hv.Evacuate, hv.Provider, hv.Changes)
			}
			out := map[string]bool{}
			for _, m := range hv.Moves {
				out[m.Instance] = true
				if m.From != hv.Host || where[m.Instance] != hv.Host || inWave[m.To] || zoneOf[m.To] == "" || !m.Live {
					t.Errorf("wave %d: move %+v (the server is on %s)", w.Number, m, where[m.Instance])
				}
				if g := groupOf[m.Instance]; g != "" {
					for _, other := range groups[g] {
						if other != m.Instance && where[other] == m.To {
							t.Errorf("wave %d: %s moves to %s, which holds %s of the same anti-affinity group", w.Number, m.Instance, m.To, other)
						}
					}
				}
				where[m.Instance] = m.To
				moved[m.Instance]++
			}
			for id, h := range hostOf {
				if h == hv.Host && !out[id] && where[id] == hv.Host {
					t.Errorf("wave %d: %s stays on %s during its visit", w.Number, id, hv.Host)
				}
			}
		}
	}
	for _, cp := range env.Computes {
		if visited[cp.Name] != 1 {
			t.Errorf("%s visited %d times, want once", cp.Name, visited[cp.Name])
		}
	}
	for id, n := range moved {
		if n > 1 {
			t.Errorf("the plan moves %s %d times", id, n)
		}
	}
	return where
}

// interval is a host's maintenance window, from the journal.
type interval struct{ from, to time.Time }

// maintenanceWindows reads, per host, when enter_maintenance started and
// leave_maintenance finished.
func maintenanceWindows(journal []state.Event) map[string][]interval {
	out := map[string][]interval{}
	open := map[string]time.Time{}
	for _, e := range journal {
		switch {
		case e.Kind == state.KindStepStarted && e.Action == "enter_maintenance":
			if _, ok := open[e.Host]; !ok {
				open[e.Host] = e.Time
			}
		case e.Kind == state.KindStepFinished && e.Action == "leave_maintenance" && e.Status == string(state.StepOK):
			if from, ok := open[e.Host]; ok {
				out[e.Host] = append(out[e.Host], interval{from, e.Time})
				delete(open, e.Host)
			}
		}
	}
	for h, from := range open {
		out[h] = append(out[h], interval{from, time.Now().Add(time.Hour)})
	}
	return out
}

// checkAntiAffinityHistory replays Nova's migration records against the
// journal's maintenance windows: at no instant were two members of an
// anti-affinity group on hosts in maintenance.
func checkAntiAffinityHistory(t *testing.T, start map[string]string, recs map[string][]migrations.Migration, windows map[string][]interval, groups map[string][]string) {
	t.Helper()
	type move struct {
		at       time.Time
		id, dest string
	}
	var moves []move
	times := map[time.Time]bool{}
	for id, rs := range recs {
		for _, r := range rs {
			if r.Status == "completed" {
				moves = append(moves, move{r.UpdatedAt, id, r.DestCompute})
				times[r.UpdatedAt] = true
			}
		}
	}
	for _, ws := range windows {
		for _, w := range ws {
			times[w.from], times[w.to.Add(-time.Millisecond)] = true, true
		}
	}
	var instants []time.Time
	for at := range times {
		instants = append(instants, at)
	}
	sort.Slice(instants, func(i, j int) bool { return instants[i].Before(instants[j]) })
	sort.Slice(moves, func(i, j int) bool { return moves[i].at.Before(moves[j].at) })
	inMaint := func(h string, at time.Time) bool {
		for _, w := range windows[h] {
			if !at.Before(w.from) && at.Before(w.to) {
				return true
			}
		}
		return false
	}
	where := map[string]string{}
	for id, h := range start {
		where[id] = h
	}
	next := 0
	for _, at := range instants {
		for next < len(moves) && !moves[next].at.After(at) {
			where[moves[next].id] = moves[next].dest
			next++
		}
		for g, ms := range groups {
			var down []string
			for _, m := range ms {
				if inMaint(where[m], at) {
					down = append(down, m+"@"+where[m])
				}
			}
			if len(down) > 1 {
				t.Errorf("at %s anti-affinity group %s had %d members on hosts in maintenance: %v", at.Format(time.RFC3339Nano), g, len(down), down)
			}
		}
	}
}

func completedMoves(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, ids []string, since int64) (map[string][]migrations.Migration, map[string]int) {
	t.Helper()
	recs := map[string][]migrations.Migration{}
	count := map[string]int{}
	for _, id := range ids {
		for _, r := range migrationRecords(ctx, t, c, id) {
			if r.ID > since {
				recs[id] = append(recs[id], r)
				if r.Status == "completed" || r.Status == "confirmed" {
					count[id]++
				}
			}
		}
	}
	return recs, count
}

func lastMigrationID(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient) int64 {
	t.Helper()
	pages, err := migrations.List(c, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.ExtractMigrations(pages)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, m := range ms {
		last = max(last, m.ID)
	}
	return last
}

func meanMax(count map[string]int, ids []string) (float64, int) {
	total, most := 0, 0
	for _, id := range ids {
		total += count[id]
		most = max(most, count[id])
	}
	return float64(total) / float64(len(ids)), most
}

// layout places the campaign's 12 servers so that each zone keeps one
// empty host, as NFV clouds keep spares: without one, the first host
// visited in a zone can only send its servers to hosts still to be
// upgraded, and they move twice whoever picks the destinations. The two
// anti-affinity groups of 3 span the zones.
var layout = []struct{ name, group, host string }{
	{"aa-1-1", "aa-1", "compute2"}, {"aa-2-1", "aa-2", "compute2"}, {"free-1", "", "compute2"},
	{"aa-1-2", "aa-1", "compute3"}, {"free-2", "", "compute3"}, {"free-3", "", "compute3"},
	{"aa-1-3", "aa-1", "compute5"}, {"aa-2-2", "aa-2", "compute5"}, {"free-4", "", "compute5"},
	{"aa-2-3", "aa-2", "compute6"}, {"free-5", "", "compute6"}, {"free-6", "", "compute6"},
}

// bootPlaced boots the layout ("zone:host" availability zones, which an
// admin may ask for) and waits for every server ACTIVE on its host.
func bootPlaced(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, env *osenv.Env) (map[string][]string, []string) {
	t.Helper()
	flavor, err := env.FlavorID("m1.tiny")
	if err != nil {
		t.Fatal(err)
	}
	zoneOf := map[string]string{}
	for _, cp := range env.Computes {
		zoneOf[cp.Name] = cp.Zone
	}
	groupIDs := map[string]string{}
	groups := map[string][]string{}
	var ids []string
	for _, l := range layout {
		var hints servers.SchedulerHintOptsBuilder
		if l.group != "" {
			if groupIDs[l.group] == "" {
				sg, err := servergroups.Create(ctx, c, servergroups.CreateOpts{Name: "camp-" + l.group, Policy: "anti-affinity"}).Extract()
				if err != nil {
					t.Fatal(err)
				}
				groupIDs[l.group] = sg.ID
			}
			hints = servers.SchedulerHintOpts{Group: groupIDs[l.group]}
		}
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "camp-" + l.name, ImageRef: env.ImageID, FlavorRef: flavor, Networks: "none",
			AvailabilityZone: zoneOf[l.host] + ":" + l.host}, hints).Extract()
		if err != nil {
			t.Fatalf("boot %s on %s: %v", l.name, l.host, err)
		}
		ids = append(ids, s.ID)
		if l.group != "" {
			groups[groupIDs[l.group]] = append(groups[groupIDs[l.group]], s.ID)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for i, id := range ids {
		for {
			s := server(ctx, t, c, id)
			if s.Status == "ACTIVE" {
				if s.Host != layout[i].host {
					t.Fatalf("server %s booted on %s, asked for %s", s.Name, s.Host, layout[i].host)
				}
				break
			}
			if s.Status == "ERROR" || time.Now().After(deadline) {
				t.Fatalf("server %s (%s) is %s: %v", s.Name, id, s.Status, s.Fault)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	return groups, ids
}

// TestCampaignOnRealOpenStack: plan (checked against Nova), apply, then
// the state of the cloud, Nova's migration records and escalator's
// journal; then the same waves with destinations left to Nova's
// scheduler, for the BENCH comparison of moves per server.
func TestCampaignOnRealOpenStack(t *testing.T) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	env := startEnv(ctx, t)
	c := nova(ctx, t, env)
	cleanCloud(ctx, t, c)
	groups, ids := bootPlaced(ctx, t, c, env)
	start := map[string]string{}
	for _, id := range ids {
		start[id] = server(ctx, t, c, id).Host
	}
	bin := buildBinaries(t)
	cp := newCampaign(t, env, bin, `action = "halt"`, "")

	tPlan := time.Now()
	p := cp.plan()
	planTime := time.Since(tPlan)
	final := checkPlan(t, p, env, start, groups)
	if t.Failed() {
		t.FailNow()
	}

	since := lastMigrationID(ctx, t, c)
	r := cp.run(15*time.Minute, "apply", "-auto-approve", "-json", "plan.json")
	if r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	applyTime := r.wall

	// The cloud after: every compute enabled without an escalator
	// reason, every server ACTIVE where the plan put it, hostos upgraded.
	pages, err := services.List(c, services.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := services.ExtractServices(pages)
	for _, s := range svcs {
		if s.Status != "enabled" || s.DisabledReason != "" || s.State != "up" {
			t.Errorf("nova-compute on %s after apply: %s/%s %q", s.Host, s.State, s.Status, s.DisabledReason)
		}
	}
	for _, id := range ids {
		s := server(ctx, t, c, id)
		if s.Status != "ACTIVE" || s.Host == "" || s.TaskState != "" {
			t.Errorf("server %s after apply: %s on %q (task %q)", id, s.Status, s.Host, s.TaskState)
		}
		if s.Host != final[id] {
			t.Errorf("server %s is on %s, the plan put it on %s", id, s.Host, final[id])
		}
	}
	for h, v := range cp.hostos() {
		if v != "2.0.0" {
			t.Errorf("hostos on %s is %s after apply, want 2.0.0", h, v)
		}
	}
	recs, count := completedMoves(ctx, t, c, ids, since)
	for _, id := range ids {
		if count[id] > 1 {
			t.Errorf("server %s moved %d times, want at most once", id, count[id])
		}
	}
	journal := cp.journal()
	windows := maintenanceWindows(journal)
	checkAntiAffinityHistory(t, start, recs, windows, groups)
	var cycles []time.Duration
	for _, ws := range windows {
		for _, w := range ws {
			cycles = append(cycles, w.to.Sub(w.from))
		}
	}
	escMean, escMax := meanMax(count, ids)

	// The same waves, destinations left to Nova's scheduler.
	schedMean, schedMax := schedulerRun(ctx, t, c, env, p, ids)

	var sum time.Duration
	for _, d := range cycles {
		sum += d
	}
	fmt.Printf("OSCAMPAIGN hosts=%d servers=%d waves=%d plan=%.1fs apply=%.1fs host_cycle_mean=%.1fs env_start=%.1fs total=%.1fs\n",
		len(env.Computes), len(ids), len(p.Rollouts[0].Waves), planTime.Seconds(), applyTime.Seconds(), (sum / time.Duration(max(1, len(cycles)))).Seconds(), env.Timings.Total.Seconds(), time.Since(t0).Seconds())
	fmt.Printf("BENCH name=openstack-moves escalator=%.2f scheduler=%.2f escalator_max=%d scheduler_max=%d servers=%d\n", escMean, schedMean, escMax, schedMax, len(ids))
	if escMax > 1 {
		t.Errorf("escalator moved a server %d times", escMax)
	}
}

// schedulerRun visits the hosts wave by wave as the plan does, but lets
// Nova's scheduler pick each destination, through the provider (enter
// maintenance, migrate without destination, leave), and counts the
// moves per server.
func schedulerRun(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, env *osenv.Env, p *plans.Plan, ids []string) (float64, int) {
	t.Helper()
	since := lastMigrationID(ctx, t, c)
	cl := configure(ctx, t, env, map[string]cty.Value{})
	run := fmt.Sprintf("sched%d", time.Now().Unix()%100000)
	for _, w := range p.Rollouts[0].Waves {
		for _, hv := range w.Hosts {
			if _, diags := execute(ctx, t, cl, sdk.ExecuteActionRequest{ID: fmt.Sprintf("%s/w%d/%s/enter", run, w.Number, hv.Host), Kind: sdk.ActionEnterMaintenance, Host: hv.Host, Reason: "escalator run " + run}); diags.HasErrors() {
				t.Fatalf("scheduler run: enter maintenance on %s: %v", hv.Host, diags)
			}
		}
		for _, hv := range w.Hosts {
			pages, err := servers.List(c, servers.ListOpts{AllTenants: true, Host: hv.Host}).AllPages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			on, _ := servers.ExtractServers(pages)
			for _, s := range on {
				_, diags := execute(ctx, t, cl, sdk.ExecuteActionRequest{ID: fmt.Sprintf("%s/w%d/%s/migrate/%s", run, w.Number, hv.Host, s.ID), Kind: sdk.ActionMigrate, Host: hv.Host, Instance: s.ID, Live: true})
				if diags.HasErrors() {
					t.Errorf("scheduler run: migrate %s off %s: %v", s.ID, hv.Host, diags)
				}
			}
		}
		for _, hv := range w.Hosts {
			if _, diags := execute(ctx, t, cl, sdk.ExecuteActionRequest{ID: fmt.Sprintf("%s/w%d/%s/leave", run, w.Number, hv.Host), Kind: sdk.ActionLeaveMaintenance, Host: hv.Host}); diags.HasErrors() {
				t.Fatalf("scheduler run: leave maintenance on %s: %v", hv.Host, diags)
			}
		}
	}
	_, count := completedMoves(ctx, t, c, ids, since)
	return meanMax(count, ids)
}
