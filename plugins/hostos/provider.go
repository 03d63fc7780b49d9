// Package hostos is the hostos provider: the operating system of hosts
// reached over SSH. It reports each host's OS release, kernel, pending
// reboot and the installed versions of the packages each component names
// (dpkg-query, or rpm), and upgrades a component by installing its
// packages at exact versions (apt-get, or dnf), restarting its services,
// rebooting when asked and waiting for the host to come back. Before
// that it can back up the exact versions and configuration paths (kept
// on the host); it rolls back by reinstalling the recorded versions and
// restores the configuration too. See website/docs/providers/hostos.md.
package hostos

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
	"github.com/escalator-nfv/escalator/plugins/hostos/remote"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Name and Version of the provider, as escalator init records them.
const (
	Name    = "hostos"
	Version = "0.1.0"
)

// ProbeHost is the provider's one probe: SSH answers, and the services
// and commands of the check's settings are fine.
const ProbeHost = "host"

// Provider is the hostos provider. Create it with New.
type Provider struct {
	mu       sync.Mutex
	ext      Extension // nil for hostos itself
	name     string    // the provider's name, in messages
	version  string
	cfg      *Config
	pool     *remote.Pool
	managers map[string]pkgs.Manager

	// env and home resolve SSH_AUTH_SOCK and ~; tests replace them.
	env  func(string) string
	home func() string
}

var (
	_ sdk.ProviderWithValidateConfig = (*Provider)(nil)
	_ sdk.ProviderWithPlanComponent  = (*Provider)(nil)
	_ sdk.ProviderWithStop           = (*Provider)(nil)
)

// New returns an unconfigured provider.
func New() *Provider {
	return &Provider{name: Name, version: Version, env: os.Getenv, home: homeDir, managers: map[string]pkgs.Manager{}}
}

// Metadata names the provider.
func (p *Provider) Metadata(_ context.Context, _ sdk.MetadataRequest, resp *sdk.MetadataResponse) {
	resp.Name, resp.Version = p.name, p.version
}

// Actions are the actions the provider performs. Maintenance is a marker
// file on the host (for campaigns whose hosts come from hostos itself);
// migrations belong to the provider that owns the instances.
var Actions = []sdk.ActionKind{
	sdk.ActionEnterMaintenance, sdk.ActionLeaveMaintenance,
	sdk.ActionBackup, sdk.ActionUpgrade, sdk.ActionVerify,
	sdk.ActionRollback, sdk.ActionRestore, sdk.ActionProbe,
}

// Schema describes the provider block, settings, attributes and actions.
func (p *Provider) Schema(_ context.Context, _ sdk.SchemaRequest, resp *sdk.SchemaResponse) {
	resp.Provider = providerSchema()
	resp.Component = componentSchema()
	resp.Backup = backupSchema()
	resp.HostAttributes = hostAttributes
	if p.ext != nil {
		info := p.ext.Info()
		if info.Description != "" {
			resp.Provider.Description = info.Description
		}
		resp.Provider.Attributes = append(slices.Clip(resp.Provider.Attributes), info.Attributes...)
		resp.HostAttributes = append(slices.Clip(resp.HostAttributes), info.HostAttributes...)
		resp.Component.Description = strings.Replace(resp.Component.Description, "hostos", p.name, 1)
	}
	resp.Actions = Actions
	resp.Probes = []sdk.Probe{{
		Name:        ProbeHost,
		Description: "The host answers SSH (its key verified), the services listed are active and the commands exit 0.",
		Settings:    probeSettingsSchema(),
	}}
}

// ValidateConfig checks the provider block without contacting any host.
func (p *Provider) ValidateConfig(_ context.Context, req sdk.ValidateConfigRequest, resp *sdk.ValidateConfigResponse) {
	_, resp.Diagnostics = p.decodeConfig(req.Config, false)
}

// Configure decodes the provider block and reads the key and known_hosts
// files; it connects to no host (the inventory does, in parallel).
func (p *Provider) Configure(ctx context.Context, req sdk.ConfigureRequest, resp *sdk.ConfigureResponse) {
	cfg, diags := p.decodeConfig(req.Config, true)
	resp.Diagnostics = diags
	if diags.HasErrors() {
		return
	}
	pool, err := remote.New(remote.Options{
		Auth:                  remote.Auth{IdentityFile: cfg.IdentityFile, Passphrase: cfg.IdentityPassphrase, AgentSocket: cfg.AgentSocket},
		KnownHostsFiles:       nonEmpty(cfg.KnownHostsFile),
		InsecureIgnoreHostKey: cfg.Insecure,
		Jump:                  cfg.Jump,
		ConnectTimeout:        cfg.ConnectTimeout,
		MaxParallel:           cfg.MaxParallel,
		Wrap:                  wrapCommand(cfg.Sudo),
	})
	if err != nil {
		resp.Diagnostics.AddError("Cannot set up SSH", err.Error()+".")
		return
	}
	if cfg.Insecure {
		const msg = "insecure_ignore_host_key is true: host keys are not checked, so anyone on the network path to a host can impersonate it and receive root commands. Use it only for throwaway test hosts; set known_hosts_file instead."
		slog.WarnContext(ctx, msg)
		resp.Diagnostics.AddWarning("Host keys are not verified", msg)
	}
	p.mu.Lock()
	old := p.pool
	p.cfg, p.pool = cfg, pool
	p.managers = map[string]pkgs.Manager{}
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// Stop closes every SSH connection.
func (p *Provider) Stop(context.Context) error {
	p.mu.Lock()
	pool := p.pool
	p.mu.Unlock()
	if pool != nil {
		return pool.Close()
	}
	return nil
}

func (p *Provider) configured(diags *sdk.Diagnostics) (*Config, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == nil {
		diags.AddError("Provider not configured", "The "+p.name+" provider was called before Configure succeeded; this is a bug in the caller.")
		return nil, false
	}
	return p.cfg, true
}

// host returns the configured host called name.
func (p *Provider) host(cfg *Config, name string) (*host, error) {
	hc, ok := cfg.Hosts[name]
	if !ok {
		return nil, fmt.Errorf("host %q is not in the %s provider's hosts: add it there (with its address), or select hosts that are", name, p.name)
	}
	return &host{p: p, cfg: cfg, hc: hc, t: hc.Target()}, nil
}

// Expected durations for the plan, per host: generous for real hosts
// (downloads, maintainer scripts); measured figures are in the docs.
const (
	expectedUpgrade = 5 * time.Minute
)

// PlanComponent says what changing a component involves: a component
// whose packages the provider does not know is refused (its version
// could not have been read), a reboot makes the change disruption
// "host", and a change to the version installed is none.
func (p *Provider) PlanComponent(_ context.Context, req sdk.PlanComponentRequest, resp *sdk.PlanComponentResponse) {
	settings, diags := DecodeSettings(req.Settings)
	resp.Diagnostics = diags
	if diags.HasErrors() {
		return
	}
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	if cfg != nil {
		if _, ok := cfg.Components[req.Component]; !ok {
			resp.Refused = true
			resp.RefusalReason = fmt.Sprintf("the %s provider does not know the packages of component %q, so it can't read or change its version: add %s = [\"package\", …] to components in provider %q", p.name, req.Component, req.Component, p.name)
			return
		}
		if req.Host != "" {
			if _, ok := cfg.Hosts[req.Host]; !ok {
				resp.Refused = true
				resp.RefusalReason = fmt.Sprintf("host %q is not in the %s provider's hosts: add it (with its address) or leave it out of the component's hosts", req.Host, p.name)
				return
			}
		}
	}
	if err := pkgs.CheckVersion(req.ToVersion); err != nil {
		resp.Refused = true
		resp.RefusalReason = fmt.Sprintf("the target version of %s: %v", req.Component, err)
		return
	}
	if req.FromVersion == req.ToVersion {
		resp.Disruption = sdk.DisruptionNone
		return
	}
	resp.ExpectedDuration = expectedUpgrade
	if p.ext != nil && p.ext.Info().HostDisruption {
		resp.Disruption = sdk.DisruptionHost
	}
	if settings.Reboot != RebootNever {
		resp.Disruption = sdk.DisruptionHost
		reboot := DefaultRebootTimeout
		if cfg != nil {
			reboot = cfg.RebootTimeout
		}
		resp.ExpectedDuration += reboot
	}
}

// settingsOrNull guards against a request without settings.
func settingsOrNull(v cty.Value) cty.Value {
	if v == cty.NilVal {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v
}
