package command

import (
	"runtime"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/version"
)

// VersionCommand is "escalator version".
type VersionCommand struct {
	Meta
}

var (
	_ cli.Command             = (*VersionCommand)(nil)
	_ cli.CommandAutocomplete = (*VersionCommand)(nil)
)

func (c *VersionCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseVersion(rawArgs)
	view := views.NewVersion(args.ViewType, c.newView(false))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}

	view.Version(views.VersionInfo{
		Version:  version.Number(),
		Platform: runtime.GOOS + "_" + runtime.GOARCH,
		Go:       runtime.Version(),
	})
	return ExitOK
}

func (c *VersionCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] version [-json]

  Shows the version of escalator and the platform it runs on.

Options:

  -json  Print the version, platform and Go release as a JSON object:
         {"version":"0.1.0-dev","platform":"linux_amd64","go":"go1.26.8"}
`)
}

func (c *VersionCommand) Synopsis() string {
	return "Show the escalator version"
}

func (c *VersionCommand) AutocompleteArgs() complete.Predictor {
	return complete.PredictNothing
}

func (c *VersionCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-json": complete.PredictNothing,
	}
}
