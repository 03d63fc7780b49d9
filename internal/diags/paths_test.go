package diags

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// rangeText returns the source text r covers, or "<nil>".
func rangeText(src string, r *hcl.Range) string {
	if r == nil {
		return "<nil>"
	}
	return src[r.Start.Byte:r.End.Byte]
}

const providerSrc = `provider "sim" {
  cloud      = "cloud.json"
  time_scale = 0.5
  limits = {
    vcpus  = 4
    "memory-mb" = 8192
    nested = { deep = [10, 20, (30)] }
  }
  zones = ["az1", "az2"]
  hosts = var.hosts

  fault {
    action = "upgrade"
    mode   = "crash"
  }
  fault {
    action = "migrate"
  }
  auth {
    user = "admin"
  }
}
`

func TestRangeForPath(t *testing.T) {
	f, ds := hclsyntax.ParseConfig([]byte(providerSrc), "main.hcl", hcl.InitialPos)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	block := f.Body.(*hclsyntax.Body).Blocks[0]
	body := hcl.Body(block.Body)
	braceAt := block.Body.MissingItemRange()

	tests := map[string]struct {
		path cty.Path
		want string
		// line is checked when want is empty (zero-width ranges).
		line int
	}{
		"attribute":                      {cty.GetAttrPath("cloud"), `"cloud.json"`, 0},
		"number attribute":               {cty.GetAttrPath("time_scale"), `0.5`, 0},
		"object item":                    {cty.GetAttrPath("limits").GetAttr("vcpus"), `4`, 0},
		"object item by index step":      {cty.GetAttrPath("limits").Index(cty.StringVal("vcpus")), `4`, 0},
		"quoted object key":              {cty.GetAttrPath("limits").GetAttr("memory-mb"), `8192`, 0},
		"deep into tuple in object":      {cty.GetAttrPath("limits").GetAttr("nested").GetAttr("deep").IndexInt(1), `20`, 0},
		"through parentheses":            {cty.GetAttrPath("limits").GetAttr("nested").GetAttr("deep").IndexInt(2), `(30)`, 0},
		"tuple element":                  {cty.GetAttrPath("zones").IndexInt(1), `"az2"`, 0},
		"tuple index past the end":       {cty.GetAttrPath("zones").IndexInt(5), `["az1", "az2"]`, 0},
		"missing object key":             {cty.GetAttrPath("limits").GetAttr("disk"), "{\n    vcpus  = 4\n    \"memory-mb\" = 8192\n    nested = { deep = [10, 20, (30)] }\n  }", 0},
		"into a reference":               {cty.GetAttrPath("hosts").IndexInt(0).GetAttr("name"), `var.hosts`, 0},
		"nested block":                   {cty.GetAttrPath("auth"), `auth`, 0},
		"attribute in nested block":      {cty.GetAttrPath("auth").GetAttr("user"), `"admin"`, 0},
		"missing attribute in block":     {cty.GetAttrPath("auth").GetAttr("password"), `auth`, 0},
		"first of a list of blocks":      {cty.GetAttrPath("fault").IndexInt(0).GetAttr("mode"), `"crash"`, 0},
		"second of a list of blocks":     {cty.GetAttrPath("fault").IndexInt(1).GetAttr("action"), `"migrate"`, 0},
		"block list element":             {cty.GetAttrPath("fault").IndexInt(1), `fault`, 16},
		"block list index past the end":  {cty.GetAttrPath("fault").IndexInt(7), `fault`, 16},
		"missing attribute in 2nd block": {cty.GetAttrPath("fault").IndexInt(1).GetAttr("mode"), `fault`, 16},
		"missing top-level attribute":    {cty.GetAttrPath("password"), ``, braceAt.Start.Line},
		"integer step into the body":     {cty.IndexIntPath(0), ``, braceAt.Start.Line},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := RangeForPath(body, tt.path)
			if r == nil {
				t.Fatal("nil range")
			}
			if got := rangeText(providerSrc, r); got != tt.want {
				t.Errorf("range covers %q, want %q", got, tt.want)
			}
			if tt.line != 0 && r.Start.Line != tt.line {
				t.Errorf("range starts on line %d, want %d", r.Start.Line, tt.line)
			}
			if r.Filename != "main.hcl" {
				t.Errorf("filename %q", r.Filename)
			}
		})
	}

	if r := RangeForPath(body, nil); r != nil {
		t.Errorf("empty path: got %v, want nil", r)
	}
	if r := RangeForPath(nil, cty.GetAttrPath("x")); r != nil {
		t.Errorf("nil body: got %v, want nil", r)
	}
}

func TestRangeForPathJSON(t *testing.T) {
	src := `{"cloud": "cloud.json", "limits": {"vcpus": 4}}`
	f, ds := json.Parse([]byte(src), "main.hcl.json")
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	// JSON has no object constructor syntax to walk: the attribute's value
	// is as deep as it goes.
	if got := rangeText(src, RangeForPath(f.Body, cty.GetAttrPath("cloud"))); got != `"cloud.json"` {
		t.Errorf("cloud: %q", got)
	}
	if got := rangeText(src, RangeForPath(f.Body, cty.GetAttrPath("limits").GetAttr("vcpus"))); got != `{"vcpus": 4}` {
		t.Errorf("limits.vcpus: %q", got)
	}
}

func TestRangeForExprPath(t *testing.T) {
	src := `settings = {
  packages = ["nova-compute", "nova-common"]
  repo     = { url = "http://mirror", priority = 5 }
  hold     = true
  computed = upper("x")
  dup      = 1
  dup      = 2
}
`
	f, ds := hclsyntax.ParseConfig([]byte(src), "c.hcl", hcl.InitialPos)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	expr := f.Body.(*hclsyntax.Body).Attributes["settings"].Expr
	whole := rangeText(src, expr.Range().Ptr())

	tests := map[string]struct {
		path cty.Path
		want string
	}{
		"empty path":           {nil, whole},
		"item":                 {cty.GetAttrPath("hold"), `true`},
		"list element":         {cty.GetAttrPath("packages").IndexInt(1), `"nova-common"`},
		"nested object":        {cty.GetAttrPath("repo").GetAttr("priority"), `5`},
		"map-style index":      {cty.IndexStringPath("repo").Index(cty.StringVal("url")), `"http://mirror"`},
		"into a function call": {cty.GetAttrPath("computed").IndexInt(0), `upper("x")`},
		"missing key":          {cty.GetAttrPath("nope"), whole},
		"integer into object":  {cty.IndexIntPath(0), whole},
		"name into a tuple":    {cty.GetAttrPath("packages").GetAttr("x"), `["nova-compute", "nova-common"]`},
		"negative index":       {cty.GetAttrPath("packages").IndexInt(-1), `["nova-compute", "nova-common"]`},
		"fractional index":     {cty.GetAttrPath("packages").Index(cty.NumberFloatVal(0.5)), `["nova-compute", "nova-common"]`},
		"duplicate key, last":  {cty.GetAttrPath("dup"), `2`},
		"unknown index key":    {cty.GetAttrPath("packages").Index(cty.UnknownVal(cty.Number)), `["nova-compute", "nova-common"]`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := rangeText(src, RangeForExprPath(expr, tt.path)); got != tt.want {
				t.Errorf("range covers %q, want %q", got, tt.want)
			}
		})
	}
	if RangeForExprPath(nil, cty.GetAttrPath("x")) != nil {
		t.Error("nil expression: want nil")
	}
}

// TestRangeForPathInDiagnostic shows the intended use: a plugin's complaint
// about packages[1] is rendered at that element.
func TestRangeForPathInDiagnostic(t *testing.T) {
	src := "component \"nova\" {\n  settings = {\n    packages = [\"a\", 42]\n  }\n}\n"
	f, ds := hclsyntax.ParseConfig([]byte(src), "c.hcl", hcl.InitialPos)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	body := f.Body.(*hclsyntax.Body).Blocks[0].Body
	d := Errorf(RangeForPath(body, cty.GetAttrPath("settings").GetAttr("packages").IndexInt(1)),
		"Invalid package name", "A package name is a string.")
	var b strings.Builder
	if err := WriteAllText(&b, Diagnostics{d}, Files{"c.hcl": &hcl.File{Bytes: []byte(src)}}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "c.hcl:3:22") {
		t.Errorf("diagnostic not at c.hcl:3:22:\n%s", b.String())
	}
}
