package command

import (
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// ProvidersSchemaCommand is "escalator providers schema -json": it starts
// every provider the campaign requires, as the lock file recorded them, and
// prints their schemas.
type ProvidersSchemaCommand struct {
	Meta
}

var (
	_ cli.Command             = (*ProvidersSchemaCommand)(nil)
	_ cli.CommandAutocomplete = (*ProvidersSchemaCommand)(nil)
)

func (c *ProvidersSchemaCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseProvidersSchema(rawArgs)
	view := views.NewProvidersSchema(c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}

	cfg, ds := loadCampaign(args.Dir)
	if ds.HasErrors() {
		view.Diagnostics(ds, cfg.Files)
		return ExitError
	}
	lock, lds := pluginhost.ReadLockFile(pluginhost.LockFilePath(args.Dir))
	ds = append(ds, lds...)
	files := withFiles(cfg.Files, lock.Files)
	if ds.HasErrors() {
		view.Diagnostics(ds, files)
		return ExitError
	}

	ctx, stop := pluginContext()
	defer stop()
	set, sds := pluginhost.StartAll(ctx, cfg, lock, pluginhost.Options{})
	ds = append(ds, sds...)
	if sds.HasErrors() {
		view.Diagnostics(ds, files)
		return ExitError
	}
	defer set.Close()

	schemas := map[string]*sdk.SchemaResponse{}
	for _, name := range set.Names() {
		s, sds := set.Provider(name).Schema(ctx)
		ds = append(ds, sds...)
		if s != nil {
			schemas[name] = s
		}
	}
	if len(ds) > 0 {
		view.Diagnostics(ds, files)
	}
	if ds.HasErrors() {
		return ExitError
	}
	view.Schemas(schemas)
	return ExitOK
}

func (c *ProvidersSchemaCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] providers schema -json [options] [DIR]

  Starts every provider the campaign in DIR (default: the current
  directory) requires, as the lock file recorded them, and prints their
  schemas as one JSON object on stdout: for each provider the arguments of
  its provider block, of a component's settings and of a backup's settings
  (types in cty's JSON type notation), the host attributes it reports, the
  actions it performs and the probes a provider check can run.

  Like every command that starts plugins, it refuses a plugin whose file no
  longer matches the lock file; run "escalator init" first.

Options:

  -json       Required: the schemas are printed as JSON only.

  -no-color   Print diagnostics (on stderr) without color.

Exit status is 0 when every schema was printed, 1 otherwise.
`)
}

func (c *ProvidersSchemaCommand) Synopsis() string {
	return "Print the schemas of the campaign's providers as JSON"
}

func (c *ProvidersSchemaCommand) AutocompleteArgs() complete.Predictor {
	return complete.PredictDirs("")
}

func (c *ProvidersSchemaCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-json":     complete.PredictNothing,
		"-no-color": complete.PredictNothing,
	}
}
