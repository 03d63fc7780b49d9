package pluginproto

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"

	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// This file converts between cty values, types and paths and their wire
// forms. Both ends of the protocol use it (the SDK in the plugin, pluginhost
// in escalator), so that what one side encodes the other decodes the same
// way.
//
// Values travel as MessagePack encoded against cty.DynamicPseudoType: the
// encoding then carries the value's type, so the receiver needs no schema to
// decode it (schemas change between plugin versions; a value must still be
// readable, if only to report that it does not conform).

// EncodeValue encodes v for the wire. Marks (such as sensitivity) are
// dropped first: they are escalator's bookkeeping, and the plugin needs the
// real value. cty.NilVal encodes as null.
//
// Unknown values are refused: escalator only calls a plugin with values it
// has fully evaluated, so an unknown value is a bug on the sending side and
// is reported with the path of the first one found.
func EncodeValue(v cty.Value) (*pluginv1.DynamicValue, error) {
	if v == cty.NilVal {
		v = cty.NullVal(cty.DynamicPseudoType)
	}
	v, _ = v.UnmarkDeep()
	if err := refuseUnknown(v); err != nil {
		return nil, fmt.Errorf("encoding value: %w", err)
	}
	b, err := ctymsgpack.Marshal(v, cty.DynamicPseudoType)
	if err != nil {
		return nil, fmt.Errorf("encoding value of type %s: %w", typeString(v.Type()), pathErr(err))
	}
	return &pluginv1.DynamicValue{Msgpack: b}, nil
}

// DecodeValue decodes a value encoded by EncodeValue. A missing value (nil,
// or empty bytes: an unset field) is a null of unknown type, the natural
// reading of "nothing was sent". Unknown values are refused, as in
// EncodeValue.
func DecodeValue(dv *pluginv1.DynamicValue) (cty.Value, error) {
	if dv == nil || len(dv.GetMsgpack()) == 0 {
		return cty.NullVal(cty.DynamicPseudoType), nil
	}
	v, err := ctymsgpack.Unmarshal(dv.GetMsgpack(), cty.DynamicPseudoType)
	if err != nil {
		return cty.NilVal, fmt.Errorf("decoding value: %w", pathErr(err))
	}
	if err := refuseUnknown(v); err != nil {
		return cty.NilVal, fmt.Errorf("decoding value: %w", err)
	}
	return v, nil
}

// EncodeType encodes a type constraint in cty's JSON type encoding, such as
// "string" or ["list","string"]: the form schemas carry, readable by any
// implementation of the protocol, not only Go ones.
func EncodeType(t cty.Type) ([]byte, error) {
	if t == cty.NilType {
		return nil, errors.New("encoding type: no type given")
	}
	b, err := ctyjson.MarshalType(t)
	if err != nil {
		return nil, fmt.Errorf("encoding type %s: %w", typeString(t), err)
	}
	return b, nil
}

// DecodeType decodes a type encoded by EncodeType.
func DecodeType(b []byte) (cty.Type, error) {
	if len(b) == 0 {
		return cty.NilType, errors.New("decoding type: empty type")
	}
	t, err := ctyjson.UnmarshalType(b)
	if err != nil {
		return cty.NilType, fmt.Errorf("decoding type %q: %w", truncate(string(b), 80), err)
	}
	return t, nil
}

// EncodePath encodes an attribute path, or returns nil for an empty one
// (a diagnostic about the whole configuration).
//
// A path can only point at attributes, map keys and list indexes; set
// elements and non-integer indexes have no wire form. The path is cut
// before the first such step, so that it still points at the nearest value
// that encloses the one meant, rather than nowhere.
func EncodePath(p cty.Path) *pluginv1.AttributePath {
	var steps []*pluginv1.AttributePath_Step
	for _, s := range p {
		step := encodeStep(s)
		if step == nil {
			break
		}
		steps = append(steps, step)
	}
	if len(steps) == 0 {
		return nil
	}
	return &pluginv1.AttributePath{Steps: steps}
}

func encodeStep(s cty.PathStep) *pluginv1.AttributePath_Step {
	switch s := s.(type) {
	case cty.GetAttrStep:
		return &pluginv1.AttributePath_Step{Selector: &pluginv1.AttributePath_Step_AttributeName{AttributeName: s.Name}}
	case cty.IndexStep:
		k := s.Key
		if k.IsMarked() {
			k, _ = k.Unmark()
		}
		if !k.IsKnown() || k.IsNull() {
			return nil
		}
		switch k.Type() {
		case cty.String:
			return &pluginv1.AttributePath_Step{Selector: &pluginv1.AttributePath_Step_ElementKeyString{ElementKeyString: k.AsString()}}
		case cty.Number:
			i, acc := k.AsBigFloat().Int64()
			if acc != big.Exact {
				return nil
			}
			return &pluginv1.AttributePath_Step{Selector: &pluginv1.AttributePath_Step_ElementKeyInt{ElementKeyInt: i}}
		}
	}
	return nil
}

// DecodePath decodes an attribute path; nil for nil or empty. Steps with no
// selector (from a newer peer using a kind of step this version does not
// know) end the path, as in EncodePath.
func DecodePath(ap *pluginv1.AttributePath) cty.Path {
	var p cty.Path
	for _, s := range ap.GetSteps() {
		switch sel := s.GetSelector().(type) {
		case *pluginv1.AttributePath_Step_AttributeName:
			p = append(p, cty.GetAttrStep{Name: sel.AttributeName})
		case *pluginv1.AttributePath_Step_ElementKeyString:
			p = append(p, cty.IndexStep{Key: cty.StringVal(sel.ElementKeyString)})
		case *pluginv1.AttributePath_Step_ElementKeyInt:
			p = append(p, cty.IndexStep{Key: cty.NumberIntVal(sel.ElementKeyInt)})
		default:
			return p
		}
	}
	return p
}

// refuseUnknown returns an error naming the first unknown value in v.
func refuseUnknown(v cty.Value) error {
	if v.IsWhollyKnown() {
		return nil
	}
	var at cty.Path
	_ = cty.Walk(v, func(p cty.Path, v cty.Value) (bool, error) {
		if at != nil {
			return false, nil
		}
		if !v.IsKnown() {
			at = p.Copy()
			if at == nil {
				at = cty.Path{}
			}
			return false, nil
		}
		return true, nil
	})
	return fmt.Errorf("unknown value at %s: a plugin only ever exchanges known values", FormatPath(at))
}

// pathErr adds the path of a cty.PathError to its message, which cty
// leaves out.
func pathErr(err error) error {
	var pe cty.PathError
	if errors.As(err, &pe) && len(pe.Path) > 0 {
		return fmt.Errorf("at %s: %w", FormatPath(pe.Path), err)
	}
	return err
}

// FormatPath renders a path for messages in the form an operator would type
// it in HCL: packages["nova"].versions[0]. The empty path renders as "the
// root value".
func FormatPath(p cty.Path) string {
	if len(p) == 0 {
		return "the root value"
	}
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case cty.GetAttrStep:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Name)
		case cty.IndexStep:
			k, _ := s.Key.Unmark()
			switch {
			case !k.IsKnown() || k.IsNull():
				b.WriteString("[?]")
			case k.Type() == cty.String:
				fmt.Fprintf(&b, "[%q]", k.AsString())
			case k.Type() == cty.Number:
				fmt.Fprintf(&b, "[%s]", k.AsBigFloat().Text('f', -1))
			default:
				b.WriteString("[?]")
			}
		}
	}
	return b.String()
}

func typeString(t cty.Type) string {
	if t == cty.NilType {
		return "(none)"
	}
	return t.FriendlyName()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
