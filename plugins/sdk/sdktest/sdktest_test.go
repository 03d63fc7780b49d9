package sdktest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
)

// cloud is a tiny provider, as a plugin author would test it.
type cloud struct {
	mu     sync.Mutex
	region string
	state  map[string]sdk.HostState
}

func (c *cloud) Metadata(_ context.Context, _ sdk.MetadataRequest, resp *sdk.MetadataResponse) {
	resp.Name, resp.Version = "cloud", "0.3.0"
}

func (c *cloud) Schema(_ context.Context, _ sdk.SchemaRequest, resp *sdk.SchemaResponse) {
	resp.Provider = sdk.Block{Attributes: []sdk.Attribute{
		{Name: "region", Type: cty.String, Required: true},
		{Name: "hosts", Type: cty.List(cty.String)},
	}}
	resp.Actions = []sdk.ActionKind{sdk.ActionEnterMaintenance, sdk.ActionUpgrade}
}

func (c *cloud) ValidateConfig(_ context.Context, req sdk.ValidateConfigRequest, resp *sdk.ValidateConfigResponse) {
	if hosts := req.Config.GetAttr("hosts"); !hosts.IsNull() {
		for i, h := range hosts.AsValueSlice() {
			if strings.TrimSpace(h.AsString()) == "" {
				resp.Diagnostics.AddAttributeError(cty.GetAttrPath("hosts").IndexInt(i), "Empty host name", "Name every host.")
			}
		}
	}
}

func (c *cloud) Configure(_ context.Context, req sdk.ConfigureRequest, resp *sdk.ConfigureResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.region = req.Config.GetAttr("region").AsString()
	c.state = map[string]sdk.HostState{"c1": sdk.HostUp, "c2": sdk.HostUp}
	resp.Capabilities = []string{"fast-inventory"}
}

func (c *cloud) ReadInventory(_ context.Context, _ sdk.ReadInventoryRequest, resp *sdk.ReadInventoryResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range []string{"c1", "c2"} {
		resp.Hosts = append(resp.Hosts, sdk.Host{Name: name, AvailabilityZone: c.region, State: c.state[name]})
	}
}

func (c *cloud) ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	switch req.Kind {
	case sdk.ActionEnterMaintenance:
		c.mu.Lock()
		c.state[req.Host] = sdk.HostMaintenance
		c.mu.Unlock()
		resp.Progress("disabled", 1)
	case sdk.ActionUpgrade:
		if req.Host == "slow" {
			resp.Progress("waiting for the package manager", -1)
			<-ctx.Done()
			return
		}
		resp.Progress("installing", 0.5)
		resp.Outputs = map[string]string{"version": req.ToVersion}
	}
}

func TestClient(t *testing.T) {
	c := sdktest.Start(t, &cloud{})
	ctx := t.Context()

	meta, diags := c.Metadata(ctx)
	if diags.HasErrors() || meta.Name != "cloud" || meta.Version != "0.3.0" {
		t.Fatalf("%+v %v", meta, diags)
	}

	schema, diags := c.Schema(ctx)
	if diags.HasErrors() || len(schema.Provider.Attributes) != 2 || !schema.Provider.Attributes[1].Type.Equals(cty.List(cty.String)) {
		t.Fatalf("%+v %v", schema, diags)
	}

	// The SDK checks configurations against the schema; the paths come
	// back as the provider (or the SDK) set them.
	diags = c.ValidateConfig(ctx, cty.ObjectVal(map[string]cty.Value{
		"hosts": cty.ListVal([]cty.Value{cty.StringVal("c1"), cty.StringVal(" ")}),
	}))
	got := map[string]string{}
	for _, d := range diags {
		got[d.Summary] = pathString(d.Attribute)
	}
	if diff := cmp.Diff(map[string]string{"Missing required argument": "region"}, got); diff != "" {
		t.Errorf("schema diagnostics (-want +got):\n%s", diff)
	}
	diags = c.ValidateConfig(ctx, cty.ObjectVal(map[string]cty.Value{
		"region": cty.StringVal("east"),
		"hosts":  cty.ListVal([]cty.Value{cty.StringVal("c1"), cty.StringVal(" ")}),
	}))
	if len(diags) != 1 || diags[0].Summary != "Empty host name" || diags[0].Detail != "Name every host." ||
		pathString(diags[0].Attribute) != "hosts[1]" || diags[0].Severity != sdk.Error {
		t.Errorf("got %#v", diags)
	}

	// Calls that need Configure are refused before it.
	if _, diags := c.ReadInventory(ctx); !diags.HasErrors() {
		t.Error("ReadInventory before Configure succeeded")
	}

	cresp, diags := c.Configure(ctx, cty.ObjectVal(map[string]cty.Value{"region": cty.StringVal("east")}))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if diff := cmp.Diff([]string{"fast-inventory"}, cresp.Capabilities); diff != "" {
		t.Errorf("capabilities (-want +got):\n%s", diff)
	}

	var progress []string
	resp, diags := c.Execute(ctx, sdk.ExecuteActionRequest{ID: "s1", Kind: sdk.ActionEnterMaintenance, Host: "c1"},
		func(msg string, _ float64) { progress = append(progress, msg) })
	if diags.HasErrors() || resp == nil {
		t.Fatal(diags)
	}
	if diff := cmp.Diff([]string{"disabled"}, progress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}

	inv, diags := c.ReadInventory(ctx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := []sdk.Host{{Name: "c1", AvailabilityZone: "east", State: sdk.HostMaintenance}, {Name: "c2", AvailabilityZone: "east", State: sdk.HostUp}}
	if diff := cmp.Diff(want, inv.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}

	resp, diags = c.Execute(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "c2", ToVersion: "2.0"}, nil)
	if diags.HasErrors() || resp.Outputs["version"] != "2.0" {
		t.Errorf("%+v %v", resp, diags)
	}

	// An action the schema does not declare is refused by the SDK.
	if _, diags := c.Execute(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionBackup, Host: "c1"}, nil); !diags.HasErrors() || diags[0].Summary != "Unsupported action" {
		t.Errorf("got %v", diags)
	}

	// A provider without PlanComponent answers with a zero response.
	plan, diags := c.PlanComponent(ctx, sdk.PlanComponentRequest{Component: "x", Host: "c1", FromVersion: "1", ToVersion: "2"})
	if diags.HasErrors() || plan.Refused || plan.Disruption != 0 {
		t.Errorf("%+v %v", plan, diags)
	}

	// The context's deadline reaches the provider.
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, diags := c.Execute(dctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "slow"}, nil); !diags.HasErrors() {
		t.Error("an action past its deadline succeeded")
	}

	if diags := c.Stop(ctx); diags.HasErrors() {
		t.Error(diags)
	}
	if !strings.Contains(c.String(), `"cloud"`) {
		t.Error(c.String())
	}

	c.Close()
	if _, diags := c.Metadata(ctx); !diags.HasErrors() {
		t.Error("a call after Close succeeded")
	}
}

func TestTwoClients(t *testing.T) {
	a := sdktest.Start(t, &cloud{})
	b := sdktest.Start(t, &cloud{})
	for _, c := range []*sdktest.Client{a, b} {
		if _, diags := c.Configure(t.Context(), cty.ObjectVal(map[string]cty.Value{"region": cty.StringVal("x")})); diags.HasErrors() {
			t.Fatal(diags)
		}
	}
	if _, diags := a.Execute(t.Context(), sdk.ExecuteActionRequest{Kind: sdk.ActionEnterMaintenance, Host: "c1"}, nil); diags.HasErrors() {
		t.Fatal(diags)
	}
	inv, _ := b.ReadInventory(t.Context())
	if inv.Hosts[0].State != sdk.HostUp {
		t.Error("the clients share a provider")
	}
}

// pathString renders a path such as hosts[1].
func pathString(p cty.Path) string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case cty.GetAttrStep:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Name)
		case cty.IndexStep:
			b.WriteString("[" + s.Key.AsBigFloat().String() + "]")
		}
	}
	return b.String()
}
