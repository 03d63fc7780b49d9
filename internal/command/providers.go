package command

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/logging"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
)

// ProvidersCommand is "escalator providers": it lists the providers the
// campaign requires and, for each, what the lock file says and what
// discovery finds, without starting any plugin.
type ProvidersCommand struct {
	Meta
}

var (
	_ cli.Command             = (*ProvidersCommand)(nil)
	_ cli.CommandAutocomplete = (*ProvidersCommand)(nil)
	_ cli.CommandHelpTemplate = (*ProvidersCommand)(nil)
)

func (c *ProvidersCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseProviders(rawArgs)
	view := views.NewProviders(args.ViewType, c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}
	lockPath := pluginhost.LockFilePath(args.Dir)
	list := views.ProvidersList{Dir: args.Dir, LockFile: lockPath}

	cfg, ds := loadCampaign(args.Dir)
	if ds.HasErrors() {
		view.List(list, ds, cfg.Files)
		return ExitError
	}
	lock, lds := pluginhost.ReadLockFile(lockPath)
	ds = append(ds, lds...)
	files := withFiles(cfg.Files, lock.Files)
	reattach, err := pluginhost.ParseReattach(os.Getenv(pluginhost.EnvReattach))
	if err != nil {
		ds = ds.Append(err)
	}
	dirs := pluginhost.SearchDirs(args.Dir)
	log := logging.Named("providers")

	ready := !ds.HasErrors()
	for _, name := range requiredProviders(cfg) {
		st := providerStatus(name, lock, dirs, reattach != nil && reattach[name] != nil, log)
		st.Constraint = cfg.Settings.RequiredProviders[name].Version
		if st.Status != views.ProviderOK && st.Status != views.ProviderReattached {
			ready = false
		}
		list.Providers = append(list.Providers, st)
	}
	for _, name := range sortedLockNames(lock) {
		if cfg.Settings != nil && cfg.Settings.RequiredProviders[name] != nil {
			continue
		}
		lp := lock.Get(name)
		list.Providers = append(list.Providers, views.ProviderStatus{
			Name:    name,
			Locked:  &views.LockedProvider{Version: lp.Version, SHA256: lp.SHA256, Protocol: lp.Protocol},
			Status:  views.ProviderNotRequired,
			Message: "locked but no longer required; \"escalator init\" removes it from the lock file",
		})
	}
	view.List(list, ds, files)
	if !ready {
		return ExitError
	}
	return ExitOK
}

// providerStatus finds out, without starting it, whether provider name is
// ready to run: locked, found, and unchanged.
func providerStatus(name string, lock *pluginhost.Lock, dirs []pluginhost.SearchDir, reattached bool, log interface {
	Debug(string, ...any)
}) views.ProviderStatus {
	st := views.ProviderStatus{Name: name}
	if lp := lock.Get(name); lp != nil {
		st.Locked = &views.LockedProvider{Version: lp.Version, SHA256: lp.SHA256, Protocol: lp.Protocol}
	}
	if reattached {
		st.Status = views.ProviderReattached
		st.Message = "attached to the running plugin named by " + pluginhost.EnvReattach + " (not checked against the lock file)"
		return st
	}
	found, err := pluginhost.Find(name, dirs, nil)
	if err != nil {
		st.Status = views.ProviderNotFound
		var nf *pluginhost.NotFoundError
		if errors.As(err, &nf) {
			var where []string
			for _, d := range nf.Searched {
				where = append(where, d.Path)
			}
			st.Message = fmt.Sprintf("no %s in %s; install the plugin there or add its directory to %s, then run \"escalator init\"",
				pluginhost.ExecutableName(name), strings.Join(where, ", "), pluginhost.EnvPluginPath)
		} else {
			st.Message = err.Error()
		}
		return st
	}
	st.Path = found.Path
	sum, err := pluginhost.HashFile(found.Path)
	if err != nil {
		st.Status = views.ProviderNotFound
		st.Message = err.Error()
		return st
	}
	st.SHA256 = sum
	switch {
	case st.Locked == nil:
		st.Status = views.ProviderNotLocked
		st.Message = "found but not locked; run \"escalator init\""
	case st.Locked.SHA256 != sum:
		st.Status = views.ProviderChanged
		st.Message = "the plugin changed since it was locked (its SHA-256 differs); commands refuse it. " +
			"Run \"escalator init -upgrade\" if you changed it on purpose"
	default:
		st.Status = views.ProviderOK
		st.Message = "ok: matches the lock file"
	}
	log.Debug("provider status", "provider", name, "status", st.Status, "path", st.Path)
	return st
}

func (c *ProvidersCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] providers [options] [DIR]

  Lists the providers the campaign in DIR (default: the current directory)
  requires: each one's version constraint, what the lock file recorded
  (version, SHA-256, protocol), the plugin executable escalator would run,
  and whether that executable still matches the lock file. No plugin is
  started.

  "escalator providers schema -json" prints the providers' schemas.

Options:

  -json       Print the list as one JSON object on stdout.

  -no-color   Print diagnostics without color.

Exit status is 0 when every required provider is locked, found and
unchanged, 1 otherwise.

Subcommands:
    schema    Print the schemas of the campaign's providers as JSON
`)
}

// HelpTemplate keeps hashicorp/cli from appending its own subcommand list:
// Help already has one, and -help prints exactly Help.
func (c *ProvidersCommand) HelpTemplate() string {
	return "{{.Help}}\n"
}

func (c *ProvidersCommand) Synopsis() string {
	return "Show the campaign's providers and their lock file entries"
}

func (c *ProvidersCommand) AutocompleteArgs() complete.Predictor {
	return complete.PredictOr(complete.PredictSet("schema"), complete.PredictDirs(""))
}

func (c *ProvidersCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-json":     complete.PredictNothing,
		"-no-color": complete.PredictNothing,
	}
}
