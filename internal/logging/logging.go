// Package logging sets up escalator's log: one go-hclog logger for the whole
// CLI, configured from the environment, writing to standard error.
//
// The log is for operators and developers looking into a run; it is not the
// command's output (that goes through internal/command/views) and it is off
// for everything below warnings unless asked for:
//
//	ESCALATOR_LOG=trace|debug|info|warn|error|off   (default warn)
//	ESCALATOR_LOG_FORMAT=text|json                  (default text)
//
// Provider plugins get child loggers named "provider.NAME"; what a plugin
// writes to its standard error (plain lines or hclog JSON lines) is folded
// into this log under that name by internal/pluginhost.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// Environment variables read by Setup. Plugins inherit them, so an SDK
// plugin logs at the same level and in the same format as escalator.
const (
	// EnvLevel selects the lowest level logged.
	EnvLevel = "ESCALATOR_LOG"
	// EnvFormat selects text or json lines.
	EnvFormat = "ESCALATOR_LOG_FORMAT"
)

// DefaultLevel is the level when EnvLevel is unset: warnings and errors
// only, so a normal run prints nothing but the command's own output.
const DefaultLevel = hclog.Warn

// Levels are the accepted values of EnvLevel, most verbose first.
var Levels = []string{"trace", "debug", "info", "warn", "error", "off"}

// Options configure New.
type Options struct {
	// Level is a name from Levels; empty means DefaultLevel.
	Level string
	// Format is "text" or "json"; empty means text.
	Format string
	// Output receives the log lines; nil means os.Stderr.
	Output io.Writer
}

// OptionsFromEnv reads EnvLevel and EnvFormat through getenv (os.Getenv, or
// a stub in tests).
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{Level: getenv(EnvLevel), Format: getenv(EnvFormat)}
}

// New returns a logger configured by opts. An unknown level or format is
// not fatal (a typo in an environment variable must not stop an upgrade):
// the default is used and the mistake is logged as a warning on the logger
// itself, which DefaultLevel shows.
func New(opts Options) hclog.Logger {
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	var problems []string
	level := DefaultLevel
	if s := strings.TrimSpace(opts.Level); s != "" {
		if l := hclog.LevelFromString(s); l != hclog.NoLevel {
			level = l
		} else {
			problems = append(problems, fmt.Sprintf("%s=%q is not a log level; use one of %s. Logging at %s.",
				EnvLevel, opts.Level, strings.Join(Levels, ", "), DefaultLevel))
		}
	}
	jsonFormat := false
	switch f := strings.ToLower(strings.TrimSpace(opts.Format)); f {
	case "", "text":
	case "json":
		jsonFormat = true
	default:
		problems = append(problems, fmt.Sprintf("%s=%q is not a log format; use text or json. Logging as text.", EnvFormat, opts.Format))
	}
	l := hclog.New(&hclog.LoggerOptions{
		Level:      level,
		Output:     out,
		JSONFormat: jsonFormat,
		// Children (provider.NAME) follow the root's level, so that a
		// level set once applies to every plugin too.
		IndependentLevels: false,
	})
	for _, p := range problems {
		l.Warn(p)
	}
	return l
}

// root is the process-wide logger; until Setup runs it logs warnings and
// errors to os.Stderr, so library code can always log.
var root atomic.Pointer[hclog.Logger]

func init() {
	l := New(Options{})
	root.Store(&l)
}

// Setup configures the process-wide logger from the environment, writing to
// w (os.Stderr when nil), and returns it. The CLI calls it once at start.
func Setup(w io.Writer) hclog.Logger {
	opts := OptionsFromEnv(os.Getenv)
	opts.Output = w
	l := New(opts)
	SetLogger(l)
	return l
}

// SetLogger replaces the process-wide logger (tests use it to capture the
// log).
func SetLogger(l hclog.Logger) {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	root.Store(&l)
}

// Logger returns the process-wide logger.
func Logger() hclog.Logger {
	return *root.Load()
}

// Named returns a child of the process-wide logger for one part of
// escalator, such as "pluginhost".
func Named(name string) hclog.Logger {
	return Logger().Named(name)
}

// ProviderName is the logger name of provider NAME's plugin.
func ProviderName(name string) string {
	return "provider." + name
}

// Provider returns the logger of provider NAME's plugin: what the plugin
// writes to its standard error, and what escalator logs about it.
func Provider(name string) hclog.Logger {
	return Logger().Named(ProviderName(name))
}
