// Command testplugin is the provider plugin pluginhost's tests run. It is
// built once per test run and copied under several names; the name after
// "escalator-provider-" selects its behaviour:
//
//	future   speaks only protocol version 2 (no common version)
//	liar     says it is provider "someone-else"
//	old      reports version 0.0.1
//	anything else: a small well-behaved provider, version 1.2.3
//
// Faults are chosen per call, so tests can share one binary and run in
// parallel: the provider block's crash_in / hang_in name a call
// (ReadInventory, PlanComponent, Configure), and an ExecuteAction on host
// "crash" or "hang" crashes or hangs. A hang ignores the context, as a
// broken plugin would; TESTPLUGIN_HANG=GetSchema hangs in Schema, for
// tests that run escalator itself. TESTPLUGIN_PIDFILE, when set, receives
// the pid.
// TESTPLUGIN_DEBUG=1 serves in debug mode (sdk.WithDebug), printing the
// ESCALATOR_REATTACH_PROVIDERS line on stdout.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "escalator-provider-")
	if f := os.Getenv("TESTPLUGIN_PIDFILE"); f != "" {
		_ = os.WriteFile(f, []byte(fmt.Sprint(os.Getpid())), 0o644)
	}
	if name == "future" {
		serveFuture()
		return
	}
	p := &provider{name: name, version: "1.2.3"}
	switch name {
	case "liar":
		p.name = "someone-else"
	case "old":
		p.version = "0.0.1"
	}
	if os.Getenv("TESTPLUGIN_DEBUG") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		sdk.Serve(p, sdk.WithDebug(ctx, nil))
		return
	}
	sdk.Serve(p)
}

// serveFuture serves a provider that only speaks protocol version 2.
func serveFuture() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: pluginproto.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			2: {pluginproto.PluginName: futurePlugin{}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}

type futurePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (futurePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterProviderServer(s, pluginv1.UnimplementedProviderServer{})
	return nil
}

func (futurePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

type provider struct {
	name, version string
	crashIn       string
	hangIn        string
}

func (p *provider) Metadata(_ context.Context, _ sdk.MetadataRequest, resp *sdk.MetadataResponse) {
	resp.Name, resp.Version = p.name, p.version
}

func (p *provider) Schema(_ context.Context, _ sdk.SchemaRequest, resp *sdk.SchemaResponse) {
	if os.Getenv("TESTPLUGIN_HANG") == "GetSchema" {
		select {}
	}
	resp.Provider = sdk.Block{
		Description: "A test provider.",
		Attributes: []sdk.Attribute{
			{Name: "crash_in", Type: cty.String, Description: "A call to crash in."},
			{Name: "hang_in", Type: cty.String, Description: "A call to hang in."},
			{Name: "zones", Type: cty.List(cty.String), Description: "Zones; each must start with az."},
			{Name: "token", Type: cty.String, Sensitive: true},
		},
		Blocks: []sdk.NestedBlock{{
			TypeName: "limits",
			Nesting:  sdk.NestingSingle,
			Block: sdk.Block{Attributes: []sdk.Attribute{
				{Name: "vcpus", Type: cty.Number, Required: true},
			}},
		}},
	}
	resp.Component = sdk.Block{Attributes: []sdk.Attribute{
		{Name: "packages", Type: cty.List(cty.String)},
	}}
	resp.HostAttributes = []sdk.HostAttribute{{Name: "kernel", Description: "Running kernel."}}
	resp.Actions = []sdk.ActionKind{sdk.ActionEnterMaintenance, sdk.ActionUpgrade, sdk.ActionProbe}
	resp.Probes = []sdk.Probe{{Name: "ping", Description: "Pings the host."}}
}

func (p *provider) fault(call string) {
	if p.crashIn == call {
		crash("testplugin: crashing in " + call + " on purpose")
	}
	if p.hangIn == call {
		fmt.Fprintf(os.Stderr, "testplugin: hanging in %s on purpose\n", call)
		select {}
	}
}

// crash panics on a goroutine of its own, which nothing can recover: the
// runtime prints the panic on the process's standard error and exits with
// status 2, as a real provider bug would.
func crash(msg string) {
	go panic(msg)
	select {}
}

func (p *provider) Configure(_ context.Context, req sdk.ConfigureRequest, resp *sdk.ConfigureResponse) {
	if v := req.Config.GetAttr("crash_in"); !v.IsNull() {
		p.crashIn = v.AsString()
	}
	if v := req.Config.GetAttr("hang_in"); !v.IsNull() {
		p.hangIn = v.AsString()
	}
	if zones := req.Config.GetAttr("zones"); !zones.IsNull() {
		for i, z := range zones.AsValueSlice() {
			if !strings.HasPrefix(z.AsString(), "az") {
				resp.Diagnostics.AddAttributeError(cty.GetAttrPath("zones").IndexInt(i),
					"Invalid zone", fmt.Sprintf("%q does not start with az.", z.AsString()))
			}
		}
	}
	resp.Capabilities = []string{"test-capability"}
	p.fault("Configure")
}

func (p *provider) ReadInventory(_ context.Context, _ sdk.ReadInventoryRequest, resp *sdk.ReadInventoryResponse) {
	p.fault("ReadInventory")
	resp.Hosts = []sdk.Host{
		{Name: "c1", Role: "compute", AvailabilityZone: "az1", State: sdk.HostUp,
			Capacity: sdk.Resources{VCPUs: 8, MemoryMB: 16384}, Versions: map[string]string{"nova": "26.0.0"}},
		{Name: "c2", Role: "compute", AvailabilityZone: "az2", State: sdk.HostMaintenance, StateReason: "run 7"},
	}
	resp.Instances = []sdk.Instance{{ID: "i-1", Name: "vm1", Host: "c1", Status: "ACTIVE", ServerGroup: "g-1", LiveMigratable: true}}
	resp.ServerGroups = []sdk.ServerGroup{{ID: "g-1", Name: "g", Policy: "anti-affinity", Members: []string{"i-1"}}}
	resp.VNFManagers = []sdk.VNFManager{{Name: "vnfm", Project: "p", URL: "http://vnfm"}}
	resp.Diagnostics.AddWarning("Host c3 skipped", "It did not answer.")
}

func (p *provider) PlanComponent(_ context.Context, req sdk.PlanComponentRequest, resp *sdk.PlanComponentResponse) {
	p.fault("PlanComponent")
	if req.ToVersion < req.FromVersion {
		resp.Refused, resp.RefusalReason = true, "downgrade"
		return
	}
	if !req.Settings.IsNull() && req.Settings.Type().IsObjectType() && req.Settings.Type().HasAttribute("packages") {
		pk := req.Settings.GetAttr("packages")
		for i, v := range pk.AsValueSlice() {
			if v.AsString() == "" {
				resp.Diagnostics.AddAttributeError(cty.GetAttrPath("packages").IndexInt(i), "Empty package name", "")
			}
		}
	}
	resp.Disruption = sdk.DisruptionHost
	resp.ExpectedDuration = 90 * time.Second
}

func (p *provider) ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	switch req.Host {
	case "crash":
		resp.Progress("about to crash", 0.1)
		crash("testplugin: crashing in ExecuteAction on purpose")
	case "hang":
		resp.Progress("about to hang", 0.1)
		select {}
	case "slow":
		resp.Progress("waiting", 0.5)
		<-ctx.Done()
		return
	case "fail":
		resp.Diagnostics.AddError("Upgrade failed", "The package manager said no.")
		return
	}
	resp.Progress("half way", 0.5)
	resp.Progress("done", 1)
	resp.Outputs = map[string]string{"host": req.Host, "kind": req.Kind.String()}
}
