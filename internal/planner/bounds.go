package planner

import (
	"sort"

	"github.com/escalator-nfv/escalator/internal/inventory"
)

// lowerBound is the fewest waves any schedule could use for a rollout:
// per group (groups never share a wave), ⌈hosts / min(max_unavailable,
// spare)⌉, where spare is how many of the group's hosts the free capacity
// of their zones could absorb at once — the k least-loaded hosts whose
// instances fit in the free capacity of the zone's other in-service hosts.
// It ignores anti-affinity and budgets, so it is a true lower bound.
//
// A canary wave holds only the canary hosts of the first group, so that
// group needs 1 + ⌈(hosts − canary) / per⌉ waves.
func (p *planner) lowerBound(byGroup map[string][]*work, groups []string, maxU, canary int) (spareTotal, waves int) {
	// The in-service free capacity of each zone.
	zoneFree := map[string]inventory.Resources{}
	for _, hs := range p.cloud.hostList {
		if hs.inService {
			zoneFree[hs.zone] = zoneFree[hs.zone].Add(hs.free)
		}
	}
	for gi, g := range groups {
		byZone := map[string][]*work{}
		n := 0
		for _, w := range byGroup[g] {
			n++
			z := ""
			if w.hs != nil {
				z = w.hs.zone
			}
			byZone[z] = append(byZone[z], w)
		}
		spare := 0
		for _, z := range sortedKeys(byZone) {
			spare += zoneSpare(zoneFree[z], byZone[z])
		}
		spareTotal += spare
		per := min(maxU, max(1, spare))
		if gi == 0 && canary > 0 {
			waves++
			n = max(0, n-canary)
		}
		waves += (n + per - 1) / per
	}
	return spareTotal, waves
}

// zoneSpare is how many of ws, least loaded first, the zone's free
// capacity could absorb at once.
func zoneSpare(free inventory.Resources, ws []*work) int {
	type hl struct {
		load inventory.Resources
		free inventory.Resources
	}
	var hosts []hl
	for _, w := range ws {
		hs := w.hs
		if hs == nil {
			continue
		}
		var load inventory.Resources
		if w.evacuate {
			load = hs.load()
		}
		f := inventory.Resources{}
		if hs.inService {
			f = hs.free
		}
		hosts = append(hosts, hl{load, f})
	}
	// Not a total order: the sort must stay sort.Slice over ws's order so
	// that ties come out as they always have, and the bound with them.
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].load.VCPUs < hosts[j].load.VCPUs })
	var load inventory.Resources
	k := 0
	for _, h := range hosts {
		load = load.Add(h.load)
		free = free.Sub(h.free)
		if !free.Fits(load) {
			break
		}
		k++
	}
	return k
}
