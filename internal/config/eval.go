package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/escalator-nfv/escalator/internal/diags"
)

// EvalContext is the context the campaign's expressions are evaluated in:
// var, local, component and the functions. Provider blocks are decoded in
// it once their plugin's schema is known.
func (c *Config) EvalContext() *hcl.EvalContext { return c.evalCtx }

// EvalHost evaluates an expression deferred to plan time (a hosts block's
// where, a rollout's group_by, a canary's where) for one host, given as a
// value of HostType.
func (c *Config) EvalHost(expr hcl.Expression, host cty.Value, want cty.Type) (cty.Value, diags.Diagnostics) {
	return c.evalWith(expr, "host", host, want)
}

// EvalServerGroup evaluates a server_group guard's where for one group,
// given as a value of ServerGroupType.
func (c *Config) EvalServerGroup(expr hcl.Expression, group cty.Value) (cty.Value, diags.Diagnostics) {
	return c.evalWith(expr, "group", group, cty.Bool)
}

func (c *Config) evalWith(expr hcl.Expression, name string, obj cty.Value, want cty.Type) (cty.Value, diags.Diagnostics) {
	var ds diags.Diagnostics
	ctx := c.evalCtx.NewChild()
	ctx.Variables = map[string]cty.Value{name: obj}
	v, d := expr.Value(ctx)
	ds = ds.Append(d)
	if d.HasErrors() {
		return cty.NilVal, ds
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		return cty.NilVal, ds.Append(diags.Errorf(rangePtr(expr.Range()), "Incorrect value type", "Expected a %s: %s.", want.FriendlyName(), err))
	}
	if cv.IsNull() {
		return cv, ds.Append(diags.Errorf(rangePtr(expr.Range()), "Null result", "This expression yielded null for %s; it must yield a %s.", name, want.FriendlyName()))
	}
	return cv, ds
}
