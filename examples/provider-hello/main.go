// Command escalator-provider-hello is a complete, minimal escalator
// provider plugin. Its "cloud" lives in memory: two compute hosts in two
// availability zones, one instance on each, and a component named "hello"
// installed at version 1.0.0. It can put a host in maintenance and take it
// out again, upgrade "hello", and verify it.
//
// Build it with
//
//	go build -o escalator-provider-hello .
//
// and see website/docs/plugins/README.md, which walks through this file.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func main() {
	sdk.Serve(&provider{})
}

// provider implements sdk.Provider, and sdk.ProviderWithValidateConfig for
// checks its schema can't express. escalator may call its methods
// concurrently, so the state is guarded by a mutex.
type provider struct {
	mu       sync.Mutex
	greeting string
	hosts    map[string]*sdk.Host
}

// Metadata names the provider: the name is the one in required_providers
// and in the executable's name, escalator-provider-hello.
func (p *provider) Metadata(_ context.Context, _ sdk.MetadataRequest, resp *sdk.MetadataResponse) {
	resp.Name = "hello"
	resp.Version = "0.1.0"
}

// Schema describes the provider block and the actions supported. The SDK
// checks every configuration against it before Configure sees it.
func (p *provider) Schema(_ context.Context, _ sdk.SchemaRequest, resp *sdk.SchemaResponse) {
	resp.Provider = sdk.Block{
		Description: "A pretend cloud held in memory, for learning to write providers.",
		Attributes: []sdk.Attribute{{
			Name:        "greeting",
			Type:        cty.String,
			Description: `Logged by every action; "hello" if unset.`,
		}},
	}
	resp.Actions = []sdk.ActionKind{
		sdk.ActionEnterMaintenance,
		sdk.ActionLeaveMaintenance,
		sdk.ActionUpgrade,
		sdk.ActionVerify,
	}
}

// ValidateConfig checks what the schema can't: here, that a greeting, if
// set, is not empty. The attribute path lets escalator point at the line.
func (p *provider) ValidateConfig(_ context.Context, req sdk.ValidateConfigRequest, resp *sdk.ValidateConfigResponse) {
	if g := req.Config.GetAttr("greeting"); !g.IsNull() && g.AsString() == "" {
		resp.Diagnostics.AddAttributeError(cty.GetAttrPath("greeting"),
			"Empty greeting", `Set greeting to some text, or leave it out to use "hello".`)
	}
}

// Configure receives the provider block, already checked against the
// schema: every attribute is present, null when unset.
func (p *provider) Configure(_ context.Context, req sdk.ConfigureRequest, _ *sdk.ConfigureResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.greeting = "hello"
	if g := req.Config.GetAttr("greeting"); !g.IsNull() {
		p.greeting = g.AsString()
	}
	if p.hosts == nil {
		p.hosts = map[string]*sdk.Host{
			"hello-1": newHost("hello-1", "zone-a"),
			"hello-2": newHost("hello-2", "zone-b"),
		}
	}
}

func newHost(name, zone string) *sdk.Host {
	return &sdk.Host{
		Name:             name,
		Role:             "compute",
		AvailabilityZone: zone,
		Capacity:         sdk.Resources{VCPUs: 16, MemoryMB: 32768, DiskGB: 200},
		Used:             sdk.Resources{VCPUs: 2, MemoryMB: 4096, DiskGB: 20},
		State:            sdk.HostUp,
		Versions:         map[string]string{"hello": "1.0.0"},
	}
}

// ReadInventory reports the cloud as it is now. The SDK sends the response
// after this method returns, so it gets copies, not maps that a concurrent
// action could change.
func (p *provider) ReadInventory(_ context.Context, _ sdk.ReadInventoryRequest, resp *sdk.ReadInventoryResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range []string{"hello-1", "hello-2"} {
		h := *p.hosts[name]
		h.Versions = maps.Clone(h.Versions)
		resp.Hosts = append(resp.Hosts, h)
		resp.Instances = append(resp.Instances, sdk.Instance{
			ID:             "vm-on-" + name,
			Name:           "web-" + name,
			Host:           name,
			Resources:      sdk.Resources{VCPUs: 2, MemoryMB: 4096, DiskGB: 20},
			Status:         "ACTIVE",
			Project:        "demo",
			LiveMigratable: true,
		})
	}
}

// ExecuteAction performs one action. Actions are idempotent: escalator
// may send the same step again after a crash, so an action that finds its
// work already done reports success.
func (p *provider) ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	p.mu.Lock()
	h, ok := p.hosts[req.Host]
	greeting := p.greeting
	p.mu.Unlock()
	if !ok {
		resp.Diagnostics.Errorf("Unknown host", "There is no host %q in the hello cloud.", req.Host)
		return
	}
	slog.InfoContext(ctx, greeting, "action", req.Kind.String(), "host", req.Host)

	switch req.Kind {
	case sdk.ActionEnterMaintenance:
		p.setState(h, sdk.HostMaintenance, req.Reason)
	case sdk.ActionLeaveMaintenance:
		p.setState(h, sdk.HostUp, "")
	case sdk.ActionUpgrade:
		p.upgrade(ctx, h, req, resp)
	case sdk.ActionVerify:
		p.verify(h, req, resp)
	}
}

func (p *provider) setState(h *sdk.Host, state sdk.HostState, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h.State, h.StateReason = state, reason
}

// upgrade pretends to install a new version in three steps, reporting
// progress and stopping as soon as escalator cancels.
func (p *provider) upgrade(ctx context.Context, h *sdk.Host, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	p.mu.Lock()
	installed := h.Versions[req.Component]
	p.mu.Unlock()
	switch installed {
	case req.ToVersion:
		resp.Progress("already at "+req.ToVersion, 1)
		return
	case req.FromVersion:
	default:
		resp.Diagnostics.Errorf("Unexpected version",
			"%s on %s is at version %q, not %q as planned; plan again.", req.Component, req.Host, installed, req.FromVersion)
		return
	}

	steps := []string{"downloading", "installing", "restarting"}
	for i, step := range steps {
		resp.Progress(fmt.Sprintf("%s %s %s", step, req.Component, req.ToVersion), float64(i)/float64(len(steps)))
		select {
		case <-ctx.Done():
			resp.Diagnostics.Errorf("Upgrade interrupted", "Stopped while %s: %v.", step, ctx.Err())
			return
		case <-time.After(100 * time.Millisecond):
		}
	}

	p.mu.Lock()
	h.Versions[req.Component] = req.ToVersion
	p.mu.Unlock()
	resp.Progress("done", 1)
}

// verify checks that the component runs at the version expected, and
// reports the version found as an output.
func (p *provider) verify(h *sdk.Host, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	p.mu.Lock()
	installed, state := h.Versions[req.Component], h.State
	p.mu.Unlock()
	switch {
	case installed == "":
		resp.Diagnostics.Errorf("Component not installed", "%s is not installed on %s.", req.Component, req.Host)
	case req.ToVersion != "" && installed != req.ToVersion:
		resp.Diagnostics.Errorf("Wrong version", "%s on %s is at %s, expected %s.", req.Component, req.Host, installed, req.ToVersion)
	case state == sdk.HostDown:
		resp.Diagnostics.Errorf("Host down", "%s is down.", req.Host)
	default:
		resp.Outputs = map[string]string{"version": installed}
	}
}
