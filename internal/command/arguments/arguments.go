// Package arguments turns the command-line arguments of each escalator
// command into a typed struct.
//
// A parser never prints and never exits: ParseX(args) returns the best
// interpretation it could make of args (never nil, so a command can still
// pick a view) and the problems it found, each a plain error whose message
// can be shown to the user as is. The command decides how to show them.
package arguments

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// ViewType selects how a command renders its output.
type ViewType int

const (
	// ViewHuman is text for a person at a terminal. It is the zero value.
	ViewHuman ViewType = iota
	// ViewJSON is machine-readable JSON, selected with -json.
	ViewJSON
)

func (v ViewType) String() string {
	switch v {
	case ViewHuman:
		return "human"
	case ViewJSON:
		return "json"
	default:
		return fmt.Sprintf("ViewType(%d)", int(v))
	}
}

// viewType maps the -json flag to a ViewType.
func viewType(json bool) ViewType {
	if json {
		return ViewJSON
	}
	return ViewHuman
}

// newFlagSet returns a flag set that reports errors to its caller only:
// nothing is printed, and -h/-help are not special (hashicorp/cli handles
// them before a command runs).
func newFlagSet(name string) *flag.FlagSet {
	f := flag.NewFlagSet(name, flag.ContinueOnError)
	f.SetOutput(io.Discard)
	f.Usage = func() {}
	return f
}

// parseFlags parses args with f and returns the error, if any, in words
// meant for the user.
func parseFlags(f *flag.FlagSet, args []string) error {
	err := f.Parse(args)
	if err == nil {
		return nil
	}
	if err == flag.ErrHelp {
		// Only reachable when -h/-help come after "--" and the flag set
		// sees them anyway; treat them like any other unknown flag.
		return fmt.Errorf("flag provided but not defined: -help")
	}
	return err
}

// tooManyArgs describes positional arguments beyond those a command accepts.
// Go's flag package stops at the first non-flag argument, so a common cause
// is a flag written after the directory; the message says so.
func tooManyArgs(command, want string, extra []string) error {
	quoted := make([]string, len(extra))
	for i, a := range extra {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	msg := fmt.Sprintf("too many command-line arguments: %s takes %s, got unexpected %s",
		command, want, strings.Join(quoted, " "))
	for _, a := range extra {
		if strings.HasPrefix(a, "-") {
			msg += "; flags must come before positional arguments"
			break
		}
	}
	return fmt.Errorf("%s", msg)
}
