package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

func TestNotConfiguredRefusal(t *testing.T) {
	called := false
	p := &testProvider{
		inventory: func(context.Context, ReadInventoryRequest, *ReadInventoryResponse) { called = true },
		execute:   func(context.Context, ExecuteActionRequest, *ExecuteActionResponse) { called = true },
		plan:      func(context.Context, PlanComponentRequest, *PlanComponentResponse) { called = true },
		configure: func(_ context.Context, _ ConfigureRequest, resp *ConfigureResponse) {
			resp.Diagnostics.AddError("bad credentials", "")
		},
	}
	c, _, _ := connect(t, p)
	ctx := context.Background()

	// What may come before Configure works.
	if _, err := c.GetMetadata(ctx, &pluginv1.GetMetadata_Request{}); err != nil {
		t.Fatalf("GetMetadata: %v", err)
	}
	if resp, err := c.GetSchema(ctx, &pluginv1.GetSchema_Request{}); err != nil || len(resp.GetDiagnostics()) > 0 {
		t.Fatalf("GetSchema: %v %v", err, resp.GetDiagnostics())
	}
	if resp, err := c.ValidateConfig(ctx, &pluginv1.ValidateConfig_Request{}); err != nil || len(resp.GetDiagnostics()) > 0 {
		t.Fatalf("ValidateConfig: %v %v", err, resp.GetDiagnostics())
	}

	check := func(t *testing.T) {
		t.Helper()
		inv, err := c.ReadInventory(ctx, &pluginv1.ReadInventory_Request{})
		if err != nil {
			t.Fatal(err)
		}
		item, err := inv.Recv()
		if err != nil {
			t.Fatal(err)
		}
		assertNotConfigured(t, "ReadInventory", item.GetDiagnostic())
		if _, err := inv.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("ReadInventory: more after the refusal: %v", err)
		}

		plan, err := c.PlanComponent(ctx, &pluginv1.PlanComponent_Request{})
		if err != nil {
			t.Fatal(err)
		}
		assertNotConfigured(t, "PlanComponent", plan.GetDiagnostics()[0])

		res := execute(ctx, t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_UPGRADE})
		if res.err != nil || res.order != "d" {
			t.Fatalf("ExecuteAction: events %q, err %v", res.order, res.err)
		}
		assertNotConfigured(t, "ExecuteAction", res.diags[0])
		if called {
			t.Fatal("the provider was called before a successful Configure")
		}
	}
	check(t)

	// A failed Configure does not count.
	resp, err := c.Configure(ctx, &pluginv1.Configure_Request{})
	if err != nil || len(resp.GetDiagnostics()) != 1 {
		t.Fatalf("Configure: %v %v", err, resp.GetDiagnostics())
	}
	check(t)
}

func assertNotConfigured(t *testing.T, rpc string, d *pluginv1.Diagnostic) {
	t.Helper()
	if d.GetSeverity() != pluginv1.Diagnostic_ERROR || d.GetSummary() != "provider not configured" || !strings.Contains(d.GetDetail(), rpc) {
		t.Fatalf("%s: got %v, want a \"provider not configured\" error", rpc, d)
	}
}

// configSchema exercises every kind of check Configure makes.
func configSchema(resp *SchemaResponse) {
	resp.Provider = Block{
		Attributes: []Attribute{
			{Name: "endpoint", Type: cty.String, Required: true},
			{Name: "port", Type: cty.Number},
			{Name: "insecure", Type: cty.Bool},
			{Name: "tags", Type: cty.List(cty.Number)},
			{Name: "labels", Type: cty.Map(cty.String)},
		},
		Blocks: []NestedBlock{
			{TypeName: "auth", Nesting: NestingSingle, MinItems: 1, Block: Block{Attributes: []Attribute{
				{Name: "user", Type: cty.String, Required: true},
				{Name: "password", Type: cty.String, Sensitive: true},
			}}},
			{TypeName: "region", Nesting: NestingList, MaxItems: 2, Block: Block{Attributes: []Attribute{
				{Name: "name", Type: cty.String, Required: true},
			}}},
		},
	}
}

func TestConfigureValidatesAgainstSchema(t *testing.T) {
	auth := cty.ObjectVal(map[string]cty.Value{"user": cty.StringVal("admin")})
	obj := func(m map[string]cty.Value) cty.Value {
		if _, ok := m["auth"]; !ok {
			m["auth"] = auth
		}
		return cty.ObjectVal(m)
	}
	type wantDiag struct {
		summary string
		path    cty.Path
		detail  string
	}
	tests := map[string]struct {
		config cty.Value
		want   []wantDiag
	}{
		"missing required": {
			config: obj(map[string]cty.Value{"port": cty.NumberIntVal(5000)}),
			want:   []wantDiag{{"Missing required argument", cty.GetAttrPath("endpoint"), `"endpoint" is required`}},
		},
		"required but null": {
			config: obj(map[string]cty.Value{"endpoint": cty.NullVal(cty.String)}),
			want:   []wantDiag{{"Missing required argument", cty.GetAttrPath("endpoint"), ""}},
		},
		"null config": {
			config: cty.NullVal(cty.DynamicPseudoType),
			want: []wantDiag{
				{"Missing required argument", cty.GetAttrPath("endpoint"), ""},
				{"Missing required block", cty.GetAttrPath("auth"), `"auth"`},
			},
		},
		"wrong type": {
			config: obj(map[string]cty.Value{"endpoint": cty.StringVal("x"), "port": cty.StringVal("http")}),
			want:   []wantDiag{{"Incorrect attribute value type", cty.GetAttrPath("port"), "a number is required"}},
		},
		"wrong element type": {
			config: obj(map[string]cty.Value{
				"endpoint": cty.StringVal("x"),
				"tags":     cty.TupleVal([]cty.Value{cty.NumberIntVal(1), cty.StringVal("two")}),
			}),
			want: []wantDiag{{"Incorrect attribute value type", cty.GetAttrPath("tags").IndexInt(1), ""}},
		},
		"wrong type in nested block": {
			config: obj(map[string]cty.Value{
				"endpoint": cty.StringVal("x"),
				"auth":     cty.ObjectVal(map[string]cty.Value{"user": cty.EmptyObjectVal}),
			}),
			want: []wantDiag{{"Incorrect attribute value type", cty.GetAttrPath("auth").GetAttr("user"), ""}},
		},
		"missing in list block": {
			config: obj(map[string]cty.Value{
				"endpoint": cty.StringVal("x"),
				"region": cty.TupleVal([]cty.Value{
					cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r1")}),
					cty.EmptyObjectVal,
				}),
			}),
			want: []wantDiag{{"Missing required argument", cty.GetAttrPath("region").IndexInt(1).GetAttr("name"), ""}},
		},
		"too many blocks": {
			config: obj(map[string]cty.Value{
				"endpoint": cty.StringVal("x"),
				"region": cty.ListVal([]cty.Value{
					cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r1")}),
					cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r2")}),
					cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r3")}),
				}),
			}),
			want: []wantDiag{{"Too many blocks", cty.GetAttrPath("region"), "No more than 2"}},
		},
		"unsupported argument": {
			config: obj(map[string]cty.Value{"endpoint": cty.StringVal("x"), "prot": cty.NumberIntVal(1)}),
			want:   []wantDiag{{"Unsupported argument", cty.GetAttrPath("prot"), `Did you mean "port"?`}},
		},
		"not an object": {
			config: cty.StringVal("nope"),
			want:   []wantDiag{{"Invalid configuration", nil, "got string"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			configured := false
			c, _, _ := connect(t, &testProvider{
				schema:    configSchema,
				configure: func(context.Context, ConfigureRequest, *ConfigureResponse) { configured = true },
			})
			for _, rpc := range []string{"ValidateConfig", "Configure"} {
				var got []*pluginv1.Diagnostic
				var err error
				if rpc == "Configure" {
					var resp *pluginv1.Configure_Response
					resp, err = c.Configure(context.Background(), &pluginv1.Configure_Request{Config: mustEncode(t, tc.config)})
					got = resp.GetDiagnostics()
				} else {
					var resp *pluginv1.ValidateConfig_Response
					resp, err = c.ValidateConfig(context.Background(), &pluginv1.ValidateConfig_Request{Config: mustEncode(t, tc.config)})
					got = resp.GetDiagnostics()
				}
				if err != nil {
					t.Fatalf("%s: %v", rpc, err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%s: got %d diagnostics, want %d: %v", rpc, len(got), len(tc.want), got)
				}
				for i, w := range tc.want {
					g := got[i]
					if g.GetSeverity() != pluginv1.Diagnostic_ERROR || g.GetSummary() != w.summary || !strings.Contains(g.GetDetail(), w.detail) {
						t.Errorf("%s: diagnostic %d = %v, want %q containing %q", rpc, i, g, w.summary, w.detail)
					}
					if gp := pluginproto.DecodePath(g.GetAttribute()); !gp.Equals(w.path) {
						t.Errorf("%s: diagnostic %d path = %s, want %s", rpc, i, pluginproto.FormatPath(gp), pluginproto.FormatPath(w.path))
					}
				}
			}
			if configured {
				t.Fatal("the provider's Configure ran despite schema errors")
			}
		})
	}
}

func TestConfigureConformsValue(t *testing.T) {
	var got ConfigureRequest
	c, _, _ := connect(t, &testProvider{
		schema: configSchema,
		configure: func(_ context.Context, req ConfigureRequest, resp *ConfigureResponse) {
			got = req
			resp.Capabilities = []string{"inventory.delta"}
			resp.Diagnostics.AddWarning("deprecated", "insecure is deprecated")
		},
	})
	config := cty.ObjectVal(map[string]cty.Value{
		"endpoint": cty.StringVal("https://keystone:5000/v3"),
		"port":     cty.StringVal("5000"), // convertible
		"tags":     cty.TupleVal([]cty.Value{cty.NumberIntVal(1), cty.StringVal("2")}),
		"auth":     cty.ObjectVal(map[string]cty.Value{"user": cty.StringVal("admin"), "password": cty.StringVal("s3cret").Mark("sensitive")}),
		"region":   cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r1")})}),
	})
	resp, err := c.Configure(context.Background(), &pluginv1.Configure_Request{
		Config:           mustEncode(t, config),
		EscalatorVersion: "0.3.0",
		Capabilities:     &pluginv1.Capabilities{Features: []string{"plan.refusal"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDiagnostics()) != 1 || resp.GetDiagnostics()[0].GetSeverity() != pluginv1.Diagnostic_WARNING {
		t.Fatalf("diagnostics = %v, want one warning", resp.GetDiagnostics())
	}
	if diff := cmp.Diff([]string{"inventory.delta"}, resp.GetCapabilities().GetFeatures()); diff != "" {
		t.Errorf("capabilities (-want +got):\n%s", diff)
	}
	want := cty.ObjectVal(map[string]cty.Value{
		"endpoint": cty.StringVal("https://keystone:5000/v3"),
		"port":     cty.NumberIntVal(5000),
		"insecure": cty.NullVal(cty.Bool),
		"tags":     cty.ListVal([]cty.Value{cty.NumberIntVal(1), cty.NumberIntVal(2)}),
		"labels":   cty.NullVal(cty.Map(cty.String)),
		"auth":     cty.ObjectVal(map[string]cty.Value{"user": cty.StringVal("admin"), "password": cty.StringVal("s3cret")}),
		"region":   cty.ListVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r1")})}),
	})
	if !got.Config.RawEquals(want) {
		t.Errorf("provider got config\n%#v\nwant\n%#v", got.Config, want)
	}
	if got.EscalatorVersion != "0.3.0" || !cmp.Equal(got.Capabilities, []string{"plan.refusal"}) {
		t.Errorf("provider got version %q, capabilities %v", got.EscalatorVersion, got.Capabilities)
	}
	// Now configured.
	if res := execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_VERIFY}); res.order != "c" {
		t.Fatalf("after Configure, ExecuteAction events = %q (%v)", res.order, res.diags)
	}
}

func TestValidateConfigExtension(t *testing.T) {
	validate := func(_ context.Context, req ValidateConfigRequest, resp *ValidateConfigResponse) {
		if req.Config.GetAttr("endpoint").AsString() == "http://insecure" {
			resp.Diagnostics.AddAttributeError(cty.GetAttrPath("endpoint"), "Plain HTTP", "Use https.")
		}
	}
	config := cty.ObjectVal(map[string]cty.Value{
		"endpoint": cty.StringVal("http://insecure"),
		"auth":     cty.ObjectVal(map[string]cty.Value{"user": cty.StringVal("u")}),
	})
	for name, p := range map[string]Provider{
		"with":    &testProvider{schema: configSchema, validate: validate},
		"without": plainProvider{&testProvider{schema: configSchema, validate: validate}},
	} {
		t.Run(name, func(t *testing.T) {
			c, _, _ := connect(t, p)
			resp, err := c.ValidateConfig(context.Background(), &pluginv1.ValidateConfig_Request{Config: mustEncode(t, config)})
			if err != nil {
				t.Fatal(err)
			}
			if name == "without" {
				if len(resp.GetDiagnostics()) != 0 {
					t.Fatalf("diagnostics = %v, want none", resp.GetDiagnostics())
				}
				return
			}
			want := []*pluginv1.Diagnostic{{
				Severity:  pluginv1.Diagnostic_ERROR,
				Summary:   "Plain HTTP",
				Detail:    "Use https.",
				Attribute: pluginproto.EncodePath(cty.GetAttrPath("endpoint")),
			}}
			if diff := cmp.Diff(want, resp.GetDiagnostics(), protocmp.Transform()); diff != "" {
				t.Fatalf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetSchema(t *testing.T) {
	c, _, _ := connect(t, &testProvider{schema: func(resp *SchemaResponse) {
		configSchema(resp)
		resp.Component = Block{Attributes: []Attribute{{Name: "packages", Type: cty.Map(cty.String), Description: "pins"}}}
		resp.HostAttributes = []HostAttribute{{Name: "kernel", Description: "running kernel"}}
	}})
	resp, err := c.GetSchema(context.Background(), &pluginv1.GetSchema_Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDiagnostics()) != 0 {
		t.Fatalf("diagnostics: %v", resp.GetDiagnostics())
	}
	attrs := resp.GetProvider().GetAttributes()
	if string(attrs[3].GetType()) != `["list","number"]` || attrs[0].GetName() != "endpoint" || !attrs[0].GetRequired() {
		t.Errorf("provider attributes = %v", attrs)
	}
	blocks := resp.GetProvider().GetBlocks()
	if blocks[0].GetNesting() != pluginv1.Schema_NestedBlock_SINGLE || blocks[1].GetNesting() != pluginv1.Schema_NestedBlock_LIST ||
		blocks[1].GetMaxItems() != 2 || !blocks[0].GetBlock().GetAttributes()[1].GetSensitive() {
		t.Errorf("provider blocks = %v", blocks)
	}
	if string(resp.GetComponent().GetAttributes()[0].GetType()) != `["map","string"]` {
		t.Errorf("component = %v", resp.GetComponent())
	}
	wantActions := []pluginv1.ActionKind{pluginv1.ActionKind_ENTER_MAINTENANCE, pluginv1.ActionKind_UPGRADE, pluginv1.ActionKind_VERIFY, pluginv1.ActionKind_PROBE}
	if !cmp.Equal(resp.GetActions(), wantActions) || resp.GetProbes()[0].GetName() != "ping" || resp.GetHostAttributes()[0].GetName() != "kernel" {
		t.Errorf("actions %v, probes %v, host attributes %v", resp.GetActions(), resp.GetProbes(), resp.GetHostAttributes())
	}
}

func TestGetSchemaInvalid(t *testing.T) {
	c, _, _ := connect(t, &testProvider{schema: func(resp *SchemaResponse) {
		resp.Provider = Block{
			Attributes: []Attribute{{Name: "a"}, {Name: "b", Type: cty.String}, {Name: "b", Type: cty.String}},
			Blocks:     []NestedBlock{{TypeName: "c"}},
		}
	}})
	resp, err := c.GetSchema(context.Background(), &pluginv1.GetSchema_Request{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range resp.GetDiagnostics() {
		got = append(got, d.GetDetail())
	}
	for _, want := range []string{`attribute "a" has no type`, `"b" is declared twice`, `nested block "c" has no nesting mode`} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("diagnostics %q do not mention %q", got, want)
		}
	}
	if resp.GetProvider() != nil {
		t.Error("an invalid schema was sent")
	}
	// Configure can't work against it either.
	cresp, err := c.Configure(context.Background(), &pluginv1.Configure_Request{})
	if err != nil || len(cresp.GetDiagnostics()) == 0 {
		t.Fatalf("Configure with an invalid schema: %v %v", err, cresp.GetDiagnostics())
	}
}

// TestReadInventoryStreamsLargeInventory sends an inventory several times
// gRPC's default 4 MiB message limit and checks every item arrives.
func TestReadInventoryStreamsLargeInventory(t *testing.T) {
	t.Parallel()
	hosts, perHost := 5000, 20
	if raceEnabled {
		perHost = 1
	}
	notes := strings.Repeat("n", 1024) // keeps the total over the limit with fewer instances
	p := &testProvider{inventory: func(_ context.Context, _ ReadInventoryRequest, resp *ReadInventoryResponse) {
		resp.Hosts = make([]Host, hosts)
		resp.Instances = make([]Instance, 0, hosts*perHost)
		for i := range resp.Hosts {
			name := fmt.Sprintf("compute-%05d", i)
			resp.Hosts[i] = Host{
				Name: name, Role: "compute", AvailabilityZone: fmt.Sprintf("az%d", i%3),
				Aggregates: []string{"ssd"}, Capacity: Resources{VCPUs: 64, MemoryMB: 262144, DiskGB: 2000},
				State: HostUp, Versions: map[string]string{"nova": "28.0.0", "qemu": "8.2"},
				Attributes: map[string]string{"kernel": "6.1.0-18", "notes": notes},
			}
			for j := 0; j < perHost; j++ {
				resp.Instances = append(resp.Instances, Instance{
					ID: fmt.Sprintf("%s-vm-%02d", name, j), Host: name, Status: "ACTIVE", Project: "vnf",
					Resources: Resources{VCPUs: 2, MemoryMB: 4096}, LiveMigratable: true,
				})
			}
		}
		resp.ServerGroups = []ServerGroup{{ID: "sg1", Policy: "anti-affinity", Members: []string{"compute-00000-vm-00", "compute-00001-vm-00"}}}
		resp.VNFManagers = []VNFManager{{Name: "vnfm", Project: "vnf", URL: "https://vnfm"}}
		resp.Diagnostics.AddWarning("slow API", "")
	}}
	c, _, _ := connect(t, p)
	configure(t, c)

	started := time.Now()
	stream, err := c.ReadInventory(context.Background(), &pluginv1.ReadInventory_Request{})
	if err != nil {
		t.Fatal(err)
	}
	var nHosts, nInstances, nGroups, nVNFMs, nDiags, size int
	seen := make(map[string]bool, hosts*perHost)
	for {
		item, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d hosts and %d instances: %v", nHosts, nInstances, err)
		}
		size += proto.Size(item)
		switch it := item.GetItem().(type) {
		case *pluginv1.ReadInventory_Item_Host:
			if nInstances > 0 {
				t.Fatal("host after instances")
			}
			if it.Host.GetVersions()["nova"] != "28.0.0" || it.Host.GetCapacity().GetVcpus() != 64 || it.Host.GetState() != pluginv1.HostState_UP {
				t.Fatalf("host arrived as %v", it.Host)
			}
			nHosts++
		case *pluginv1.ReadInventory_Item_Instance:
			seen[it.Instance.GetId()] = true
			nInstances++
		case *pluginv1.ReadInventory_Item_ServerGroup:
			nGroups++
		case *pluginv1.ReadInventory_Item_VnfManager:
			nVNFMs++
		case *pluginv1.ReadInventory_Item_Diagnostic:
			nDiags++
		}
	}
	if nHosts != hosts || nInstances != hosts*perHost || len(seen) != hosts*perHost || nGroups != 1 || nVNFMs != 1 || nDiags != 1 {
		t.Fatalf("received %d hosts, %d instances (%d distinct), %d groups, %d VNF managers, %d diagnostics",
			nHosts, nInstances, len(seen), nGroups, nVNFMs, nDiags)
	}
	if size < 4<<20 {
		t.Fatalf("the inventory was only %d bytes; the test must exceed gRPC's 4 MiB message limit", size)
	}
	t.Logf("streamed %d items, %d bytes, in %v", nHosts+nInstances+3, size, time.Since(started))
}

func TestReadInventoryHonoursCancellation(t *testing.T) {
	c, _, _ := connect(t, &testProvider{inventory: func(_ context.Context, _ ReadInventoryRequest, resp *ReadInventoryResponse) {
		resp.Hosts = make([]Host, 100000)
	}})
	configure(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.ReadInventory(ctx, &pluginv1.ReadInventory_Request{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	n := 10
	for {
		_, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.Canceled {
				t.Fatalf("error = %v, want Canceled", err)
			}
			break
		}
		n++
	}
	if n >= 100000 {
		t.Fatal("the whole inventory arrived despite cancellation")
	}
}

func TestExecuteActionProgressAndOutputs(t *testing.T) {
	var got ExecuteActionRequest
	p := &testProvider{
		schema: func(resp *SchemaResponse) {
			resp.Component = Block{Attributes: []Attribute{{Name: "packages", Type: cty.Map(cty.String)}}}
		},
		execute: func(_ context.Context, req ExecuteActionRequest, resp *ExecuteActionResponse) {
			got = req
			for i := 0; i < 5; i++ {
				resp.Progress(fmt.Sprintf("step %d", i), float64(i)/5)
			}
			resp.Progress("overshoot", 1.7)
			resp.Diagnostics.AddWarning("slow mirror", "")
			resp.Outputs = map[string]string{"backup_id": "b-42"}
		},
	}
	c, _, _ := connect(t, p)
	configure(t, c)
	settings := cty.ObjectVal(map[string]cty.Value{"packages": cty.MapVal(map[string]cty.Value{"nova": cty.StringVal("29.0.0")})})
	res := execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{
		Id: "step-7", Kind: pluginv1.ActionKind_UPGRADE, Host: "compute-1", Component: "nova",
		FromVersion: "28.0.0", ToVersion: "29.0.0", Settings: mustEncode(t, settings),
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.order != "ppppppdc" {
		t.Fatalf("events = %q, want 6 progress, the warning, completed", res.order)
	}
	for i := 0; i < 5; i++ {
		if res.progress[i].GetMessage() != fmt.Sprintf("step %d", i) || res.progress[i].GetFraction() != float64(i)/5 {
			t.Errorf("progress %d = %v", i, res.progress[i])
		}
	}
	if res.progress[5].GetFraction() != 1 {
		t.Errorf("fraction 1.7 arrived as %v, want clamped to 1", res.progress[5].GetFraction())
	}
	if res.completed.GetOutputs()["backup_id"] != "b-42" {
		t.Errorf("outputs = %v", res.completed.GetOutputs())
	}
	want := ExecuteActionRequest{
		ID: "step-7", Kind: ActionUpgrade, Host: "compute-1", Component: "nova",
		FromVersion: "28.0.0", ToVersion: "29.0.0", Settings: settings,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) })); diff != "" {
		t.Errorf("provider got (-want +got):\n%s", diff)
	}
}

func TestExecuteActionConcurrentProgress(t *testing.T) {
	const goroutines, each = 8, 50
	c, _, _ := connect(t, &testProvider{execute: func(_ context.Context, _ ExecuteActionRequest, resp *ExecuteActionResponse) {
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Go(func() {
				for i := 0; i < each; i++ {
					resp.Progress(fmt.Sprintf("g%d-%d", g, i), -1)
				}
			})
		}
		wg.Wait()
	}})
	configure(t, c)
	res := execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_VERIFY})
	if res.err != nil || len(res.progress) != goroutines*each || res.completed == nil {
		t.Fatalf("got %d progress events, completed %v, err %v", len(res.progress), res.completed, res.err)
	}
	// Each goroutine's own reports arrive in the order it made them.
	next := map[string]int{}
	for _, p := range res.progress {
		var g, i int
		fmt.Sscanf(p.GetMessage(), "g%d-%d", &g, &i)
		key := fmt.Sprint(g)
		if i != next[key] {
			t.Fatalf("goroutine %d: report %d arrived when %d was expected", g, i, next[key])
		}
		next[key]++
	}
}

func TestExecuteActionLateProgressDropped(t *testing.T) {
	late := make(chan struct{})
	c, _, logs := connect(t, &testProvider{execute: func(_ context.Context, _ ExecuteActionRequest, resp *ExecuteActionResponse) {
		resp.Progress("on time", 0.5)
		go func() {
			defer close(late)
			time.Sleep(20 * time.Millisecond)
			resp.Progress("too late", 1)
			resp.Progress("too late again", 1)
		}()
	}})
	configure(t, c)
	res := execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_VERIFY})
	if res.order != "pc" {
		t.Fatalf("events = %q", res.order)
	}
	<-late
	if n := strings.Count(logs.String(), "progress reported after ExecuteAction returned"); n != 1 {
		t.Fatalf("logged the late progress %d times, want once:\n%s", n, logs.String())
	}
}

func TestExecuteActionFailure(t *testing.T) {
	c, _, _ := connect(t, &testProvider{execute: func(_ context.Context, _ ExecuteActionRequest, resp *ExecuteActionResponse) {
		resp.Progress("starting", 0)
		resp.Diagnostics.AddAttributeError(cty.GetAttrPath("packages").IndexString("nova"), "No such version", "29.9 is not in the repository.")
		resp.Outputs = map[string]string{"ignored": "yes"}
	}})
	configure(t, c)
	res := execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_UPGRADE})
	if res.order != "pd" || res.completed != nil {
		t.Fatalf("events = %q, want progress then the error and no completion", res.order)
	}
	if p := pluginproto.DecodePath(res.diags[0].GetAttribute()); !p.Equals(cty.GetAttrPath("packages").IndexString("nova")) {
		t.Fatalf("path = %#v", p)
	}
}

func TestExecuteActionUnsupported(t *testing.T) {
	called := false
	c, _, _ := connect(t, &testProvider{execute: func(context.Context, ExecuteActionRequest, *ExecuteActionResponse) { called = true }})
	configure(t, c)
	for _, req := range []*pluginv1.ExecuteAction_Request{
		{Kind: pluginv1.ActionKind_MIGRATE},
		{Kind: pluginv1.ActionKind_ACTION_UNSPECIFIED},
		{Kind: pluginv1.ActionKind_PROBE, Probe: "nonesuch"},
	} {
		res := execute(context.Background(), t, c, req)
		if res.order != "d" || res.diags[0].GetSeverity() != pluginv1.Diagnostic_ERROR {
			t.Fatalf("%v: events %q %v", req, res.order, res.diags)
		}
	}
	if called {
		t.Fatal("the provider was asked for an action it does not declare")
	}
	if res := execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_PROBE, Probe: "ping"}); res.order != "c" {
		t.Fatalf("declared probe: events %q %v", res.order, res.diags)
	}
}

func TestExecuteActionClientCancels(t *testing.T) {
	sawDone := make(chan struct{})
	returned := make(chan struct{})
	c, _, _ := connect(t, &testProvider{execute: func(ctx context.Context, _ ExecuteActionRequest, resp *ExecuteActionResponse) {
		defer close(returned)
		resp.Progress("waiting", -1)
		select {
		case <-ctx.Done():
			close(sawDone)
		case <-time.After(10 * time.Second):
		}
	}})
	configure(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.ExecuteAction(ctx, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_UPGRADE})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := stream.Recv(); err != nil || ev.GetProgress() == nil {
		t.Fatalf("first event: %v %v", ev, err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("after cancel: %v, want Canceled", err)
	}
	for name, ch := range map[string]chan struct{}{"see ctx.Done": sawDone, "return": returned} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("the provider did not %s", name)
		}
	}
}

// fakeEventStream stands in for gRPC's stream where the test needs to
// control the context and see what is sent after the client is gone.
type fakeEventStream struct {
	ctx context.Context
	mu  sync.Mutex
	evs []*pluginv1.ExecuteAction_Event
}

func (f *fakeEventStream) Send(ev *pluginv1.ExecuteAction_Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evs = append(f.evs, ev)
	return nil
}
func (f *fakeEventStream) Context() context.Context     { return f.ctx }
func (f *fakeEventStream) SetHeader(metadata.MD) error  { return nil }
func (f *fakeEventStream) SendHeader(metadata.MD) error { return nil }
func (f *fakeEventStream) SetTrailer(metadata.MD)       {}
func (f *fakeEventStream) SendMsg(any) error            { return nil }
func (f *fakeEventStream) RecvMsg(any) error            { return nil }

func TestExecuteActionDeadlineReported(t *testing.T) {
	tests := map[string]struct {
		report      bool
		wantSummary string
	}{
		"provider silent":   {false, "Action deadline exceeded"},
		"provider reported": {true, "Upgrade interrupted"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(&testProvider{execute: func(ctx context.Context, _ ExecuteActionRequest, resp *ExecuteActionResponse) {
				<-ctx.Done()
				if tc.report {
					resp.Diagnostics.AddError("Upgrade interrupted", ctx.Err().Error())
				}
			}}, nil)
			srv.configured.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			fs := &fakeEventStream{ctx: ctx}
			if err := srv.ExecuteAction(&pluginv1.ExecuteAction_Request{Id: "s1", Kind: pluginv1.ActionKind_UPGRADE, Host: "h1"}, fs); err != nil {
				t.Fatal(err)
			}
			if len(fs.evs) != 1 {
				t.Fatalf("events = %v, want one diagnostic", fs.evs)
			}
			d := fs.evs[0].GetDiagnostic()
			if d.GetSummary() != tc.wantSummary || d.GetSeverity() != pluginv1.Diagnostic_ERROR {
				t.Fatalf("diagnostic = %v, want %q", d, tc.wantSummary)
			}
			if !tc.report && !strings.Contains(d.GetDetail(), "upgrade on host h1 (step s1)") {
				t.Errorf("detail %q does not name the action", d.GetDetail())
			}
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	boom := func() { panic("boom: nil map") }
	p := &testProvider{
		configure: func(_ context.Context, req ConfigureRequest, _ *ConfigureResponse) {
			if req.EscalatorVersion == "panic" {
				boom()
			}
		},
		inventory: func(_ context.Context, _ ReadInventoryRequest, resp *ReadInventoryResponse) {
			resp.Hosts = []Host{{Name: "half-built"}}
			boom()
		},
		execute: func(_ context.Context, req ExecuteActionRequest, resp *ExecuteActionResponse) {
			if req.Host == "bad" {
				hosts := map[string]*Host{}
				_ = hosts[req.Host].Name // a nil pointer dereference
			}
			resp.Outputs = map[string]string{"ok": "yes"}
		},
		plan: func(context.Context, PlanComponentRequest, *PlanComponentResponse) { boom() },
	}
	c, _, logs := connect(t, p)
	ctx := context.Background()

	cresp, err := c.Configure(ctx, &pluginv1.Configure_Request{EscalatorVersion: "panic"})
	if err != nil || len(cresp.GetDiagnostics()) != 1 || !strings.HasPrefix(cresp.GetDiagnostics()[0].GetSummary(), "provider panicked in Configure: boom") {
		t.Fatalf("Configure: %v %v", err, cresp.GetDiagnostics())
	}
	configure(t, c)

	res := execute(ctx, t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_UPGRADE, Host: "bad"})
	if res.order != "d" || !strings.HasPrefix(res.diags[0].GetSummary(), "provider panicked in ExecuteAction: runtime error: invalid memory address") {
		t.Fatalf("ExecuteAction: %q %v", res.order, res.diags)
	}
	if !strings.Contains(res.diags[0].GetDetail(), `provider "test" 1.2.3`) {
		t.Errorf("detail %q does not name the provider", res.diags[0].GetDetail())
	}

	stream, err := c.ReadInventory(ctx, &pluginv1.ReadInventory_Request{})
	if err != nil {
		t.Fatal(err)
	}
	item, err := stream.Recv()
	if err != nil || !strings.HasPrefix(item.GetDiagnostic().GetSummary(), "provider panicked in ReadInventory") {
		t.Fatalf("ReadInventory: %v %v (the half-built inventory must not be sent)", item, err)
	}

	presp, err := c.PlanComponent(ctx, &pluginv1.PlanComponent_Request{})
	if err != nil || !strings.HasPrefix(presp.GetDiagnostics()[0].GetSummary(), "provider panicked in PlanComponent") {
		t.Fatalf("PlanComponent: %v %v", err, presp)
	}

	// Still serving.
	if res := execute(ctx, t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_UPGRADE, Host: "good"}); res.order != "c" || res.completed.GetOutputs()["ok"] != "yes" {
		t.Fatalf("after the panics: %q %v", res.order, res.diags)
	}
	if log := logs.String(); !strings.Contains(log, "provider panicked") || !strings.Contains(log, "server_test.go") {
		t.Errorf("the log has no stack trace of the panic:\n%s", log)
	}
}

func TestMetadataPanic(t *testing.T) {
	c, _, _ := connect(t, &testProvider{metadata: func(*MetadataResponse) { panic("no metadata") }})
	_, err := c.GetMetadata(context.Background(), &pluginv1.GetMetadata_Request{})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "provider panicked in Metadata: no metadata") {
		t.Fatalf("err = %v", err)
	}
}

func TestGetMetadata(t *testing.T) {
	c, _, _ := connect(t, &testProvider{})
	resp, err := c.GetMetadata(context.Background(), &pluginv1.GetMetadata_Request{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetName() != "test" || resp.GetVersion() != "1.2.3" || resp.GetSdkVersion() == "" {
		t.Fatalf("metadata = %v", resp)
	}
}

func TestStop(t *testing.T) {
	started := make(chan struct{})
	var cause atomic.Value
	var stopCalls atomic.Int32
	p := &testProvider{
		execute: func(ctx context.Context, req ExecuteActionRequest, resp *ExecuteActionResponse) {
			if req.Host == "after" {
				if ctx.Err() != nil {
					resp.Diagnostics.AddError("born cancelled", "")
				}
				return
			}
			close(started)
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			// Returns without reporting: the SDK must say it was stopped.
		},
		stop: func(context.Context) error {
			stopCalls.Add(1)
			return errors.New("connection pool: 1 connection leaked")
		},
	}
	c, _, _ := connect(t, p)
	configure(t, c)

	done := make(chan actionResult)
	go func() {
		done <- execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_UPGRADE, Host: "h1"})
	}()
	<-started
	sresp, err := c.Stop(context.Background(), &pluginv1.Stop_Request{})
	if err != nil {
		t.Fatal(err)
	}
	if sresp.GetError() != "connection pool: 1 connection leaked" || stopCalls.Load() != 1 {
		t.Fatalf("Stop: error %q, provider Stop called %d times", sresp.GetError(), stopCalls.Load())
	}
	var res actionResult
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the action in flight did not end after Stop")
	}
	if res.order != "d" || res.diags[0].GetSummary() != "Action cancelled: escalator stopped the provider" {
		t.Fatalf("stopped action: %q %v", res.order, res.diags)
	}
	if got, _ := cause.Load().(error); !errors.Is(got, errStopped) {
		t.Fatalf("context cause = %v, want errStopped", got)
	}

	// Calls after Stop get a live context.
	if res := execute(context.Background(), t, c, &pluginv1.ExecuteAction_Request{Kind: pluginv1.ActionKind_UPGRADE, Host: "after"}); res.order != "c" {
		t.Fatalf("after Stop: %q %v", res.order, res.diags)
	}
}

func TestStopWithoutExtension(t *testing.T) {
	c, _, _ := connect(t, plainProvider{&testProvider{}})
	resp, err := c.Stop(context.Background(), &pluginv1.Stop_Request{})
	if err != nil || resp.GetError() != "" {
		t.Fatalf("Stop: %v %q", err, resp.GetError())
	}
}

func TestPlanComponent(t *testing.T) {
	var got PlanComponentRequest
	full := &testProvider{plan: func(_ context.Context, req PlanComponentRequest, resp *PlanComponentResponse) {
		got = req
		resp.Refused = req.ToVersion < req.FromVersion
		resp.RefusalReason = "downgrade"
		resp.Disruption = DisruptionHost
		resp.ExpectedDuration = 90 * time.Second
	}}
	settings := cty.ObjectVal(map[string]cty.Value{"kernel": cty.StringVal("6.1")})
	req := &pluginv1.PlanComponent_Request{Component: "kernel", Host: "c1", FromVersion: "2", ToVersion: "1", Settings: mustEncode(t, settings)}

	c, _, _ := connect(t, full)
	configure(t, c)
	resp, err := c.PlanComponent(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := &pluginv1.PlanComponent_Response{Refused: true, RefusalReason: "downgrade", Disruption: pluginv1.Disruption_HOST, ExpectedDurationMs: 90000}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if got.Component != "kernel" || got.Host != "c1" || got.FromVersion != "2" || got.ToVersion != "1" || !got.Settings.RawEquals(settings) {
		t.Errorf("provider got %#v", got)
	}

	// Without the extension: an empty answer, and escalator falls back to
	// the component's configured disruption.
	c, _, _ = connect(t, plainProvider{full})
	configure(t, c)
	resp, err = c.PlanComponent(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&pluginv1.PlanComponent_Response{}, resp, protocmp.Transform()); diff != "" {
		t.Errorf("without PlanComponent (-want +got):\n%s", diff)
	}
}

// The SDK's enums are cast to the protocol's; this pins their values.
func TestEnumsMatchProtocol(t *testing.T) {
	pairs := []struct {
		sdk, proto int32
		name       string
	}{
		{int32(ActionEnterMaintenance), int32(pluginv1.ActionKind_ENTER_MAINTENANCE), "enter_maintenance"},
		{int32(ActionLeaveMaintenance), int32(pluginv1.ActionKind_LEAVE_MAINTENANCE), "leave_maintenance"},
		{int32(ActionMigrate), int32(pluginv1.ActionKind_MIGRATE), "migrate"},
		{int32(ActionBackup), int32(pluginv1.ActionKind_BACKUP), "backup"},
		{int32(ActionUpgrade), int32(pluginv1.ActionKind_UPGRADE), "upgrade"},
		{int32(ActionVerify), int32(pluginv1.ActionKind_VERIFY), "verify"},
		{int32(ActionRollback), int32(pluginv1.ActionKind_ROLLBACK), "rollback"},
		{int32(ActionRestore), int32(pluginv1.ActionKind_RESTORE), "restore"},
		{int32(ActionProbe), int32(pluginv1.ActionKind_PROBE), "probe"},
		{int32(DisruptionNone), int32(pluginv1.Disruption_NONE), "none"},
		{int32(DisruptionService), int32(pluginv1.Disruption_SERVICE), "service"},
		{int32(DisruptionHost), int32(pluginv1.Disruption_HOST), "host"},
		{int32(HostUp), int32(pluginv1.HostState_UP), "up"},
		{int32(HostDown), int32(pluginv1.HostState_DOWN), "down"},
		{int32(HostDisabled), int32(pluginv1.HostState_DISABLED), "disabled"},
		{int32(HostMaintenance), int32(pluginv1.HostState_MAINTENANCE), "maintenance"},
		{int32(NestingSingle), int32(pluginv1.Schema_NestedBlock_SINGLE), "single"},
		{int32(NestingList), int32(pluginv1.Schema_NestedBlock_LIST), "list"},
	}
	for _, p := range pairs {
		if p.sdk != p.proto {
			t.Errorf("%s: SDK value %d, protocol value %d", p.name, p.sdk, p.proto)
		}
	}
	if len(actionNames) != len(pluginv1.ActionKind_name)-1 {
		t.Errorf("the SDK knows %d action kinds, the protocol %d", len(actionNames), len(pluginv1.ActionKind_name)-1)
	}
	if diagToProto(Diagnostic{Severity: Warning}).GetSeverity() != pluginv1.Diagnostic_WARNING ||
		diagToProto(Diagnostic{}).GetSeverity() != pluginv1.Diagnostic_ERROR {
		t.Error("severity mapping")
	}
}
