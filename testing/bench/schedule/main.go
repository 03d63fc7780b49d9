// Command schedule compares escalator's wave scheduler with two reference
// strategies on generated clouds and prints one BENCH line per strategy:
//
//	go run ./testing/bench/schedule -hosts 1000,10000
//
// Figures, not assertions: see `make bench-schedule`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/inventory"
	"github.com/escalator-nfv/escalator/internal/planner"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

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
    prefer = "%s"
  }
}
guard "anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity", "soft-anti-affinity"]
  max_unavailable = 1
}
`

func main() {
	hostsFlag := flag.String("hosts", "1000,10000", "comma-separated cloud sizes")
	perHost := flag.Int("instances-per-host", 20, "instances per host")
	zones := flag.Int("zones", 2, "availability zones")
	maxU := flag.String("max-unavailable", "5%", "max_unavailable of the rollout")
	seed := flag.Uint64("seed", 1, "generator seed")
	spare := flag.Float64("spare", 0.05, "share of each zone's hosts left empty (spare hosts)")
	prefer := flag.String("prefer", "fewer_moves", "escalator's evacuate prefer setting")
	flag.Parse()
	for _, hs := range strings.Split(*hostsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(hs))
		if err != nil {
			fail(fmt.Errorf("bad -hosts %q: %w", hs, err))
		}
		if err := run(n, *perHost, *zones, *maxU, *seed, *spare, *prefer); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "schedule:", err)
	os.Exit(1)
}

func snapshot(n, perHost, zones int, seed uint64, spare float64) (*inventory.Snapshot, error) {
	o := sim.DefaultGenOptions()
	o.Hosts, o.InstancesPerHost, o.Zones, o.Seed, o.Controllers, o.SpareFraction = n, perHost, zones, seed, 0, spare
	c, err := sim.Generate(o)
	if err != nil {
		return nil, err
	}
	return inventory.NewSnapshot(time.Now(), map[string]*inventory.Inventory{"sim": inventory.FromSDK(c.Inventory())})
}

func run(n, perHost, zones int, maxU string, seed uint64, spare float64, prefer string) error {
	dir, err := os.MkdirTemp("", "bench-schedule")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf(campaign, maxU, prefer)), 0o644); err != nil {
		return err
	}
	cfg, ds := config.Load(dir, config.Options{})
	if ds.HasErrors() {
		return ds.Err()
	}

	s, err := snapshot(n, perHost, zones, seed, spare)
	if err != nil {
		return err
	}
	plan, ds := planner.Plan(context.Background(), planner.Input{Config: cfg, Inventory: s})
	if ds.HasErrors() {
		return ds.Err()
	}
	r := plan.Rollouts[0]
	lb, lbMoves := plan.Totals.LowerBoundWaves, plan.Totals.LowerBoundMoves
	groups := len(s.ServerGroups())
	print := func(name string, waves []*plans.Wave, s *inventory.Snapshot) {
		m := measure(s, "sim", waves)
		per := 0.0
		if lbMoves > 0 {
			per = float64(m.moves) / float64(lbMoves)
		}
		fmt.Printf("BENCH name=schedule strategy=%s hosts=%d spare=%.2f groups=%d waves=%d lower_bound=%d moves=%d moves_per_evacuated=%.2f max_group_impact=%d left_behind=%d\n",
			name, len(s.Hosts("sim")), spare, groups, m.waves, lb, m.moves, per, m.maxGroupImpact, m.leftBehind)
	}
	print("escalator", r.Waves, s)
	// Each strategy starts from a fresh copy of the same cloud.
	s2, _ := snapshot(n, perHost, zones, seed, spare)
	print("fenix", fenix(s2, "sim"), s2)
	s3, _ := snapshot(n, perHost, zones, seed, spare)
	// The per-aggregate (zone) cap splits max_unavailable over the zones,
	// so that no strategy has more hosts down at once than escalator.
	print("starlingx", starlingx(s3, "sim", max(1, r.MaxUnavailable/zones)), s3)
	return nil
}
