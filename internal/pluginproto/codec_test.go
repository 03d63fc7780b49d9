package pluginproto

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"

	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

func TestValueRoundTrip(t *testing.T) {
	tests := map[string]cty.Value{
		"string":         cty.StringVal("hello"),
		"empty string":   cty.StringVal(""),
		"unicode":        cty.StringVal("héllo, 世界"),
		"int":            cty.NumberIntVal(42),
		"negative":       cty.NumberIntVal(-7),
		"float":          cty.NumberFloatVal(1.5),
		"big":            cty.MustParseNumberVal("123456789012345678901234567890"),
		"bool":           cty.True,
		"null string":    cty.NullVal(cty.String),
		"null dynamic":   cty.NullVal(cty.DynamicPseudoType),
		"null object":    cty.NullVal(cty.Object(map[string]cty.Type{"a": cty.String})),
		"list":           cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
		"empty list":     cty.ListValEmpty(cty.Number),
		"list with null": cty.ListVal([]cty.Value{cty.StringVal("a"), cty.NullVal(cty.String)}),
		"set":            cty.SetVal([]cty.Value{cty.NumberIntVal(1), cty.NumberIntVal(2)}),
		"map":            cty.MapVal(map[string]cty.Value{"nova": cty.StringVal("29.0.0"), "ovs": cty.StringVal("3.1")}),
		"empty map":      cty.MapValEmpty(cty.String),
		"tuple":          cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.NumberIntVal(1), cty.False}),
		"object": cty.ObjectVal(map[string]cty.Value{
			"name":     cty.StringVal("compute-1"),
			"vcpus":    cty.NumberIntVal(64),
			"enabled":  cty.True,
			"optional": cty.NullVal(cty.String),
			"packages": cty.MapVal(map[string]cty.Value{"nova": cty.StringVal("29.0.0")}),
			"blocks": cty.ListVal([]cty.Value{
				cty.ObjectVal(map[string]cty.Value{"n": cty.NumberIntVal(1)}),
				cty.ObjectVal(map[string]cty.Value{"n": cty.NumberIntVal(2)}),
			}),
		}),
		"empty object": cty.EmptyObjectVal,
		"dynamic inside object": cty.ObjectVal(map[string]cty.Value{
			"any": cty.TupleVal([]cty.Value{cty.StringVal("x")}),
		}),
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			dv, err := EncodeValue(v)
			if err != nil {
				t.Fatalf("EncodeValue: %v", err)
			}
			got, err := DecodeValue(dv)
			if err != nil {
				t.Fatalf("DecodeValue: %v", err)
			}
			if !got.RawEquals(v) {
				t.Fatalf("round trip changed the value:\n got %#v\nwant %#v", got, v)
			}
		})
	}
}

func TestEncodeValueNilAndMarks(t *testing.T) {
	dv, err := EncodeValue(cty.NilVal)
	if err != nil {
		t.Fatalf("EncodeValue(NilVal): %v", err)
	}
	got, err := DecodeValue(dv)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RawEquals(cty.NullVal(cty.DynamicPseudoType)) {
		t.Fatalf("NilVal decoded as %#v, want a dynamic null", got)
	}

	marked := cty.ObjectVal(map[string]cty.Value{
		"password": cty.StringVal("s3cret").Mark("sensitive"),
		"user":     cty.StringVal("admin"),
	}).Mark("sensitive")
	dv, err = EncodeValue(marked)
	if err != nil {
		t.Fatalf("EncodeValue(marked): %v", err)
	}
	got, err = DecodeValue(dv)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := marked.UnmarkDeep()
	if !got.RawEquals(want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestDecodeValueEmpty(t *testing.T) {
	for name, dv := range map[string]*pluginv1.DynamicValue{
		"nil":   nil,
		"empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeValue(dv)
			if err != nil {
				t.Fatal(err)
			}
			if !got.RawEquals(cty.NullVal(cty.DynamicPseudoType)) {
				t.Fatalf("got %#v, want a dynamic null", got)
			}
		})
	}
}

func TestUnknownValuesRefused(t *testing.T) {
	tests := map[string]struct {
		v    cty.Value
		want string
	}{
		"root": {cty.UnknownVal(cty.String), "unknown value at the root value"},
		"nested": {
			cty.ObjectVal(map[string]cty.Value{
				"packages": cty.MapVal(map[string]cty.Value{"nova": cty.UnknownVal(cty.String)}),
			}),
			`unknown value at packages["nova"]`,
		},
		"dynamic": {cty.DynamicVal, "unknown value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := EncodeValue(tc.v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("EncodeValue error = %v, want one containing %q", err, tc.want)
			}
		})
	}

	// A peer that does send an unknown (msgpack extension 0) is refused
	// on decoding too.
	b, err := ctymsgpack.Marshal(cty.UnknownVal(cty.String), cty.DynamicPseudoType)
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeValue(&pluginv1.DynamicValue{Msgpack: b})
	if err == nil || !strings.Contains(err.Error(), "unknown value") {
		t.Fatalf("DecodeValue of an unknown: error = %v, want an unknown value error", err)
	}
}

func TestDecodeValueGarbage(t *testing.T) {
	_, err := DecodeValue(&pluginv1.DynamicValue{Msgpack: []byte{0xff, 0x00, 0x13}})
	if err == nil || !strings.HasPrefix(err.Error(), "decoding value") {
		t.Fatalf("error = %v, want a decoding error", err)
	}
}

func TestTypeRoundTrip(t *testing.T) {
	tests := map[string]struct {
		t    cty.Type
		json string
	}{
		"string":  {cty.String, `"string"`},
		"number":  {cty.Number, `"number"`},
		"bool":    {cty.Bool, `"bool"`},
		"dynamic": {cty.DynamicPseudoType, `"dynamic"`},
		"list":    {cty.List(cty.String), `["list","string"]`},
		"map":     {cty.Map(cty.Number), `["map","number"]`},
		"set":     {cty.Set(cty.Bool), `["set","bool"]`},
		"object": {
			cty.Object(map[string]cty.Type{"a": cty.String, "b": cty.List(cty.Number)}),
			`["object",{"a":"string","b":["list","number"]}]`,
		},
		"optional attrs": {
			cty.ObjectWithOptionalAttrs(map[string]cty.Type{"a": cty.String, "b": cty.Number}, []string{"b"}),
			`["object",{"a":"string","b":"number"},["b"]]`,
		},
		"tuple": {cty.Tuple([]cty.Type{cty.String, cty.Bool}), `["tuple",["string","bool"]]`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := EncodeType(tc.t)
			if err != nil {
				t.Fatalf("EncodeType: %v", err)
			}
			if string(b) != tc.json {
				t.Errorf("EncodeType = %s, want %s", b, tc.json)
			}
			got, err := DecodeType(b)
			if err != nil {
				t.Fatalf("DecodeType: %v", err)
			}
			if !got.Equals(tc.t) {
				t.Fatalf("round trip: got %#v, want %#v", got, tc.t)
			}
		})
	}
}

func TestTypeErrors(t *testing.T) {
	if _, err := EncodeType(cty.NilType); err == nil {
		t.Error("EncodeType(NilType): no error")
	}
	for _, in := range []string{"", `"strin"`, `["list"]`, `{`} {
		if _, err := DecodeType([]byte(in)); err == nil {
			t.Errorf("DecodeType(%q): no error", in)
		}
	}
}

func TestPathRoundTrip(t *testing.T) {
	tests := map[string]cty.Path{
		"attribute": cty.GetAttrPath("greeting"),
		"nested": cty.GetAttrPath("packages").IndexString("nova").GetAttr("versions").IndexInt(2).
			GetAttr("pin"),
		"index first":  cty.IndexIntPath(0).GetAttr("name"),
		"negative int": cty.GetAttrPath("offsets").IndexInt(-1),
		"key with dot": cty.GetAttrPath("labels").IndexString("a.b"),
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			ap := EncodePath(p)
			if got := len(ap.GetSteps()); got != len(p) {
				t.Fatalf("encoded %d steps, want %d", got, len(p))
			}
			got := DecodePath(ap)
			if !got.Equals(p) {
				t.Fatalf("round trip: got %#v, want %#v", got, p)
			}
		})
	}
}

func TestEncodePathSteps(t *testing.T) {
	ap := EncodePath(cty.GetAttrPath("a").IndexString("k").IndexInt(3))
	steps := ap.GetSteps()
	if steps[0].GetAttributeName() != "a" || steps[1].GetElementKeyString() != "k" || steps[2].GetElementKeyInt() != 3 {
		t.Fatalf("steps = %v", steps)
	}
	if _, ok := steps[2].GetSelector().(*pluginv1.AttributePath_Step_ElementKeyInt); !ok {
		t.Fatalf("third step is %T, want an int key", steps[2].GetSelector())
	}
}

func TestEncodePathEdges(t *testing.T) {
	if EncodePath(nil) != nil || EncodePath(cty.Path{}) != nil {
		t.Error("empty path did not encode as nil")
	}
	if DecodePath(nil) != nil {
		t.Error("nil path did not decode as nil")
	}

	// Steps without a wire form cut the path there.
	cut := map[string]cty.Path{
		"fraction":   cty.GetAttrPath("a").Index(cty.NumberFloatVal(1.5)).GetAttr("b"),
		"set member": cty.GetAttrPath("a").Index(cty.True).GetAttr("b"),
		"unknown":    cty.GetAttrPath("a").Index(cty.UnknownVal(cty.String)),
	}
	for name, p := range cut {
		t.Run(name, func(t *testing.T) {
			got := DecodePath(EncodePath(p))
			if !got.Equals(cty.GetAttrPath("a")) {
				t.Fatalf("got %#v, want the path cut after the first step", got)
			}
		})
	}

	// A step from a newer peer (no selector this version knows) ends the
	// decoded path.
	ap := &pluginv1.AttributePath{Steps: []*pluginv1.AttributePath_Step{
		{Selector: &pluginv1.AttributePath_Step_AttributeName{AttributeName: "a"}},
		{},
		{Selector: &pluginv1.AttributePath_Step_AttributeName{AttributeName: "b"}},
	}}
	if got := DecodePath(ap); !got.Equals(cty.GetAttrPath("a")) {
		t.Fatalf("got %#v, want a", got)
	}
}

func TestFormatPath(t *testing.T) {
	tests := []struct {
		p    cty.Path
		want string
	}{
		{nil, "the root value"},
		{cty.GetAttrPath("greeting"), "greeting"},
		{cty.GetAttrPath("packages").IndexString("nova").GetAttr("pin"), `packages["nova"].pin`},
		{cty.GetAttrPath("hosts").IndexInt(3), "hosts[3]"},
		{cty.IndexIntPath(0).GetAttr("x"), "[0].x"},
	}
	for _, tc := range tests {
		if got := FormatPath(tc.p); got != tc.want {
			t.Errorf("FormatPath(%#v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
