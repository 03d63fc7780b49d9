package planner

import (
	"fmt"
	"slices"
	"sort"
	"strings"
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
	// recovery is, by server group id, the longest recovery_time of the
	// guards covering it.
	recovery map[string]time.Duration
	// budgets[g] is how many members of group g may be impacted at once,
	// -1 when no guard covers it.
	budgets []int32
	quorums []*quorumRule
	spares  []*capacityRule
	// degree caches conflictDegree (by host index) for the group being
	// scheduled.
	degree      []int32
	degreeGroup string
}

type quorumRule struct {
	guard string
	// member is indexed by host index: whether the host is in the set.
	member  []bool
	maxDown int
	down    int // in the current wave
}

type capacityRule struct {
	guard string
	// member is indexed by host index; list holds the same hosts.
	member  []bool
	list    []*hostState
	minVCPU int64
	minMem  int64
	freeV   int64 // free in-service capacity of the set, kept current
	freeM   int64
}

// groupKeys evaluates the rollout's group_by for each host, into
// work.group, up to the first error.
func (p *planner) groupKeys(r *config.Rollout, works []*work) diags.Diagnostics {
	for _, w := range works {
		w.group = ""
		if r.GroupBy == nil {
			continue
		}
		v, ds := p.cfg.EvalHost(r.GroupBy, inventory.HostValue(w.host), cty.String)
		if ds.HasErrors() {
			return ds
		}
		v, _ = v.Unmark()
		w.group = v.AsString()
	}
	return nil
}

// schedule builds a rollout's waves. keyDiags are groupKeys' diagnostics
// for the rollout, reported here, where the rollout's turn comes.
func (p *planner) schedule(r *config.Rollout, works []*work, keyDiags diags.Diagnostics, waveNo *int) *plans.Rollout {
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
	// Each group's hosts keep the order of works.
	if keyDiags.HasErrors() {
		p.diags = p.diags.Append(keyDiags)
		return nil
	}
	byGroup := map[string][]*work{}
	var groupNames []string
	for _, w := range works {
		if _, seen := byGroup[w.group]; !seen {
			groupNames = append(groupNames, w.group)
		}
		byGroup[w.group] = append(byGroup[w.group], w)
	}
	sort.Strings(groupNames)

	canaryHosts := 0
	if r.Canary != nil {
		canaryHosts = min(rules.maxU, max(1, r.Canary.Count.Of(len(works))))
	}
	rp.SpareHosts, rp.LowerBoundWaves = p.lowerBound(byGroup, groupNames, rules.maxU, canaryHosts)

	for _, w := range works {
		w.done = false
	}
	first := true
	// lastImpact is, by server group id, the last wave that moved a member.
	lastImpact := map[string]int{}
	for _, g := range groupNames {
		// pending is the group's hosts not yet in a wave. buildWave sorts
		// the candidates by a total order, so their order here does not
		// matter.
		pending := slices.Clone(byGroup[g])
		for {
			pending = slices.DeleteFunc(pending, func(w *work) bool { return w.done })
			cands := pending
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
			if len(rules.recovery) > 0 {
				p.recoveryWaits(rules, rp.Waves, wave, lastImpact)
			}
			rp.Waves = append(rp.Waves, wave)
			first = false
		}
	}
	return rp
}

// rules resolves the rollout's limits and the guards that apply to it.
func (p *planner) rules(r *config.Rollout, works []*work) *rolloutRules {
	rules := &rolloutRules{r: r, maxU: max(1, r.MaxUnavailable.Of(len(works))), budgets: make([]int32, len(p.cloud.groups)), recovery: map[string]time.Duration{}}
	p.interrupt = map[int32]interruptLimit{}
	for i := range rules.budgets {
		rules.budgets[i] = -1
	}
	for _, name := range sortedKeys(p.cfg.Guards) {
		g := p.cfg.Guards[name]
		switch g.Kind {
		case config.GuardServerGroup:
			for gi, sg := range p.cloud.groups {
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
				b := int32(g.MaxUnavailable.Of(len(sg.Members)))
				if old := rules.budgets[gi]; old < 0 || b < old {
					rules.budgets[gi] = b
				}
				if d := g.RecoveryTime.D(); d > rules.recovery[sg.ID] {
					rules.recovery[sg.ID] = d
				}
				if d := g.MaxInterruptionTime.D(); d > 0 {
					if old, ok := p.interrupt[int32(gi)]; !ok || d < old.d {
						p.interrupt[int32(gi)] = interruptLimit{d, name}
					}
				}
			}
		case config.GuardQuorum:
			set := p.selected[g.Hosts.Name]
			q := &quorumRule{guard: name, member: make([]bool, len(p.cloud.hostList))}
			up := 0
			for _, h := range set {
				hs := p.cloud.hosts[h.Name]
				if hs == nil {
					continue
				}
				q.member[hs.idx] = true
				if hs.inService {
					up++
				}
			}
			q.maxDown = up - g.MinAvailable.AtLeast(len(set))
			rules.quorums = append(rules.quorums, q)
		case config.GuardCapacity:
			set := p.selected[g.Hosts.Name]
			c := &capacityRule{guard: name, member: make([]bool, len(p.cloud.hostList))}
			var capV, capM int64
			for _, h := range set {
				hs := p.cloud.hosts[h.Name]
				if hs == nil || c.member[hs.idx] {
					continue
				}
				c.member[hs.idx] = true
				c.list = append(c.list, hs)
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

// tentativeMove is a move placed in the model but not committed: a host
// that turns out not to fit in the wave takes its moves back, leaving no
// trace.
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
	works    []*work
	visits   []*plans.HostVisit
	// moves of this wave, for commit; the host being admitted appends its
	// own at the end, and takes them back if it does not fit.
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
	p.sortCandidates(cands, rules.degree)
	// Free capacity as the wave starts: hosts of earlier waves are back in
	// service, with what they now hold.
	for _, c := range rules.spares {
		c.freeV, c.freeM = 0, 0
		for _, hs := range c.list {
			if hs.inService {
				c.freeV += hs.free.VCPUs
				c.freeM += hs.free.MemoryMB
			}
		}
	}
	var wp *wavePlan
	var why string
	for _, preferredOnly := range []bool{true, false} {
		wp = &wavePlan{number: number, impacted: make([]int32, len(p.cloud.groups)), moves: p.moveBuf[:0]}
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
			reason := p.admit(r, rules, wp, w, preferredOnly, why == "")
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
	wave := p.commitWave(r, wp, group)
	p.moveBuf = wp.moves[:0] // the visits copied what they show
	return wave
}

func groupSuffix(g string) string {
	if g == "" {
		return ""
	}
	return fmt.Sprintf(" (group %q)", g)
}

// conflictDegree counts, for each candidate, the other candidates that
// hold members of the same budgeted server groups; the result is indexed
// by host index.
func (p *planner) conflictDegree(rules *rolloutRules, cands []*work) []int32 {
	// holders[g] is how many evacuated candidates hold members of g; each
	// of them conflicts with the others.
	holders := p.groupScratch()
	for _, w := range cands {
		if !w.evacuate || w.hs == nil {
			continue
		}
		for _, gc := range w.hs.groupCount {
			if rules.budgets[gc.g] >= 0 {
				holders[gc.g]++
			}
		}
	}
	degree := make([]int32, len(p.cloud.hostList))
	for _, w := range cands {
		if !w.evacuate || w.hs == nil {
			continue
		}
		for _, gc := range w.hs.groupCount {
			if n := holders[gc.g]; rules.budgets[gc.g] >= 0 && n > 1 {
				degree[w.hs.idx] += n - 1
			}
		}
	}
	for _, w := range cands {
		if w.hs != nil {
			for _, gc := range w.hs.groupCount {
				holders[gc.g] = 0
			}
		}
	}
	return degree
}

// groupScratch returns a zeroed counter per server group; its user must
// zero what it set before the next use.
func (p *planner) groupScratch() []int32 {
	if p.perGroup == nil {
		p.perGroup = make([]int32, len(p.cloud.groups))
	}
	return p.perGroup
}

// sortCandidates orders a wave's candidates: empty hosts first (they cost
// no move and free capacity at once), then the hosts that share budgeted
// server groups with the most other remaining hosts, as in
// largest-degree-first graph colouring (left to the end they would be the
// ones that can't share a wave with anyone), then the fewest instances,
// then by name: a total order.
func (p *planner) sortCandidates(cands []*work, degree []int32) {
	type key struct {
		n, d int
		w    *work
	}
	keys := make([]key, len(cands))
	for i, w := range cands {
		k := key{n: evacCount(w), w: w}
		if w.hs != nil && int(w.hs.idx) < len(degree) {
			k.d = int(degree[w.hs.idx])
		}
		keys[i] = k
	}
	slices.SortFunc(keys, func(a, b key) int {
		if (a.n == 0) != (b.n == 0) {
			if a.n == 0 {
				return -1
			}
			return 1
		}
		if a.d != b.d {
			if a.d > b.d {
				return -1
			}
			return 1
		}
		if a.n != b.n {
			if a.n < b.n {
				return -1
			}
			return 1
		}
		if a.w.hs != nil && b.w.hs != nil {
			return int(a.w.hs.idx) - int(b.w.hs.idx) // name order
		}
		return strings.Compare(a.w.host.Name, b.w.host.Name)
	})
	for i := range keys {
		cands[i] = keys[i].w
	}
}

// evacCount is the number of instances a visit must move.
func evacCount(w *work) int {
	if !w.evacuate || w.hs == nil {
		return 0
	}
	return len(w.hs.insts)
}

// refused is admit's answer when the caller wants no explanation.
const refused = "refused"

// admit tries to add one host to the wave. It returns "" on success, or
// why the host could not join, for the infeasibility message. Only the
// first reason of a wave is shown, so with explain false the reason is
// not spelled out (refused): formatting it costs more than the attempt.
func (p *planner) admit(r *config.Rollout, rules *rolloutRules, wp *wavePlan, w *work, preferredOnly, explain bool) string {
	hs := w.hs
	if hs == nil {
		return fmt.Sprintf("host %s has no capacity record in the inventory", w.host.Name)
	}
	if hs.receiving == wp.number {
		if !explain {
			return refused
		}
		return fmt.Sprintf("host %s receives instances in this wave", hs.name)
	}
	for _, q := range rules.quorums {
		if q.member[hs.idx] && q.down+1 > q.maxDown {
			if !explain {
				return refused
			}
			return fmt.Sprintf("guard %q keeps a quorum: at most %d of its hosts may be down at once, and host %s would be one more. Lower min_available, or add hosts to the set.", q.guard, max(q.maxDown, 0), hs.name)
		}
	}
	// Server group budgets: members of one group impacted at once. The
	// host's group counts are exactly what evacuating it impacts; checked
	// first because it is the cheapest and most frequent refusal. They do
	// not change while its instances are placed (on other hosts).
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
			if !explain {
				return refused
			}
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
	// The host's instances in id order; placing them changes other hosts
	// only, so the list stays as it is until the wave is committed.
	var insts []*instState
	if w.evacuate {
		insts = hs.insts
	}
	// Take the host out of the pools and place its instances.
	start := len(wp.moves)
	p.cloud.removeFromPool(hs)
	hs.inWave = wp.number
	for _, c := range rules.spares {
		if c.member[hs.idx] {
			c.freeV -= hs.free.VCPUs
			c.freeM -= hs.free.MemoryMB
		}
	}
	fail := ""
	// Members of a hard affinity group must stay together: the first one
	// picks the destination, the others follow it.
	var affinityDest map[int32]*hostState
	for _, is := range insts {
		if is.active && !is.live && r.Evacuate.Mode == config.EvacuateLive && !r.Evacuate.FallbackToCold {
			fail = refused
			if explain {
				fail = fmt.Sprintf("instance %s (%s) on host %s can't be live-migrated and the rollout allows no cold migration. Set evacuate { fallback_to_cold = true } (the instance stops while it moves), or move it yourself first.", is.inv.ID, is.inv.Name, hs.name)
			}
			break
		}
		var dest *hostState
		affinity := is.group >= 0 && p.cloud.policy[is.group] == policyAffinity
		if d, ok := affinityDest[is.group]; ok && affinity {
			if !d.free.Fits(is.res) {
				fail = refused
				if explain {
					fail = fmt.Sprintf("the members of affinity group %q on host %s do not all fit on one host of zone %q", p.cloud.groups[is.group].Name, hs.name, hs.zone)
				}
				break
			}
			dest = d
		} else {
			dest = p.destination(is, hs, wp.number, preferredOnly)
			if affinity && dest != nil {
				if affinityDest == nil {
					affinityDest = map[int32]*hostState{}
				}
				affinityDest[is.group] = dest
			}
		}
		if dest == nil {
			fail = refused
			if explain {
				need := is.res
				fail = fmt.Sprintf("instance %s (%d vCPU, %d MB) on host %s has no destination in zone %q: %s", is.inv.ID, need.VCPUs, need.MemoryMB, hs.name, hs.zone, p.zoneRoom(hs.zone, hs.role, need, preferredOnly))
			}
			break
		}
		wp.moves = p.place(wp.moves, is, hs, dest, wp.number, rules)
	}
	if fail == "" {
		for _, c := range rules.spares {
			if c.freeV < c.minVCPU || c.freeM < c.minMem {
				fail = refused
				if explain {
					fail = fmt.Sprintf("guard %q keeps %d vCPU and %d MB free on hosts in service, and taking host %s out would leave %d vCPU and %d MB. Lower the guard's minimum or max_unavailable, or add capacity.", c.guard, c.minVCPU, c.minMem, hs.name, c.freeV, c.freeM)
				}
				break
			}
		}
	}
	if fail != "" {
		p.rollback(wp.moves[start:], rules)
		wp.moves = wp.moves[:start]
		hs.inWave = 0
		for _, c := range rules.spares {
			if c.member[hs.idx] {
				c.freeV += hs.free.VCPUs
				c.freeM += hs.free.MemoryMB
			}
		}
		p.cloud.addToPool(hs)
		return fail
	}
	for _, q := range rules.quorums {
		if q.member[hs.idx] {
			q.down++
		}
	}
	for _, gc := range need {
		wp.impacted[gc.g] += gc.n
	}
	wp.hosts = append(wp.hosts, hs)
	wp.works = append(wp.works, w)
	wp.visits = append(wp.visits, p.visit(r, w, hs, wp.moves[start:]))
	return ""
}

// destination picks where an instance goes: the roomiest in-service host
// of its zone that fits it, holds no member of its anti-affinity group
// and is not in this wave. Preferred hosts (never visited again) first.
func (p *planner) destination(is *instState, from *hostState, wave int, preferredOnly bool) *hostState {
	zp := p.cloud.poolsOf(from)
	if d := p.pick(&zp.preferred, is, wave); d != nil {
		return d
	}
	if preferredOnly {
		return nil
	}
	return p.pick(&zp.fallback, is, wave)
}

// pick returns the first host of the heap, in its order, that can take
// the instance, looking at no more than maxDestinationTries hosts.
func (p *planner) pick(hh *hostHeap, is *instState, wave int) *hostState {
	// Hosts that do not fit are popped to reach the next ones, and pushed
	// back before returning.
	skipped := p.skipped[:0]
	defer func() {
		for _, h := range skipped {
			hh.push(h)
		}
		clear(skipped)
		p.skipped = skipped[:0]
	}()
	policy := policyOther
	if is.group >= 0 {
		policy = p.cloud.policy[is.group]
	}
	// softOnly is the first host that fits but holds a member of a soft
	// anti-affinity group: Nova allows it, so it is the fallback when no
	// host keeps the group apart.
	var softOnly *hostState
	for tries := 0; len(*hh) > 0 && tries < maxDestinationTries; tries++ {
		h := (*hh)[0]
		if h.inWave != wave && h.free.Fits(is.res) {
			if is.group < 0 || h.groupCount.get(is.group) == 0 {
				return h
			}
			if policy != policyAntiAffinity && softOnly == nil {
				softOnly = h
			}
		}
		skipped = append(skipped, hh.pop())
	}
	return softOnly
}

// place records a tentative move and returns moves with it appended.
func (p *planner) place(moves []tentativeMove, is *instState, from, to *hostState, wave int, rules *rolloutRules) []tentativeMove {
	moves = append(moves, tentativeMove{inst: is, from: from, to: to, prev: to.receiving})
	to.setFree(to.free.Sub(is.res))
	to.receiving = wave
	if is.group >= 0 {
		to.groupCount.add(is.group, 1)
	}
	to.fix()
	for _, c := range rules.spares {
		if c.member[to.idx] {
			c.freeV -= is.res.VCPUs
			c.freeM -= is.res.MemoryMB
		}
	}
	return moves
}

// rollback takes tentative moves back, last first.
func (p *planner) rollback(moves []tentativeMove, rules *rolloutRules) {
	for i := len(moves) - 1; i >= 0; i-- {
		m := moves[i]
		m.to.setFree(m.to.free.Add(m.inst.res))
		m.to.receiving = m.prev
		if m.inst.group >= 0 {
			m.to.groupCount.add(m.inst.group, -1)
		}
		m.to.fix()
		for _, c := range rules.spares {
			if c.member[m.to.idx] {
				c.freeV += m.inst.res.VCPUs
				c.freeM += m.inst.res.MemoryMB
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
			if best == nil || h.room > best.room {
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

// visit describes what happens on one host. Its Digest is filled in when
// the plan is complete (see fillDigests).
func (p *planner) visit(r *config.Rollout, w *work, hs *hostState, moves []tentativeMove) *plans.HostVisit {
	hv := &plans.HostVisit{
		Host:             hs.name,
		AvailabilityZone: hs.zone,
		Provider:         p.maintenanceProvider(w),
		Changes:          append([]plans.Change(nil), w.changes...),
		Evacuate:         w.evacuate,
	}
	for _, c := range r.Verify.Checks {
		hv.Verify = append(hv.Verify, c.Name)
	}
	if len(moves) > 0 {
		hv.Moves = p.moveSlice(len(moves))
	}
	var moveTime time.Duration
	for _, m := range moves {
		in := m.inst.inv
		live := m.inst.active && m.inst.live && r.Evacuate.Mode == config.EvacuateLive
		if lim, ok := p.interrupt[m.inst.group]; ok && !live && m.inst.active && m.inst.group >= 0 && DefaultColdMoveDuration > lim.d {
			why := "it cannot be live-migrated"
			if r.Evacuate.Mode != config.EvacuateLive {
				why = "the rollout evacuates cold (evacuate { mode = \"cold\" })"
			}
			p.diags = p.diags.Append(diags.Errorf(rangePtr(p.cfg.Guards[lim.guard].DeclRange), "Interruption too long",
				"Instance %s (server group %s) must leave host %s, and %s: a cold migration stops it for about %s, more than guard %q allows (max_interruption_time = %s). Make it live-migratable, evacuate live, or raise max_interruption_time.",
				in.ID, in.ServerGroup, m.from.name, why, DefaultColdMoveDuration, lim.guard, lim.d))
		}
		hv.Moves = append(hv.Moves, plans.Move{
			Instance: in.ID, Name: in.Name, Project: in.Project, ServerGroup: in.ServerGroup,
			From: m.from.name, To: m.to.name, Live: live,
			VCPUs: in.Resources.VCPUs, MemoryMB: in.Resources.MemoryMB,
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

// moveSlice returns an empty slice with room for n moves. The moves of a
// plan are carved from large blocks: a 10,000-host plan has 200,000 of
// them in 10,000 visits, and one allocation per visit costs more than
// filling them in. Each slice's capacity ends at n, so that an append to
// one copies it rather than overwriting the next.
func (p *planner) moveSlice(n int) []plans.Move {
	const block = 4096
	if n > block/4 {
		return make([]plans.Move, 0, n)
	}
	if cap(p.moveBlock)-len(p.moveBlock) < n {
		p.moveBlock = make([]plans.Move, 0, block)
	}
	start := len(p.moveBlock)
	p.moveBlock = p.moveBlock[:start+n]
	return p.moveBlock[start : start : start+n]
}

// commitWave makes the wave's moves real in the model, marks its hosts
// visited and puts them back in service, and fills in notifications.
func (p *planner) commitWave(r *config.Rollout, wp *wavePlan, group string) *plans.Wave {
	wave := &plans.Wave{Number: wp.number, Group: group, Hosts: wp.visits}
	// impact counts the moved members of each server group: by index, and
	// by id for a group the inventory does not list.
	impact := p.groupScratch()
	var unknownImpact map[string]int
	for _, m := range wp.moves {
		g := m.inst.group
		if g >= 0 {
			// place() already counted the group on the destination.
			m.to.groupCount.add(g, -1)
		}
		if m.inst.inGroup && g >= 0 {
			impact[g]++
			wave.MaxGroupImpact = max(wave.MaxGroupImpact, int(impact[g]))
		} else if m.inst.inGroup {
			sg := m.inst.inv.ServerGroup
			if unknownImpact == nil {
				unknownImpact = map[string]int{}
			}
			unknownImpact[sg]++
			wave.MaxGroupImpact = max(wave.MaxGroupImpact, unknownImpact[sg])
		}
		m.from.removeInst(m.inst)
		// The host is in the wave, out of the pools: no heap to fix.
		m.from.setFree(m.from.free.Add(m.inst.res))
		m.to.addInst(m.inst)
		m.inst.moved++
	}
	for _, m := range wp.moves {
		if m.inst.group >= 0 {
			impact[m.inst.group] = 0
		}
	}
	// projects counts the instances of each project the wave touches,
	// for the VNF managers' notifications.
	var projects map[string]int
	if len(r.Notify) > 0 {
		projects = map[string]int{}
	}
	for i, hs := range wp.hosts {
		hv := wp.visits[i]
		wp.works[i].done = true
		if hv.Evacuate {
			hs.pendingEvac--
		}
		hs.inWave = 0
		p.cloud.addToPool(hs)
		if hv.ExpectedDuration > wave.ExpectedDuration {
			wave.ExpectedDuration = hv.ExpectedDuration
		}
		if projects == nil {
			continue
		}
		for _, m := range hv.Moves {
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

// recoveryWaits makes wave wait, after the last earlier wave that moved a
// member of a server group it moves too, for the group's recovery_time
// (Fenix's recovery_time): the engine starts it no sooner than that
// after the earlier wave ended. The expected duration grows by what the
// waves in between are not expected to cover.
func (p *planner) recoveryWaits(rules *rolloutRules, earlier []*plans.Wave, wave *plans.Wave, lastImpact map[string]int) {
	waits := map[int]plans.Recovery{}
	for _, hv := range wave.Hosts {
		for _, m := range hv.Moves {
			d := rules.recovery[m.ServerGroup]
			if m.ServerGroup == "" || d == 0 {
				continue
			}
			if last, ok := lastImpact[m.ServerGroup]; ok && last != wave.Number {
				if w, seen := waits[last]; !seen || d > w.Delay {
					waits[last] = plans.Recovery{AfterWave: last, Delay: d, Group: m.ServerGroup}
				}
			}
			lastImpact[m.ServerGroup] = wave.Number
		}
	}
	afters := make([]int, 0, len(waits))
	for a := range waits {
		afters = append(afters, a)
	}
	slices.Sort(afters)
	var extra time.Duration
	for _, after := range afters {
		rec := waits[after]
		wave.Recovery = append(wave.Recovery, rec)
		// Expected time between the end of wave `after` and this one:
		// its soak and the waves in between.
		var between time.Duration
		for _, w := range earlier {
			switch {
			case w.Number == rec.AfterWave:
				between += w.Soak
			case w.Number > rec.AfterWave:
				between += w.ExpectedDuration + w.Soak
			}
		}
		extra = max(extra, rec.Delay-between)
	}
	wave.ExpectedDuration += extra
}
