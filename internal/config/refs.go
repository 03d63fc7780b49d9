package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/addrs"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// HostType is the object an expression sees as `host` in a hosts block's
// where, a rollout's group_by and a canary's where. Providers fill it from
// the live inventory at plan time.
var HostType = cty.Object(map[string]cty.Type{
	"name":              cty.String,
	"role":              cty.String,
	"availability_zone": cty.String,
	"aggregates":        cty.List(cty.String),
	"vcpus":             cty.Number,
	"memory_mb":         cty.Number,
	"state":             cty.String,
	"versions":          cty.Map(cty.String),
	"attributes":        cty.Map(cty.String),
})

// ServerGroupType is the object a server_group guard's where sees as `group`.
var ServerGroupType = cty.Object(map[string]cty.Type{
	"name":    cty.String,
	"policy":  cty.String,
	"project": cty.String,
	"members": cty.Number,
})

// componentValueType is the value of `component.NAME` in expressions.
var componentValueType = cty.Object(map[string]cty.Type{
	"name":       cty.String,
	"version":    cty.String,
	"hosts":      cty.String,
	"provider":   cty.String,
	"disruption": cty.String,
})

// scope says which roots an expression may reference besides var, local and
// component: `host` or `group` for expressions evaluated per inventory object.
type scope struct {
	name string   // "host" or "group"
	typ  cty.Type // its object type
}

var (
	hostScope  = &scope{"host", HostType}
	groupScope = &scope{"group", ServerGroupType}
)

// valueRefs checks every reference in expr and returns the var, local and
// component objects it uses. A reference to something undeclared, or to an
// object that is not a value (hosts.x, rollout.y), is a diagnostic with a
// suggestion; ok is false then, and the caller should not evaluate expr.
func (l *loader) valueRefs(expr hcl.Expression, sc *scope) (refs []addrs.Ref, ok bool) {
	ok = true
	for _, tr := range expr.Variables() {
		ref, good := l.valueRef(tr, sc)
		if !good {
			ok = false
			continue
		}
		if ref != nil {
			refs = append(refs, *ref)
		}
	}
	return refs, ok
}

// valueRef checks one traversal. It returns nil with ok for references to
// the per-object scope (host.*, group.*), which are not graph edges.
func (l *loader) valueRef(tr hcl.Traversal, sc *scope) (*addrs.Ref, bool) {
	root := tr.RootName()
	rng := tr.SourceRange()
	if sc != nil && root == sc.name {
		if len(tr) < 2 {
			return nil, true // the whole object, e.g. passed to a function
		}
		attr, isAttr := tr[1].(hcl.TraverseAttr)
		if !isAttr {
			return nil, true // index syntax: left for evaluation to check
		}
		if !sc.typ.HasAttribute(attr.Name) {
			names := attrNames(sc.typ)
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Error,
				Summary:  fmt.Sprintf("Unsupported attribute of %s", sc.name),
				Detail: fmt.Sprintf("%s has no attribute named %q.%s %s has: %s.",
					sc.name, attr.Name, suggestAttr(attr.Name, names), sc.name, strings.Join(names, ", ")),
				Subject: rangePtr(tr.SourceRange()),
			})
			return nil, false
		}
		return nil, true
	}
	switch root {
	case string(addrs.KindVariable), string(addrs.KindLocal), string(addrs.KindComponent):
		kind := addrs.Kind(root)
		name, ok := l.traversalName(tr, kind)
		if !ok {
			return nil, false
		}
		ref := addrs.Ref{Kind: kind, Name: name}
		if !l.checkDeclared(ref, tr[1].SourceRange()) {
			return nil, false
		}
		return &ref, true
	}
	if addrs.IsKind(root) {
		detail := fmt.Sprintf("%s objects are not values and can't be used in an expression here.", addrs.Kind(root).BlockType())
		switch addrs.Kind(root) {
		case addrs.KindHosts:
			detail += " To select hosts, set a component's hosts = hosts.NAME; to filter on host attributes, use host.ATTRIBUTE inside a hosts block's where."
		default:
			detail += " References to them are only allowed in the arguments that take them, such as a rollout's components or a verify block's checks."
		}
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Reference to a non-value object",
			Detail:   detail,
			Subject:  &rng,
		})
		return nil, false
	}
	candidates := []string{"var", "local", "component"}
	if sc != nil {
		candidates = append(candidates, sc.name)
	}
	detail := fmt.Sprintf("There is no object named %q in this expression.%s", root, didYouMean(root, candidates))
	if root == "host" || root == "group" {
		detail = fmt.Sprintf("%q is only available where an expression is evaluated for each %s: %s.", root, root, scopeWhere(root))
	}
	l.diags = l.diags.Append(diags.Diagnostic{
		Severity: diags.Error,
		Summary:  "Unknown reference",
		Detail:   detail + " Expressions may refer to " + strings.Join(quoteAll(candidates), ", ") + ".",
		Subject:  &rng,
	})
	return nil, false
}

func scopeWhere(root string) string {
	if root == "host" {
		return "a hosts block's where, a rollout's group_by and a canary's where"
	}
	return "a server_group guard's where"
}

// traversalName checks that tr is KIND.NAME (optionally followed by more
// steps) and returns NAME.
func (l *loader) traversalName(tr hcl.Traversal, kind addrs.Kind) (string, bool) {
	if len(tr) >= 2 {
		if a, ok := tr[1].(hcl.TraverseAttr); ok {
			return a.Name, true
		}
	}
	rng := tr.SourceRange()
	l.diags = l.diags.Append(diags.Diagnostic{
		Severity: diags.Error,
		Summary:  "Invalid reference",
		Detail:   fmt.Sprintf("A reference to a %s is written %s.NAME, such as %s.example.", kind.BlockType(), kind, kind),
		Subject:  &rng,
	})
	return "", false
}

// checkDeclared reports a reference to an undeclared object.
func (l *loader) checkDeclared(ref addrs.Ref, rng hcl.Range) bool {
	if _, ok := l.decls[ref.Kind][ref.Name]; ok {
		return true
	}
	var names []string
	for n := range l.decls[ref.Kind] {
		names = append(names, n)
	}
	sort.Strings(names)
	what := fmt.Sprintf("%s block", ref.Kind.BlockType())
	if ref.Kind == addrs.KindLocal {
		what = "local value"
	}
	detail := fmt.Sprintf("No %s named %q is declared.", what, ref.Name)
	if s := didYouMean(ref.Name, names); s != "" {
		detail += s
	} else if len(names) == 0 {
		detail += fmt.Sprintf(" This configuration declares no %s at all.", what)
	}
	l.diags = l.diags.Append(diags.Diagnostic{
		Severity: diags.Error,
		Summary:  fmt.Sprintf("Reference to undeclared %s", what),
		Detail:   detail,
		Subject:  &rng,
	})
	return false
}

// staticRef resolves an argument that must name one object of a kind, such
// as hosts = hosts.compute. The object must be declared.
func (l *loader) staticRef(expr hcl.Expression, kind addrs.Kind, argName string) (addrs.Ref, bool) {
	tr, d := hcl.AbsTraversalForExpr(expr)
	if d.HasErrors() || len(tr) != 2 || tr.RootName() != string(kind) {
		rng := expr.Range()
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Invalid reference",
			Detail: fmt.Sprintf("The argument %q takes a reference to a %s block, written %s.NAME (such as %s.example), not a string or other expression.",
				argName, kind.BlockType(), kind, kind),
			Subject: &rng,
		})
		return addrs.Ref{}, false
	}
	name, ok := l.traversalName(tr, kind)
	if !ok {
		return addrs.Ref{}, false
	}
	ref := addrs.Ref{Kind: kind, Name: name}
	return ref, l.checkDeclared(ref, tr[1].SourceRange())
}

// staticRefList resolves a list of references, such as depends_on.
func (l *loader) staticRefList(expr hcl.Expression, kind addrs.Kind, argName string) []addrs.Ref {
	exprs, d := hcl.ExprList(expr)
	if d.HasErrors() {
		rng := expr.Range()
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Invalid reference list",
			Detail:   fmt.Sprintf("The argument %q takes a list of references, such as [%s.a, %s.b].", argName, kind, kind),
			Subject:  &rng,
		})
		return nil
	}
	var refs []addrs.Ref
	seen := map[addrs.Ref]bool{}
	for _, e := range exprs {
		ref, ok := l.staticRef(e, kind, argName)
		if !ok {
			continue
		}
		if seen[ref] {
			rng := e.Range()
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Warning,
				Summary:  "Duplicate reference",
				Detail:   fmt.Sprintf("%s is listed more than once in %s.", ref, argName),
				Subject:  &rng,
			})
			continue
		}
		seen[ref] = true
		refs = append(refs, ref)
	}
	return refs
}

// didYouMean returns ` Did you mean "x"?` for the closest candidate within a
// small edit distance, or "".
func didYouMean(given string, candidates []string) string {
	best, bestDist := "", 3 // more than two edits away is not a typo
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

func attrNames(ty cty.Type) []string {
	var names []string
	for n := range ty.AttributeTypes() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func rangePtr(r hcl.Range) *hcl.Range { return &r }

// attrAliases are the names operators reach for first, mapped to the
// attribute that holds what they mean; plain edit distance would suggest
// "role" for "zone".
var attrAliases = map[string]string{
	"zone":      "availability_zone",
	"az":        "availability_zone",
	"hostname":  "name",
	"aggregate": "aggregates",
	"cpus":      "vcpus",
	"ram":       "memory_mb",
	"memory":    "memory_mb",
	"status":    "state",
	"version":   "versions",
}

func suggestAttr(given string, names []string) string {
	if a, ok := attrAliases[given]; ok && contains(names, a) {
		return fmt.Sprintf(" Did you mean %q?", a)
	}
	return didYouMean(given, names)
}

// pos prints a range's start as file:line:col, the form editors jump to.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
