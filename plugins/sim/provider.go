package sim

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Name and Version of the provider, as escalator init records them.
const (
	Name    = "sim"
	Version = "0.1.0"
)

// ProbeComputeServiceUp is the one probe: the host's compute service is
// running (up, disabled or in maintenance; not down).
const ProbeComputeServiceUp = "compute_service_up"

var actionByName = map[string]sdk.ActionKind{}

func init() {
	for k := sdk.ActionEnterMaintenance; k <= sdk.ActionProbe; k++ {
		actionByName[k.String()] = k
	}
}

func actionNames() []string { return sortedKeys(actionByName) }

// Provider is the sim provider. Create it with New.
type Provider struct {
	mu    sync.Mutex
	cfg   *Config
	store *Store

	// exit ends the process on a crash fault; tests replace it.
	exit func(code int)
	// now is the clock of the event log and the records.
	now func() time.Time
}

var (
	_ sdk.ProviderWithValidateConfig = (*Provider)(nil)
	_ sdk.ProviderWithPlanComponent  = (*Provider)(nil)
)

// New returns an unconfigured sim provider.
func New() *Provider {
	return &Provider{exit: os.Exit, now: time.Now}
}

// Metadata names the provider.
func (p *Provider) Metadata(_ context.Context, _ sdk.MetadataRequest, resp *sdk.MetadataResponse) {
	resp.Name, resp.Version = Name, Version
}

// Schema describes the provider block, component settings, backups, probes
// and the actions.
func (p *Provider) Schema(_ context.Context, _ sdk.SchemaRequest, resp *sdk.SchemaResponse) {
	resp.Provider = providerSchema()
	resp.Component = componentSchema()
	resp.Backup = sdk.Block{
		Description: "What a backup keeps. The simulator keeps the component's version whatever the settings say.",
		Attributes: []sdk.Attribute{
			{Name: "paths", Type: ctyStringList, Description: "Paths a real backup would save. Informational."},
		},
	}
	resp.HostAttributes = []sdk.HostAttribute{
		{Name: "rack", Description: "The rack the host sits in, as the cloud file says (simgen fills it)."},
		{Name: "hypervisor", Description: "The hypervisor type, when the cloud file says (e.g. qemu)."},
	}
	for k := sdk.ActionEnterMaintenance; k <= sdk.ActionProbe; k++ {
		resp.Actions = append(resp.Actions, k)
	}
	resp.Probes = []sdk.Probe{{
		Name:        ProbeComputeServiceUp,
		Description: "The host's compute service runs: the host is up, disabled or in maintenance, not down.",
	}}
}

// ValidateConfig checks the provider block without reading the cloud.
func (p *Provider) ValidateConfig(_ context.Context, req sdk.ValidateConfigRequest, resp *sdk.ValidateConfigResponse) {
	_, resp.Diagnostics = DecodeConfig(req.Config)
}

// Configure decodes the provider block, creates the cloud file if it is
// missing and create is true, and reads it once so a broken file is
// reported now rather than in the middle of an apply.
func (p *Provider) Configure(ctx context.Context, req sdk.ConfigureRequest, resp *sdk.ConfigureResponse) {
	cfg, diags := DecodeConfig(req.Config)
	resp.Diagnostics = diags
	if diags.HasErrors() {
		return
	}
	// escalator starts the plugin in the campaign directory, so relative
	// paths are relative to the campaign, as the operator wrote them.
	if !filepath.IsAbs(cfg.Cloud) {
		wd, err := os.Getwd()
		if err != nil {
			resp.Diagnostics.Errorf("Cannot resolve the cloud path", "Resolving %q: %v.", cfg.Cloud, err)
			return
		}
		cfg.Cloud = filepath.Join(wd, cfg.Cloud)
	}
	store := OpenStore(cfg.Cloud)
	store.SetLockTimeout(cfg.LockTimeout)
	store.now = p.now
	cloudPath := ctyPath("cloud")
	if cfg.Create {
		created, err := store.Create(ctx, DefaultCloud())
		if err != nil {
			resp.Diagnostics.AddAttributeError(cloudPath, "Cannot create the cloud file", err.Error())
			return
		}
		if created {
			slog.InfoContext(ctx, "created the default cloud (8 compute hosts, 30 instances)", "cloud", cfg.Cloud)
		}
	}
	if err := store.View(ctx, func(*Cloud) error { return nil }); err != nil {
		resp.Diagnostics.AddAttributeError(cloudPath, "Cannot read the cloud file", err.Error())
		return
	}
	p.mu.Lock()
	p.cfg, p.store = cfg, store
	p.mu.Unlock()
}

func (p *Provider) configured(diags *sdk.Diagnostics) (*Config, *Store, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == nil {
		diags.AddError("Provider not configured", "The sim provider was called before Configure succeeded; this is a bug in the caller.")
		return nil, nil, false
	}
	return p.cfg, p.store, true
}

// ReadInventory reports the cloud as it is in the file. Used resources
// include the claims of migrations in flight, as Placement counts them.
func (p *Provider) ReadInventory(ctx context.Context, _ sdk.ReadInventoryRequest, resp *sdk.ReadInventoryResponse) {
	_, store, ok := p.configured(&resp.Diagnostics)
	if !ok {
		return
	}
	err := store.View(ctx, func(c *Cloud) error {
		inventory(c, resp)
		return nil
	})
	if err != nil {
		resp.Diagnostics.AddAttributeError(ctyPath("cloud"), "Cannot read the cloud file", err.Error())
	}
}

// Inventory is the cloud as ReadInventory reports it, for tools that
// generate clouds and look at them without a plugin process (benchmarks).
func (c *Cloud) Inventory() *sdk.ReadInventoryResponse {
	var resp sdk.ReadInventoryResponse
	inventory(c, &resp)
	return &resp
}

// inventory converts the cloud to SDK types. Everything is copied: the
// cloud is the store's cache and changes after View returns.
func inventory(c *Cloud, resp *sdk.ReadInventoryResponse) {
	used := c.UsedByHost()
	resp.Hosts = make([]sdk.Host, len(c.Hosts))
	for i, h := range c.Hosts {
		resp.Hosts[i] = sdk.Host{
			Name:             h.Name,
			Role:             h.Role,
			AvailabilityZone: h.AvailabilityZone,
			Aggregates:       append([]string(nil), h.Aggregates...),
			Capacity:         sdkResources(h.Capacity),
			Used:             sdkResources(used[h.Name]),
			State:            sdkState(h.State),
			StateReason:      h.StateReason,
			Versions:         copyMap(h.Versions),
			Attributes:       copyMap(h.Attributes),
		}
	}
	resp.Instances = make([]sdk.Instance, len(c.Instances))
	for i, in := range c.Instances {
		resp.Instances[i] = sdk.Instance{
			ID:             in.ID,
			Name:           in.Name,
			Host:           in.Host,
			Resources:      sdkResources(in.Flavor.Resources),
			Status:         in.Status,
			Project:        in.Project,
			ServerGroup:    in.ServerGroup,
			LiveMigratable: in.LiveMigratable,
		}
	}
	resp.ServerGroups = make([]sdk.ServerGroup, len(c.ServerGroups))
	for i, g := range c.ServerGroups {
		resp.ServerGroups[i] = sdk.ServerGroup{
			ID: g.ID, Name: g.Name, Policy: g.Policy, Project: g.Project,
			Members: append([]string(nil), g.Members...),
		}
	}
	resp.VNFManagers = make([]sdk.VNFManager, len(c.VNFManagers))
	for i, m := range c.VNFManagers {
		resp.VNFManagers[i] = sdk.VNFManager{Name: m.Name, Project: m.Project, URL: m.URL}
	}
}

func sdkResources(r Resources) sdk.Resources {
	return sdk.Resources{VCPUs: r.VCPUs, MemoryMB: r.MemoryMB, DiskGB: r.DiskGB}
}

func sdkState(s string) sdk.HostState {
	switch s {
	case StateDown:
		return sdk.HostDown
	case StateDisabled:
		return sdk.HostDisabled
	case StateMaintenance:
		return sdk.HostMaintenance
	}
	return sdk.HostUp
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PlanComponent says what changing a component's version involves:
// downgrades and jumps over more than max_major_jump major versions are
// refused with the reason; the disruption comes from the settings; the
// expected duration is the upgrade and its verification, after
// time_scale, i.e. the wall-clock time the simulated actions will take.
func (p *Provider) PlanComponent(ctx context.Context, req sdk.PlanComponentRequest, resp *sdk.PlanComponentResponse) {
	settings, diags := DecodeSettings(req.Component, req.Settings)
	resp.Diagnostics = diags
	if diags.HasErrors() {
		return
	}
	if req.ToVersion == "" {
		resp.Diagnostics.Errorf("No target version", "Component %q on host %q has no target version to plan.", req.Component, req.Host)
		return
	}
	p.mu.Lock()
	cfg, store := p.cfg, p.store
	p.mu.Unlock()
	if cfg != nil && req.Host != "" {
		err := store.View(ctx, func(c *Cloud) error {
			h := c.Host(req.Host)
			if h == nil {
				return fmt.Errorf("host %q is not in the cloud %s", req.Host, c.describe(store))
			}
			if got := h.Versions[req.Component]; got != req.FromVersion {
				resp.Diagnostics.AddWarning("Installed version differs from the plan's",
					fmt.Sprintf("Host %q has %s %q installed, not %q: the inventory changed while planning.", req.Host, req.Component, got, req.FromVersion))
			}
			return nil
		})
		if err != nil {
			resp.Diagnostics.Errorf("Cannot plan the component", "%v.", err)
			return
		}
	}
	if reason := refuseVersionChange(req.Component, req.FromVersion, req.ToVersion, settings.MaxMajorJump); reason != "" {
		resp.Refused, resp.RefusalReason = true, reason
		return
	}
	if req.FromVersion == req.ToVersion || (req.FromVersion != "" && CompareVersions(req.FromVersion, req.ToVersion) == 0) {
		resp.Disruption = sdk.DisruptionNone
		return
	}
	resp.Disruption = settings.Disruption
	if cfg == nil {
		cfg = &Config{Durations: DefaultDurations, TimeScale: DefaultTimeScale}
	}
	resp.ExpectedDuration = cfg.Scaled(DurUpgrade) + cfg.Scaled(DurVerify)
}

// refuseVersionChange is the plan-time rule on versions; "" allows it.
func refuseVersionChange(component, from, to string, maxJump int) string {
	if from == "" {
		return "" // a first install: nothing to compare with
	}
	if CompareVersions(to, from) < 0 {
		return fmt.Sprintf("%s %s -> %s is a downgrade; escalator upgrades forward only: to go back, roll back the host or restore it from a backup", component, from, to)
	}
	mf, okf := MajorVersion(from)
	mt, okt := MajorVersion(to)
	if okf && okt && mt-mf > maxJump {
		return fmt.Sprintf("%s %s -> %s jumps %d major versions, more than the %d the software supports in one step (max_major_jump); plan an intermediate version first", component, from, to, mt-mf, maxJump)
	}
	return ""
}

// describe names the cloud in messages.
func (c *Cloud) describe(s *Store) string {
	if c.Name != "" {
		return fmt.Sprintf("%q (%s)", c.Name, s.Path())
	}
	return s.Path()
}

// ExecuteAction performs one action; see action.go.
func (p *Provider) ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	cfg, store, ok := p.configured(&resp.Diagnostics)
	if !ok {
		return
	}
	r := &run{p: p, cfg: cfg, store: store, req: req, resp: resp}
	r.execute(ctx)
}

// UsedByHost sums, per host, the resources of the instances placed there
// and of the migrations claiming it as their destination.
func (c *Cloud) UsedByHost() map[string]Resources {
	used := make(map[string]Resources, len(c.Hosts))
	for _, in := range c.Instances {
		used[in.Host] = used[in.Host].Add(in.Flavor.Resources)
		if in.Migration != nil {
			used[in.Migration.To] = used[in.Migration.To].Add(in.Flavor.Resources)
		}
	}
	return used
}

// Used is UsedByHost for one host.
func (c *Cloud) Used(host string) Resources {
	var r Resources
	c.instancesAt(host, func(in *Instance) { r = r.Add(in.Flavor.Resources) })
	return r
}

// firstN lists names for messages, at most n of them.
func firstN(list []string, n int) string {
	sort.Strings(list)
	s := fmt.Sprint(list)
	if len(list) > n {
		s = fmt.Sprintf("%v and %d more", list[:n], len(list)-n)
	}
	return s
}
