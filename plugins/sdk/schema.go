package sdk

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// This file checks configuration values against a Block before a provider
// sees them, so that every provider reports a missing argument or a wrong
// type the same way, with the attribute path that lets escalator underline
// the offending HCL, and so that provider code can read its configuration
// without defensive checks: every attribute of the Block is present in the
// value (null when unset) with exactly the declared type.

// impliedType is the object type a value conforming to b has.
func impliedType(b Block) cty.Type {
	attrs := make(map[string]cty.Type, len(b.Attributes)+len(b.Blocks))
	for _, a := range b.Attributes {
		attrs[a.Name] = a.Type
	}
	for _, nb := range b.Blocks {
		attrs[nb.TypeName] = nestedImpliedType(nb)
	}
	return cty.Object(attrs)
}

func nestedImpliedType(nb NestedBlock) cty.Type {
	et := impliedType(nb.Block)
	if nb.Nesting == NestingList {
		// With a dynamic attribute inside, elements may differ in type,
		// which a list can't hold; such blocks become a tuple.
		if et.HasDynamicTypes() {
			return cty.DynamicPseudoType
		}
		return cty.List(et)
	}
	return et
}

// conformBlock checks v against b and returns it converted to b's implied
// type. A null v stands for an empty block, so that missing required
// arguments are reported one by one rather than as "the block is null".
func conformBlock(b Block, v cty.Value, path cty.Path) (cty.Value, Diagnostics) {
	var diags Diagnostics
	if v.IsNull() {
		v = cty.EmptyObjectVal
	}
	ty := v.Type()
	if !ty.IsObjectType() && !ty.IsMapType() {
		diags = append(diags, Diagnostic{
			Severity:  Error,
			Summary:   "Invalid configuration",
			Detail:    fmt.Sprintf("Expected an object with the block's arguments, got %s.", ty.FriendlyName()),
			Attribute: path,
		})
		return cty.NullVal(impliedType(b)), diags
	}

	given := v.AsValueMap()
	known := make(map[string]bool, len(b.Attributes)+len(b.Blocks))
	out := make(map[string]cty.Value, len(b.Attributes)+len(b.Blocks))

	for _, a := range b.Attributes {
		known[a.Name] = true
		ap := appendPath(path, cty.GetAttrStep{Name: a.Name})
		av, ok := given[a.Name]
		if !ok || av.IsNull() {
			if a.Required {
				diags = append(diags, Diagnostic{
					Severity:  Error,
					Summary:   "Missing required argument",
					Detail:    fmt.Sprintf("The argument %q is required, but no definition was found.", a.Name),
					Attribute: ap,
				})
			}
			out[a.Name] = cty.NullVal(a.Type)
			continue
		}
		cv, err := convert.Convert(av, a.Type)
		if err != nil {
			diags = append(diags, conversionDiag(a.Name, ap, err))
			out[a.Name] = cty.NullVal(a.Type)
			continue
		}
		out[a.Name] = cv
	}

	for _, nb := range b.Blocks {
		known[nb.TypeName] = true
		bp := appendPath(path, cty.GetAttrStep{Name: nb.TypeName})
		bv, ds := conformNested(nb, given[nb.TypeName], bp)
		diags = append(diags, ds...)
		out[nb.TypeName] = bv
	}

	var extra []string
	for name := range given {
		if !known[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		diags = append(diags, Diagnostic{
			Severity:  Error,
			Summary:   "Unsupported argument",
			Detail:    fmt.Sprintf("An argument named %q is not expected here.%s", name, suggest(name, known)),
			Attribute: appendPath(path, cty.GetAttrStep{Name: name}),
		})
	}
	return cty.ObjectVal(out), diags
}

func conformNested(nb NestedBlock, v cty.Value, path cty.Path) (cty.Value, Diagnostics) {
	ty := nestedImpliedType(nb)
	if nb.Nesting != NestingList {
		if v == cty.NilVal || v.IsNull() {
			if nb.MinItems > 0 {
				return cty.NullVal(ty), Diagnostics{missingBlock(nb, path)}
			}
			return cty.NullVal(ty), nil
		}
		return conformBlock(nb.Block, v, path)
	}

	var diags Diagnostics
	var elems []cty.Value
	if v != cty.NilVal && !v.IsNull() {
		vt := v.Type()
		if !vt.IsListType() && !vt.IsTupleType() && !vt.IsSetType() {
			diags = append(diags, Diagnostic{
				Severity:  Error,
				Summary:   "Invalid block",
				Detail:    fmt.Sprintf("Expected a list of %q blocks, got %s.", nb.TypeName, vt.FriendlyName()),
				Attribute: path,
			})
			return cty.NullVal(ty), diags
		}
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, ev := it.Element()
			cv, ds := conformBlock(nb.Block, ev, appendPath(path, cty.IndexStep{Key: cty.NumberIntVal(int64(i))}))
			diags = append(diags, ds...)
			elems = append(elems, cv)
		}
	}
	switch {
	case len(elems) < nb.MinItems:
		diags = append(diags, missingBlock(nb, path))
	case nb.MaxItems > 0 && len(elems) > nb.MaxItems:
		diags = append(diags, Diagnostic{
			Severity:  Error,
			Summary:   "Too many blocks",
			Detail:    fmt.Sprintf("No more than %d %q blocks are allowed; found %d.", nb.MaxItems, nb.TypeName, len(elems)),
			Attribute: path,
		})
	}
	if len(elems) == 0 {
		if ty == cty.DynamicPseudoType {
			return cty.EmptyTupleVal, diags
		}
		return cty.ListValEmpty(ty.ElementType()), diags
	}
	if ty == cty.DynamicPseudoType {
		return cty.TupleVal(elems), diags
	}
	return cty.ListVal(elems), diags
}

func missingBlock(nb NestedBlock, path cty.Path) Diagnostic {
	min := nb.MinItems
	if min < 1 {
		min = 1
	}
	return Diagnostic{
		Severity:  Error,
		Summary:   "Missing required block",
		Detail:    fmt.Sprintf("At least %d %q block(s) are required.", min, nb.TypeName),
		Attribute: path,
	}
}

// conversionDiag turns a convert error into a diagnostic that points at the
// innermost value that failed (convert reports paths relative to the value
// converted).
func conversionDiag(name string, path cty.Path, err error) Diagnostic {
	p := path
	if pe, ok := err.(cty.PathError); ok && len(pe.Path) > 0 {
		p = appendPath(path, pe.Path...)
	}
	return Diagnostic{
		Severity:  Error,
		Summary:   "Incorrect attribute value type",
		Detail:    fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, err),
		Attribute: p,
	}
}

// appendPath returns a new path, never sharing the backing array of p:
// sibling attributes must not overwrite each other's last step.
func appendPath(p cty.Path, steps ...cty.PathStep) cty.Path {
	out := make(cty.Path, 0, len(p)+len(steps))
	return append(append(out, p...), steps...)
}

// suggest returns " Did you mean "x"?" for a near miss among known names.
func suggest(name string, known map[string]bool) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, k := range names {
		if d := levenshtein.Distance(strings.ToLower(name), strings.ToLower(k), nil); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// checkSchema reports mistakes in a provider's own schema: they are bugs
// of the provider, found at GetSchema time rather than as a confusing
// failure when escalator decodes a configuration against it.
func checkSchema(resp *SchemaResponse) Diagnostics {
	var diags Diagnostics
	checkBlock(&diags, "provider", resp.Provider)
	checkBlock(&diags, "component", resp.Component)
	checkBlock(&diags, "backup", resp.Backup)
	seen := map[string]bool{}
	for _, p := range resp.Probes {
		if p.Name == "" {
			diags.AddError("Invalid provider schema", "A probe has no name. This is a bug in the provider.")
		} else if seen[p.Name] {
			diags.AddError("Invalid provider schema", fmt.Sprintf("Probe %q is declared twice. This is a bug in the provider.", p.Name))
		}
		seen[p.Name] = true
		checkBlock(&diags, "probe "+p.Name+" settings", p.Settings)
	}
	for _, k := range resp.Actions {
		if _, ok := actionNames[k]; !ok {
			diags.AddError("Invalid provider schema", fmt.Sprintf("Action kind %d is not one the SDK knows. This is a bug in the provider.", k))
		}
	}
	return diags
}

func checkBlock(diags *Diagnostics, where string, b Block) {
	seen := map[string]bool{}
	bad := func(format string, args ...any) {
		diags.AddError("Invalid provider schema", fmt.Sprintf("In the %s schema: ", where)+fmt.Sprintf(format, args...)+" This is a bug in the provider.")
	}
	for _, a := range b.Attributes {
		switch {
		case a.Name == "":
			bad("an attribute has no name.")
		case seen[a.Name]:
			bad("%q is declared twice.", a.Name)
		case a.Type == cty.NilType:
			bad("attribute %q has no type.", a.Name)
		}
		seen[a.Name] = true
	}
	for _, nb := range b.Blocks {
		switch {
		case nb.TypeName == "":
			bad("a nested block has no type name.")
		case seen[nb.TypeName]:
			bad("%q is declared twice.", nb.TypeName)
		case nb.Nesting != NestingSingle && nb.Nesting != NestingList:
			bad("nested block %q has no nesting mode (NestingSingle or NestingList).", nb.TypeName)
		case nb.MaxItems > 0 && nb.MinItems > nb.MaxItems:
			bad("nested block %q has MinItems %d > MaxItems %d.", nb.TypeName, nb.MinItems, nb.MaxItems)
		}
		seen[nb.TypeName] = true
		checkBlock(diags, where+" block "+nb.TypeName, nb.Block)
	}
}
