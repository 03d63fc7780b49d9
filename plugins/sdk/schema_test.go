package sdk

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// The gRPC tests in server_test.go cover the diagnostics operators see;
// these cover the values providers get in the less common shapes.
func TestConformBlockShapes(t *testing.T) {
	block := Block{
		Attributes: []Attribute{{Name: "any", Type: cty.DynamicPseudoType}},
		Blocks: []NestedBlock{
			{TypeName: "rule", Nesting: NestingList, Block: Block{Attributes: []Attribute{{Name: "v", Type: cty.DynamicPseudoType}}}},
			{TypeName: "opt", Nesting: NestingSingle, Block: Block{Attributes: []Attribute{{Name: "n", Type: cty.Number}}}},
			{TypeName: "tag", Nesting: NestingList, Block: Block{Attributes: []Attribute{{Name: "k", Type: cty.String}}}},
		},
	}
	tests := map[string]struct {
		in   cty.Value
		want cty.Value
	}{
		"empty": {
			in: cty.EmptyObjectVal,
			want: cty.ObjectVal(map[string]cty.Value{
				"any":  cty.NullVal(cty.DynamicPseudoType),
				"rule": cty.EmptyTupleVal,
				"opt":  cty.NullVal(cty.Object(map[string]cty.Type{"n": cty.Number})),
				"tag":  cty.ListValEmpty(cty.Object(map[string]cty.Type{"k": cty.String})),
			}),
		},
		"dynamic values of differing types in a list block": {
			in: cty.ObjectVal(map[string]cty.Value{
				"any": cty.StringVal("x"),
				"rule": cty.TupleVal([]cty.Value{
					cty.ObjectVal(map[string]cty.Value{"v": cty.StringVal("a")}),
					cty.ObjectVal(map[string]cty.Value{"v": cty.NumberIntVal(1)}),
				}),
				"opt": cty.MapVal(map[string]cty.Value{"n": cty.StringVal("3")}),
				"tag": cty.SetVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"k": cty.StringVal("a")})}),
			}),
			want: cty.ObjectVal(map[string]cty.Value{
				"any": cty.StringVal("x"),
				"rule": cty.TupleVal([]cty.Value{
					cty.ObjectVal(map[string]cty.Value{"v": cty.StringVal("a")}),
					cty.ObjectVal(map[string]cty.Value{"v": cty.NumberIntVal(1)}),
				}),
				"opt": cty.ObjectVal(map[string]cty.Value{"n": cty.NumberIntVal(3)}),
				"tag": cty.ListVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"k": cty.StringVal("a")})}),
			}),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, diags := conformBlock(block, tc.in, nil)
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			if !got.RawEquals(tc.want) {
				t.Fatalf("got\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

func TestConformBlockNestedPathsDoNotAlias(t *testing.T) {
	// Each diagnostic's path must be its own, even when built from a
	// shared prefix with spare capacity.
	prefix := make(cty.Path, 0, 8)
	prefix = append(prefix, cty.GetAttrStep{Name: "outer"})
	b := Block{Attributes: []Attribute{
		{Name: "a", Type: cty.String, Required: true},
		{Name: "b", Type: cty.String, Required: true},
	}}
	_, diags := conformBlock(b, cty.EmptyObjectVal, prefix)
	if len(diags) != 2 || !diags[0].Attribute.Equals(cty.GetAttrPath("outer").GetAttr("a")) || !diags[1].Attribute.Equals(cty.GetAttrPath("outer").GetAttr("b")) {
		t.Fatalf("paths: %#v", diags)
	}
}

func TestSuggest(t *testing.T) {
	known := map[string]bool{"endpoint": true, "port": true, "region": true}
	for in, want := range map[string]string{
		"prot":     `"port"`,
		"Endpont":  `"endpoint"`,
		"zone":     "",
		"regions":  `"region"`,
		"password": "",
	} {
		got := suggest(in, known)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("suggest(%q) = %q, want %s", in, got, want)
		}
	}
}

func TestCheckSchema(t *testing.T) {
	resp := &SchemaResponse{
		Actions: []ActionKind{ActionUpgrade, ActionKind(42)},
		Probes:  []Probe{{Name: "p"}, {Name: "p"}, {}},
		Component: Block{Blocks: []NestedBlock{
			{TypeName: "x", Nesting: NestingList, MinItems: 3, MaxItems: 1},
		}},
	}
	var all []string
	for _, d := range checkSchema(resp) {
		all = append(all, d.Detail)
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"Action kind 42", `Probe "p" is declared twice`, "A probe has no name", "MinItems 3 > MaxItems 1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no diagnostic mentions %q:\n%s", want, joined)
		}
	}
	if ds := checkSchema(&SchemaResponse{}); len(ds) != 0 {
		t.Errorf("empty schema: %v", ds)
	}
}
