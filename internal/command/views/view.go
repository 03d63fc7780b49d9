// Package views renders the output of escalator's commands.
//
// Each command has one interface here (Version, Fmt, ...) with one
// implementation per output format it supports, chosen from an
// arguments.ViewType by a NewX constructor. Implementations embed *View,
// which holds the streams and the shared renderings: errors, diagnostics and
// the help prompt. Commands never write to a stream themselves.
package views

import (
	"fmt"
	"io"
	"os"

	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/mattn/go-isatty"
)

// Streams are where a command reads input and writes output. Commands take
// them as a value so that tests can use buffers instead of the process's
// standard streams.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Color allows VT100 color sequences in messages written to Stderr.
	// StdStreams sets it when Stderr is a terminal and NO_COLOR is unset;
	// a command's -no-color flag turns it off for that run.
	Color bool
	// Terminal is set when Stdout is a terminal: views may then redraw
	// (apply's live progress, status -watch).
	Terminal bool
}

// StdStreams returns the process's standard streams.
func StdStreams() *Streams {
	_, noColor := os.LookupEnv("NO_COLOR")
	fd, out := os.Stderr.Fd(), os.Stdout.Fd()
	return &Streams{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Color:    !noColor && (isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)),
		Terminal: isatty.IsTerminal(out) || isatty.IsCygwinTerminal(out),
	}
}

// View is the part of every view that does not depend on the command.
type View struct {
	streams *Streams

	// NoColor disables color even where Streams allows it (-no-color).
	NoColor bool
}

// NewView returns a View writing to streams.
func NewView(streams *Streams) *View {
	return &View{streams: streams}
}

// Stdout and Stderr give the streams to the views in this package.
func (v *View) stdout() io.Writer { return v.streams.Stdout }
func (v *View) stderr() io.Writer { return v.streams.Stderr }

func (v *View) color() bool { return v.streams.Color && !v.NoColor }

// Errors reports errors that have no place in a file, such as bad
// command-line arguments, on stderr.
func (v *View) Errors(errs []error) {
	var ds diags.Diagnostics
	for _, err := range errs {
		ds = ds.Append(diags.Diagnostic{Severity: diags.Error, Summary: err.Error()})
	}
	v.Diagnostics(ds, nil)
}

// Diagnostics reports diagnostics on stderr, with a snippet of the source
// for those whose file is in files.
func (v *View) Diagnostics(ds diags.Diagnostics, files diags.Files) {
	// A closed stderr leaves nowhere to report the failure to write.
	_ = diags.WriteAllText(v.stderr(), ds, files, diags.TextOptions{Color: v.color()})
}

// HelpPrompt tells the user, on stderr, how to see the help of command; it
// follows errors in the command line.
func (v *View) HelpPrompt(command string) {
	fmt.Fprintf(v.stderr(), "For more help on using this command, run:\n  escalator %s -help\n", command)
}
