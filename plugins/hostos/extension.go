package hostos

import (
	"context"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// An Extension makes another host provider out of this one: the same SSH
// connections, package installs, reboots, backups and rollbacks, with its
// own name, settings, facts and checks. The hypervisor provider is one.
// Building on hostos rather than copying it keeps one package path to
// test on real hosts.
type Extension interface {
	// Info describes the provider the extension makes.
	Info() ExtensionInfo
	// ValidateConfig checks the extension's attributes of the provider
	// block (hostos checks the others); it keeps nothing.
	ValidateConfig(block cty.Value) sdk.Diagnostics
	// Configure decodes and keeps them.
	Configure(block cty.Value) sdk.Diagnostics
	// InventoryScript is shell appended to every host's inventory
	// script (one SSH round trip per host); what it prints goes to Facts.
	InventoryScript() string
	// Facts adds the extension's host attributes to a host that
	// answered; a non-empty warning is reported as a diagnostic (the
	// host stays in the inventory).
	Facts(out string, h *sdk.Host) (warning string)
	// BeforeChange runs before an upgrade, rollback or restore changes
	// anything on the host (and again when a cut-short step is resumed);
	// an error fails the step with nothing changed.
	BeforeChange(ctx context.Context, sh Shell, req sdk.ExecuteActionRequest) error
	// Verify runs after hostos's own verification passed.
	Verify(ctx context.Context, sh Shell, req sdk.ExecuteActionRequest) error
}

// ExtensionInfo is what an Extension changes in the provider's metadata
// and schema.
type ExtensionInfo struct {
	Name, Version string
	// Description replaces the provider block's description.
	Description string
	// Attributes are added to the provider block.
	Attributes []sdk.Attribute
	// HostAttributes are added to the inventory's host attributes.
	HostAttributes []sdk.HostAttribute
	// StateDir is the default state_dir, so that two providers on one
	// host keep separate records and maintenance markers.
	StateDir string
	// DefaultServices are a component's services when its settings name
	// none.
	DefaultServices []string
	// HostDisruption makes every version change disruption "host".
	HostDisruption bool
}

// Shell runs commands on one host for an Extension, through the
// provider's SSH pool, under command_timeout.
type Shell interface {
	// Host is the host's name.
	Host() string
	// Output runs a shell command and returns its standard output; a
	// non-zero exit is an error carrying the command's output.
	Output(ctx context.Context, cmd string) (string, error)
	// Installed reads packages from the host's package database.
	Installed(ctx context.Context, names ...string) (map[string]pkgs.Installed, error)
}

// NewWith returns an unconfigured provider extended by ext.
func NewWith(ext Extension) *Provider {
	p := New()
	p.ext = ext
	info := ext.Info()
	p.name, p.version = info.Name, info.Version
	return p
}

// shell is a host as an Extension sees it.
type shell struct{ h *host }

func (s shell) Host() string { return s.h.hc.Name }

func (s shell) Output(ctx context.Context, cmd string) (string, error) {
	return s.h.output(ctx, cmd)
}

func (s shell) Installed(ctx context.Context, names ...string) (map[string]pkgs.Installed, error) {
	m, err := s.h.manager(ctx)
	if err != nil {
		return nil, err
	}
	return s.h.query(ctx, m, names)
}

// hostBlock is the provider block without the extension's attributes,
// for DecodeConfig.
func (p *Provider) hostBlock(v cty.Value) cty.Value {
	if p.ext == nil || !set(v) || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		return v
	}
	drop := map[string]bool{}
	for _, a := range p.ext.Info().Attributes {
		drop[a.Name] = true
	}
	keep := map[string]cty.Value{}
	each(v, func(k, e cty.Value) {
		if !drop[k.AsString()] {
			keep[k.AsString()] = e
		}
	})
	if v.Type().IsMapType() {
		if len(keep) == 0 {
			return cty.MapValEmpty(v.Type().ElementType())
		}
		return cty.MapVal(keep)
	}
	return cty.ObjectVal(keep)
}

// decodeConfig decodes the provider block, the extension's part too.
func (p *Provider) decodeConfig(v cty.Value, configure bool) (*Config, sdk.Diagnostics) {
	cfg, diags := DecodeConfig(p.hostBlock(v), p.env, p.home())
	if p.ext == nil {
		return cfg, diags
	}
	if info := p.ext.Info(); info.StateDir != "" && !set(attr(v, "state_dir")) && cfg != nil {
		cfg.StateDir = info.StateDir
	}
	if configure {
		diags = append(diags, p.ext.Configure(v)...)
	} else {
		diags = append(diags, p.ext.ValidateConfig(v)...)
	}
	return cfg, diags
}

// beforeChange runs the extension's check before a change.
func (a *action) beforeChange(ctx context.Context) error {
	if a.p.ext == nil {
		return nil
	}
	return a.p.ext.BeforeChange(ctx, shell{a.h}, a.req)
}
