package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Set is the running providers of one campaign: every provider in its
// required_providers, started from the lock file and checked.
type Set struct {
	providers map[string]*Provider
	meta      map[string]*sdk.MetadataResponse
}

// Provider returns the running provider name, or nil.
func (s *Set) Provider(name string) *Provider {
	if s == nil {
		return nil
	}
	return s.providers[name]
}

// Metadata returns what provider name reported when it started.
func (s *Set) Metadata(name string) *sdk.MetadataResponse {
	if s == nil {
		return nil
	}
	return s.meta[name]
}

// Names returns the providers' names, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	names := make([]string, 0, len(s.providers))
	for n := range s.providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close ends every provider of the set, in parallel. It is idempotent.
func (s *Set) Close() {
	if s == nil {
		return
	}
	done := make(chan struct{}, len(s.providers))
	for _, p := range s.providers {
		go func() {
			p.Close()
			done <- struct{}{}
		}()
	}
	for range s.providers {
		<-done
	}
}

// StartAll starts every provider cfg requires, as lock recorded it: it
// finds each plugin (SearchDirs of cfg.Dir), refuses one the lock file
// does not list or whose executable changed since, starts it and checks
// its metadata against required_providers. It returns all of them running,
// or none (with diagnostics for every provider that failed, each at its
// required_providers entry).
//
// A provider named in ESCALATOR_REATTACH_PROVIDERS is attached to instead,
// without discovery or lock file: the developer who set it chose the
// process.
func StartAll(ctx context.Context, cfg *config.Config, lock *Lock, opts Options) (*Set, diags.Diagnostics) {
	set := &Set{providers: map[string]*Provider{}, meta: map[string]*sdk.MetadataResponse{}}
	if cfg == nil || cfg.Settings == nil || len(cfg.Settings.RequiredProviders) == 0 {
		return set, nil
	}
	reattach, err := reattachConfigs(opts)
	if err != nil {
		return nil, diags.Diagnostics{diags.Errorf(nil, "Invalid "+EnvReattach, "%v", err)}
	}
	dirs := SearchDirs(cfg.Dir)
	if opts.WorkDir == "" {
		opts.WorkDir = cfg.Dir
	}
	log := opts.parentLogger().Named("pluginhost")

	var ds diags.Diagnostics
	for _, name := range requiredNames(cfg) {
		req := cfg.Settings.RequiredProviders[name]
		rng := req.DeclRange.Ptr()
		spec := Spec{Name: name}
		if _, ok := reattach[name]; !ok {
			locked := lock.Get(name)
			if locked == nil {
				ds = ds.Append(diags.Errorf(rng, fmt.Sprintf("Provider %q is not locked", name),
					"The lock file %s has no entry for provider %q, so escalator does not know which plugin build this campaign was checked with. "+
						"Run \"escalator init\" in %s to find the plugin and lock it.",
					LockFileName, name, displayDir(cfg.Dir)))
				continue
			}
			found, err := Find(name, dirs, log)
			if err != nil {
				ds = ds.Append(diags.Errorf(rng, fmt.Sprintf("Provider %q: plugin not found", name), "%v", err))
				continue
			}
			spec.Path, spec.SHA256 = found.Path, locked.SHA256
		}
		p, err := Start(ctx, spec, opts)
		if err != nil {
			ds = ds.Append(StartDiagnostic(name, err, rng))
			continue
		}
		set.providers[name] = p
		meta, mds := p.Metadata(ctx)
		ds = append(ds, locate(mds, rng)...)
		if mds.HasErrors() {
			continue
		}
		set.meta[name] = meta
		if err := CheckMetadata(name, req, meta, p.Path()); err != nil {
			ds = ds.Append(diags.Errorf(rng, fmt.Sprintf("Provider %q: wrong plugin", name), "%v", err))
		}
	}
	if ds.HasErrors() {
		set.Close()
		return nil, ds
	}
	return set, ds
}

// requiredNames returns cfg's required providers, sorted, so that
// diagnostics come in a stable order.
func requiredNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Settings.RequiredProviders))
	for n := range cfg.Settings.RequiredProviders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// locate gives diagnostics without a range the range rng.
func locate(ds diags.Diagnostics, rng *hcl.Range) diags.Diagnostics {
	for i := range ds {
		if ds[i].Subject == nil && rng != nil {
			r := *rng
			ds[i].Subject = &r
		}
	}
	return ds
}

// StartDiagnostic turns an error from Start into a diagnostic at rng
// (which may be nil), with a summary that says which kind of failure it is.
func StartDiagnostic(name string, err error, rng *hcl.Range) diags.Diagnostic {
	var hm *HashMismatchError
	switch {
	case errors.As(err, &hm):
		return diags.Errorf(rng, fmt.Sprintf("Provider %q: the plugin changed since it was locked", name), "%v", err)
	case errors.Is(err, ErrNoCommonVersion):
		return diags.Errorf(rng, fmt.Sprintf("Provider %q: incompatible plugin protocol", name), "%v", err)
	case errors.Is(err, context.Canceled):
		return diags.Errorf(rng, fmt.Sprintf("Provider %q: start interrupted", name), "%v", err)
	}
	return diags.Errorf(rng, fmt.Sprintf("Provider %q: the plugin did not start", name), "%v", err)
}

// CheckMetadata checks what a plugin says it is against its
// required_providers entry: the plugin escalator-provider-NAME must serve
// provider NAME, at a version that satisfies the constraint.
func CheckMetadata(name string, req *config.RequiredProvider, meta *sdk.MetadataResponse, path string) error {
	where := "The plugin"
	if path != "" {
		where = "The plugin " + path
	}
	if meta.Name != name {
		return fmt.Errorf("%s says it is provider %q, not %q. The executable %s must serve provider %q: "+
			"install the right plugin under that name, or fix the name in required_providers",
			where, meta.Name, name, ExecutableName(name), name)
	}
	v, err := version.NewVersion(meta.Version)
	if err != nil {
		return fmt.Errorf("%s reports version %q, which is not a semantic version (such as 1.2.3): %v. This is a bug in the provider",
			where, meta.Version, err)
	}
	if req != nil && req.Constraints != nil && !req.Constraints.Check(v) {
		return fmt.Errorf("%s is version %s, which does not satisfy the constraint %q in required_providers. "+
			"Install a release of the provider that does, or change the constraint if this version is right",
			where, v, req.Version)
	}
	return nil
}

// displayDir names a campaign directory in messages.
func displayDir(dir string) string {
	if dir == "" || dir == "." {
		return "the campaign directory"
	}
	return dir
}
