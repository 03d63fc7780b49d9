package command

import (
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/session"
)

// ExitPlanChanges is plan's exit status with -detailed-exitcode when the
// plan has changes (0: no changes, 1: error), as in Terraform.
const ExitPlanChanges = 2

// PlanCommand is "escalator plan".
type PlanCommand struct {
	Meta
}

var (
	_ cli.Command             = (*PlanCommand)(nil)
	_ cli.CommandAutocomplete = (*PlanCommand)(nil)
)

func (c *PlanCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParsePlan(rawArgs)
	view := views.NewPlan(args.ViewType, c.newView(args.NoColor), "plan")
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}
	ctx, stop := pluginContext()
	defer stop()

	s, ds := session.Open(ctx, session.Options{Dir: args.Dir, Vars: configVars(args.Vars), Parallelism: args.Parallelism})
	defer s.Close()
	if ds.HasErrors() {
		view.Diagnostics(ds, s.Files())
		return ExitError
	}
	f, _, pds := s.Plan(ctx)
	ds = ds.Append(pds)
	if ds.HasErrors() {
		view.Diagnostics(ds, s.Files())
		return ExitError
	}
	if len(ds) > 0 {
		view.Diagnostics(ds, s.Files())
	}
	if args.Out != "" {
		if err := plans.Write(args.Out, f); err != nil {
			view.Errors([]error{err})
			return ExitError
		}
	}
	view.Plan(f, args.Out)
	if args.DetailedExitCode && f.Plan.HasChanges() {
		return ExitPlanChanges
	}
	return ExitOK
}

func (c *PlanCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] plan [options] [DIR]

  Reads the live inventory through every provider, selects each
  component's hosts, compares installed and target versions, and schedules
  the work in waves that respect max_unavailable, group_by, the canary,
  every guard and the cloud's capacity. Prints the plan: hosts and version
  changes per wave, instances to move and where, VNF managers to notify,
  checks, expected durations, and the lower bounds the plan is measured
  against. Nothing is changed.

Options:

  -out=FILE           Save the plan to FILE for "escalator apply FILE". The
                      file holds variable values: it is written 0600.

  -json               Print the plan as JSON (the saved-plan document).

  -no-color           Print without color.

  -var 'NAME=VALUE'   Set a variable. May be repeated.

  -var-file=FILE      Read variable values from FILE. May be repeated.

  -detailed-exitcode  Exit 0 when there is nothing to do, 2 when the plan has
                      changes, 1 on error.

  -parallelism=N      Concurrent calls to providers while planning
                      (default 10).
`)
}

func (c *PlanCommand) Synopsis() string {
	return "Show what an upgrade campaign would do, wave by wave"
}

func (c *PlanCommand) AutocompleteArgs() complete.Predictor { return complete.PredictDirs("") }

func (c *PlanCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-out": complete.PredictFiles("*"), "-json": complete.PredictNothing, "-no-color": complete.PredictNothing,
		"-var": complete.PredictAnything, "-var-file": complete.PredictFiles("*.hclvars"),
		"-detailed-exitcode": complete.PredictNothing, "-parallelism": complete.PredictAnything,
	}
}

// ShowCommand is "escalator show".
type ShowCommand struct {
	Meta
}

var (
	_ cli.Command             = (*ShowCommand)(nil)
	_ cli.CommandAutocomplete = (*ShowCommand)(nil)
)

func (c *ShowCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseShow(rawArgs)
	view := views.NewPlan(args.ViewType, c.newView(args.NoColor), "show")
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}
	f, err := plans.Read(args.Path)
	if err != nil {
		view.Errors([]error{err})
		return ExitError
	}
	view.Plan(f, "")
	return ExitOK
}

func (c *ShowCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] show [-json] [-no-color] FILE

  Shows a plan saved with "escalator plan -out=FILE", as plan printed it.
  It does not contact the cloud and does not check whether the plan is
  still current; "escalator apply FILE" does.

Options:

  -json      Print the saved-plan document as JSON.

  -no-color  Print without color.
`)
}

func (c *ShowCommand) Synopsis() string { return "Show a saved plan" }

func (c *ShowCommand) AutocompleteArgs() complete.Predictor { return complete.PredictFiles("*") }

func (c *ShowCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{"-json": complete.PredictNothing, "-no-color": complete.PredictNothing}
}
