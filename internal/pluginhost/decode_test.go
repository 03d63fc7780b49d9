package pluginhost

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func TestDecodeConfig(t *testing.T) {
	schema := sdk.Block{
		Attributes: []sdk.Attribute{
			{Name: "url", Type: cty.String, Required: true},
			{Name: "port", Type: cty.Number},
			{Name: "password", Type: cty.String, Sensitive: true},
		},
		Blocks: []sdk.NestedBlock{
			{TypeName: "tls", Nesting: sdk.NestingSingle, Block: sdk.Block{Attributes: []sdk.Attribute{{Name: "ca", Type: cty.String}}}},
			{TypeName: "fault", Nesting: sdk.NestingList, MaxItems: 2, Block: sdk.Block{Attributes: []sdk.Attribute{
				{Name: "action", Type: cty.String, Required: true},
				{Name: "key", Type: cty.String, Sensitive: true},
			}}},
		},
	}
	evalCtx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"port": cty.StringVal("5000")}),
	}}

	t.Run("valid", func(t *testing.T) {
		body, _ := parseBlock(t, "provider \"x\" {\n  url = \"http://k\"\n  port = var.port\n  password = \"s3cret\"\n  fault {\n    action = \"upgrade\"\n    key = \"k\"\n  }\n}\n")
		v, ds := DecodeConfig(body, schema, evalCtx)
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		if got := v.GetAttr("port"); !got.RawEquals(cty.NumberIntVal(5000)) {
			t.Errorf("port %#v", got)
		}
		if !v.GetAttr("password").HasMark(config.SensitiveMark) || v.GetAttr("url").IsMarked() {
			t.Error("marks wrong on password/url")
		}
		if !v.GetAttr("tls").IsNull() {
			t.Error("tls not null")
		}
		f := v.GetAttr("fault").Index(cty.NumberIntVal(0))
		if !f.GetAttr("key").HasMark(config.SensitiveMark) || f.GetAttr("action").AsString() != "upgrade" {
			t.Errorf("fault %#v", f)
		}
	})

	t.Run("errors at their ranges", func(t *testing.T) {
		body, _ := parseBlock(t, "provider \"x\" {\n  port = \"many\"\n  colour = 1\n}\n")
		_, ds := DecodeConfig(body, schema, evalCtx)
		lines := map[string]int{}
		for _, d := range ds {
			if d.Subject != nil {
				lines[d.Summary] = d.Subject.Start.Line
			}
		}
		if lines["Unsupported argument"] != 3 || lines["Incorrect attribute value type"] != 2 || lines["Missing required argument"] == 0 {
			t.Errorf("got %v", ds.Err())
		}
	})
}
