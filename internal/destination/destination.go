// Package destination picks where an instance goes when the plan has no
// usable destination for it: the plan's destination became unfit during
// apply (down, disabled, full, or it now holds a member of the instance's
// anti-affinity group), or a rollback must empty a host the plan never
// evacuated in that direction.
//
// It decides from a fresh inventory, with the rules the planner follows
// for one instance: a host of the same role and availability zone that is
// in service, has room for the instance's vCPUs and RAM, and holds no
// member of its hard anti-affinity group. Among those it prefers hosts the
// caller names (already upgraded: the instance will not have to move
// again) and shuns those it names (about to be worked on), then prefers
// hosts without a member of a soft anti-affinity group, then the most free
// RAM.
package destination

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-version"

	"github.com/escalator-nfv/escalator/internal/inventory"
)

// Picker picks destinations from one inventory snapshot, and remembers its
// own picks, so that several instances picked in a row do not all land on
// the one host with room for a single one.
type Picker struct {
	snap *inventory.Snapshot
	// hosts by name: the first provider's report with a capacity.
	hosts map[string]*inventory.Host
	// used adds the picks so far to each host's reported usage.
	used map[string]inventory.Resources
	// members counts members of each server group per host, picks
	// included.
	members map[string]map[string]int
}

// New returns a Picker over snap.
func New(snap *inventory.Snapshot) *Picker {
	p := &Picker{snap: snap, hosts: map[string]*inventory.Host{}, used: map[string]inventory.Resources{}, members: map[string]map[string]int{}}
	names := make([]string, 0, len(snap.Providers))
	for n := range snap.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, h := range snap.Providers[n].Hosts {
			if old, ok := p.hosts[h.Name]; ok && old.Capacity.VCPUs > 0 {
				continue
			}
			p.hosts[h.Name] = h
			p.used[h.Name] = h.Used
		}
	}
	for host := range p.hosts {
		for _, in := range snap.InstancesOn(host) {
			if in.ServerGroup != "" {
				p.count(host, in.ServerGroup, 1)
			}
		}
	}
	return p
}

func (p *Picker) count(host, group string, d int) {
	m := p.members[host]
	if m == nil {
		m = map[string]int{}
		p.members[host] = m
	}
	m[group] += d
}

// Options narrow and order the candidates of one pick.
type Options struct {
	// Avoid lists hosts that must not receive the instance (its source,
	// a destination that just failed, hosts about to be worked on).
	Avoid map[string]bool
	// Prefer lists hosts to choose first when they fit.
	Prefer map[string]bool
	// Shun lists hosts to choose only when nothing else fits (hosts about
	// to be worked on: an instance put there moves again).
	Shun map[string]bool
	// NotOlder lists components whose version on the destination must not
	// be older than on the source: a live migration of a running guest
	// to an older hypervisor is refused (by libvirt, and Nova checks it).
	NotOlder []string
}

// Pick returns a destination for the instance, and counts it as placed
// there for the next picks. The error says why no host fits, by reason.
func (p *Picker) Pick(instanceID string, o Options) (string, error) {
	in, ok := p.snap.Instance(instanceID)
	if !ok {
		return "", fmt.Errorf("instance %s is not in the inventory: it was deleted, or its provider no longer reports it", instanceID)
	}
	src := p.hosts[in.Host]
	if src == nil {
		return "", fmt.Errorf("instance %s is on host %q, which no provider reports", instanceID, in.Host)
	}
	var g *inventory.ServerGroup
	if in.ServerGroup != "" {
		g, _ = p.snap.ServerGroup(in.ServerGroup)
	}
	type cand struct {
		name   string
		rank   int // 0 preferred, 1 neutral, 2 shunned
		clash  bool
		freeMB int64
	}
	var cands []cand
	rejected := map[string]int{}
	for name, h := range p.hosts {
		switch {
		case name == in.Host || o.Avoid[name]:
			rejected["avoided (source or being worked on)"]++
			continue
		case h.Role != src.Role || h.AvailabilityZone != src.AvailabilityZone:
			continue // not a candidate at all: other role or zone
		case h.State != inventory.StateUp:
			rejected["not in service ("+h.State+")"]++
			continue
		}
		if comp, ok := older(h, src, o.NotOlder); ok {
			rejected["runs an older "+comp]++
			continue
		}
		free := h.Capacity.Sub(p.used[name])
		if !free.Fits(in.Resources) {
			rejected["no room"]++
			continue
		}
		clash := g != nil && p.members[name][g.ID] > 0
		if clash && g.HardAntiAffinity() {
			rejected["holds a member of its anti-affinity group "+g.Name]++
			continue
		}
		rank := 1
		switch {
		case o.Prefer[name]:
			rank = 0
		case o.Shun[name]:
			rank = 2
		}
		cands = append(cands, cand{name, rank, clash, free.MemoryMB})
	}
	if len(cands) == 0 {
		var why []string
		for r, n := range rejected {
			why = append(why, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(why)
		if len(why) == 0 {
			why = []string{"no other host of its role in its zone"}
		}
		return "", fmt.Errorf("no host can take instance %s (%d vCPUs, %d MB) in zone %q: %s",
			instanceID, in.Resources.VCPUs, in.Resources.MemoryMB, src.AvailabilityZone, strings.Join(why, ", "))
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.clash != b.clash {
			return !a.clash
		}
		if a.freeMB != b.freeMB {
			return a.freeMB > b.freeMB
		}
		return a.name < b.name
	})
	dst := cands[0].name
	p.used[dst] = p.used[dst].Add(in.Resources)
	if g != nil {
		p.count(dst, g.ID, 1)
		p.count(in.Host, g.ID, -1)
	}
	return dst, nil
}

// older reports the first of comps that h runs at an older version than
// src.
func older(h, src *inventory.Host, comps []string) (string, bool) {
	for _, c := range comps {
		dv, dok := h.Versions[c]
		sv, sok := src.Versions[c]
		if !dok || !sok || dv == sv {
			continue
		}
		d, derr := version.NewVersion(dv)
		s, serr := version.NewVersion(sv)
		if derr != nil || serr != nil {
			if dv < sv {
				return c, true
			}
			continue
		}
		if d.LessThan(s) {
			return c, true
		}
	}
	return "", false
}
