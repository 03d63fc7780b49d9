package config

import (
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/escalator-nfv/escalator/internal/addrs"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// attrs decodes the arguments of one block into Go values. Every problem
// becomes a diagnostic on the loader and the decoder goes on, so that one
// run reports every error. A value that is unknown (a variable left unset
// under escalator validate) yields the default silently: it will be known,
// and checked, at plan time.
type attrs struct {
	l     *loader
	m     hcl.Attributes
	owner string // the block, as diagnostics name it: `rollout "compute"`
	// unresolved names the arguments that are present but whose value is
	// unknown or invalid: rules between arguments skip them rather than
	// judge a default the operator did not write.
	unresolved map[string]bool
}

func (l *loader) attrs(m hcl.Attributes, owner string) *attrs {
	return &attrs{l: l, m: m, owner: owner, unresolved: map[string]bool{}}
}

// resolved reports whether name is absent or has a known, valid value.
func (a *attrs) resolved(name string) bool { return !a.unresolved[name] }

func (a *attrs) has(name string) bool { _, ok := a.m[name]; return ok }

func (a *attrs) rng(name string) *hcl.Range {
	if at, ok := a.m[name]; ok {
		return rangePtr(at.Expr.Range())
	}
	return nil
}

func (a *attrs) errorf(name, summary, format string, args ...any) {
	a.l.diags = a.l.diags.Append(diags.Diagnostic{
		Severity: diags.Error,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  a.rng(name),
	})
}

// value evaluates an argument and converts it to ty. ok is false when the
// argument is absent, invalid, null or not yet known.
func (a *attrs) value(name string, ty cty.Type) (cty.Value, bool) {
	at, present := a.m[name]
	if !present {
		return cty.NilVal, false
	}
	v, ok := a.evalConvert(at, name, ty)
	if !ok {
		a.unresolved[name] = true
	}
	return v, ok
}

func (a *attrs) evalConvert(at *hcl.Attribute, name string, ty cty.Type) (cty.Value, bool) {
	v, ok := a.l.eval(at.Expr, nil)
	if !ok {
		return cty.NilVal, false
	}
	if v.IsNull() {
		a.errorf(name, "Missing value", "The argument %q of %s must not be null.", name, a.owner)
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		a.errorf(name, "Incorrect value type", "Invalid value for %q: %s.", name, convertErr(err, ty))
		return cty.NilVal, false
	}
	if !cv.IsWhollyKnown() {
		return cty.NilVal, false
	}
	cv, _ = cv.UnmarkDeep()
	return cv, true
}

func convertErr(err error, ty cty.Type) string {
	return fmt.Sprintf("%s required, but %s", ty.FriendlyNameForConstraint(), err.Error())
}

func (a *attrs) str(name, def string) string {
	if v, ok := a.value(name, cty.String); ok {
		return v.AsString()
	}
	return def
}

// enum decodes a string that must be one of allowed.
func (a *attrs) enum(name, def string, allowed ...string) string {
	v, ok := a.value(name, cty.String)
	if !ok {
		return def
	}
	s := v.AsString()
	if slices.Contains(allowed, s) {
		return s
	}
	a.errorf(name, "Invalid value", "%q is not a valid %s for %s. Valid values are %s.%s",
		s, name, a.owner, joinOr(quoteAll(allowed)), didYouMean(s, allowed))
	a.unresolved[name] = true
	return def
}

func (a *attrs) boolean(name string, def bool) bool {
	if v, ok := a.value(name, cty.Bool); ok {
		return v.True()
	}
	return def
}

// integer decodes a whole number of at least minimum.
func (a *attrs) integer(name string, def, minimum int) int {
	v, ok := a.value(name, cty.Number)
	if !ok {
		return def
	}
	n, err := wholeNumber(v)
	if err != nil {
		a.errorf(name, "Invalid value", "The argument %q must be a whole number: %s.", name, err)
		return def
	}
	if n < minimum {
		a.errorf(name, "Invalid value", "The argument %q must be at least %d, not %d.", name, minimum, n)
		return def
	}
	return n
}

func (a *attrs) strList(name string) []string {
	v, ok := a.value(name, cty.List(cty.String))
	if !ok {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	return out
}

// duration decodes a duration string; positive requires more than zero.
func (a *attrs) duration(name string, def Duration, positive bool) Duration {
	v, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return def
	}
	d, err := durationFromValue(v)
	if err != nil {
		a.errorf(name, "Invalid duration", "Invalid value for %q: %s.", name, err)
		return def
	}
	if positive && d == 0 {
		a.errorf(name, "Invalid duration", "The argument %q must be longer than zero.", name)
		return def
	}
	return d
}

// countOrPercent decodes 2 or "10%"; zero is refused unless allowZero,
// with the reason, because a zero budget makes no progress.
func (a *attrs) countOrPercent(name string, def CountOrPercent, allowZero bool, zeroReason string) CountOrPercent {
	v, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return def
	}
	c, err := countOrPercentFromValue(v)
	if err != nil {
		a.errorf(name, "Invalid count or percentage", "Invalid value for %q: %s.", name, err)
		return def
	}
	if c.IsZero() && !allowZero {
		a.errorf(name, "Invalid count or percentage", "The argument %q of %s must be more than zero: %s.", name, a.owner, zeroReason)
		return def
	}
	return c
}

// object decodes a provider-specific object (settings); null when absent.
func (a *attrs) object(name string) cty.Value {
	v, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		a.errorf(name, "Incorrect value type", "The argument %q must be an object, such as { packages = [\"nova-compute\"] }, not a %s.", name, v.Type().FriendlyName())
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v
}

func (a *attrs) ref(name string, kind addrs.Kind) (addrs.Ref, bool) {
	at, ok := a.m[name]
	if !ok {
		return addrs.Ref{}, false
	}
	return a.l.staticRef(at.Expr, kind, name)
}

func (a *attrs) refList(name string, kind addrs.Kind) []addrs.Ref {
	at, ok := a.m[name]
	if !ok {
		return nil
	}
	return a.l.staticRefList(at.Expr, kind, name)
}

// deferred checks an expression that is evaluated per inventory object at
// plan time: its references, and that with an unknown object it yields a
// value of type want. The expression itself is returned for later.
func (a *attrs) deferred(name string, sc *scope, want cty.Type) hcl.Expression {
	at, ok := a.m[name]
	if !ok {
		return nil
	}
	if _, ok := a.l.valueRefs(at.Expr, sc); !ok {
		return at.Expr
	}
	ctx := a.l.evalCtx.NewChild()
	ctx.Variables = map[string]cty.Value{sc.name: cty.UnknownVal(sc.typ)}
	v, d := at.Expr.Value(ctx)
	a.l.diags = a.l.diags.Append(d)
	if d.HasErrors() {
		return at.Expr
	}
	// Conversion alone is too lenient here: an unknown string converts to
	// a bool, yet where = host.name is surely a mistake.
	got := v.Type()
	if got != cty.DynamicPseudoType && got != want && (want == cty.Bool || !got.IsPrimitiveType()) {
		a.errorf(name, "Incorrect value type", "The argument %q must be an expression over %s that yields a %s, but this one yields a %s.",
			name, sc.name, want.FriendlyName(), got.FriendlyName())
	}
	return at.Expr
}

// eval evaluates a value expression after checking its references.
func (l *loader) eval(expr hcl.Expression, sc *scope) (cty.Value, bool) {
	if _, ok := l.valueRefs(expr, sc); !ok {
		return cty.DynamicVal, false
	}
	v, d := expr.Value(l.evalCtx)
	l.diags = l.diags.Append(d)
	if d.HasErrors() {
		return cty.DynamicVal, false
	}
	return v, true
}

func joinOr(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	s := ""
	for i, it := range items {
		switch {
		case i == 0:
			s = it
		case i == len(items)-1:
			s += " or " + it
		default:
			s += ", " + it
		}
	}
	return s
}
