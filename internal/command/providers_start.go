package command

import (
	"context"
	"os"
	"sort"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
)

// What every command that starts provider plugins shares: the context it
// runs under and how it loads the campaign. (plan, apply and the others
// that start plugins use these too.)

// interruptGrace is how long plugins may keep running after Ctrl-C before
// they are killed; the command normally closes them sooner, as soon as its
// calls return "interrupted".
const interruptGrace = 10 * time.Second

// pluginContext returns the context for a command that starts plugins:
// cancelled by SIGINT or SIGTERM, which also kill the plugins if the
// command has not closed them within interruptGrace (see
// pluginhost.SignalContext). Call stop when the command returns. Main
// kills whatever is left on every exit path.
func pluginContext() (ctx context.Context, stop func()) {
	return pluginhost.SignalContext(context.Background(), interruptGrace)
}

// loadCampaign loads the campaign in dir for a command that only needs
// its settings (required_providers): like validate, variables without a
// value are unknown rather than errors.
func loadCampaign(dir string) (*config.Config, diags.Diagnostics) {
	return config.Load(dir, config.Options{Environ: os.Environ(), AllowUnsetVariables: true})
}

// requiredProviders returns the names of the campaign's required
// providers, sorted.
func requiredProviders(cfg *config.Config) []string {
	if cfg == nil || cfg.Settings == nil {
		return nil
	}
	names := make([]string, 0, len(cfg.Settings.RequiredProviders))
	for n := range cfg.Settings.RequiredProviders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// withFiles merges the lock file's parsed source into the campaign's, so
// that diagnostics about either show a snippet.
func withFiles(a, b diags.Files) diags.Files {
	out := diags.Files{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// pluginlessContext is the context of a command that starts no plugin.
func pluginlessContext() context.Context { return context.Background() }
