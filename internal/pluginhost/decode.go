package pluginhost

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// DecodeConfig decodes a block body, such as a provider block's, against a
// plugin's block schema, evaluating its expressions in evalCtx (variables,
// locals, functions). The result is the object Configure and
// ValidateConfig take: every attribute of the schema present, null when
// unset. Values of sensitive attributes carry config.SensitiveMark, so
// that escalator never prints them; the codec strips marks on the wire.
//
// HCL reports unknown arguments, missing required ones and wrong types
// itself, at their source ranges; the plugin's own checks come back from
// ValidateConfig/Configure and are located with InBody.
func DecodeConfig(body hcl.Body, schema sdk.Block, evalCtx *hcl.EvalContext) (cty.Value, diags.Diagnostics) {
	v, hds := hcldec.Decode(body, blockSpec(schema), evalCtx)
	var ds diags.Diagnostics
	ds = ds.Append(hds)
	if hds.HasErrors() {
		return cty.NilVal, ds
	}
	return markSensitive(v, schema), ds
}

// blockSpec returns the hcldec spec of a plugin's block schema.
func blockSpec(b sdk.Block) hcldec.Spec {
	spec := hcldec.ObjectSpec{}
	for _, a := range b.Attributes {
		spec[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: a.Type, Required: a.Required}
	}
	for _, nb := range b.Blocks {
		inner := blockSpec(nb.Block)
		switch nb.Nesting {
		case sdk.NestingList:
			spec[nb.TypeName] = &hcldec.BlockListSpec{TypeName: nb.TypeName, Nested: inner, MinItems: nb.MinItems, MaxItems: nb.MaxItems}
		default:
			spec[nb.TypeName] = &hcldec.BlockSpec{TypeName: nb.TypeName, Nested: inner, Required: nb.MinItems > 0}
		}
	}
	return spec
}

// markSensitive marks the values of sensitive attributes, at any depth of
// nested blocks.
func markSensitive(v cty.Value, b sdk.Block) cty.Value {
	// Structural operations refuse marked values: work on the unmarked
	// value and put its marks (a sensitive variable's) back.
	v, marks := v.Unmark()
	if v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() {
		return v.WithMarks(marks)
	}
	attrs := v.AsValueMap()
	if attrs == nil {
		return v.WithMarks(marks)
	}
	for _, a := range b.Attributes {
		if av, ok := attrs[a.Name]; ok && a.Sensitive && !av.IsNull() {
			attrs[a.Name] = av.Mark(config.SensitiveMark)
		}
	}
	for _, nb := range b.Blocks {
		bv, ok := attrs[nb.TypeName]
		if !ok {
			continue
		}
		bv, bmarks := bv.Unmark()
		if bv.IsNull() || !bv.IsKnown() {
			continue
		}
		if nb.Nesting == sdk.NestingList {
			if bv.LengthInt() == 0 {
				continue
			}
			elems := bv.AsValueSlice()
			for i := range elems {
				elems[i] = markSensitive(elems[i], nb.Block)
			}
			if bv.Type().IsListType() {
				attrs[nb.TypeName] = cty.ListVal(elems).WithMarks(bmarks)
			} else {
				attrs[nb.TypeName] = cty.TupleVal(elems).WithMarks(bmarks)
			}
			continue
		}
		attrs[nb.TypeName] = markSensitive(bv, nb.Block).WithMarks(bmarks)
	}
	return cty.ObjectVal(attrs).WithMarks(marks)
}
