package command

import (
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/config"
)

// ValidateCommand is "escalator validate": a static check of a campaign,
// with no provider started and no cloud contacted.
type ValidateCommand struct {
	Meta
}

var (
	_ cli.Command             = (*ValidateCommand)(nil)
	_ cli.CommandAutocomplete = (*ValidateCommand)(nil)
)

func (c *ValidateCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseValidate(rawArgs)
	view := views.NewValidate(args.ViewType, c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}

	cfg, ds := config.Load(args.Dir, config.Options{
		Vars:    configVars(args.Vars),
		Environ: os.Environ(),
		// Variables without a value are unknown here: validate checks the
		// campaign, not one set of inputs. plan requires them.
		AllowUnsetVariables: true,
	})
	view.Result(ds, cfg.Files, views.ValidateSummary{
		Components: len(cfg.Components),
		Rollouts:   len(cfg.Rollouts),
		Guards:     len(cfg.Guards),
		Checks:     len(cfg.Checks),
		HostSets:   len(cfg.HostSets),
	})
	if ds.HasErrors() {
		return ExitError
	}
	return ExitOK
}

// configVars turns -var/-var-file arguments into the loader's form.
func configVars(in []arguments.VarArg) []config.VarArg {
	out := make([]config.VarArg, len(in))
	for i, v := range in {
		out[i] = config.VarArg{Name: v.Name, Value: v.Value, File: v.File}
	}
	return out
}

func (c *ValidateCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] validate [options] [DIR]

  Checks the campaign in DIR (default: the current directory) without
  starting any provider or contacting any cloud: syntax, unknown blocks and
  arguments, types, references, dependency cycles, durations and
  percentages, and the rules between blocks. Every problem is reported with
  its file:line:col, all of them in one run.

  Variables without a value are treated as unknown, so a campaign with
  required variables validates; escalator plan requires their values.

Options:

  -json              Print the result as one JSON object on stdout
                     (format_version, valid, error_count, warning_count,
                     diagnostics with ranges and snippets).

  -no-color          Print diagnostics without color.

  -var 'NAME=VALUE'  Set a variable. May be repeated.

  -var-file=FILE     Read variable values from FILE. May be repeated; later
                     values override earlier ones.

Exit status is 0 when the campaign is valid (warnings allowed), 1 otherwise.
`)
}

func (c *ValidateCommand) Synopsis() string {
	return "Check a campaign without contacting the cloud"
}

func (c *ValidateCommand) AutocompleteArgs() complete.Predictor {
	return complete.PredictDirs("")
}

func (c *ValidateCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-json":     complete.PredictNothing,
		"-no-color": complete.PredictNothing,
		"-var":      complete.PredictAnything,
		"-var-file": complete.PredictFiles("*.hclvars"),
	}
}
