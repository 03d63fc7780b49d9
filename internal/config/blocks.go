package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/addrs"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// DefaultStatePath is where the local backend keeps state unless told.
const DefaultStatePath = ".escalator/state.json"

var settingsSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "required_providers"},
		{Type: "state", LabelNames: []string{"type"}},
	},
}

var stateSchemas = map[string]*hcl.BodySchema{
	"local":    {Attributes: []hcl.AttributeSchema{{Name: "path"}}},
	"postgres": {Attributes: []hcl.AttributeSchema{{Name: "conn_str"}, {Name: "schema"}}},
}

func (l *loader) decodeSettings() {
	s := &Settings{
		RequiredProviders: map[string]*RequiredProvider{},
		State:             &StateBackend{Type: "local", Path: DefaultStatePath},
	}
	l.cfg.Settings = s
	blocks := l.blocks["escalator"]
	for i, b := range blocks {
		if i > 0 {
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Error,
				Summary:  "Duplicate escalator block",
				Detail:   fmt.Sprintf("A campaign has one escalator block; the first is at %s. Merge the two.", pos(blocks[0].DefRange)),
				Subject:  rangePtr(b.DefRange),
			})
			continue
		}
		s.DeclRange = b.DefRange
		content, d := b.Body.Content(settingsSchema)
		l.diags = l.diags.Append(d)
		var stateSeen *hcl.Block
		for _, sb := range content.Blocks {
			switch sb.Type {
			case "required_providers":
				l.decodeRequiredProviders(sb, s)
			case "state":
				if stateSeen != nil {
					l.diags = l.diags.Append(diags.Errorf(rangePtr(sb.DefRange), "Duplicate state block",
						"Only one state backend can be configured; the first is at %s.", pos(stateSeen.DefRange)))
					continue
				}
				stateSeen = sb
				s.State = l.decodeState(sb)
			}
		}
	}
}

func (l *loader) decodeRequiredProviders(b *hcl.Block, s *Settings) {
	as, d := b.Body.JustAttributes()
	l.diags = l.diags.Append(d)
	lit := &hcl.EvalContext{Functions: Functions()}
	for name, a := range as {
		if prev, dup := s.RequiredProviders[name]; dup {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(a.NameRange), "Duplicate required provider", "%q is already required at %s.", name, pos(prev.DeclRange)))
			continue
		}
		rp := &RequiredProvider{Name: name, DeclRange: a.Range}
		v, d := a.Expr.Value(lit)
		l.diags = l.diags.Append(d)
		if d.HasErrors() {
			continue
		}
		if !v.Type().IsObjectType() {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Invalid required provider",
				"Write each required provider as NAME = { version = \"CONSTRAINT\" }, such as sim = { version = \">= 0.1.0\" }."))
			continue
		}
		for attr := range v.Type().AttributeTypes() {
			if attr != "version" {
				l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Invalid required provider",
					"Unknown key %q in the requirement of %q; the only key is \"version\".%s", attr, name, didYouMean(attr, []string{"version"})))
			}
		}
		if v.Type().HasAttribute("version") {
			vv := v.GetAttr("version")
			if vv.Type() != cty.String || vv.IsNull() {
				l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Invalid version constraint", "The version of %q must be a string such as \">= 0.1.0\".", name))
			} else {
				cs, err := version.NewConstraint(vv.AsString())
				if err != nil {
					l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Invalid version constraint",
						"%q is not a valid version constraint for %q: %s. Write constraints such as \">= 0.1.0\" or \"~> 1.2\".", vv.AsString(), name, err))
				} else {
					rp.Version, rp.Constraints = vv.AsString(), cs
				}
			}
		}
		s.RequiredProviders[name] = rp
	}
}

func (l *loader) decodeState(b *hcl.Block) *StateBackend {
	typ := b.Labels[0]
	st := &StateBackend{Type: typ, DeclRange: b.DefRange}
	schema, ok := stateSchemas[typ]
	if !ok {
		l.diags = l.diags.Append(diags.Errorf(rangePtr(b.LabelRanges[0]), "Unknown state backend",
			"%q is not a state backend. The backends are \"local\" and \"postgres\".%s", typ, didYouMean(typ, []string{"local", "postgres"})))
		return &StateBackend{Type: "local", Path: DefaultStatePath, DeclRange: b.DefRange}
	}
	content, d := b.Body.Content(schema)
	l.diags = l.diags.Append(d)
	a := l.attrs(content.Attributes, fmt.Sprintf("state %q", typ))
	switch typ {
	case "local":
		st.Path = a.str("path", DefaultStatePath)
	case "postgres":
		st.ConnString = a.str("conn_str", "")
		st.Schema = a.str("schema", "escalator")
	}
	return st
}

var hostsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "provider", Required: true},
		{Name: "role"},
		{Name: "where"},
	},
}

func (l *loader) decodeHostSet(b *hcl.Block) {
	name := b.Labels[0]
	h := &HostSet{Name: name, DeclRange: b.DefRange}
	content, d := b.Body.Content(hostsSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(content.Attributes, fmt.Sprintf("hosts %q", name))
	h.Provider, _ = a.ref("provider", addrs.KindProvider)
	h.Role = a.str("role", "")
	h.Where = a.deferred("where", hostScope, cty.Bool)
	l.cfg.HostSets[name] = h
}

var rolloutSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "components", Required: true},
		{Name: "max_unavailable"},
		{Name: "group_by"},
		{Name: "expected_duration"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "canary"},
		{Type: "evacuate"},
		{Type: "notify", LabelNames: []string{"name"}},
		{Type: "verify"},
		{Type: "on_failure"},
	},
}

var (
	canarySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "count"}, {Name: "where"}, {Name: "soak"}, {Name: "pause"},
	}}
	evacuateSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "mode"}, {Name: "fallback_to_cold"}, {Name: "timeout"}, {Name: "parallel"}, {Name: "prefer"},
	}}
	notifySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "url"}, {Name: "mode"}, {Name: "projects"}, {Name: "secret"}, {Name: "reply_timeout"}, {Name: "on_timeout"},
		{Name: "wait"}, {Name: "lead_time"}, {Name: "reply_url"}, {Name: "own_action_timeout"},
	}}
	verifySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "checks"}, {Name: "timeout"},
	}}
	onFailureSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "action"}, {Name: "max_failed"},
	}}
)

// Defaults of a rollout, chosen for safety: one host at a time, live
// migration, halt on the first failure.
var (
	DefaultMaxUnavailable   = Count(1)
	DefaultMigrationTimeout = Duration(30 * 60e9)
	DefaultReplyTimeout     = Duration(10 * 60e9)
	DefaultOwnActionTimeout = Duration(15 * 60e9)
	DefaultVerifyTimeout    = Duration(10 * 60e9)
)

func (l *loader) decodeRollout(b *hcl.Block) {
	name := b.Labels[0]
	owner := fmt.Sprintf("rollout %q", name)
	r := &Rollout{
		Name:      name,
		DeclRange: b.DefRange,
		Evacuate:  Evacuate{Mode: EvacuateLive, Timeout: DefaultMigrationTimeout, Parallel: 1, Prefer: PreferFewerMoves, DeclRange: b.DefRange},
		Verify:    Verify{Timeout: DefaultVerifyTimeout, DeclRange: b.DefRange},
		OnFailure: OnFailure{Action: FailureHalt, DeclRange: b.DefRange},
	}
	content, d := b.Body.Content(rolloutSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(content.Attributes, owner)
	r.Components = a.refList("components", addrs.KindComponent)
	if at, ok := content.Attributes["components"]; ok && len(r.Components) == 0 {
		if exprs, d := hcl.ExprList(at.Expr); !d.HasErrors() && len(exprs) == 0 {
			a.errorf("components", "Rollout covers no component",
				"The rollout %q lists no components, so it would do nothing. List the components it upgrades, such as components = [component.nova_compute].", name)
		}
	}
	r.MaxUnavailable = a.countOrPercent("max_unavailable", DefaultMaxUnavailable, false,
		"with no host allowed in maintenance the rollout could never start; use 1 for one host at a time")
	r.GroupBy = l.groupBy(a)
	r.ExpectedDuration = a.duration("expected_duration", 0, true)

	seen := map[string]*hcl.Block{}
	for _, sb := range content.Blocks {
		if sb.Type != "notify" {
			if prev, dup := seen[sb.Type]; dup {
				l.diags = l.diags.Append(diags.Errorf(rangePtr(sb.DefRange), "Duplicate "+sb.Type+" block",
					"A rollout has at most one %s block; the first is at %s.", sb.Type, pos(prev.DefRange)))
				continue
			}
			seen[sb.Type] = sb
		}
		switch sb.Type {
		case "canary":
			r.Canary = l.decodeCanary(sb, owner)
		case "evacuate":
			l.decodeEvacuate(sb, owner, &r.Evacuate)
		case "notify":
			if n := l.decodeNotify(sb, owner, r.Notify); n != nil {
				r.Notify = append(r.Notify, n)
			}
		case "verify":
			c, d := sb.Body.Content(verifySchema)
			l.diags = l.diags.Append(d)
			va := l.attrs(c.Attributes, owner+" verify")
			r.Verify = Verify{Checks: va.refList("checks", addrs.KindCheck), Timeout: va.duration("timeout", DefaultVerifyTimeout, true), DeclRange: sb.DefRange}
		case "on_failure":
			r.OnFailure = l.decodeOnFailure(sb, owner)
		}
	}
	l.cfg.Rollouts[name] = r
}

// groupBy takes an expression over host. A string literal is almost always
// a mistake (it would put every host in one group), so it is refused with
// the expression the operator most likely meant.
func (l *loader) groupBy(a *attrs) hcl.Expression {
	at, ok := a.m["group_by"]
	if !ok {
		return nil
	}
	if len(at.Expr.Variables()) == 0 {
		if v, d := at.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			attr := v.AsString()
			if attr == "zone" || attr == "az" {
				attr = "availability_zone"
			}
			a.errorf("group_by", "Invalid group_by",
				"group_by takes an expression over host, not a string: a constant would put every host in one group. Write group_by = host.%s.", attr)
			return nil
		}
	}
	return a.deferred("group_by", hostScope, cty.String)
}

func (l *loader) decodeCanary(b *hcl.Block, owner string) *Canary {
	c, d := b.Body.Content(canarySchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(c.Attributes, owner+" canary")
	return &Canary{
		Count:     a.countOrPercent("count", Count(1), false, "a canary phase with no host tests nothing; remove the canary block instead"),
		Where:     a.deferred("where", hostScope, cty.Bool),
		Soak:      a.duration("soak", 0, false),
		Pause:     a.boolean("pause", false),
		DeclRange: b.DefRange,
	}
}

func (l *loader) decodeEvacuate(b *hcl.Block, owner string, e *Evacuate) {
	c, d := b.Body.Content(evacuateSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(c.Attributes, owner+" evacuate")
	e.Mode = a.enum("mode", EvacuateLive, EvacuateLive, EvacuateCold)
	e.FallbackToCold = a.boolean("fallback_to_cold", false)
	e.Timeout = a.duration("timeout", DefaultMigrationTimeout, true)
	e.Parallel = a.integer("parallel", 1, 1)
	e.Prefer = a.enum("prefer", PreferFewerMoves, PreferFewerMoves, PreferFewerWaves)
	e.DeclRange = b.DefRange
	if e.Mode == EvacuateCold && a.has("fallback_to_cold") && a.resolved("mode") {
		a.errorf("fallback_to_cold", "Conflicting evacuation settings", "fallback_to_cold only applies to mode = \"live\"; with mode = \"cold\" every migration is already cold.")
	}
}

func (l *loader) decodeNotify(b *hcl.Block, owner string, prev []*Notify) *Notify {
	name := b.Labels[0]
	for _, p := range prev {
		if p.Name == name {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(b.LabelRanges[0]), "Duplicate notify block",
				"The %s already has a notify block named %q at %s.", owner, name, pos(p.DeclRange)))
			return nil
		}
	}
	c, d := b.Body.Content(notifySchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(c.Attributes, fmt.Sprintf("%s notify %q", owner, name))
	n := &Notify{
		Name:             name,
		Mode:             a.enum("mode", NotifyWebhook, NotifyWebhook, NotifyNone),
		URL:              a.str("url", ""),
		Projects:         a.strList("projects"),
		Secret:           a.str("secret", ""),
		ReplyTimeout:     a.duration("reply_timeout", DefaultReplyTimeout, true),
		OnTimeout:        a.enum("on_timeout", OnTimeoutProceed, OnTimeoutProceed, OnTimeoutFailHost, OnTimeoutHalt),
		Wait:             a.boolean("wait", true),
		LeadTime:         a.duration("lead_time", 0, false),
		ReplyURL:         a.str("reply_url", ""),
		OwnActionTimeout: a.duration("own_action_timeout", DefaultOwnActionTimeout, true),
		DeclRange:        b.DefRange,
	}
	if n.ReplyURL != "" && !strings.HasPrefix(n.ReplyURL, "http://") && !strings.HasPrefix(n.ReplyURL, "https://") {
		a.errorf("reply_url", "Invalid URL", "The notify reply_url must be an http:// or https:// URL, not %q.", n.ReplyURL)
	}

	if n.Mode == NotifyWebhook && !a.has("url") && a.resolved("mode") {
		l.diags = l.diags.Append(diags.Errorf(rangePtr(b.DefRange), "Missing required argument",
			"A webhook notify block needs url: where to POST the maintenance notifications. Set mode = \"none\" to record notifications without sending them."))
	}
	if n.Mode == NotifyNone && a.has("url") {
		a.errorf("url", "Conflicting notify settings", "mode = \"none\" sends nothing, so url is not used; remove it or set mode = \"webhook\".")
	}
	if n.URL != "" && !strings.HasPrefix(n.URL, "http://") && !strings.HasPrefix(n.URL, "https://") {
		a.errorf("url", "Invalid URL", "The notify url must be an http:// or https:// URL, not %q.", n.URL)
	}
	return n
}

func (l *loader) decodeOnFailure(b *hcl.Block, owner string) OnFailure {
	c, d := b.Body.Content(onFailureSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(c.Attributes, owner+" on_failure")
	f := OnFailure{
		Action:    a.enum("action", FailureHalt, FailureHalt, FailureRollbackHost, FailureRollbackAll, FailureContinue),
		DeclRange: b.DefRange,
	}
	switch {
	case !a.resolved("action"):
		// Unknown until plan: the rules below are checked then.
	case f.Action == FailureContinue && !a.has("max_failed"):
		l.diags = l.diags.Append(diags.Errorf(rangePtr(b.DefRange), "Missing max_failed",
			"action = \"continue\" needs max_failed: how many hosts (2) or what share of them (\"5%%\") may fail before the rollout halts anyway."))
	case f.Action != FailureContinue && a.has("max_failed"):
		a.errorf("max_failed", "Conflicting failure settings", "max_failed only applies to action = \"continue\"; with action = %q the first failure already stops the rollout.", f.Action)
	}
	if a.has("max_failed") {
		f.MaxFailed = a.countOrPercent("max_failed", Count(0), true, "")
	}
	return f
}

var guardSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "kind", Required: true},
		{Name: "policies"}, {Name: "where"}, {Name: "max_unavailable"}, {Name: "recovery_time"}, {Name: "max_interruption_time"},
		{Name: "hosts"}, {Name: "min_free_vcpu"}, {Name: "min_free_memory_mb"}, {Name: "min_available"},
		{Name: "component"}, {Name: "not_newer_than"}, {Name: "max_behind"},
	},
}

// guardArgs lists the arguments of each guard kind, required ones first.
var guardArgs = map[string]struct{ required, optional []string }{
	GuardServerGroup: {nil, []string{"policies", "where", "max_unavailable", "recovery_time", "max_interruption_time"}},
	GuardCapacity:    {[]string{"hosts"}, []string{"min_free_vcpu", "min_free_memory_mb"}},
	GuardQuorum:      {[]string{"hosts", "min_available"}, nil},
	GuardVersionSkew: {[]string{"component", "not_newer_than"}, []string{"max_behind"}},
}

// Server group policies, as Nova names them.
var serverGroupPolicies = []string{"anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"}

func (l *loader) decodeGuard(b *hcl.Block) {
	name := b.Labels[0]
	g := &Guard{Name: name, DeclRange: b.DefRange}
	content, d := b.Body.Content(guardSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(content.Attributes, fmt.Sprintf("guard %q", name))
	kinds := []string{GuardServerGroup, GuardCapacity, GuardQuorum, GuardVersionSkew}
	g.Kind = a.enum("kind", "", kinds...)
	l.cfg.Guards[name] = g
	args, ok := guardArgs[g.Kind]
	if !ok {
		return
	}
	allowed := map[string]bool{"kind": true}
	for _, n := range append(append([]string{}, args.required...), args.optional...) {
		allowed[n] = true
	}
	for n, at := range content.Attributes {
		if !allowed[n] {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(at.NameRange), "Argument not used by this guard kind",
				"A %s guard does not take %q. Its arguments are: %s.", g.Kind, n, strings.Join(append(args.required, args.optional...), ", ")))
		}
	}
	for _, n := range args.required {
		if !a.has(n) {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(b.DefRange), "Missing required argument",
				"A %s guard needs %q.", g.Kind, n))
		}
	}
	switch g.Kind {
	case GuardServerGroup:
		g.Policies = []string{"anti-affinity"}
		if a.has("policies") {
			g.Policies = a.strList("policies")
			if len(g.Policies) == 0 && a.resolved("policies") {
				a.errorf("policies", "Guard covers no server group",
					"An empty policies list matches no server group, so the guard would protect nothing. Name the policies it covers, such as [\"anti-affinity\"].")
			}
			for _, p := range g.Policies {
				if !contains(serverGroupPolicies, p) {
					a.errorf("policies", "Invalid server group policy", "%q is not a server group policy. Nova's policies are %s.%s",
						p, joinOr(quoteAll(serverGroupPolicies)), didYouMean(p, serverGroupPolicies))
				}
			}
		}
		g.Where = a.deferred("where", groupScope, cty.Bool)
		g.MaxUnavailable = a.countOrPercent("max_unavailable", Count(1), false,
			"with no member allowed down, no host holding a member could ever be upgraded")
		g.RecoveryTime = a.duration("recovery_time", 0, false)
		g.MaxInterruptionTime = a.duration("max_interruption_time", 0, false)
	case GuardCapacity:
		g.Hosts, _ = a.ref("hosts", addrs.KindHosts)
		g.MinFreeVCPU = a.countOrPercent("min_free_vcpu", Count(0), true, "")
		g.MinFreeMemoryMB = a.countOrPercent("min_free_memory_mb", Count(0), true, "")
		if !a.has("min_free_vcpu") && !a.has("min_free_memory_mb") {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(b.DefRange), "Missing required argument",
				"A capacity guard needs min_free_vcpu, min_free_memory_mb or both."))
		}
	case GuardQuorum:
		g.Hosts, _ = a.ref("hosts", addrs.KindHosts)
		g.MinAvailable = a.countOrPercent("min_available", Count(1), false,
			"a quorum of zero hosts protects nothing; remove the guard instead")
	case GuardVersionSkew:
		g.Component, _ = a.ref("component", addrs.KindComponent)
		g.NotNewerThan, _ = a.ref("not_newer_than", addrs.KindComponent)
		g.MaxBehind = a.integer("max_behind", 0, 0)
		if g.Component.Name != "" && g.Component == g.NotNewerThan {
			a.errorf("not_newer_than", "Invalid version skew guard", "A component can't be compared with itself.")
		}
	}
}

var checkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "kind", Required: true},
		{Name: "when"},
		{Name: "url"}, {Name: "expect_status"},
		{Name: "command"},
		{Name: "provider"}, {Name: "probe"}, {Name: "settings"},
		{Name: "timeout"}, {Name: "retries"}, {Name: "interval"},
	},
}

var checkArgs = map[string]struct{ required, optional []string }{
	CheckHTTP:     {[]string{"url"}, []string{"expect_status"}},
	CheckCommand:  {[]string{"command"}, nil},
	CheckProvider: {[]string{"provider", "probe"}, []string{"settings"}},
}

var checkCommon = []string{"kind", "when", "timeout", "retries", "interval"}

func (l *loader) decodeCheck(b *hcl.Block) {
	name := b.Labels[0]
	c := &Check{Name: name, DeclRange: b.DefRange, Settings: cty.NullVal(cty.DynamicPseudoType)}
	content, d := b.Body.Content(checkSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(content.Attributes, fmt.Sprintf("check %q", name))
	c.Kind = a.enum("kind", "", CheckHTTP, CheckCommand, CheckProvider)
	phases := []string{PhasePreflight, PhaseBetweenWaves, PhaseAfter}
	c.When = phases
	if a.has("when") {
		c.When = a.strList("when")
		for _, p := range c.When {
			if !contains(phases, p) {
				a.errorf("when", "Invalid check phase", "%q is not a phase. The phases are %s.%s", p, joinOr(quoteAll(phases)), didYouMean(p, phases))
			}
		}
	}
	c.Timeout = a.duration("timeout", Duration(30e9), true)
	c.Retries = a.integer("retries", 0, 0)
	c.Interval = a.duration("interval", Duration(10e9), true)
	l.cfg.Checks[name] = c
	args, ok := checkArgs[c.Kind]
	if !ok {
		return
	}
	allowed := map[string]bool{}
	for _, n := range append(append(append([]string{}, checkCommon...), args.required...), args.optional...) {
		allowed[n] = true
	}
	for n, at := range content.Attributes {
		if !allowed[n] {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(at.NameRange), "Argument not used by this check kind",
				"A %s check does not take %q. Its own arguments are: %s.", c.Kind, n, strings.Join(append(args.required, args.optional...), ", ")))
		}
	}
	for _, n := range args.required {
		if !a.has(n) {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(b.DefRange), "Missing required argument", "A %s check needs %q.", c.Kind, n))
		}
	}
	switch c.Kind {
	case CheckHTTP:
		c.URL = a.str("url", "")
		if c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
			a.errorf("url", "Invalid URL", "An http check's url must start with http:// or https://, not %q.", c.URL)
		}
		c.ExpectStatus = a.integer("expect_status", 200, 100)
	case CheckCommand:
		c.Command = a.strList("command")
		if a.has("command") && len(c.Command) == 0 {
			if v, ok := a.value("command", cty.List(cty.String)); ok && v.LengthInt() == 0 {
				a.errorf("command", "Empty command", "A command check needs the program to run and its arguments, such as [\"openstack\", \"compute\", \"service\", \"list\"].")
			}
		}
	case CheckProvider:
		c.Provider, _ = a.ref("provider", addrs.KindProvider)
		c.Probe = a.str("probe", "")
		c.Settings = a.object("settings")
	}
}

var backupSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "components", Required: true},
		{Name: "settings"},
		{Name: "retain"},
		{Name: "restore"},
	},
}

func (l *loader) decodeBackup(b *hcl.Block) {
	name := b.Labels[0]
	content, d := b.Body.Content(backupSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(content.Attributes, fmt.Sprintf("backup %q", name))
	bk := &Backup{
		Name:       name,
		Components: a.refList("components", addrs.KindComponent),
		Settings:   a.object("settings"),
		Retain:     a.integer("retain", 3, 1),
		Restore:    a.enum("restore", RestoreManual, RestoreManual, RestoreOnFailure),
		DeclRange:  b.DefRange,
	}
	if at, ok := content.Attributes["components"]; ok && len(bk.Components) == 0 {
		if exprs, d := hcl.ExprList(at.Expr); !d.HasErrors() && len(exprs) == 0 {
			a.errorf("components", "Backup covers no component",
				"The backup %q lists no components, so it would save nothing. List the components whose data it keeps, such as components = [component.nova_compute].", name)
		}
	}
	l.cfg.Backups[name] = bk
}

// crossChecks are the rules that span several blocks.
func (l *loader) crossChecks() {
	// A component takes its hosts' provider unless it names its own.
	for _, c := range l.cfg.Components {
		if c.Provider.Name == "" {
			if h, ok := l.cfg.HostSets[c.Hosts.Name]; ok {
				c.Provider = h.Provider
			}
		}
	}
	// Each component is rolled out by exactly one rollout.
	owner := map[string]string{}
	for _, name := range sortedKeys(l.cfg.Rollouts) {
		r := l.cfg.Rollouts[name]
		for _, c := range r.Components {
			if prev, dup := owner[c.Name]; dup {
				l.diags = l.diags.Append(diags.Errorf(rangePtr(r.DeclRange), "Component in two rollouts",
					"%s is already rolled out by rollout %q; a component belongs to one rollout, or the two would fight over its hosts.", c, prev))
				continue
			}
			owner[c.Name] = name
		}
	}
	for _, name := range sortedKeys(l.cfg.Components) {
		if _, ok := owner[name]; !ok && len(l.cfg.Rollouts) > 0 {
			c := l.cfg.Components[name]
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Warning,
				Summary:  "Component in no rollout",
				Detail:   fmt.Sprintf("No rollout lists component %q, so it will not be upgraded. Add it to a rollout's components, or remove it if it is only there for a version_skew guard.", name),
				Subject:  rangePtr(c.DeclRange),
			})
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
