package command

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/logging"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
)

// InitCommand is "escalator init": it finds the plugin of every provider
// the campaign requires, starts each to check what it is, and records
// their versions and hashes in the lock file.
type InitCommand struct {
	Meta
}

var (
	_ cli.Command             = (*InitCommand)(nil)
	_ cli.CommandAutocomplete = (*InitCommand)(nil)
)

func (c *InitCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseInit(rawArgs)
	view := views.NewInit(c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}
	lockPath := pluginhost.LockFilePath(args.Dir)

	cfg, ds := loadCampaign(args.Dir)
	if ds.HasErrors() {
		view.Result(ds, cfg.Files, views.InitResult{LockFile: lockPath})
		return ExitError
	}
	old, lds := pluginhost.ReadLockFile(lockPath)
	files := withFiles(cfg.Files, old.Files)
	if lds.HasErrors() {
		if !args.Upgrade {
			ds = append(ds, lds...)
			ds = ds.Append(diags.Errorf(nil, "Can't read the lock file",
				"escalator init keeps the entries of an existing lock file and so must read it. "+
					"Fix it, or run \"escalator init -upgrade\" to replace it with the plugins found now."))
			view.Result(ds, files, views.InitResult{LockFile: lockPath})
			return ExitError
		}
		// -upgrade replaces every entry anyway; say what is discarded.
		for _, d := range lds {
			d.Severity = diags.Warning
			ds = append(ds, d)
		}
		old = pluginhost.NewLock()
	}

	ctx, stop := pluginContext()
	defer stop()
	// init locks executables, so it always starts the discovered file:
	// a plugin attached through ESCALATOR_REATTACH_PROVIDERS has no file
	// to hash.
	noReattach := ""
	opts := pluginhost.Options{Reattach: &noReattach}
	log := logging.Named("init")
	dirs := pluginhost.SearchDirs(args.Dir)

	view.Start(args.Dir)
	lock := pluginhost.NewLock()
	for _, name := range requiredProviders(cfg) {
		if ctx.Err() != nil {
			ds = ds.Append(diags.Errorf(nil, "Interrupted", "escalator init was interrupted; the lock file was not changed."))
			break
		}
		req := cfg.Settings.RequiredProviders[name]
		rng := req.DeclRange.Ptr()
		found, err := pluginhost.Find(name, dirs, log)
		if err != nil {
			ds = ds.Append(diags.Errorf(rng, fmt.Sprintf("Provider %q: plugin not found", name), "%v", err))
			continue
		}
		sum, err := pluginhost.HashFile(found.Path)
		if err != nil {
			ds = ds.Append(diags.Errorf(rng, fmt.Sprintf("Provider %q: can't read the plugin", name), "%v", err))
			continue
		}
		prev := old.Get(name)
		change := "new"
		if prev != nil {
			change = "unchanged"
			if prev.SHA256 != sum {
				if !args.Upgrade {
					ds = ds.Append(diags.Errorf(rng, fmt.Sprintf("Provider %q: the plugin changed since it was locked", name),
						"The plugin %s has SHA-256 %s, but the lock file %s recorded %s (version %s). "+
							"Someone rebuilt, replaced or altered it since \"escalator init\" locked it; if that was not you, find out why before going on. "+
							"Run \"escalator init -upgrade\" to lock the plugin as it is now.",
						found.Path, sum, lockPath, prev.SHA256, prev.Version))
					continue
				}
				change = "upgraded"
			}
		}

		// Start it with the hash just computed, so that the file that runs
		// is the file that gets locked.
		p, err := pluginhost.Start(ctx, pluginhost.Spec{Name: name, Path: found.Path, SHA256: sum}, opts)
		if err != nil {
			ds = ds.Append(pluginhost.StartDiagnostic(name, err, rng))
			continue
		}
		meta, mds := p.Metadata(ctx)
		protocol := p.Protocol()
		p.Close()
		for i := range mds {
			if mds[i].Subject == nil {
				mds[i].Subject = rng
			}
		}
		ds = append(ds, mds...)
		if mds.HasErrors() {
			continue
		}
		if err := pluginhost.CheckMetadata(name, req, meta, found.Path); err != nil {
			ds = ds.Append(diags.Errorf(rng, fmt.Sprintf("Provider %q: wrong plugin", name), "%v", err))
			continue
		}
		if change == "unchanged" && prev.Version != meta.Version {
			// Same bytes, another version: the old entry was written by
			// hand or by a buggy plugin. The plugin is the authority.
			change = "upgraded"
		}
		entry := &pluginhost.LockedProvider{Name: name, Version: meta.Version, SHA256: sum, Protocol: protocol}
		lock.Set(entry)
		ip := views.InitProvider{
			Name: name, Version: meta.Version, Path: found.Path, SHA256: sum, Protocol: protocol,
			Change: change, Shadowed: found.Shadowed,
		}
		if change == "upgraded" {
			ip.Previous = fmt.Sprintf("%s, sha256 %s", prev.Version, prev.SHA256)
		}
		view.Provider(ip)
	}

	result := views.InitResult{LockFile: lockPath}
	for _, name := range sortedLockNames(old) {
		if lock.Get(name) == nil && cfg.Settings.RequiredProviders[name] == nil {
			result.Removed = append(result.Removed, name)
		}
	}
	if ds.HasErrors() {
		view.Result(ds, files, result)
		return ExitError
	}
	if !old.Exists || string(old.Bytes()) != string(lock.Bytes()) {
		if err := lock.Write(lockPath); err != nil {
			ds = ds.Append(diags.Errorf(nil, "Can't write the lock file", "%v. Check that %s is writable.", err, args.Dir))
			view.Result(ds, files, result)
			return ExitError
		}
		result.Written = true
	}
	view.Result(ds, files, result)
	return ExitOK
}

func sortedLockNames(l *pluginhost.Lock) []string {
	var names []string
	for n := range l.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *InitCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] init [options] [DIR]

  Prepares the campaign in DIR (default: the current directory) for use:
  finds the plugin of every provider in required_providers, starts each to
  check that it is that provider at a version the constraint allows, and
  writes the lock file .escalator.lock.hcl with each plugin's version and
  SHA-256. Commit the lock file with the campaign.

  Plugins are executables named escalator-provider-NAME, looked for in this
  order: DIR/.escalator/plugins, the directory of the escalator executable,
  and each directory of ESCALATOR_PLUGIN_PATH (colon-separated). The first
  one found is used.

  Every other command that starts plugins refuses one whose file no longer
  matches the lock file. So does init itself, unless -upgrade is given.

Options:

  -upgrade    Lock the plugins as they are now, replacing entries whose
              plugin changed (a new build, a new release).

  -no-color   Print diagnostics without color.

Exit status is 0 when every provider was found, checked and locked, 1
otherwise (the lock file is then left as it was).
`)
}

func (c *InitCommand) Synopsis() string {
	return "Find the provider plugins and write the lock file"
}

func (c *InitCommand) AutocompleteArgs() complete.Predictor {
	return complete.PredictDirs("")
}

func (c *InitCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-upgrade":  complete.PredictNothing,
		"-no-color": complete.PredictNothing,
	}
}
