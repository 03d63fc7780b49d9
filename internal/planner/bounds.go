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
func (p *planner) lowerBound(works []*work, groupOf map[string]string, groups []string, maxU, canary int) (spareTotal, waves int) {
	for gi, g := range groups {
		byZone := map[string][]*work{}
		n := 0
		for _, w := range works {
			if groupOf[w.host.Name] != g {
				continue
			}
			n++
			z := ""
			if hs := p.cloud.hosts[w.host.Name]; hs != nil {
				z = hs.zone
			}
			byZone[z] = append(byZone[z], w)
		}
		spare := 0
		for _, z := range sortedKeys(byZone) {
			spare += p.zoneSpare(z, byZone[z])
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

func (p *planner) zoneSpare(zone string, ws []*work) int {
	type hl struct {
		load inventory.Resources
		free inventory.Resources
	}
	var hosts []hl
	var free inventory.Resources
	for _, hs := range p.cloud.hosts {
		if hs.zone == zone && hs.inService {
			free = free.Add(hs.free)
		}
	}
	for _, w := range ws {
		hs := p.cloud.hosts[w.host.Name]
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
