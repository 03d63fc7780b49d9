package planner

import (
	"container/heap"
	"fmt"
	"sort"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/inventory"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// maxDestinationTries bounds the search for a destination past the roomiest
// host: the roomiest candidates are nearly always valid, and a bounded
// search keeps planning 10,000 hosts within a second or two.
const maxDestinationTries = 64

// rolloutRules are a rollout's limits resolved against the inventory.
type rolloutRules struct {
	r    *config.Rollout
	maxU int
	// budgets[g] is how many members of group g may be impacted at once,
	// -1 when no guard covers it.
	budgets []int32
	quorums []*quorumRule
	spares  []*capacityRule
	// degree caches conflictDegree for the group being scheduled.
	degree      map[string]int
	degreeGroup string
}

type quorumRule struct {
	guard   string
	hosts   map[string]bool
	maxDown int
	down    int // in the current wave
}

type capacityRule struct {
	guard   string
	hosts   map[string]bool
	minVCPU int64
	minMem  int64
	freeV   int64 // free in-service capacity of the set, kept current
	freeM   int64
}

// schedule builds a rollout's waves.
func (p *planner) schedule(r *config.Rollout, works []*work, waveNo *int) *plans.Rollout {
	rp := &plans.Rollout{Name: r.Name, FailurePolicy: r.OnFailure.Action}
	for _, c := range r.Components {
		rp.Components = append(rp.Components, c.Name)
	}
	if len(works) == 0 {
		return rp
	}
	rules := p.rules(r, works)
	if rules == nil {
		return nil
	}
	rp.MaxUnavailable = rules.maxU
	if r.OnFailure.Action == config.FailureContinue {
		rp.MaxFailed = r.OnFailure.MaxFailed.Of(len(works))
	}

	// Group hosts (one zone at a time, say); groups run in name order.
	groupOf := map[string]string{}
	var groupNames []string
	for _, w := range works {
		g := ""
		if r.GroupBy != nil {
			v, ds := p.cfg.EvalHost(r.GroupBy, inventory.HostValue(w.host), cty.String)
			if ds.HasErrors() {
				p.diags = p.diags.Append(ds)
				return nil
			}
			v, _ = v.Unmark()
			g = v.AsString()
		}
		if _, seen := groupOf[w.host.Name]; !seen && !containsStr(groupNames, g) {
			groupNames = append(groupNames, g)
		}
		groupOf[w.host.Name] = g
	}
	sort.Strings(groupNames)

	canaryHosts := 0
	if r.Canary != nil {
		canaryHosts = min(rules.maxU, max(1, r.Canary.Count.Of(len(works))))
	}
	rp.SpareHosts, rp.LowerBoundWaves = p.lowerBound(works, groupOf, groupNames, rules.maxU, canaryHosts)

	remaining := map[string]*work{}
	for _, w := range works {
		remaining[w.host.Name] = w
	}
	first := true
	for _, g := range groupNames {
		for {
			var cands []*work
			for _, w := range works {
				if remaining[w.host.Name] != nil && groupOf[w.host.Name] == g {
					cands = append(cands, w)
				}
			}
			if len(cands) == 0 {
				break
			}
			limit := rules.maxU
			canary := first && r.Canary != nil
			if canary {
				limit = min(limit, max(1, r.Canary.Count.Of(len(works))))
				if r.Canary.Where != nil {
					var cc []*work
					for _, w := range cands {
						v, ds := p.cfg.EvalHost(r.Canary.Where, inventory.HostValue(w.host), cty.Bool)
						if ds.HasErrors() {
							p.diags = p.diags.Append(ds)
							return nil
						}
						if v, _ := v.Unmark(); v.True() {
							cc = append(cc, w)
						}
					}
					if len(cc) == 0 {
						p.diags = p.diags.Append(diags.Errorf(rangePtr(r.Canary.DeclRange), "No canary host",
							"No host of rollout %q (group %q) matches the canary's where, so there is no host to start with. Loosen where, or remove it to let escalator choose.", r.Name, g))
						return nil
					}
					cands = cc
				}
			}
			*waveNo++
			wave := p.buildWave(r, rules, cands, limit, *waveNo, g)
			if wave == nil {
				return nil
			}
			wave.Canary = canary
			if canary {
				wave.Soak = r.Canary.Soak.D()
			}
			for _, hv := range wave.Hosts {
				delete(remaining, hv.Host)
			}
			rp.Waves = append(rp.Waves, wave)
			first = false
		}
	}
	return rp
}

// rules resolves the rollout's limits and the guards that apply to it.
func (p *planner) rules(r *config.Rollout, works []*work) *rolloutRules {
	rules := &rolloutRules{r: r, maxU: max(1, r.MaxUnavailable.Of(len(works))), budgets: make([]int32, len(p.cloud.groups))}
	for i := range rules.budgets {
		rules.budgets[i] = -1
	}
	for _, name := range sortedKeys(p.cfg.Guards) {
		g := p.cfg.Guards[name]
		switch g.Kind {
		case config.GuardServerGroup:
			for _, sg := range p.inv.ServerGroups() {
				if !contains(g.Policies, sg.Policy) {
					continue
				}
				if g.Where != nil {
					v, ds := p.cfg.EvalServerGroup(g.Where, inventory.ServerGroupValue(sg))
					if ds.HasErrors() {
						p.diags = p.diags.Append(ds)
						return nil
					}
					if v, _ := v.Unmark(); !v.True() {
						continue
					}
				}
				gi, ok := p.cloud.groupIdx[sg.ID]
				if !ok {
					continue
				}
				b := int32(g.MaxUnavailable.Of(len(sg.Members)))
				if old := rules.budgets[gi]; old < 0 || b < old {
					rules.budgets[gi] = b
				}
			}
		case config.GuardQuorum:
			set := p.selected[g.Hosts.Name]
			q := &quorumRule{guard: name, hosts: map[string]bool{}}
			up := 0
			for _, h := range set {
				q.hosts[h.Name] = true
				if hs := p.cloud.hosts[h.Name]; hs != nil && hs.inService {
					up++
				}
			}
			q.maxDown = up - g.MinAvailable.AtLeast(len(set))
			rules.quorums = append(rules.quorums, q)
		case config.GuardCapacity:
			set := p.selected[g.Hosts.Name]
			c := &capacityRule{guard: name, hosts: map[string]bool{}}
			var capV, capM int64
			for _, h := range set {
				c.hosts[h.Name] = true
				hs := p.cloud.hosts[h.Name]
				if hs == nil {
					continue
				}
				capV += hs.capacity.VCPUs
				capM += hs.capacity.MemoryMB
				if hs.inService {
					c.freeV += hs.free.VCPUs
					c.freeM += hs.free.MemoryMB
				}
			}
			c.minVCPU = int64(g.MinFreeVCPU.AtLeast(int(capV)))
			c.minMem = int64(g.MinFreeMemoryMB.AtLeast(int(capM)))
			rules.spares = append(rules.spares, c)
		}
	}
	return rules
}

// undo records tentative changes to the cloud so a host that turns out
// not to fit in the wave leaves no trace.
type undo struct {
	moves []tentativeMove
}

type tentativeMove struct {
	inst *instState
	from *hostState
	to   *hostState
	prev int // to.receiving before
}

// wavePlan is a wave under construction.
type wavePlan struct {
	number   int
	impacted []int32 // per group: members impacted in this wave
	hosts    []*hostState
	visits   []*plans.HostVisit
	// moves of this wave, for commit.
	moves []tentativeMove
}

// buildWave picks the hosts of one wave from cands. It first admits only
// hosts whose instances all fit on destinations they will never have to
// leave (already upgraded, or not upgraded by this campaign); only when
// that admits no host at all does it allow other destinations, so an
// instance moves twice only when there is no other way to make progress.
func (p *planner) buildWave(r *config.Rollout, rules *rolloutRules, cands []*work, limit, number int, group string) *plans.Wave {
	// Empty hosts first: they cost no move and free capacity at once.
	// Then the hosts that share budgeted server groups with the most other
	// remaining hosts, as in largest-degree-first graph colouring: left to
	// the end they would be the ones that can't share a wave with anyone.
	// Then the fewest instances.
	if rules.degree == nil || rules.degreeGroup != group || len(cands) <= 3*limit {
		// Computed once per group while many hosts remain: recomputing per
		// wave costs more than the slightly better order it would give.
		// Near the end it matters (the last waves must be conflict-free
		// among few hosts) and is cheap, so it is recomputed then.
		rules.degree = p.conflictDegree(rules, cands)
		rules.degreeGroup = group
	}
	degree := rules.degree
	sort.SliceStable(cands, func(i, j int) bool {
		ni, nj := p.evacCount(cands[i]), p.evacCount(cands[j])
		if (ni == 0) != (nj == 0) {
			return ni == 0
		}
		di, dj := degree[cands[i].host.Name], degree[cands[j].host.Name]
		if di != dj {
			return di > dj
		}
		if ni != nj {
			return ni < nj
		}
		return cands[i].host.Name < cands[j].host.Name
	})
	// Free capacity as the wave starts: hosts of earlier waves are back in
	// service, with what they now hold.
	for _, c := range rules.spares {
		c.freeV, c.freeM = 0, 0
		for h := range c.hosts {
			if hs := p.cloud.hosts[h]; hs != nil && hs.inService {
				c.freeV += hs.free.VCPUs
				c.freeM += hs.free.MemoryMB
			}
		}
	}
	var wp *wavePlan
	var why string
	for _, preferredOnly := range []bool{true, false} {
		wp = &wavePlan{number: number, impacted: make([]int32, len(p.cloud.groups))}
		why = ""
		for _, q := range rules.quorums {
			q.down = 0
		}
		// Without upgraded room, a wave is a single host, the one with the
		// fewest instances: its instances are the only ones that move
		// twice, and the waves then grow as upgraded room appears. Fewer
		// live migrations weigh more than a shorter campaign, unless the
		// rollout says evacuate { prefer = "fewer_waves" }.
		lim := limit
		if !preferredOnly && r.Evacuate.Prefer != config.PreferFewerWaves {
			lim = 1
		}
		for _, w := range cands {
			if len(wp.hosts) >= lim {
				break
			}
			reason := p.admit(r, rules, wp, w, preferredOnly)
			if reason != "" && why == "" {
				why = reason
			}
		}
		if len(wp.hosts) > 0 {
			break
		}
	}
	if len(wp.hosts) == 0 {
		p.diags = p.diags.Append(diags.Errorf(rangePtr(r.DeclRange), "No feasible wave",
			"Wave %d of rollout %q%s can't take any host out of service: %s", number, r.Name, groupSuffix(group), why))
		return nil
	}
	return p.commitWave(r, wp, group)
}

func groupSuffix(g string) string {
	if g == "" {
		return ""
	}
	return fmt.Sprintf(" (group %q)", g)
}

// conflictDegree counts, for each candidate, the other candidates that
// hold members of the same budgeted server groups.
func (p *planner) conflictDegree(rules *rolloutRules, cands []*work) map[string]int {
	holders := map[int32][]string{}
	for _, w := range cands {
		if !w.evacuate {
			continue
		}
		hs := p.cloud.hosts[w.host.Name]
		if hs == nil {
			continue
		}
		for _, gc := range hs.groupCount {
			if rules.budgets[gc.g] >= 0 {
				holders[gc.g] = append(holders[gc.g], hs.name)
			}
		}
	}
	degree := map[string]int{}
	for _, hosts := range holders {
		if len(hosts) > 1 {
			for _, h := range hosts {
				degree[h] += len(hosts) - 1
			}
		}
	}
	return degree
}

// evacCount is the number of instances a visit must move.
func (p *planner) evacCount(w *work) int {
	if !w.evacuate {
		return 0
	}
	if hs := p.cloud.hosts[w.host.Name]; hs != nil {
		return len(hs.insts)
	}
	return 0
}

// admit tries to add one host to the wave. It returns "" on success, or
// why the host could not join, for the infeasibility message.
func (p *planner) admit(r *config.Rollout, rules *rolloutRules, wp *wavePlan, w *work, preferredOnly bool) string {
	hs := p.cloud.hosts[w.host.Name]
	if hs == nil {
		return fmt.Sprintf("host %s has no capacity record in the inventory", w.host.Name)
	}
	if hs.receiving == wp.number {
		return fmt.Sprintf("host %s receives instances in this wave", hs.name)
	}
	for _, q := range rules.quorums {
		if q.hosts[hs.name] && q.down+1 > q.maxDown {
			return fmt.Sprintf("guard %q keeps a quorum: at most %d of its hosts may be down at once, and host %s would be one more. Lower min_available, or add hosts to the set.", q.guard, max(q.maxDown, 0), hs.name)
		}
	}
	// Server group budgets: members of one group impacted at once. The
	// host's group counts are exactly what evacuating it impacts; checked
	// first because it is the cheapest and most frequent refusal.
	var need groupCounts
	if w.evacuate {
		need = hs.groupCount
	}
	for _, gc := range need {
		g, n := gc.g, gc.n
		b := rules.budgets[g]
		if b < 0 {
			continue
		}
		if wp.impacted[g]+n > b {
			sg := p.cloud.groups[g]
			name := sg.ID
			if sg.Name != "" {
				name = sg.Name
			}
			if n > b {
				return fmt.Sprintf("host %s holds %d members of server group %q, whose guard allows only %d impacted at once, so the host can never be evacuated. Raise the guard's max_unavailable for this group, or spread the group's members.", hs.name, n, name, b)
			}
			return fmt.Sprintf("server group %q may have only %d member(s) impacted at once", name, b)
		}
	}
	var insts []*instState
	if w.evacuate {
		insts = hs.instancesOn()
	}
	// The counts change as instances are placed; keep this host's own.
	impact := append(groupCounts(nil), need...)
	// Take the host out of the pools and place its instances.
	u := &undo{}
	p.cloud.removeFromPool(hs)
	hs.inWave = wp.number
	for _, c := range rules.spares {
		if c.hosts[hs.name] {
			c.freeV -= hs.free.VCPUs
			c.freeM -= hs.free.MemoryMB
		}
	}
	fail := ""
	// Members of a hard affinity group must stay together: the first one
	// picks the destination, the others follow it.
	affinityDest := map[int32]*hostState{}
	for _, is := range insts {
		if is.inv.Status == "ACTIVE" && !is.inv.LiveMigratable && r.Evacuate.Mode == config.EvacuateLive && !r.Evacuate.FallbackToCold {
			fail = fmt.Sprintf("instance %s (%s) on host %s can't be live-migrated and the rollout allows no cold migration. Set evacuate { fallback_to_cold = true } (the instance stops while it moves), or move it yourself first.", is.inv.ID, is.inv.Name, hs.name)
			break
		}
		var dest *hostState
		affinity := is.group >= 0 && p.cloud.groups[is.group].Policy == "affinity"
		if d, ok := affinityDest[is.group]; ok && affinity {
			if !d.free.Fits(is.inv.Resources) {
				fail = fmt.Sprintf("the members of affinity group %q on host %s do not all fit on one host of zone %q", p.cloud.groups[is.group].Name, hs.name, hs.zone)
				break
			}
			dest = d
		} else {
			dest = p.destination(is, hs, wp.number, preferredOnly)
			if affinity && dest != nil {
				affinityDest[is.group] = dest
			}
		}
		if dest == nil {
			need := is.inv.Resources
			fail = fmt.Sprintf("instance %s (%d vCPU, %d MB) on host %s has no destination in zone %q: %s", is.inv.ID, need.VCPUs, need.MemoryMB, hs.name, hs.zone, p.zoneRoom(hs.zone, hs.role, need, preferredOnly))
			break
		}
		p.place(u, is, hs, dest, wp.number, rules)
	}
	if fail == "" {
		for _, c := range rules.spares {
			if c.freeV < c.minVCPU || c.freeM < c.minMem {
				fail = fmt.Sprintf("guard %q keeps %d vCPU and %d MB free on hosts in service, and taking host %s out would leave %d vCPU and %d MB. Lower the guard's minimum or max_unavailable, or add capacity.", c.guard, c.minVCPU, c.minMem, hs.name, c.freeV, c.freeM)
				break
			}
		}
	}
	if fail != "" {
		p.rollback(u, rules)
		hs.inWave = 0
		for _, c := range rules.spares {
			if c.hosts[hs.name] {
				c.freeV += hs.free.VCPUs
				c.freeM += hs.free.MemoryMB
			}
		}
		p.cloud.addToPool(hs)
		return fail
	}
	for _, q := range rules.quorums {
		if q.hosts[hs.name] {
			q.down++
		}
	}
	for _, gc := range impact {
		wp.impacted[gc.g] += gc.n
	}
	wp.hosts = append(wp.hosts, hs)
	wp.moves = append(wp.moves, u.moves...)
	wp.visits = append(wp.visits, p.visit(r, w, hs, u.moves))
	return ""
}

// destination picks where an instance goes: the roomiest in-service host
// of its zone that fits it, holds no member of its anti-affinity group
// and is not in this wave. Preferred hosts (never visited again) first.
func (p *planner) destination(is *instState, from *hostState, wave int, preferredOnly bool) *hostState {
	zp := p.cloud.pool(from.zone, from.role)
	if d := pick(&zp.preferred, is, p.cloud, wave); d != nil {
		return d
	}
	if preferredOnly {
		return nil
	}
	return pick(&zp.fallback, is, p.cloud, wave)
}

func pick(hh *hostHeap, is *instState, c *cloud, wave int) *hostState {
	var skipped []*hostState
	defer func() {
		for _, h := range skipped {
			heap.Push(hh, h)
		}
	}()
	var g *inventory.ServerGroup
	if is.group >= 0 {
		g = c.groups[is.group]
	}
	// softOnly is the first host that fits but holds a member of a soft
	// anti-affinity group: Nova allows it, so it is the fallback when no
	// host keeps the group apart.
	var softOnly *hostState
	for tries := 0; hh.Len() > 0 && tries < maxDestinationTries; tries++ {
		h := (*hh)[0]
		if h.inWave != wave && h.free.Fits(is.inv.Resources) {
			if g == nil || h.groupCount.get(is.group) == 0 {
				return h
			}
			if g.Policy != "anti-affinity" && softOnly == nil {
				softOnly = h
			}
		}
		skipped = append(skipped, heap.Pop(hh).(*hostState))
	}
	return softOnly
}

// place records a tentative move.
func (p *planner) place(u *undo, is *instState, from, to *hostState, wave int, rules *rolloutRules) {
	u.moves = append(u.moves, tentativeMove{inst: is, from: from, to: to, prev: to.receiving})
	to.free = to.free.Sub(is.inv.Resources)
	to.receiving = wave
	if is.group >= 0 {
		to.groupCount.add(is.group, 1)
	}
	to.fix()
	for _, c := range rules.spares {
		if c.hosts[to.name] {
			c.freeV -= is.inv.Resources.VCPUs
			c.freeM -= is.inv.Resources.MemoryMB
		}
	}
}

func (p *planner) rollback(u *undo, rules *rolloutRules) {
	for i := len(u.moves) - 1; i >= 0; i-- {
		m := u.moves[i]
		m.to.free = m.to.free.Add(m.inst.inv.Resources)
		m.to.receiving = m.prev
		if m.inst.group >= 0 {
			m.to.groupCount.add(m.inst.group, -1)
		}
		m.to.fix()
		for _, c := range rules.spares {
			if c.hosts[m.to.name] {
				c.freeV += m.inst.inv.Resources.VCPUs
				c.freeM += m.inst.inv.Resources.MemoryMB
			}
		}
	}
}

// zoneRoom explains how much room a zone has, for infeasibility messages.
func (p *planner) zoneRoom(zone, role string, need inventory.Resources, preferredOnly bool) string {
	var v, m int64
	var n int
	zp := p.cloud.pool(zone, role)
	pools := []*hostHeap{&zp.preferred}
	if !preferredOnly {
		pools = append(pools, &zp.fallback)
	}
	var best *hostState
	for _, pool := range pools {
		for _, h := range *pool {
			v += h.free.VCPUs
			m += h.free.MemoryMB
			n++
			if best == nil || h.roominess() > best.roominess() {
				best = h
			}
		}
	}
	if n == 0 {
		return "no host of the zone is in service outside this wave. Lower max_unavailable or add hosts."
	}
	s := fmt.Sprintf("the %d in-service hosts outside this wave have %d vCPU and %d MB free in all", n, v, m)
	if best != nil && !best.free.Fits(need) {
		s += fmt.Sprintf(", but the roomiest has only %d vCPU and %d MB: %d vCPU and %d MB are missing on one host",
			best.free.VCPUs, best.free.MemoryMB, max(0, need.VCPUs-best.free.VCPUs), max(0, need.MemoryMB-best.free.MemoryMB))
	} else {
		s += ", but none that fits also keeps the instance's anti-affinity group apart"
	}
	return s + ". Lower max_unavailable, free capacity, or add hosts."
}

// visit describes what happens on one host.
func (p *planner) visit(r *config.Rollout, w *work, hs *hostState, moves []tentativeMove) *plans.HostVisit {
	hv := &plans.HostVisit{
		Host:             hs.name,
		AvailabilityZone: hs.zone,
		Provider:         p.maintenanceProvider(w),
		Changes:          append([]plans.Change(nil), w.changes...),
		Evacuate:         w.evacuate,
		Digest:           p.hostDigests[hs.name],
	}
	for _, c := range r.Verify.Checks {
		hv.Verify = append(hv.Verify, c.Name)
	}
	var moveTime time.Duration
	for _, m := range moves {
		live := m.inst.inv.Status == "ACTIVE" && m.inst.inv.LiveMigratable && r.Evacuate.Mode == config.EvacuateLive
		hv.Moves = append(hv.Moves, plans.Move{
			Instance: m.inst.inv.ID, Name: m.inst.inv.Name, Project: m.inst.inv.Project, ServerGroup: m.inst.inv.ServerGroup,
			From: m.from.name, To: m.to.name, Live: live,
			VCPUs: m.inst.inv.Resources.VCPUs, MemoryMB: m.inst.inv.Resources.MemoryMB,
			ToUpgraded: m.to.pendingEvac == 0,
		})
		if live {
			moveTime += DefaultLiveMoveDuration
		} else {
			moveTime += DefaultColdMoveDuration
		}
	}
	par := time.Duration(max(1, r.Evacuate.Parallel))
	hv.ExpectedDuration = 2*DefaultMaintenanceToggle + (moveTime+par-1)/par + w.duration
	if r.ExpectedDuration > 0 {
		hv.ExpectedDuration = r.ExpectedDuration.D()
	}
	return hv
}

// commitWave makes the wave's moves real in the model, marks its hosts
// visited and puts them back in service, and fills in notifications.
func (p *planner) commitWave(r *config.Rollout, wp *wavePlan, group string) *plans.Wave {
	wave := &plans.Wave{Number: wp.number, Group: group, Hosts: wp.visits}
	for _, m := range wp.moves {
		// place() already counted the group on the destination.
		if m.inst.group >= 0 {
			m.to.groupCount.add(m.inst.group, -1)
		}
		m.from.removeInst(m.inst)
		m.from.free = m.from.free.Add(m.inst.inv.Resources)
		m.to.addInst(m.inst)
		m.inst.host = m.to.name
		m.inst.moved++
	}
	impact := map[string]int{}
	projects := map[string]int{}
	for i, hs := range wp.hosts {
		hv := wp.visits[i]
		if hv.Evacuate {
			hs.pendingEvac--
		}
		hs.inWave = 0
		p.cloud.addToPool(hs)
		if hv.ExpectedDuration > wave.ExpectedDuration {
			wave.ExpectedDuration = hv.ExpectedDuration
		}
		for _, m := range hv.Moves {
			if m.ServerGroup != "" {
				impact[m.ServerGroup]++
			}
			projects[m.Project]++
		}
		if !hv.Evacuate {
			for _, is := range hs.insts {
				projects[is.inv.Project]++
			}
		}
	}
	// A host receiving instances may now be preferred or fallback; its
	// pool does not change, only its place in the heap (already fixed).
	for _, n := range impact {
		wave.MaxGroupImpact = max(wave.MaxGroupImpact, n)
	}
	for _, n := range r.Notify {
		var ps []string
		count := 0
		for _, pr := range sortedKeys(projects) {
			if len(n.Projects) == 0 || contains(n.Projects, pr) {
				ps = append(ps, pr)
				count += projects[pr]
			}
		}
		if count == 0 {
			continue
		}
		wave.Notify = append(wave.Notify, plans.Notification{
			Notify: n.Name, URL: n.URL, Projects: ps, Instances: count,
			ReplyTimeout: n.ReplyTimeout.D(), OnTimeout: n.OnTimeout,
		})
	}
	for _, name := range sortedKeys(p.cfg.Checks) {
		if contains(p.cfg.Checks[name].When, config.PhaseBetweenWaves) {
			wave.Checks = append(wave.Checks, name)
		}
	}
	return wave
}

func containsStr(list []string, s string) bool { return contains(list, s) }

// maintenanceProvider is the provider of the hosts block that selected the
// first component changing on the host: the one that schedules instances
// there, so the one that can disable the host and migrate.
func (p *planner) maintenanceProvider(w *work) string {
	if len(w.changes) == 0 {
		return ""
	}
	if c := p.cfg.Components[w.changes[0].Component]; c != nil {
		if hs := p.cfg.HostSets[c.Hosts.Name]; hs != nil {
			return hs.Provider.Name
		}
	}
	return w.changes[0].Provider
}
