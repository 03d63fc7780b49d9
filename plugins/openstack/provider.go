// Package openstack is the openstack provider: it reads the inventory of
// an OpenStack cloud from Nova and Placement and carries out the
// OpenStack side of a host's maintenance — disabling its nova-compute
// service with a reason that names the run, live- or cold-migrating its
// instances to the hosts the plan chose, and enabling it again — through
// gophercloud v2, with the SDK only, as a third-party plugin would.
//
// It does not install software: components are upgraded by a host
// provider (hostos, or sim in tests) on the same hosts, and PlanComponent
// refuses components given to this provider. See
// website/docs/providers/openstack.md.
package openstack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Name and Version of the provider, as escalator init records them.
const (
	Name    = "openstack"
	Version = "0.1.0"
)

// Provider is the openstack provider. Create it with New.
type Provider struct {
	mu    sync.Mutex
	cloud *cloud

	// getenv reads the OS_* environment; tests replace it.
	getenv func(string) string
	// sleep replaces the waits of the connected cloud (tests).
	sleep func(ctx context.Context, d time.Duration) error
}

var (
	_ sdk.ProviderWithValidateConfig = (*Provider)(nil)
	_ sdk.ProviderWithPlanComponent  = (*Provider)(nil)
)

// New returns an unconfigured provider.
func New() *Provider {
	return &Provider{getenv: os.Getenv}
}

// Metadata names the provider.
func (p *Provider) Metadata(_ context.Context, _ sdk.MetadataRequest, resp *sdk.MetadataResponse) {
	resp.Name, resp.Version = Name, Version
}

// actions are the action kinds the provider performs.
var actions = []sdk.ActionKind{
	sdk.ActionEnterMaintenance,
	sdk.ActionLeaveMaintenance,
	sdk.ActionMigrate,
	sdk.ActionVerify,
	sdk.ActionProbe,
}

// Schema describes the provider block, the host attributes, the actions
// and the probe. It does not contact the cloud.
func (p *Provider) Schema(_ context.Context, _ sdk.SchemaRequest, resp *sdk.SchemaResponse) {
	resp.Provider = providerSchema()
	resp.Component = sdk.Block{Description: "The openstack provider installs no software: give components to a host provider (hostos)."}
	resp.HostAttributes = hostAttributes
	resp.Actions = actions
	resp.Probes = []sdk.Probe{{
		Name:        ProbeComputeServiceUp,
		Description: "The host's nova-compute service is up (it may be disabled or in maintenance), as Nova's os-services reports it.",
	}}
}

// ValidateConfig checks the provider block without contacting the cloud.
func (p *Provider) ValidateConfig(_ context.Context, req sdk.ValidateConfigRequest, resp *sdk.ValidateConfigResponse) {
	_, resp.Diagnostics = DecodeConfig(req.Config)
}

// Configure resolves the credentials, authenticates, and reads the API
// versions, so that a wrong password or a missing endpoint is reported
// now rather than in the middle of an apply.
func (p *Provider) Configure(ctx context.Context, req sdk.ConfigureRequest, resp *sdk.ConfigureResponse) {
	cfg, diags := DecodeConfig(req.Config)
	resp.Diagnostics = diags
	if diags.HasErrors() {
		return
	}
	conn, err := resolveConnection(cfg, p.getenv)
	if err != nil {
		resp.Diagnostics.Errorf("Cannot resolve the OpenStack credentials", "%v.", err)
		return
	}
	for _, w := range conn.Warnings {
		resp.Diagnostics.AddWarning("Insecure OpenStack connection", w)
	}
	c, warnings, err := connect(ctx, cfg, conn)
	if err != nil {
		resp.Diagnostics.Errorf("Cannot connect to OpenStack", "%v.", err)
		return
	}
	for _, w := range warnings {
		resp.Diagnostics.AddWarning("Incomplete OpenStack catalog", w)
	}
	if p.sleep != nil {
		c.sleep = p.sleep
	}
	slog.InfoContext(ctx, "connected to OpenStack", "auth_url", conn.Auth.IdentityEndpoint, "identity", conn.who(), "credentials_from", conn.Source,
		"region", conn.Endpoint.Region, "compute_microversion", c.compute.Microversion, "compute_max", c.computeMax, "placement", c.placement != nil)
	p.mu.Lock()
	p.cloud = c
	p.mu.Unlock()
}

func (p *Provider) configured(diags *sdk.Diagnostics) *cloud {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cloud == nil {
		diags.AddError("Provider not configured", "The openstack provider was called before Configure succeeded; this is a bug in the caller.")
	}
	return p.cloud
}

// ReadInventory reports compute hosts (one per nova-compute service),
// controller hosts, the servers of every project and the server groups.
func (p *Provider) ReadInventory(ctx context.Context, _ sdk.ReadInventoryRequest, resp *sdk.ReadInventoryResponse) {
	c := p.configured(&resp.Diagnostics)
	if c == nil {
		return
	}
	inv, warnings, err := c.inventory(ctx)
	if err != nil {
		resp.Diagnostics.Errorf("Cannot read the OpenStack inventory", "%v.", err)
		return
	}
	resp.Hosts, resp.Instances, resp.ServerGroups = inv.Hosts, inv.Instances, inv.ServerGroups
	for _, w := range warnings {
		resp.Diagnostics.AddWarning("OpenStack inventory", w)
	}
}

// PlanComponent refuses every component: this provider changes no
// software, so a component given to it could never be upgraded.
func (p *Provider) PlanComponent(_ context.Context, req sdk.PlanComponentRequest, resp *sdk.PlanComponentResponse) {
	resp.Refused = true
	resp.RefusalReason = fmt.Sprintf("the openstack provider installs no software, so it can't change %s on %s: give the component to a host provider (hostos) on the same hosts; the openstack provider puts those hosts in maintenance and moves their instances", req.Component, req.Host)
}

// ExecuteAction performs one action; every action starts from what the
// cloud says now, so one sent again after a crash finishes or confirms
// the earlier attempt.
func (p *Provider) ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	c := p.configured(&resp.Diagnostics)
	if c == nil {
		return
	}
	if err := ctx.Err(); err != nil {
		resp.Diagnostics.Errorf("openstack: "+req.Kind.String()+" not started", "The call was already over (%v) when it arrived; nothing was changed.", err)
		return
	}
	if req.Host == "" && req.Kind != sdk.ActionMigrate {
		resp.Diagnostics.Errorf("openstack: "+req.Kind.String()+" failed", "No host given; this is a bug in the plan.")
		return
	}
	var err error
	switch req.Kind {
	case sdk.ActionEnterMaintenance:
		err = c.enterMaintenance(ctx, req, resp)
	case sdk.ActionLeaveMaintenance:
		err = c.leaveMaintenance(ctx, req, resp)
	case sdk.ActionMigrate:
		err = c.migrate(ctx, req, resp)
	case sdk.ActionVerify:
		err = c.verify(ctx, req, resp)
	case sdk.ActionProbe:
		err = c.probe(ctx, req, resp)
	default:
		err = fmt.Errorf("the openstack provider does not perform %s actions", req.Kind)
	}
	if err != nil {
		slog.WarnContext(ctx, "action failed", "action", req.Kind.String(), "host", req.Host, "instance", req.Instance, "error", err.Error())
		resp.Diagnostics.Errorf("openstack: "+req.Kind.String()+" failed", "%s.", c.conn.redact(err.Error()))
	}
}
