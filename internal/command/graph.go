package command

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// GraphCommand is "escalator graph": the campaign's component graph, or a
// saved plan's waves, as Graphviz DOT.
type GraphCommand struct {
	Meta
}

var (
	_ cli.Command             = (*GraphCommand)(nil)
	_ cli.CommandAutocomplete = (*GraphCommand)(nil)
)

func (c *GraphCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseGraph(rawArgs)
	view := views.NewGraph(c.newView(false))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}

	if args.Type == "plan" {
		// The plan is drawn as saved: no provider, no staleness check, as
		// in escalator show.
		f, err := plans.Read(args.PlanFile)
		if err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		view.Plan(f)
		return ExitOK
	}

	cfg, ds := config.Load(args.Dir, config.Options{
		Environ: os.Environ(),
		// As in validate: the graph is the campaign's shape, which does
		// not depend on one set of inputs.
		AllowUnsetVariables: true,
	})
	view.Diagnostics(ds, cfg.Files)
	if ds.HasErrors() {
		// Nothing on stdout: half a graph piped into dot would hide the
		// error behind a drawing.
		return ExitError
	}
	view.Components(cfg)
	return ExitOK
}

func (c *GraphCommand) Help() string {
	return strings.TrimSpace(fmt.Sprintf(`
Usage: escalator [global options] graph [-type=components|plan] [-plan=FILE] [DIR]

  Prints a graph in Graphviz DOT format on standard output. Render it with
  Graphviz, for example:

    escalator graph | dot -Tsvg > components.svg

  -type=components (the default) draws the campaign in DIR: one node per
  component with its target version, host set and disruption, one box per
  rollout, and an arrow from each component to every component it depends
  on (depends_on and references alike). It is a static view, like
  validate: no provider is started, and variables without a value are
  shown as unknown.

  -type=plan draws the waves of a plan saved with "escalator plan
  -out=FILE", in the order they run: one box per wave (number, canary,
  group, host count) with one node per host. A plan of more than %d
  hosts gets one node per wave instead, so that the drawing stays usable.

Options:

  -type=TYPE   components (default) or plan.

  -plan=FILE   The saved plan to draw, for -type=plan.
`, views.PlanGraphMaxHosts))
}

func (c *GraphCommand) Synopsis() string {
	return "Print the component graph or a plan's waves as Graphviz DOT"
}

func (c *GraphCommand) AutocompleteArgs() complete.Predictor { return complete.PredictDirs("") }

func (c *GraphCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-type": complete.PredictSet("components", "plan"),
		"-plan": complete.PredictFiles("*"),
	}
}
