// Package planner turns a campaign and a live inventory into a plan: it
// selects each component's hosts, diffs installed against target versions,
// orders the work by the dependency graph, and schedules waves that keep
// every guard, capacity and failure-domain rule at every instant.
//
// Decisions are small pure functions over an in-memory model; the only
// side effect, asking providers what a change involves, sits behind the
// Advisor interface, so the planner is tested without plugins.
package planner

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/dag"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/inventory"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// Advice is a provider's answer about one component change on one host.
type Advice struct {
	// Refused, with Reason, when the provider can't make the change.
	Refused bool
	Reason  string
	// Disruption overrides the component's configured one when not empty.
	Disruption config.Disruption
	// ExpectedDuration is the provider's estimate; zero when it has none.
	ExpectedDuration time.Duration
}

// ChangeRequest asks an Advisor about one change.
type ChangeRequest struct {
	Provider  string
	Component string
	Host      string
	From, To  string
	Settings  cty.Value
}

// Advisor asks providers about changes. The plan command implements it
// over the provider plugins; tests use a table.
type Advisor interface {
	Advise(ctx context.Context, reqs []ChangeRequest) ([]Advice, diags.Diagnostics)
}

// Defaults used when neither the campaign nor a provider says.
const (
	DefaultUpgradeDuration   = 10 * time.Minute
	DefaultLiveMoveDuration  = 1 * time.Minute
	DefaultColdMoveDuration  = 3 * time.Minute
	DefaultMaintenanceToggle = 30 * time.Second
)

// Input is everything a plan is computed from.
type Input struct {
	Config    *config.Config
	Inventory *inventory.Snapshot
	Advisor   Advisor
	// HostDigests are the inventory's per-host digests, recorded in each
	// host visit; computed here when nil (the caller usually has them).
	HostDigests map[string]string
	// Digests, when HostDigests is nil, returns them. The planner calls it
	// once, after scheduling, so that the caller can compute the digests
	// on another core while the planner runs.
	Digests func() map[string]string
}

// Plan computes the plan. Diagnostics explain every refusal and
// infeasibility; with errors the plan is nil.
func Plan(ctx context.Context, in Input) (*plans.Plan, diags.Diagnostics) {
	p := &planner{cfg: in.Config, inv: in.Inventory, advisor: in.Advisor, hostDigests: in.HostDigests, digests: in.Digests}
	plan := p.run(ctx)
	if p.diags.HasErrors() {
		return nil, p.diags
	}
	return plan, p.diags
}

type planner struct {
	cfg     *config.Config
	inv     *inventory.Snapshot
	advisor Advisor
	diags   diags.Diagnostics

	// selected maps a hosts block name to its hosts, sorted.
	selected map[string][]*inventory.Host
	// hostDigests from the inventory, copied into each visit; digests
	// supplies them when nil.
	hostDigests map[string]string
	digests     func() map[string]string
	// cloud is the placement model the scheduler moves instances in.
	cloud *cloud

	// versions caches compareVersions: thousands of hosts share a few
	// version pairs.
	versions map[[2]string]versionOrder
	// Scratch space reused by the scheduler's hot loops.
	perGroup []int32
	skipped  []*hostState
	moveBuf  []tentativeMove
	// moveBlock is the block the visits' moves are carved from.
	moveBlock []plans.Move
	// interrupt is, by server group index, the tightest
	// max_interruption_time of the rollout being scheduled (guards'
	// Fenix-style limit), and the guard that sets it.
	interrupt map[int32]interruptLimit
}

type interruptLimit struct {
	d     time.Duration
	guard string
}

type versionOrder struct {
	cmp int
	ok  bool
}

// work is what a rollout must do on one host.
type work struct {
	host    *inventory.Host
	changes []plans.Change
	// evacuate: some change disrupts the host.
	evacuate bool
	duration time.Duration

	// group is the host's group_by value in the rollout.
	group string
	// hs is the host in the placement model, nil when the inventory
	// gives it no capacity record.
	hs *hostState
	// done: the host is in a wave already (while its rollout is
	// scheduled).
	done bool
}

func (p *planner) run(ctx context.Context) *plans.Plan {
	p.selectHosts()
	if p.diags.HasErrors() {
		return nil
	}
	order := p.rolloutOrder()
	if p.diags.HasErrors() {
		return nil
	}
	plan := &plans.Plan{}
	for name, c := range p.cfg.Checks {
		if contains(c.When, config.PhasePreflight) {
			plan.Preflight = append(plan.Preflight, name)
		}
		if contains(c.When, config.PhaseAfter) {
			plan.After = append(plan.After, name)
		}
	}
	sort.Strings(plan.Preflight)
	sort.Strings(plan.After)

	// Every rollout's work is known before any is scheduled, so that a
	// destination is preferred only if no later visit will evacuate it.
	works := make([][]*work, len(order))
	for i, r := range order {
		works[i] = p.diff(ctx, r, plan)
	}
	if p.diags.HasErrors() {
		return nil
	}
	// The rollouts' group_by values are evaluated (an HCL expression per
	// host) on another core while the placement model is built.
	keyDiags := make([]diags.Diagnostics, len(order))
	evaluated := make(chan struct{})
	go func() {
		defer close(evaluated)
		for i, r := range order {
			keyDiags[i] = p.groupKeys(r, works[i])
		}
	}()
	p.cloud = newCloud(p.inv)
	<-evaluated
	for _, ws := range works {
		for _, w := range ws {
			w.hs = p.cloud.hosts[w.host.Name]
			if w.hs != nil && w.evacuate {
				w.hs.pendingEvac++
				plan.Totals.LowerBoundMoves += len(w.hs.insts)
			}
		}
	}
	p.cloud.fillPools()
	wave := 0
	for i, r := range order {
		rp := p.schedule(r, works[i], keyDiags[i], &wave)
		if rp == nil {
			return nil
		}
		plan.Rollouts = append(plan.Rollouts, rp)
	}
	p.checkVersionSkew(order)
	moved := 0
	for i := range p.cloud.insts {
		if p.cloud.insts[i].moved > 0 {
			moved++
		}
	}
	totals(plan, moved)
	p.fillDigests(plan)
	return plan
}

// fillDigests records each visited host's inventory digest in its visit.
func (p *planner) fillDigests(plan *plans.Plan) {
	if p.hostDigests == nil && p.digests != nil {
		p.hostDigests = p.digests()
	}
	if p.hostDigests == nil {
		_, p.hostDigests = p.inv.Digest()
	}
	for _, r := range plan.Rollouts {
		for _, w := range r.Waves {
			for _, hv := range w.Hosts {
				hv.Digest = p.hostDigests[hv.Host]
			}
		}
	}
}

// selectHosts evaluates every hosts block against its provider's
// inventory.
func (p *planner) selectHosts() {
	p.selected = map[string][]*inventory.Host{}
	for _, name := range sortedKeys(p.cfg.HostSets) {
		hs := p.cfg.HostSets[name]
		var out []*inventory.Host
		for _, h := range p.inv.Hosts(hs.Provider.Name) {
			if hs.Role != "" && h.Role != hs.Role {
				continue
			}
			if hs.Where != nil {
				v, ds := p.cfg.EvalHost(hs.Where, inventory.HostValue(h), cty.Bool)
				if ds.HasErrors() {
					for i := range ds {
						ds[i].Detail = fmt.Sprintf("While evaluating where for host %q: %s", h.Name, ds[i].Detail)
					}
					p.diags = p.diags.Append(ds)
					return
				}
				if v, _ := v.Unmark(); !v.True() {
					continue
				}
			}
			out = append(out, h)
		}
		p.selected[name] = out
	}
}

// rolloutOrder sorts rollouts so that a rollout whose components depend on
// another rollout's components comes after it.
func (p *planner) rolloutOrder() []*config.Rollout {
	owner := map[string]string{}
	for name, r := range p.cfg.Rollouts {
		for _, c := range r.Components {
			owner[c.Name] = name
		}
	}
	g := dag.New[string]()
	for name, r := range p.cfg.Rollouts {
		g.Add(name)
		for _, c := range r.Components {
			for _, dep := range p.allDeps(c.Name) {
				if o, ok := owner[dep]; ok && o != name {
					g.Connect(name, o)
				}
			}
		}
	}
	layers, err := g.TopoLayers()
	if err != nil {
		p.diags = p.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Rollouts depend on each other",
			Detail:   fmt.Sprintf("The components of these rollouts depend on each other in both directions, so neither can finish first: %v. Move the components so that dependencies point one way.", err),
		})
		return nil
	}
	var out []*config.Rollout
	for _, layer := range layers {
		for _, name := range layer {
			out = append(out, p.cfg.Rollouts[name])
		}
	}
	return out
}

// allDeps lists the components a component depends on, transitively.
func (p *planner) allDeps(name string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		c, ok := p.cfg.Components[n]
		if !ok {
			return
		}
		for _, d := range c.DependsOn {
			if !seen[d.Name] {
				seen[d.Name] = true
				walk(d.Name)
			}
		}
	}
	walk(name)
	return sortedKeys(seen)
}

// componentOrder sorts a rollout's components in dependency order, so
// that a host visit upgrades them in that order.
func (p *planner) componentOrder(r *config.Rollout) []*config.Component {
	index := map[string]int{}
	for i, layer := range p.cfg.ComponentLayers {
		for _, ref := range layer {
			index[ref.Name] = i
		}
	}
	var cs []*config.Component
	for _, ref := range r.Components {
		cs = append(cs, p.cfg.Components[ref.Name])
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if index[cs[i].Name] != index[cs[j].Name] {
			return index[cs[i].Name] < index[cs[j].Name]
		}
		return cs[i].Name < cs[j].Name
	})
	return cs
}

// diff finds, for each host of the rollout, the components to change.
func (p *planner) diff(ctx context.Context, r *config.Rollout, plan *plans.Plan) []*work {
	comps := p.componentOrder(r)
	byHost := map[string]*work{}
	var reqs []ChangeRequest
	type pending struct {
		w *work
		c *config.Component
		i int
	}
	var pend []pending
	for _, c := range comps {
		for _, h := range p.selected[c.Hosts.Name] {
			ph, ok := p.inv.Host(c.Provider.Name, h.Name)
			if !ok {
				p.diags = p.diags.Append(diags.Errorf(rangePtr(c.DeclRange), "Host unknown to the component's provider",
					"Host %q is selected by hosts.%s but provider %q does not report it, so escalator can't tell which %s version it runs. Select hosts through the provider that manages the component, or filter them out with where.",
					h.Name, c.Hosts.Name, c.Provider.Name, c.Name))
				continue
			}
			if h.State == inventory.StateDown {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("host %s is down: %s is not upgraded there; bring the host up and plan again", h.Name, c.Name))
				continue
			}
			installed := ph.Versions[c.Name]
			if installed == c.Version {
				continue
			}
			if cmp, ok := p.compareVersions(installed, c.Version); ok && cmp > 0 {
				p.diags = p.diags.Append(diags.Errorf(rangePtr(c.DeclRange), "Downgrade refused",
					"Component %q on host %s runs %s, newer than the target %s. escalator never downgrades silently: set version = %q to keep it, or roll back with escalator rollback.",
					c.Name, h.Name, installed, c.Version, installed))
				continue
			}
			w := byHost[h.Name]
			if w == nil {
				w = &work{host: h}
				byHost[h.Name] = w
			}
			w.changes = append(w.changes, plans.Change{
				Component: c.Name, Provider: c.Provider.Name,
				From: installed, To: c.Version, Disruption: string(c.Disruption),
			})
			reqs = append(reqs, ChangeRequest{Provider: c.Provider.Name, Component: c.Name, Host: h.Name, From: installed, To: c.Version, Settings: c.Settings})
			pend = append(pend, pending{w, c, len(w.changes) - 1})
		}
	}
	if p.diags.HasErrors() {
		return nil
	}
	var advice []Advice
	if p.advisor != nil && len(reqs) > 0 {
		var ds diags.Diagnostics
		advice, ds = p.advisor.Advise(ctx, reqs)
		p.diags = p.diags.Append(ds)
		if ds.HasErrors() {
			return nil
		}
	}
	backups := p.backupsByComponent()
	for i, pd := range pend {
		ch := &pd.w.changes[pd.i]
		if i < len(advice) {
			a := advice[i]
			if a.Refused {
				p.diags = p.diags.Append(diags.Errorf(rangePtr(pd.c.DeclRange), "Change refused by the provider",
					"Provider %q refuses to change %s on host %s from %s to %s: %s", ch.Provider, ch.Component, pd.w.host.Name, ch.From, ch.To, a.Reason))
				continue
			}
			if a.Disruption != "" && pd.c.Disruption == config.DisruptionHost {
				// The campaign may only make a change more careful than
				// the provider says, never less.
			} else if a.Disruption != "" {
				ch.Disruption = string(a.Disruption)
			}
			ch.ExpectedDuration = a.ExpectedDuration
		}
		if pd.c.ExpectedDuration > 0 {
			ch.ExpectedDuration = pd.c.ExpectedDuration.D()
		}
		if ch.ExpectedDuration == 0 {
			ch.ExpectedDuration = DefaultUpgradeDuration
		}
		ch.Backups = backups[ch.Component]
	}
	var out []*work
	for _, name := range sortedKeys(byHost) {
		w := byHost[name]
		for _, ch := range w.changes {
			if ch.Disruption == string(config.DisruptionHost) {
				w.evacuate = true
			}
			w.duration += ch.ExpectedDuration
		}
		out = append(out, w)
	}
	return out
}

func (p *planner) backupsByComponent() map[string][]string {
	out := map[string][]string{}
	for _, name := range sortedKeys(p.cfg.Backups) {
		for _, c := range p.cfg.Backups[name].Components {
			out[c.Name] = append(out[c.Name], name)
		}
	}
	return out
}

// checkVersionSkew checks the version_skew guards against the plan's
// order: the reference component must be done everywhere before the
// guarded one starts, and the guarded one's target must not be newer.
func (p *planner) checkVersionSkew(order []*config.Rollout) {
	pos := map[string]int{}
	for i, r := range order {
		for _, c := range r.Components {
			pos[c.Name] = i
		}
	}
	for _, name := range sortedKeys(p.cfg.Guards) {
		g := p.cfg.Guards[name]
		if g.Kind != config.GuardVersionSkew {
			continue
		}
		comp, ref := p.cfg.Components[g.Component.Name], p.cfg.Components[g.NotNewerThan.Name]
		if comp == nil || ref == nil {
			continue
		}
		if cmp, ok := compareVersions(comp.Version, ref.Version); ok && cmp > 0 {
			p.diags = p.diags.Append(diags.Errorf(rangePtr(g.DeclRange), "Version skew guard violated",
				"Guard %q requires %s never to be newer than %s, but their targets are %s and %s.", name, comp.Name, ref.Name, comp.Version, ref.Version))
			continue
		}
		ci, cok := pos[comp.Name]
		ri, rok := pos[ref.Name]
		if cok && rok && ci <= ri && !p.dependsOn(comp.Name, ref.Name) {
			p.diags = p.diags.Append(diags.Errorf(rangePtr(g.DeclRange), "Version skew guard needs an order",
				"Guard %q requires %s never to be newer than %s, so %s must be done everywhere first. Add depends_on = [component.%s] to component %q.",
				name, comp.Name, ref.Name, ref.Name, ref.Name, comp.Name))
		}
		if g.MaxBehind > 0 {
			for _, h := range p.selected[comp.Hosts.Name] {
				ph, ok := p.inv.Host(comp.Provider.Name, h.Name)
				if !ok {
					continue
				}
				if behind, ok := majorsBehind(ph.Versions[comp.Name], ref.Version); ok && behind > g.MaxBehind {
					p.diags = p.diags.Append(diags.Errorf(rangePtr(g.DeclRange), "Version skew guard violated",
						"Guard %q allows %s to be at most %d major versions behind %s, but host %s runs %s %s while %s goes to %s. Upgrade in smaller steps.",
						name, comp.Name, g.MaxBehind, ref.Name, h.Name, comp.Name, ph.Versions[comp.Name], ref.Name, ref.Version))
					break
				}
			}
		}
	}
}

func (p *planner) dependsOn(a, b string) bool {
	for _, d := range p.allDeps(a) {
		if d == b {
			return true
		}
	}
	return false
}

// compareVersions is compareVersions, remembered.
func (p *planner) compareVersions(a, b string) (int, bool) {
	k := [2]string{a, b}
	if o, ok := p.versions[k]; ok {
		return o.cmp, o.ok
	}
	if p.versions == nil {
		p.versions = map[[2]string]versionOrder{}
	}
	cmp, ok := compareVersions(a, b)
	p.versions[k] = versionOrder{cmp, ok}
	return cmp, ok
}

// compareVersions compares two versions when both parse as dotted
// versions; ok is false when they don't, and then only equality is known.
func compareVersions(a, b string) (int, bool) {
	va, err1 := version.NewVersion(a)
	vb, err2 := version.NewVersion(b)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return va.Compare(vb), true
}

func majorsBehind(installed, target string) (int, bool) {
	vi, err1 := version.NewVersion(installed)
	vt, err2 := version.NewVersion(target)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return vt.Segments()[0] - vi.Segments()[0], true
}

// totals sums the plan's figures. instancesMoved is the number of
// distinct instances the moves move, which the placement model counts.
func totals(plan *plans.Plan, instancesMoved int) {
	t := &plan.Totals
	for _, r := range plan.Rollouts {
		t.LowerBoundWaves += r.LowerBoundWaves
		for _, w := range r.Waves {
			t.Waves++
			t.ExpectedDuration += w.ExpectedDuration + w.Soak
			for _, hv := range w.Hosts {
				t.Hosts++
				t.Moves += len(hv.Moves)
			}
		}
	}
	t.InstancesMoved = instancesMoved
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func rangePtr(r hcl.Range) *hcl.Range { return &r }
