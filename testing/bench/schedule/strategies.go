package main

import (
	"sort"

	"github.com/escalator-nfv/escalator/internal/inventory"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// The two reference strategies below exist only in this benchmark, to put
// escalator's schedule next to what other tools do. They are written from
// the public descriptions of their behaviour, not from their code, and
// keep the rules Nova itself enforces (capacity, hard anti-affinity,
// availability zone) so that the comparison is about scheduling choices.

// model is a minimal placement model shared by the reference strategies.
type model struct {
	hosts  []*mhost
	byName map[string]*mhost
	groups map[string]*inventory.ServerGroup
	insts  map[string]*inventory.Instance
}

type mhost struct {
	name, zone string
	free       inventory.Resources
	capacity   inventory.Resources
	insts      map[string]bool
	groups     map[string]int
	upgraded   bool
}

func newModel(s *inventory.Snapshot, provider string) *model {
	m := &model{byName: map[string]*mhost{}, groups: map[string]*inventory.ServerGroup{}, insts: map[string]*inventory.Instance{}}
	for _, h := range s.Hosts(provider) {
		mh := &mhost{name: h.Name, zone: h.AvailabilityZone, free: h.Capacity.Sub(h.Used), capacity: h.Capacity, insts: map[string]bool{}, groups: map[string]int{}}
		m.hosts = append(m.hosts, mh)
		m.byName[h.Name] = mh
		for _, in := range s.InstancesOn(h.Name) {
			mh.insts[in.ID] = true
			m.insts[in.ID] = in
			if in.ServerGroup != "" {
				mh.groups[in.ServerGroup]++
			}
		}
	}
	for _, g := range s.ServerGroups() {
		m.groups[g.ID] = g
	}
	return m
}

func (m *model) fits(in *inventory.Instance, h *mhost) bool {
	if !h.free.Fits(in.Resources) {
		return false
	}
	if g := m.groups[in.ServerGroup]; g != nil && g.HardAntiAffinity() && h.groups[g.ID] > 0 {
		return false
	}
	return true
}

func (m *model) move(in *inventory.Instance, from, to *mhost) plans.Move {
	delete(from.insts, in.ID)
	from.free = from.free.Add(in.Resources)
	to.insts[in.ID] = true
	to.free = to.free.Sub(in.Resources)
	if g := in.ServerGroup; g != "" {
		from.groups[g]--
		to.groups[g]++
	}
	return plans.Move{Instance: in.ID, From: from.name, To: to.name, ServerGroup: in.ServerGroup, Live: true}
}

func (m *model) sortedInsts(h *mhost) []*inventory.Instance {
	out := make([]*inventory.Instance, 0, len(h.insts))
	for id := range h.insts {
		out = append(out, m.insts[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// fenix: OpenStack Fenix's rolling maintenance as its documentation
// describes it: scheduling is disabled on every compute host for the whole
// session, hosts are upgraded one at a time, and instances go to any host
// already upgraded (Fenix needs an empty host to begin with; without one,
// any host with room is used).
func fenix(s *inventory.Snapshot, provider string) []*plans.Wave {
	m := newModel(s, provider)
	order := append([]*mhost(nil), m.hosts...)
	sort.SliceStable(order, func(i, j int) bool {
		if (len(order[i].insts) == 0) != (len(order[j].insts) == 0) {
			return len(order[i].insts) == 0
		}
		return order[i].name < order[j].name
	})
	var waves []*plans.Wave
	for _, h := range order {
		hv := &plans.HostVisit{Host: h.name, Evacuate: true}
		for _, in := range m.sortedInsts(h) {
			var dest *mhost
			for _, pass := range []bool{true, false} {
				for _, d := range m.hosts {
					if d != h && d.zone == h.zone && d.upgraded == pass && m.fits(in, d) {
						dest = d
						break
					}
				}
				if dest != nil {
					break
				}
			}
			if dest == nil {
				continue // left in place: counted as a failure by the metrics
			}
			hv.Moves = append(hv.Moves, m.move(in, h, dest))
		}
		h.upgraded = true
		waves = append(waves, &plans.Wave{Number: len(waves) + 1, Hosts: []*plans.HostVisit{hv}})
	}
	return waves
}

// starlingx: StarlingX's software-upgrade orchestration as its
// documentation describes it: hosts go in first-fit batches that avoid
// anti-affinity conflicts inside a batch, with a cap per aggregate (here
// the availability zone, capped at max_unavailable); instances go to the
// least-loaded in-service host, whatever its upgrade state.
func starlingx(s *inventory.Snapshot, provider string, maxU int) []*plans.Wave {
	m := newModel(s, provider)
	remaining := append([]*mhost(nil), m.hosts...)
	var waves []*plans.Wave
	for len(remaining) > 0 {
		batch := map[string]bool{}
		batchGroups := map[string]bool{}
		perZone := map[string]int{}
		var chosen, rest []*mhost
		for _, h := range remaining {
			conflict := perZone[h.zone] >= maxU
			for g := range h.groups {
				if h.groups[g] > 0 && batchGroups[g] {
					conflict = true
				}
			}
			if conflict {
				rest = append(rest, h)
				continue
			}
			chosen = append(chosen, h)
			batch[h.name] = true
			perZone[h.zone]++
			for g, n := range h.groups {
				if n > 0 {
					batchGroups[g] = true
				}
			}
		}
		wave := &plans.Wave{Number: len(waves) + 1}
		for _, h := range chosen {
			hv := &plans.HostVisit{Host: h.name, Evacuate: true}
			for _, in := range m.sortedInsts(h) {
				var dest *mhost
				for _, d := range m.hosts {
					if batch[d.name] || d.zone != h.zone || !m.fits(in, d) {
						continue
					}
					if dest == nil || load(d) < load(dest) {
						dest = d
					}
				}
				if dest == nil {
					continue
				}
				hv.Moves = append(hv.Moves, m.move(in, h, dest))
			}
			wave.Hosts = append(wave.Hosts, hv)
		}
		waves = append(waves, wave)
		remaining = rest
	}
	return waves
}

func load(h *mhost) float64 {
	if h.capacity.VCPUs == 0 {
		return 1
	}
	return 1 - float64(h.free.VCPUs)/float64(h.capacity.VCPUs)
}

// metrics measures a schedule the same way for every strategy.
type metrics struct {
	waves, moves, evacuated, maxGroupImpact, leftBehind int
}

func measure(s *inventory.Snapshot, provider string, waves []*plans.Wave) metrics {
	var mt metrics
	mt.waves = len(waves)
	moved := map[string]bool{}
	where := map[string]string{}
	for _, h := range s.Hosts(provider) {
		for _, in := range s.InstancesOn(h.Name) {
			where[in.ID] = h.Name
		}
	}
	for _, w := range waves {
		impact := map[string]int{}
		for _, hv := range w.Hosts {
			for _, mv := range hv.Moves {
				mt.moves++
				moved[mv.Instance] = true
				where[mv.Instance] = mv.To
				if mv.ServerGroup != "" {
					impact[mv.ServerGroup]++
				}
			}
		}
		for _, n := range impact {
			mt.maxGroupImpact = max(mt.maxGroupImpact, n)
		}
		inWave := map[string]bool{}
		for _, hv := range w.Hosts {
			inWave[hv.Host] = true
		}
		for _, h := range where {
			if inWave[h] {
				mt.leftBehind++
			}
		}
	}
	mt.evacuated = len(moved)
	return mt
}
