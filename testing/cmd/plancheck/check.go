package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/escalator-nfv/escalator/plugins/sim"
)

// The saved-plan document, as far as the checker reads it. These types
// mirror the JSON of `escalator plan -out` / `plan -json` field by field
// on purpose, instead of importing internal/plans: a checker that shares
// the scheduler's types and helpers would share its mistakes too. Fields
// the checks do not need are left out; encoding/json skips them.

// planFormatVersion is the saved-plan format this checker understands.
const planFormatVersion = 1

type planDoc struct {
	FormatVersion *int      `json:"format_version"`
	Plan          *planBody `json:"plan"`
}

type planBody struct {
	Rollouts []*planRollout `json:"rollouts"`
}

type planRollout struct {
	Name           string      `json:"name"`
	MaxUnavailable int         `json:"max_unavailable"`
	Waves          []*planWave `json:"waves"`
}

type planWave struct {
	Number int          `json:"number"`
	Canary bool         `json:"canary"`
	Group  string       `json:"group"`
	Hosts  []*planVisit `json:"hosts"`
}

type planVisit struct {
	Host     string     `json:"host"`
	Evacuate bool       `json:"evacuate"`
	Moves    []planMove `json:"moves"`
}

type planMove struct {
	Instance    string `json:"instance"`
	ServerGroup string `json:"server_group"`
	From        string `json:"from"`
	To          string `json:"to"`
	VCPUs       int64  `json:"vcpus"`
	MemoryMB    int64  `json:"memory_mb"`
}

// decodePlan reads a saved plan, refusing a document that is not one or is
// of a format this checker was not written for: checking a misread plan
// would prove nothing.
func decodePlan(data []byte) (*planDoc, error) {
	var doc planDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON plan: %w", err)
	}
	switch {
	case doc.FormatVersion == nil:
		return nil, errors.New("no format_version: not a plan saved with escalator plan -out (or printed by plan -json)")
	case *doc.FormatVersion != planFormatVersion:
		return nil, fmt.Errorf("plan format_version %d; plancheck reads format %d", *doc.FormatVersion, planFormatVersion)
	case doc.Plan == nil:
		return nil, errors.New("the document holds no plan")
	}
	return &doc, nil
}

// Violation kinds. Each names one rule the plan broke.
const (
	KindUnknownHost     = "unknown-host"     // a visit or move names a host the cloud does not have
	KindUnknownInstance = "unknown-instance" // a move names an instance the cloud does not have
	KindMismatch        = "mismatch"         // a move's size or server group differs from the cloud's instance
	KindWrongSource     = "wrong-source"     // a move does not start where the instance is, or is listed under another host
	KindSameWave        = "same-wave"        // a destination is in maintenance in the same wave
	KindNotInService    = "not-in-service"   // a destination is down, disabled or in maintenance in the cloud
	KindCrossZone       = "cross-zone"       // a destination is in another availability zone
	KindNoRoom          = "no-room"          // a destination lacks the free vCPU or RAM at that moment
	KindAntiAffinity    = "anti-affinity"    // a destination holds another member of the instance's hard anti-affinity group
	KindAffinity        = "affinity"         // a hard affinity group that shared a host no longer does
	KindGroupBudget     = "group-budget"     // a wave moves more members of one budgeted group than -budget
	KindMixedZones      = "mixed-zones"      // a grouped wave holds hosts of several zones
	KindNotEmpty        = "not-empty"        // an evacuated host still holds instances after its wave
	KindMovedTwice      = "moved-twice"      // an instance moves more than once (a warning with -allow-double)
	KindMaxUnavailable  = "max-unavailable"  // a wave has more hosts than its rollout allows
	KindHostTwice       = "host-twice"       // a host appears twice in one wave
	KindRole            = "role"             // a destination has another role than the host left (with SameRole)
)

// Options are the rules the plan is checked against besides the cloud.
type Options struct {
	// Budget is the most members of one server group that one wave may
	// move, for groups whose policy is in Policies.
	Budget   int
	Policies []string
	// AllowDouble makes an instance moved more than once a warning.
	AllowDouble bool
	// MaxUnavailable, when set, is checked besides each rollout's own
	// resolved max_unavailable: a count, or a percentage of the rollout's
	// hosts rounded down (at least 1), as the campaign's rollout block
	// says it.
	MaxUnavailable string
	// SameRole makes a destination of another role than the host the
	// instance leaves (a compute instance sent to a controller) a
	// violation; without it such moves are counted as a warning.
	SameRole bool
}

// Violation is one broken rule.
type Violation struct {
	Kind string
	// Wave is the wave's number, 0 for the whole plan.
	Wave    int
	Message string
}

func (v Violation) String() string {
	if v.Wave == 0 {
		return fmt.Sprintf("[%s] %s", v.Kind, v.Message)
	}
	return fmt.Sprintf("wave %d: [%s] %s", v.Wave, v.Kind, v.Message)
}

// Report is the outcome of a check.
type Report struct {
	Hosts, Waves, Moves int
	Violations          []Violation
	// DoubleMoves counts instances moved more than once.
	DoubleMoves int
	// InstancesMoved counts distinct instances moved.
	InstancesMoved int
	// MaxGroupImpact is the most members of one budgeted group moved in
	// one wave.
	MaxGroupImpact int
	// SoftColocations counts moves that put a member of a
	// soft-anti-affinity group next to another member: Nova allows it,
	// the operator should know.
	SoftColocations int
	// OtherRole counts moves to a host of another role than the one they
	// leave, by the destination's role.
	OtherRole map[string]int
	Warnings  []string
}

// Summary is the one line scripts read.
func (r *Report) Summary() string {
	return fmt.Sprintf("PLANCHECK hosts=%d waves=%d moves=%d violations=%d double_moves=%d",
		r.Hosts, r.Waves, r.Moves, len(r.Violations), r.DoubleMoves)
}

// ByKind counts the violations of each kind, for the report's tail.
func (r *Report) ByKind() map[string]int {
	out := map[string]int{}
	for _, v := range r.Violations {
		out[v.Kind]++
	}
	return out
}

// hostState is a host as the replay goes.
type hostState struct {
	name, zone, state, role string
	capV, capM              int64
	usedV, usedM            int64
	// count is the number of instances on the host.
	count int
	// groups counts the members of each server group on the host.
	groups map[string]int
}

type instState struct {
	id, host, group string
	vcpus, memMB    int64
	moved           int
}

// checker replays a plan over a model of the cloud built from the cloud
// file alone.
type checker struct {
	opts     Options
	hosts    map[string]*hostState
	insts    map[string]*instState
	groups   map[string]*sim.ServerGroup
	policies map[string]bool
	r        *Report
}

// Check replays every wave and move of doc over cloud and reports every
// rule the plan breaks. Within a wave, moves are applied in the plan's
// order; since a destination is never a host of the same wave, the room a
// source frees never counts for another move of its own wave, so the
// order does not change the verdict.
func Check(cloud *sim.Cloud, doc *planDoc, opts Options) *Report {
	c := &checker{
		opts:     opts,
		hosts:    map[string]*hostState{},
		insts:    map[string]*instState{},
		groups:   map[string]*sim.ServerGroup{},
		policies: map[string]bool{},
		r:        &Report{OtherRole: map[string]int{}},
	}
	for _, p := range opts.Policies {
		c.policies[p] = true
	}
	for _, h := range cloud.Hosts {
		c.hosts[h.Name] = &hostState{name: h.Name, zone: h.AvailabilityZone, state: h.State, role: h.Role,
			capV: h.Capacity.VCPUs, capM: h.Capacity.MemoryMB, groups: map[string]int{}}
	}
	for _, g := range cloud.ServerGroups {
		c.groups[g.ID] = g
	}
	for _, in := range cloud.Instances {
		is := &instState{id: in.ID, host: in.Host, group: in.ServerGroup, vcpus: in.Flavor.VCPUs, memMB: in.Flavor.MemoryMB}
		c.insts[in.ID] = is
		if h := c.hosts[in.Host]; h != nil {
			h.usedV += is.vcpus
			h.usedM += is.memMB
			h.count++
			if is.group != "" {
				h.groups[is.group]++
			}
		}
		// An in-flight migration claims its destination too, as Nova's
		// migration context does, until it ends.
		if in.Migration != nil {
			if h := c.hosts[in.Migration.To]; h != nil {
				h.usedV += is.vcpus
				h.usedM += is.memMB
			}
		}
	}

	visited := map[string]bool{}
	for _, ro := range doc.Plan.Rollouts {
		limit := c.rolloutLimit(ro)
		for _, w := range ro.Waves {
			c.r.Waves++
			for _, v := range w.Hosts {
				visited[v.Host] = true
			}
			c.wave(ro, w, limit)
		}
	}
	c.r.Hosts = len(visited)

	var twice []*instState
	for _, is := range c.insts {
		if is.moved > 0 {
			c.r.InstancesMoved++
		}
		if is.moved > 1 {
			twice = append(twice, is)
		}
	}
	sort.Slice(twice, func(i, j int) bool { return twice[i].id < twice[j].id })
	c.r.DoubleMoves = len(twice)
	if len(twice) > 0 {
		if opts.AllowDouble {
			c.r.Warnings = append(c.r.Warnings, fmt.Sprintf("%d instance(s) move more than once (allowed by -allow-double), e.g. %s (%d moves)", len(twice), twice[0].id, twice[0].moved))
		} else {
			for _, is := range twice {
				c.violate(KindMovedTwice, 0, "instance %s moves %d times", is.id, is.moved)
			}
		}
	}
	if len(c.r.OtherRole) > 0 && !opts.SameRole {
		var parts []string
		for _, role := range sortedKeys(c.r.OtherRole) {
			parts = append(parts, fmt.Sprintf("%d to role %q", c.r.OtherRole[role], role))
		}
		c.r.Warnings = append(c.r.Warnings, fmt.Sprintf("moves to a host of another role than the one they leave: %s (-same-role makes them violations)", strings.Join(parts, ", ")))
	}
	if c.r.SoftColocations > 0 {
		c.r.Warnings = append(c.r.Warnings, fmt.Sprintf("%d move(s) put a soft-anti-affinity member on a host with another member of its group", c.r.SoftColocations))
	}
	return c.r
}

func (c *checker) violate(kind string, wave int, format string, args ...any) {
	c.r.Violations = append(c.r.Violations, Violation{Kind: kind, Wave: wave, Message: fmt.Sprintf(format, args...)})
}

// rolloutLimit is the independent max_unavailable of a rollout from
// Options.MaxUnavailable, or 0 when not given.
func (c *checker) rolloutLimit(ro *planRollout) int {
	if c.opts.MaxUnavailable == "" {
		return 0
	}
	hosts := map[string]bool{}
	for _, w := range ro.Waves {
		for _, v := range w.Hosts {
			hosts[v.Host] = true
		}
	}
	n, _ := resolveCountOrPercent(c.opts.MaxUnavailable, len(hosts))
	return n
}

// wave replays one wave.
func (c *checker) wave(ro *planRollout, w *planWave, limit int) {
	n := w.Number
	inWave := map[string]bool{}
	zones := map[string]bool{}
	for _, v := range w.Hosts {
		if inWave[v.Host] {
			c.violate(KindHostTwice, n, "host %s is visited twice in the wave", v.Host)
		}
		inWave[v.Host] = true
		if h := c.hosts[v.Host]; h == nil {
			c.violate(KindUnknownHost, n, "host %s is not in the cloud", v.Host)
		} else {
			zones[h.zone] = true
		}
	}
	if ro.MaxUnavailable > 0 && len(w.Hosts) > ro.MaxUnavailable {
		c.violate(KindMaxUnavailable, n, "%d hosts, but rollout %q allows %d at a time", len(w.Hosts), ro.Name, ro.MaxUnavailable)
	}
	if limit > 0 && len(w.Hosts) > limit {
		c.violate(KindMaxUnavailable, n, "%d hosts, but -max-unavailable=%s allows %d of rollout %q at a time", len(w.Hosts), c.opts.MaxUnavailable, limit, ro.Name)
	}
	if w.Group != "" && len(zones) > 1 {
		c.violate(KindMixedZones, n, "group %q, but its hosts are in zones %s", w.Group, strings.Join(sortedKeys(zones), ", "))
	}

	// Affinity groups kept together before the wave must stay together.
	affinityBefore := c.affinityHosts(w)

	movedIn := map[string]map[string]bool{} // server group → members moved in this wave
	for _, v := range w.Hosts {
		for _, m := range v.Moves {
			c.r.Moves++
			c.move(n, v, m, inWave, movedIn)
		}
	}

	for g, members := range movedIn {
		sg := c.groups[g]
		if sg == nil || !c.policies[sg.Policy] {
			continue
		}
		c.r.MaxGroupImpact = max(c.r.MaxGroupImpact, len(members))
		if len(members) > c.opts.Budget {
			c.violate(KindGroupBudget, n, "moves %d members of %s group %s (%s): %s; the budget is %d", len(members), sg.Policy, sg.ID, sg.Name, strings.Join(sortedKeys(members), ", "), c.opts.Budget)
		}
	}
	for _, v := range w.Hosts {
		if h := c.hosts[v.Host]; v.Evacuate && h != nil && h.count > 0 {
			var left []string
			for _, is := range c.insts {
				if is.host == h.name {
					left = append(left, is.id)
				}
			}
			sort.Strings(left)
			if len(left) > 3 {
				left = append(left[:3], "…")
			}
			c.violate(KindNotEmpty, n, "host %s is evacuated but still holds %d instance(s) after the wave: %s", h.name, h.count, strings.Join(left, ", "))
		}
	}
	for g, host := range affinityBefore {
		if after := c.groupHosts(g); len(after) > 1 {
			c.violate(KindAffinity, n, "affinity group %s was together on host %s and is split over %s after the wave", g, host, strings.Join(after, ", "))
		}
	}
}

// move replays one move after checking it.
func (c *checker) move(n int, v *planVisit, m planMove, inWave map[string]bool, movedIn map[string]map[string]bool) {
	is := c.insts[m.Instance]
	if is == nil {
		c.violate(KindUnknownInstance, n, "instance %s is not in the cloud", m.Instance)
		return
	}
	if m.From != v.Host {
		c.violate(KindWrongSource, n, "instance %s is listed under host %s but moves from %s", m.Instance, v.Host, m.From)
	}
	if m.From != is.host {
		c.violate(KindWrongSource, n, "instance %s moves from %s, but it is on %s at that point", m.Instance, m.From, is.host)
	}
	if m.VCPUs != is.vcpus || m.MemoryMB != is.memMB || m.ServerGroup != is.group {
		c.violate(KindMismatch, n, "instance %s moves as %d vCPU, %d MB, group %q; the cloud has %d vCPU, %d MB, group %q",
			m.Instance, m.VCPUs, m.MemoryMB, m.ServerGroup, is.vcpus, is.memMB, is.group)
	}
	to := c.hosts[m.To]
	if to == nil {
		c.violate(KindUnknownHost, n, "instance %s moves to host %s, which is not in the cloud", m.Instance, m.To)
		return
	}
	from := c.hosts[is.host]
	if inWave[to.name] {
		c.violate(KindSameWave, n, "instance %s moves to %s, which is in maintenance in the same wave", m.Instance, to.name)
	}
	if to.state != sim.StateUp {
		c.violate(KindNotInService, n, "instance %s moves to %s, which is %s", m.Instance, to.name, to.state)
	}
	if from != nil && from.zone != to.zone {
		c.violate(KindCrossZone, n, "instance %s moves from %s (zone %s) to %s (zone %s)", m.Instance, from.name, from.zone, to.name, to.zone)
	}
	if from != nil && from.role != to.role {
		// In a real cloud a host of another role (a controller) runs no
		// hypervisor for the instance, whatever capacity it reports.
		c.r.OtherRole[to.role]++
		if c.opts.SameRole {
			c.violate(KindRole, n, "instance %s moves from %s (role %s) to %s (role %s)", m.Instance, from.name, from.role, to.name, to.role)
		}
	}
	if freeV, freeM := to.capV-to.usedV, to.capM-to.usedM; is.vcpus > freeV || is.memMB > freeM {
		c.violate(KindNoRoom, n, "instance %s (%d vCPU, %d MB) moves to %s, which has %d vCPU and %d MB free at that point",
			m.Instance, is.vcpus, is.memMB, to.name, freeV, freeM)
	}
	if sg := c.groups[is.group]; sg != nil && to.groups[is.group] > 0 && to.name != is.host {
		switch sg.Policy {
		case sim.PolicyAntiAffinity:
			c.violate(KindAntiAffinity, n, "instance %s moves to %s, which holds %d other member(s) of its anti-affinity group %s (%s)",
				m.Instance, to.name, to.groups[is.group], sg.ID, sg.Name)
		case sim.PolicySoftAntiAffinity:
			c.r.SoftColocations++
		}
	}

	// Apply the move, whatever was wrong with it, so that one mistake is
	// reported once and not again for every later move it disturbs.
	if from != nil {
		from.usedV -= is.vcpus
		from.usedM -= is.memMB
		from.count--
		if is.group != "" {
			from.groups[is.group]--
		}
	}
	to.usedV += is.vcpus
	to.usedM += is.memMB
	to.count++
	if is.group != "" {
		to.groups[is.group]++
		if movedIn[is.group] == nil {
			movedIn[is.group] = map[string]bool{}
		}
		movedIn[is.group][is.id] = true
	}
	is.host = to.name
	is.moved++
}

// affinityHosts returns, for each hard affinity group with a member on a
// host of the wave, the host its members share, if they share one.
func (c *checker) affinityHosts(w *planWave) map[string]string {
	out := map[string]string{}
	for _, v := range w.Hosts {
		h := c.hosts[v.Host]
		if h == nil {
			continue
		}
		for g := range h.groups {
			if sg := c.groups[g]; sg != nil && sg.Policy == sim.PolicyAffinity && h.groups[g] > 0 {
				if hosts := c.groupHosts(g); len(hosts) == 1 {
					out[g] = hosts[0]
				}
			}
		}
	}
	return out
}

// groupHosts lists the hosts the members of group g are on.
func (c *checker) groupHosts(g string) []string {
	seen := map[string]bool{}
	if sg := c.groups[g]; sg != nil {
		for _, id := range sg.Members {
			if is := c.insts[id]; is != nil {
				seen[is.host] = true
			}
		}
	}
	return sortedKeys(seen)
}

// resolveCountOrPercent resolves "5" or "5%" against total the way a
// rollout's max_unavailable is documented: a percentage rounds down but is
// at least 1 of a non-empty total, and the result never exceeds total.
func resolveCountOrPercent(s string, total int) (int, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		var f float64
		if _, err := fmt.Sscanf(strings.TrimSpace(p), "%g", &f); err != nil || f < 0 || f > 100 {
			return 0, fmt.Errorf("%q is not a percentage between 0%% and 100%%", s)
		}
		if total <= 0 {
			return 0, nil
		}
		n := int(f*float64(total)/100 + 1e-9)
		if n == 0 && f > 0 {
			n = 1
		}
		return min(n, total), nil
	}
	var n int
	if _, err := fmt.Sscanf(t, "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != t {
		return 0, fmt.Errorf("%q is not a positive count or a percentage such as \"5%%\"", s)
	}
	return min(n, max(total, 0)), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
