package command

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/logging"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
)

// Names of the global flags that install and remove shell completion.
const (
	autocompleteInstall   = "install-autocomplete"
	autocompleteUninstall = "uninstall-autocomplete"
)

// Main runs escalator with the command-line arguments args (without the
// program name) and returns the exit status.
//
// Global options come before the command:
//
//	-chdir=DIR                 switch to DIR first (the process's working
//	                           directory changes, as in terraform)
//	-log-level=LEVEL           the log's level (as ESCALATOR_LOG)
//	-log-format=text|json      the log's format (as ESCALATOR_LOG_FORMAT)
//	-help, -h                  general help, or a command's help after it
//	-version, -v               the same as the version command
//	-install-autocomplete      install shell completion (bash, zsh, fish)
//	-uninstall-autocomplete    remove it
//
// -help anywhere in a command's arguments shows that command's help and
// exits 0 (hashicorp/cli handles it before the command runs).
func Main(args []string, streams *views.Streams) int {
	args, logErr := extractLogOptions(args)
	logging.Setup(streams.Stderr)
	// The last safety net against orphan plugin processes: whatever path
	// a command takes out of here, its plugins end with it.
	defer pluginhost.CleanupClients()
	base := views.NewView(streams)
	if logErr != nil {
		base.Errors([]error{logErr})
		return ExitError
	}

	dir, args, err := extractChdir(args)
	if err != nil {
		base.Errors([]error{err})
		return ExitError
	}
	if dir != "" {
		if err := os.Chdir(dir); err != nil {
			base.Errors([]error{fmt.Errorf("cannot use -chdir=%s: %v", dir, unwrapPathError(err))})
			return ExitError
		}
	}

	// "escalator -version" is "escalator version".
	if len(args) > 0 && (args[0] == "-v" || args[0] == "-version" || args[0] == "--version") {
		args = append([]string{"version"}, args[1:]...)
	}

	commands := Commands(Meta{Streams: streams})
	runner := &cli.CLI{
		Name:                  "escalator",
		Args:                  args,
		Commands:              commands,
		HelpFunc:              helpFunc,
		HelpWriter:            streams.Stdout,
		ErrorWriter:           streams.Stderr,
		Autocomplete:          true,
		AutocompleteInstall:   autocompleteInstall,
		AutocompleteUninstall: autocompleteUninstall,
		AutocompleteGlobalFlags: complete.Flags{
			"-chdir":      complete.PredictDirs("*"),
			"-log-level":  complete.PredictSet(logging.Levels...),
			"-log-format": complete.PredictSet("text", "json"),
		},
	}

	// hashicorp/cli exits 127 for a missing or unknown command; say what is
	// wrong instead and exit 1. A shell asking for completions (COMP_LINE)
	// goes straight to the runner.
	if os.Getenv("COMP_LINE") == "" {
		name := runner.Subcommand()
		switch {
		case name == "" && !runner.IsHelp() && !hasAutocompleteFlag(args):
			if bad := topFlags(args); len(bad) > 0 {
				base.Errors([]error{fmt.Errorf("unknown global option %s; global options are -chdir=DIR, -log-level=LEVEL, -log-format=FORMAT, -help, -version, -%s and -%s",
					bad[0], autocompleteInstall, autocompleteUninstall)})
			}
			fmt.Fprintln(streams.Stderr, helpFunc(commands))
			return ExitError
		case name != "":
			if _, ok := commands[name]; !ok {
				base.Errors([]error{unknownCommand(name, commands)})
				return ExitError
			}
		}
	}

	code, err := runner.Run()
	if err != nil {
		base.Errors([]error{err})
		return ExitError
	}
	return code
}

// extractChdir removes the -chdir=DIR option from the global options (those
// before the command) and returns DIR, or "" if there is none.
func extractChdir(args []string) (string, []string, error) {
	return extractGlobal(args, "chdir", "a directory, like -chdir=examples/quickstart")
}

// extractGlobal removes the global option -name=VALUE from the options
// before the command and returns its value ("" when absent).
func extractGlobal(args []string, name, example string) (string, []string, error) {
	val, pos := "", -1
	for i, arg := range args {
		if !strings.HasPrefix(arg, "-") || arg == "--" {
			break // the command: what follows is its own
		}
		n, value, hasValue := strings.Cut(strings.TrimPrefix(arg, "-"), "=")
		if n != name && n != "-"+name {
			continue
		}
		if !hasValue || value == "" {
			return "", args, fmt.Errorf("invalid -%s option: it needs an equals sign and %s", name, example)
		}
		if pos >= 0 {
			return "", args, fmt.Errorf("invalid -%s option: it may be given only once", name)
		}
		val, pos = value, i
	}
	if pos < 0 {
		return "", args, nil
	}
	return val, slices.Delete(slices.Clone(args), pos, pos+1), nil
}

// extractLogOptions applies the global options -log-level and -log-format
// by setting the environment variables the log reads, so that provider
// plugins, which inherit the environment, log alike.
func extractLogOptions(args []string) ([]string, error) {
	for _, o := range []struct{ name, env, example string }{
		{"log-level", logging.EnvLevel, "a level (" + strings.Join(logging.Levels, ", ") + "), like -log-level=info"},
		{"log-format", logging.EnvFormat, "text or json, like -log-format=json"},
	} {
		v, rest, err := extractGlobal(args, o.name, o.example)
		if err != nil {
			return args, err
		}
		if v != "" {
			if err := os.Setenv(o.env, v); err != nil {
				return args, fmt.Errorf("-%s: %w", o.name, err)
			}
		}
		args = rest
	}
	return args, nil
}

// topFlags returns the options before the command that Main does not know.
func topFlags(args []string) []string {
	var out []string
	for _, arg := range args {
		if !strings.HasPrefix(arg, "-") || arg == "--" {
			break
		}
		switch strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-") {
		case "h", "help", "v", "version", autocompleteInstall, autocompleteUninstall:
		default:
			out = append(out, arg)
		}
	}
	return out
}

func hasAutocompleteFlag(args []string) bool {
	for _, arg := range args {
		switch strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-") {
		case autocompleteInstall, autocompleteUninstall:
			return true
		}
	}
	return false
}

// unknownCommand describes a command that does not exist, suggesting the
// nearest one.
func unknownCommand(name string, commands map[string]cli.CommandFactory) error {
	best, bestDist := "", 3 // suggest only close names
	for c := range commands {
		if d := levenshtein.Distance(name, c, nil); d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	msg := fmt.Sprintf("escalator has no command named %q.", name)
	if best != "" {
		msg += fmt.Sprintf(" Did you mean %q?", best)
	}
	return fmt.Errorf("%s\n\nTo see all of escalator's commands, run:\n  escalator -help", msg)
}

// helpFunc is the general help ("escalator -help").
func helpFunc(commands map[string]cli.CommandFactory) string {
	names := make([]string, 0, len(commands))
	width := 0
	for name := range commands {
		names = append(names, name)
		width = max(width, len(name))
	}
	slices.Sort(names)

	var b strings.Builder
	b.WriteString(`Usage: escalator [global options] <command> [args]

escalator upgrades an OpenStack/NFV cloud without outage. It reads an upgrade
campaign (a directory of *.hcl files), plans the rollout against the live
inventory, and applies it host by host.

Commands:
`)
	for _, name := range names {
		synopsis := ""
		if c, err := commands[name](); err == nil {
			synopsis = c.Synopsis()
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, name, synopsis)
	}
	b.WriteString("\nGlobal options (before the command):\n")
	for _, o := range [][2]string{
		{"-chdir=DIR", "Switch to directory DIR before running the command."},
		{"-log-level=LEVEL", "Log at LEVEL: trace, debug, info, warn (default), error, off."},
		{"-log-format=FORMAT", "Log as text (default) or json lines."},
		{"-help", "Show this help; after a command, show its help."},
		{"-version", `The same as the "version" command.`},
		{"-" + autocompleteInstall, "Install shell completion (bash, zsh, fish)."},
		{"-" + autocompleteUninstall, "Remove shell completion."},
	} {
		fmt.Fprintf(&b, "  %-24s  %s\n", o[0], o[1])
	}
	return strings.TrimSuffix(b.String(), "\n")
}
