package diags

import (
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Provider plugins report problems about a value they were given (a
// provider block's configuration, a component's settings) as a cty.Path into
// that value, because a plugin never sees HCL. The functions here turn such
// a path back into the range of source an operator has to edit, in the
// manner of Terraform's tfdiags.AttributeValue: the deepest piece of syntax
// the path reaches, else the closest range that encloses where the value
// would be.

// RangeForPath returns the source range of the value at path inside body, a
// block body such as a provider block's:
//
//   - an attribute: the range of its value expression;
//   - a nested block: its definition range (type and labels), or, with an
//     index step (net[1]), that block of the type among its siblings;
//   - a step into a list, tuple or object constructor expression
//     (packages[2], limits.memory): the element's value expression, as
//     RangeForExprPath finds it;
//   - a missing attribute or block: the body's MissingItemRange, where HCL
//     itself reports missing arguments; a step the syntax can't follow (into
//     a variable reference or a function call): the range of that
//     expression.
//
// It returns nil when body is nil or path is empty, so that the caller keeps
// the range it already has (usually the block's).
func RangeForPath(body hcl.Body, path cty.Path) *hcl.Range {
	if body == nil || len(path) == 0 {
		return nil
	}
	name, ok := stepName(path[0])
	if !ok {
		// A body is an object; an integer index into it makes no sense.
		return body.MissingItemRange().Ptr()
	}
	rest := path[1:]

	// PartialContent is used rather than hclsyntax's own structures so that
	// JSON bodies work too; its diagnostics only say that other things are
	// in the body, which is expected here.
	content, _, _ := body.PartialContent(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: name}},
	})
	if content != nil {
		if attr, ok := content.Attributes[name]; ok && attr != nil {
			if r := RangeForExprPath(attr.Expr, rest); r != nil {
				return r
			}
			return attr.Expr.Range().Ptr()
		}
	}

	content, _, _ = body.PartialContent(&hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: name}},
	})
	var blocks hcl.Blocks
	if content != nil {
		blocks = content.Blocks.OfType(name)
	}
	if len(blocks) == 0 {
		return body.MissingItemRange().Ptr()
	}
	block := blocks[0]
	if len(rest) > 0 {
		if i, ok := stepIndex(rest[0]); ok {
			// A list of blocks: pick the i-th; a missing one is reported at
			// the last block of the type, the nearest thing that exists.
			if i < 0 || i >= len(blocks) {
				return blocks[len(blocks)-1].DefRange.Ptr()
			}
			block = blocks[i]
			rest = rest[1:]
		}
	}
	if len(rest) == 0 {
		return block.DefRange.Ptr()
	}
	if r := RangeForPath(block.Body, rest); r != nil {
		if isMissingItem(block.Body, *r) {
			// Missing inside a nested block: its header says more than a
			// zero-width range at its brace.
			return block.DefRange.Ptr()
		}
		return r
	}
	return block.DefRange.Ptr()
}

// RangeForExprPath returns the source range of the value at path inside the
// value of expr, such as a component's `settings = { … }`: for each step into
// an object constructor ({ a = … }) the item's value expression, into a
// tuple constructor ([…]) the element's, through parentheses. Where the
// syntax stops (a reference, a function call, a missing key, an index past
// the end) it returns the range of the expression reached so far. It
// returns nil only when expr is nil.
func RangeForExprPath(expr hcl.Expression, path cty.Path) *hcl.Range {
	if expr == nil {
		return nil
	}
	for _, step := range path {
		next := exprStep(expr, step)
		if next == nil {
			break
		}
		expr = next
	}
	return expr.Range().Ptr()
}

// exprStep returns the sub-expression of expr that step selects, or nil
// when the syntax does not show it.
func exprStep(expr hcl.Expression, step cty.PathStep) hcl.Expression {
	for {
		p, ok := expr.(*hclsyntax.ParenthesesExpr)
		if !ok {
			break
		}
		expr = p.Expression
	}
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		key, ok := stepName(step)
		if !ok {
			return nil
		}
		// The last item with the key wins, as it does when HCL builds
		// the object.
		var found hcl.Expression
		for _, item := range e.Items {
			k, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || !k.IsKnown() || k.IsNull() || k.Type() != cty.String {
				continue
			}
			if k.AsString() == key {
				found = item.ValueExpr
			}
		}
		return found
	case *hclsyntax.TupleConsExpr:
		i, ok := stepIndex(step)
		if !ok || i < 0 || i >= len(e.Exprs) {
			return nil
		}
		return e.Exprs[i]
	}
	return nil
}

// stepName returns the attribute name or string key a step selects.
func stepName(step cty.PathStep) (string, bool) {
	switch s := step.(type) {
	case cty.GetAttrStep:
		return s.Name, true
	case cty.IndexStep:
		if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
			return s.Key.AsString(), true
		}
	}
	return "", false
}

// stepIndex returns the integer index a step selects.
func stepIndex(step cty.PathStep) (int, bool) {
	s, ok := step.(cty.IndexStep)
	if !ok || s.Key.Type() != cty.Number || !s.Key.IsKnown() || s.Key.IsNull() {
		return 0, false
	}
	bf := s.Key.AsBigFloat()
	if !bf.IsInt() {
		return 0, false
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i > int64(^uint(0)>>1) {
		return 0, false
	}
	return int(i), true
}

func isMissingItem(body hcl.Body, r hcl.Range) bool {
	return r == body.MissingItemRange()
}
