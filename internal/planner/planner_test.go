package planner

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/inventory"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// genCloud builds a synthetic cloud: hosts in zones, 64 vCPU / 256 GiB
// each, a share of them empty (spares), the others loaded to about 60%
// with instances in anti-affinity groups of three spread over hosts of
// one zone.
func genCloud(seed uint64, hosts, zones int, spareShare float64, perHost int) *inventory.Inventory {
	rng := rand.New(rand.NewPCG(seed, 7))
	inv := &inventory.Inventory{}
	zoneHosts := map[string][]*inventory.Host{}
	for i := 0; i < hosts; i++ {
		z := fmt.Sprintf("az%d", i%zones+1)
		h := &inventory.Host{
			Name: fmt.Sprintf("cmp-%05d", i), Role: "compute", AvailabilityZone: z,
			Capacity: inventory.Resources{VCPUs: 64, MemoryMB: 262144},
			State:    inventory.StateUp,
			Versions: map[string]string{"nova": "26.0.0"},
		}
		inv.Hosts = append(inv.Hosts, h)
		zoneHosts[z] = append(zoneHosts[z], h)
	}
	flavors := []inventory.Resources{{VCPUs: 1, MemoryMB: 2048}, {VCPUs: 2, MemoryMB: 4096}, {VCPUs: 2, MemoryMB: 8192}, {VCPUs: 4, MemoryMB: 8192}}
	n := 0
	for _, z := range sortedKeys(zoneHosts) {
		hs := zoneHosts[z]
		spares := int(float64(len(hs)) * spareShare)
		loaded := hs[spares:]
		if len(loaded) < 3 {
			continue
		}
		total := len(loaded) * perHost
		for g := 0; g*3 < total; g++ {
			gid := fmt.Sprintf("sg-%s-%d", z, g)
			sg := &inventory.ServerGroup{ID: gid, Name: gid, Policy: "anti-affinity", Project: []string{"ims", "epc"}[g%2]}
			perm := rng.Perm(len(loaded))
			placed := 0
			for _, pi := range perm {
				if placed == 3 {
					break
				}
				h := loaded[pi]
				f := flavors[rng.IntN(len(flavors))]
				if !h.Capacity.Sub(h.Used).Fits(f) || h.Used.VCPUs+f.VCPUs > 40 {
					continue
				}
				n++
				id := fmt.Sprintf("vm-%06d", n)
				inv.Instances = append(inv.Instances, &inventory.Instance{ID: id, Name: id, Host: h.Name, Resources: f, Status: "ACTIVE", Project: sg.Project, ServerGroup: gid, LiveMigratable: true})
				h.Used = h.Used.Add(f)
				sg.Members = append(sg.Members, id)
				placed++
			}
			inv.ServerGroups = append(inv.ServerGroups, sg)
		}
	}
	return inv
}

const campaign = `
escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}
provider "sim" {}
hosts "compute" {
  provider = provider.sim
  role     = "compute"
}
component "nova" {
  hosts      = hosts.compute
  version    = "27.1.0"
  disruption = "host"
}
rollout "compute" {
  components      = [component.nova]
  max_unavailable = "%s"
  group_by        = host.availability_zone
%s
}
guard "aa" {
  kind            = "server_group"
  max_unavailable = 1
}
`

func loadCampaign(t testing.TB, maxU, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(campaign, maxU, extra)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, ds := config.Load(dir, config.Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	return cfg
}

func snapshot(t testing.TB, inv *inventory.Inventory) *inventory.Snapshot {
	t.Helper()
	s, err := inventory.NewSnapshot(time.Unix(0, 0), map[string]*inventory.Inventory{"sim": inv})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkPlan verifies a plan against the inventory independently of the
// scheduler's own bookkeeping, by replaying every move.
func checkPlan(t *testing.T, plan *plans.Plan, inv *inventory.Inventory, budget int) (double int) {
	t.Helper()
	type hstate struct {
		free   inventory.Resources
		zone   string
		groups map[string]int
	}
	hosts := map[string]*hstate{}
	for _, h := range inv.Hosts {
		hosts[h.Name] = &hstate{free: h.Capacity.Sub(h.Used), zone: h.AvailabilityZone, groups: map[string]int{}}
	}
	where := map[string]string{}
	group := map[string]string{}
	for _, in := range inv.Instances {
		where[in.ID] = in.Host
		group[in.ID] = in.ServerGroup
		hosts[in.Host].groups[in.ServerGroup]++
	}
	res := map[string]inventory.Resources{}
	for _, in := range inv.Instances {
		res[in.ID] = in.Resources
	}
	visited := map[string]bool{}
	moved := map[string]int{}
	for _, r := range plan.Rollouts {
		for _, w := range r.Waves {
			if len(w.Hosts) > r.MaxUnavailable {
				t.Errorf("wave %d has %d hosts, max_unavailable is %d", w.Number, len(w.Hosts), r.MaxUnavailable)
			}
			inWave := map[string]bool{}
			zones := map[string]bool{}
			for _, hv := range w.Hosts {
				if visited[hv.Host] {
					t.Errorf("host %s visited twice", hv.Host)
				}
				visited[hv.Host] = true
				inWave[hv.Host] = true
				zones[hosts[hv.Host].zone] = true
			}
			if len(zones) > 1 {
				t.Errorf("wave %d mixes zones %v", w.Number, zones)
			}
			impacted := map[string]int{}
			for _, hv := range w.Hosts {
				for _, m := range hv.Moves {
					if where[m.Instance] != hv.Host || m.From != hv.Host {
						t.Errorf("move of %s from %s, but it is on %s", m.Instance, m.From, where[m.Instance])
					}
					if inWave[m.To] {
						t.Errorf("wave %d moves %s to %s, which is in the same wave", w.Number, m.Instance, m.To)
					}
					to := hosts[m.To]
					if to.zone != hosts[m.From].zone {
						t.Errorf("move of %s leaves its zone", m.Instance)
					}
					if !to.free.Fits(res[m.Instance]) {
						t.Errorf("wave %d: %s does not fit on %s (free %+v)", w.Number, m.Instance, m.To, to.free)
					}
					if g := group[m.Instance]; g != "" && to.groups[g] > 0 {
						t.Errorf("wave %d: %s joins another member of %s on %s", w.Number, m.Instance, g, m.To)
					}
					to.free = to.free.Sub(res[m.Instance])
					hosts[m.From].free = hosts[m.From].free.Add(res[m.Instance])
					if g := group[m.Instance]; g != "" {
						to.groups[g]++
						hosts[m.From].groups[g]--
						impacted[g]++
					}
					where[m.Instance] = m.To
					moved[m.Instance]++
				}
				for id, h := range where {
					if h == hv.Host && hv.Evacuate {
						t.Errorf("instance %s left on evacuated host %s", id, h)
					}
				}
			}
			for g, n := range impacted {
				if n > budget {
					t.Errorf("wave %d impacts %d members of %s, budget %d", w.Number, n, g, budget)
				}
			}
		}
	}
	for _, h := range inv.Hosts {
		if !visited[h.Name] {
			t.Errorf("host %s never visited", h.Name)
		}
	}
	moves := 0
	for _, n := range moved {
		moves += n
		if n > 1 {
			double++
		}
	}
	if plan.Totals.Moves != moves || plan.Totals.InstancesMoved != len(moved) {
		t.Errorf("totals say %d moves of %d instances; the waves hold %d moves of %d", plan.Totals.Moves, plan.Totals.InstancesMoved, moves, len(moved))
	}
	return double
}

// TestVisitDigests: each visit carries its host's inventory digest,
// whether the caller gives the digests, gives a function that returns
// them (computed meanwhile), or neither.
func TestVisitDigests(t *testing.T) {
	cfg := loadCampaign(t, "10%", "")
	_, own := snapshot(t, genCloud(3, 30, 2, 0.1, 10)).Digest()
	given := map[string]string{}
	for h := range own {
		given[h] = "given-" + h
	}
	calls := 0
	tests := []struct {
		name string
		in   Input
		want map[string]string
	}{
		{"given", Input{HostDigests: given}, given},
		{"function", Input{Digests: func() map[string]string { calls++; return given }}, given},
		{"computed", Input{}, own},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Config, tt.in.Inventory = cfg, snapshot(t, genCloud(3, 30, 2, 0.1, 10))
			plan, ds := Plan(context.Background(), tt.in)
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			n := 0
			for _, r := range plan.Rollouts {
				for _, w := range r.Waves {
					for _, hv := range w.Hosts {
						n++
						if hv.Digest != tt.want[hv.Host] || hv.Digest == "" {
							t.Errorf("host %s: digest %q, want %q", hv.Host, hv.Digest, tt.want[hv.Host])
						}
					}
				}
			}
			if n != 30 {
				t.Errorf("%d visits, want 30", n)
			}
		})
	}
	if calls != 1 {
		t.Errorf("Digests called %d times, want once", calls)
	}
}

func TestScheduleInvariants(t *testing.T) {
	tests := []struct {
		name       string
		hosts      int
		spare      float64
		maxU       string
		wantSingle bool // every instance moves once
	}{
		{"small with spares", 40, 0.1, "10%", true},
		{"medium with spares", 400, 0.05, "5%", true},
		{"no spares", 60, 0, "10%", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := genCloud(1, tt.hosts, 2, tt.spare, 20)
			cfg := loadCampaign(t, tt.maxU, "")
			plan, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)})
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			double := checkPlan(t, plan, genCloud(1, tt.hosts, 2, tt.spare, 20), 1)
			if tt.wantSingle && double > 0 {
				t.Errorf("%d instances moved twice", double)
			}
			tot := plan.Totals
			if tot.Moves < tot.LowerBoundMoves || tot.Waves < tot.LowerBoundWaves {
				t.Errorf("totals beat their lower bounds: %+v", tot)
			}
			t.Logf("hosts=%d waves=%d lb=%d moves=%d lb_moves=%d double=%d", tot.Hosts, tot.Waves, tot.LowerBoundWaves, tot.Moves, tot.LowerBoundMoves, double)
		})
	}
}

func TestCanaryAndNotify(t *testing.T) {
	inv := genCloud(2, 20, 2, 0.1, 10)
	cfg := loadCampaign(t, "20%", `
  canary {
    count = 1
    soak  = "5m"
  }
  notify "ims" {
    url      = "http://127.0.0.1:1/"
    projects = ["ims"]
  }`)
	plan, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	w1 := plan.Rollouts[0].Waves[0]
	if !w1.Canary || len(w1.Hosts) != 1 || w1.Soak != 5*time.Minute {
		t.Errorf("first wave = %+v", w1)
	}
	found := false
	for _, w := range plan.Rollouts[0].Waves {
		for _, n := range w.Notify {
			if n.Notify != "ims" || len(n.Projects) != 1 || n.Projects[0] != "ims" {
				t.Errorf("notification %+v", n)
			}
			found = true
		}
	}
	if !found {
		t.Error("no wave notifies the ims VNF manager")
	}
}

func TestInfeasibleCapacity(t *testing.T) {
	// Every host is nearly full: no instance of any host fits elsewhere.
	inv := &inventory.Inventory{}
	for i := 0; i < 4; i++ {
		h := &inventory.Host{Name: fmt.Sprintf("cmp-%d", i), Role: "compute", AvailabilityZone: "az1", State: inventory.StateUp,
			Capacity: inventory.Resources{VCPUs: 16, MemoryMB: 65536}, Used: inventory.Resources{VCPUs: 14, MemoryMB: 60000},
			Versions: map[string]string{"nova": "26.0.0"}}
		inv.Hosts = append(inv.Hosts, h)
		inv.Instances = append(inv.Instances, &inventory.Instance{ID: fmt.Sprintf("vm-%d", i), Host: h.Name, Status: "ACTIVE", LiveMigratable: true,
			Resources: inventory.Resources{VCPUs: 14, MemoryMB: 60000}})
	}
	cfg := loadCampaign(t, "50%", "")
	_, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)})
	if !ds.HasErrors() {
		t.Fatal("want an infeasibility error")
	}
	msg := ds.Err().Error()
	for _, want := range []string{"No feasible wave", "Wave 1", "vCPU", "missing"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
}

func BenchmarkPlan10k(b *testing.B) {
	inv := genCloud(1, 10000, 2, 0.05, 20)
	cfg := loadCampaign(b, "5%", "")
	for b.Loop() {
		b.StopTimer()
		s := snapshot(b, genCloud(1, 10000, 2, 0.05, 20))
		b.StartTimer()
		if _, ds := Plan(context.Background(), Input{Config: cfg, Inventory: s}); ds.HasErrors() {
			b.Fatal(ds.Err())
		}
	}
	_ = inv
}

// TestCapacityGuardAcrossWaves: hosts return to service after their wave,
// so a capacity guard that holds for one wave holds for the next ones.
func TestCapacityGuardAcrossWaves(t *testing.T) {
	inv := genCloud(3, 16, 2, 0, 4)
	cfg := loadCampaign(t, "1", `
}
guard "spare" {
  kind          = "capacity"
  hosts         = hosts.compute
  min_free_vcpu = "20%"`)
	plan, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if plan.Totals.Hosts != 16 {
		t.Errorf("planned %d hosts, want 16", plan.Totals.Hosts)
	}
}

// TestDestinationsKeepRoleAndAffinity: instances never land on hosts of
// another role (a controller with free capacity), and members of a hard
// affinity group move together.
func TestDestinationsKeepRoleAndAffinity(t *testing.T) {
	inv := genCloud(4, 12, 1, 0.2, 4)
	inv.Hosts = append(inv.Hosts, &inventory.Host{Name: "ctl-1", Role: "controller", AvailabilityZone: "az1", State: inventory.StateUp,
		Capacity: inventory.Resources{VCPUs: 512, MemoryMB: 1 << 21}, Versions: map[string]string{}})
	// Two members of an affinity group on one loaded host.
	host := inv.Instances[0].Host
	aff := &inventory.ServerGroup{ID: "aff", Name: "aff", Policy: "affinity", Project: "ims"}
	for i := 0; i < 2; i++ {
		id := fmt.Sprintf("aff-%d", i)
		inv.Instances = append(inv.Instances, &inventory.Instance{ID: id, Host: host, Status: "ACTIVE", LiveMigratable: true,
			Resources: inventory.Resources{VCPUs: 1, MemoryMB: 1024}, ServerGroup: "aff", Project: "ims"})
		aff.Members = append(aff.Members, id)
		for _, h := range inv.Hosts {
			if h.Name == host {
				h.Used = h.Used.Add(inventory.Resources{VCPUs: 1, MemoryMB: 1024})
			}
		}
	}
	inv.ServerGroups = append(inv.ServerGroups, aff)
	cfg := loadCampaign(t, "25%", "")
	plan, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	dest := map[string]string{}
	for _, r := range plan.Rollouts {
		for _, w := range r.Waves {
			for _, hv := range w.Hosts {
				for _, m := range hv.Moves {
					if m.To == "ctl-1" {
						t.Errorf("%s moved to the controller", m.Instance)
					}
					if m.ServerGroup == "aff" {
						dest[m.Instance] = m.To
					}
				}
			}
		}
	}
	if len(dest) != 2 || dest["aff-0"] != dest["aff-1"] {
		t.Errorf("affinity members split: %v", dest)
	}
}

// TestRecoveryTime: a wave that moves members of a group an earlier wave
// moved too waits for the group's recovery_time after that wave, and its
// expected duration counts what the waves in between do not cover.
func TestRecoveryTime(t *testing.T) {
	inv := genCloud(4, 24, 2, 0.1, 6)
	cfg := loadCampaign(t, "1", `
}
guard "recover" {
  kind          = "server_group"
  policies      = ["anti-affinity", "soft-anti-affinity"]
  recovery_time = "2h"`)
	plan, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	last := map[string]int{}
	waits := 0
	for _, w := range plan.Rollouts[0].Waves {
		need := map[int]bool{}
		for _, hv := range w.Hosts {
			for _, m := range hv.Moves {
				if l, ok := last[m.ServerGroup]; ok && m.ServerGroup != "" && l != w.Number {
					need[l] = true
				}
			}
		}
		for _, hv := range w.Hosts {
			for _, m := range hv.Moves {
				if m.ServerGroup != "" {
					last[m.ServerGroup] = w.Number
				}
			}
		}
		got := map[int]bool{}
		for _, r := range w.Recovery {
			got[r.AfterWave] = true
			if r.Delay != 2*time.Hour {
				t.Errorf("wave %d: recovery %+v, want 2h", w.Number, r)
			}
		}
		// Each earlier wave a group's previous move was in is waited for.
		for l := range need {
			if !got[l] {
				t.Errorf("wave %d moves members of a group moved in wave %d without waiting for it (recovery %+v)", w.Number, l, w.Recovery)
			}
		}
		if len(w.Recovery) > 0 {
			waits++
		}
		// The expected timeline leaves at least the delay between the
		// end of the earlier wave and the end of this one (the wait is
		// counted in this wave's expected duration).
		for _, r := range w.Recovery {
			span := w.ExpectedDuration
			for _, e := range plan.Rollouts[0].Waves {
				switch {
				case e.Number == r.AfterWave:
					span += e.Soak
				case e.Number > r.AfterWave && e.Number < w.Number:
					span += e.ExpectedDuration + e.Soak
				}
			}
			if span < r.Delay {
				t.Errorf("wave %d: %s expected after wave %d ended, less than its recovery %s", w.Number, span, r.AfterWave, r.Delay)
			}
		}
	}
	if waits == 0 {
		t.Fatal("no wave waits: the cloud has no group moved twice, the test checks nothing")
	}
}

// TestMaxInterruptionTime: an instance that can only move cold, for longer
// than its group's max_interruption_time, makes the plan infeasible.
func TestMaxInterruptionTime(t *testing.T) {
	inv := genCloud(5, 12, 2, 0.1, 4)
	cfg := loadCampaign(t, "1", `
  evacuate {
    mode = "cold"
  }
}
guard "short" {
  kind                  = "server_group"
  max_interruption_time = "30s"`)
	_, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "Interruption too long") || !strings.Contains(ds.Err().Error(), `max_interruption_time = 30s`) {
		t.Fatalf("want an interruption error, got %v", ds.Err())
	}
	// Live, the same campaign plans.
	cfg = loadCampaign(t, "1", `
}
guard "short" {
  kind                  = "server_group"
  max_interruption_time = "30s"`)
	if _, ds := Plan(context.Background(), Input{Config: cfg, Inventory: snapshot(t, inv)}); ds.HasErrors() {
		t.Fatal(ds.Err())
	}
}
