// Package command holds escalator's CLI commands, one file per command.
//
// A command glues three things together and holds no business logic:
// package arguments turns its command line into a typed struct, the core
// packages do the work, and package views renders the result. Commands are
// built by the factories in Commands and run by Main, on top of
// github.com/hashicorp/cli.
package command

import (
	"github.com/escalator-nfv/escalator/internal/command/views"
)

// Exit codes. Every command returns ExitOK or ExitError unless it documents
// more (fmt does).
const (
	ExitOK    = 0
	ExitError = 1

	// ExitFmtError is returned by fmt when some input could not be read,
	// parsed or written.
	ExitFmtError = 2
	// ExitFmtCheck is returned by "fmt -check" when some input is not in the
	// canonical format (the code terraform fmt -check uses).
	ExitFmtCheck = 3
)

// Meta is what every command is built with. Keep it small: settings that
// only one command needs belong in that command's arguments.
type Meta struct {
	// Streams are where the command reads input and writes output.
	Streams *views.Streams
}

// newView returns the base view over the command's streams.
func (m *Meta) newView(noColor bool) *views.View {
	v := views.NewView(m.Streams)
	v.NoColor = noColor
	return v
}
