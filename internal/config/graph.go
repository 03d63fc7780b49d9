package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/addrs"
	"github.com/escalator-nfv/escalator/internal/dag"
	"github.com/escalator-nfv/escalator/internal/diags"
)

var componentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "hosts", Required: true},
		{Name: "provider"},
		{Name: "version", Required: true},
		{Name: "disruption"},
		{Name: "depends_on"},
		{Name: "settings"},
		{Name: "expected_duration"},
	},
}

// pendingComponent is a component block between its static decoding and
// its evaluation in dependency order.
type pendingComponent struct {
	c     *Component
	attrs *attrs
	// explicit depends_on, for telling the two kinds of edges apart.
	explicit []addrs.Ref
	// unknownDisruption: the disruption argument is not known yet, so the
	// component's value must not claim the default.
	unknownDisruption bool
}

// evaluateGraph decodes locals and components, orders them by their
// references and depends_on, reports every cycle, and evaluates them in
// order so each sees the values it refers to.
func (l *loader) evaluateGraph() {
	g := dag.New[string]()
	pending := map[string]*pendingComponent{}

	for name, a := range l.localAttrs {
		key := addrs.Local(name).Key()
		g.Add(key)
		refs, _ := l.valueRefsQuiet(a.Expr)
		for _, r := range refs {
			g.Connect(key, r.Key())
		}
	}
	for _, b := range l.blocks["component"] {
		pc := l.decodeComponentStatic(b)
		key := addrs.Component(pc.c.Name).Key()
		pending[key] = pc
		g.Add(key)
		for _, r := range pc.explicit {
			g.Connect(key, r.Key())
		}
		for _, name := range []string{"version", "settings", "disruption", "expected_duration"} {
			if at, ok := pc.attrs.m[name]; ok {
				refs, _ := l.valueRefsQuiet(at.Expr)
				for _, r := range refs {
					g.Connect(key, r.Key())
				}
			}
		}
	}

	inCycle := map[string]bool{}
	for _, cyc := range g.Cycles() {
		l.reportCycle(cyc)
		for _, k := range cyc {
			inCycle[k] = true
		}
	}

	// Evaluate what is not in a cycle, dependencies first. Objects in a
	// cycle stay unknown so that their dependents report nothing more.
	acyclic := dag.New[string]()
	for _, v := range g.Vertices() {
		if inCycle[v] {
			continue
		}
		acyclic.Add(v)
		for _, dep := range g.DependsOn(v) {
			if !inCycle[dep] {
				acyclic.Connect(v, dep)
			}
		}
	}
	locals := map[string]cty.Value{}
	comps := map[string]cty.Value{}
	for k := range inCycle {
		ref := parseKey(k)
		if ref.Kind == addrs.KindLocal {
			locals[ref.Name] = cty.DynamicVal
		} else {
			comps[ref.Name] = cty.UnknownVal(componentValueType)
		}
	}
	layers, _ := acyclic.TopoLayers()
	for _, layer := range layers {
		for _, k := range layer {
			l.evalCtx.Variables["local"] = cty.ObjectVal(locals)
			l.evalCtx.Variables["component"] = cty.ObjectVal(comps)
			ref := parseKey(k)
			switch ref.Kind {
			case addrs.KindLocal:
				a, ok := l.localAttrs[ref.Name]
				if !ok {
					continue // an undeclared reference, already reported
				}
				v, _ := l.eval(a.Expr, nil)
				locals[ref.Name] = v
				l.cfg.Locals[ref.Name] = &Local{Name: ref.Name, Expr: a.Expr, Value: v, DeclRange: a.Range}
			case addrs.KindComponent:
				pc, ok := pending[k]
				if !ok {
					continue
				}
				l.decodeComponentValues(pc)
				comps[ref.Name] = componentValue(pc.c, pc.unknownDisruption)
			}
		}
	}
	for k, pc := range pending {
		if inCycle[k] {
			l.cfg.Components[pc.c.Name] = pc.c
		}
	}
	l.evalCtx.Variables["local"] = cty.ObjectVal(locals)
	l.evalCtx.Variables["component"] = cty.ObjectVal(comps)

	l.orderComponents(g, inCycle)
}

// orderComponents fills DependsOn (explicit plus implicit, through locals
// too) and ComponentLayers.
func (l *loader) orderComponents(g *dag.Graph[string], inCycle map[string]bool) {
	cg := dag.New[string]()
	for name, c := range l.cfg.Components {
		key := addrs.Component(name).Key()
		cg.Add(key)
		seen := map[addrs.Ref]bool{}
		for _, dep := range g.TransitiveDeps(key) {
			ref := parseKey(dep)
			if ref.Kind != addrs.KindComponent || ref.Name == name {
				continue
			}
			cg.Connect(key, dep)
			// Only direct dependencies (possibly through locals) are listed.
			if isDirectComponentDep(g, key, dep) && !seen[ref] {
				seen[ref] = true
				c.DependsOn = append(c.DependsOn, ref)
			}
		}
		addrs.Sort(c.DependsOn)
	}
	if len(inCycle) > 0 {
		return
	}
	layers, err := cg.TopoLayers()
	if err != nil {
		return
	}
	for _, layer := range layers {
		var refs []addrs.Ref
		for _, k := range layer {
			refs = append(refs, parseKey(k))
		}
		l.cfg.ComponentLayers = append(l.cfg.ComponentLayers, refs)
	}
}

// isDirectComponentDep reports whether from reaches the component dep
// without passing through another component.
func isDirectComponentDep(g *dag.Graph[string], from, dep string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range g.DependsOn(v) {
			if d == dep {
				return true
			}
			if seen[d] || strings.HasPrefix(d, string(addrs.KindComponent)+".") {
				continue
			}
			seen[d] = true
			stack = append(stack, d)
		}
	}
	return false
}

func (l *loader) reportCycle(cyc []string) {
	path := append(append([]string{}, cyc...), cyc[0])
	first := parseKey(cyc[0])
	var members []string
	for _, k := range cyc {
		ref := parseKey(k)
		members = append(members, fmt.Sprintf("%s (%s)", k, pos(l.decls[ref.Kind][ref.Name])))
	}
	summary := "Dependency cycle"
	if len(cyc) == 1 {
		summary = "Self-referencing object"
	}
	l.diags = l.diags.Append(diags.Diagnostic{
		Severity: diags.Error,
		Summary:  summary,
		Detail: fmt.Sprintf("%s.\n\nEach of these depends on the next, through depends_on or a reference, so none can come first:\n  %s\nRemove one of the dependencies to break the cycle.",
			strings.Join(path, " -> "), strings.Join(members, "\n  ")),
		Subject: rangePtr(l.decls[first.Kind][first.Name]),
	})
}

func parseKey(k string) addrs.Ref {
	kind, name, _ := strings.Cut(k, ".")
	return addrs.Ref{Kind: addrs.Kind(kind), Name: name}
}

// valueRefsQuiet collects an expression's var/local/component references
// without reporting anything: the full check happens when it is evaluated.
func (l *loader) valueRefsQuiet(expr hcl.Expression) ([]addrs.Ref, bool) {
	var refs []addrs.Ref
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if root != string(addrs.KindLocal) && root != string(addrs.KindComponent) {
			continue
		}
		if len(tr) < 2 {
			continue
		}
		at, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		ref := addrs.Ref{Kind: addrs.Kind(root), Name: at.Name}
		if _, declared := l.decls[ref.Kind][ref.Name]; declared {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs, true
}

func (l *loader) decodeComponentStatic(b *hcl.Block) *pendingComponent {
	name := b.Labels[0]
	c := &Component{Name: name, DeclRange: b.DefRange, Disruption: DisruptionHost, Settings: cty.NullVal(cty.DynamicPseudoType)}
	content, d := b.Body.Content(componentSchema)
	l.diags = l.diags.Append(d)
	a := l.attrs(content.Attributes, fmt.Sprintf("component %q", name))
	c.Hosts, _ = a.ref("hosts", addrs.KindHosts)
	if a.has("provider") {
		c.Provider, _ = a.ref("provider", addrs.KindProvider)
	} else {
		// Known now, so that component.NAME.provider is known too.
		c.Provider = l.hostSetProvider(c.Hosts.Name)
	}
	pc := &pendingComponent{c: c, attrs: a}
	pc.explicit = a.refList("depends_on", addrs.KindComponent)
	return pc
}

func (l *loader) decodeComponentValues(pc *pendingComponent) {
	c, a := pc.c, pc.attrs
	if v, ok := a.value("version", cty.String); ok {
		c.Version = v.AsString()
		if c.Version == "" {
			a.errorf("version", "Invalid value", "The target version of %s must not be empty.", a.owner)
		}
	}
	c.Disruption = Disruption(a.enum("disruption", string(DisruptionHost), string(DisruptionNone), string(DisruptionService), string(DisruptionHost)))
	pc.unknownDisruption = !a.resolved("disruption")
	c.Settings = a.object("settings")
	if at, ok := a.m["settings"]; ok {
		c.SettingsExpr = at.Expr
	}
	c.ExpectedDuration = a.duration("expected_duration", 0, true)
	l.cfg.Components[c.Name] = c
}

func componentValue(c *Component, unknownDisruption bool) cty.Value {
	str := func(s string) cty.Value {
		if s == "" {
			return cty.UnknownVal(cty.String)
		}
		return cty.StringVal(s)
	}
	disruption := cty.StringVal(string(c.Disruption))
	if unknownDisruption {
		disruption = cty.UnknownVal(cty.String)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":       cty.StringVal(c.Name),
		"version":    str(c.Version),
		"hosts":      str(c.Hosts.Name),
		"provider":   str(c.Provider.Name),
		"disruption": disruption,
	})
}

// hostSetProvider reads the provider reference of a hosts block without
// reporting anything (decodeHostSet reports its problems later); the zero
// Ref when it can't be read.
func (l *loader) hostSetProvider(name string) addrs.Ref {
	for _, b := range l.blocks["hosts"] {
		if b.Labels[0] != name {
			continue
		}
		content, _, _ := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "provider"}}})
		at, ok := content.Attributes["provider"]
		if !ok {
			return addrs.Ref{}
		}
		tr, d := hcl.AbsTraversalForExpr(at.Expr)
		if d.HasErrors() || len(tr) != 2 || tr.RootName() != string(addrs.KindProvider) {
			return addrs.Ref{}
		}
		if step, ok := tr[1].(hcl.TraverseAttr); ok {
			if _, declared := l.decls[addrs.KindProvider][step.Name]; declared {
				return addrs.Provider(step.Name)
			}
		}
	}
	return addrs.Ref{}
}
