package views

import (
	"path/filepath"

	"github.com/escalator-nfv/escalator/internal/diags"
)

// Fmt is the view of "escalator fmt". It has a human rendering only: its
// output (file names, diffs, source) is already what scripts consume.
type Fmt interface {
	// Changed names a file whose formatting differs (the -list output).
	Changed(path string)
	// Diff shows the changes between src and formatted as a unified diff.
	Diff(path string, src, formatted []byte)
	// Formatted writes formatted source (standard input mode, or
	// -list=false -write=false).
	Formatted(formatted []byte)
	// Diagnostics reports files that could not be parsed.
	Diagnostics(ds diags.Diagnostics, files diags.Files)
	// Errors reports problems without a source location.
	Errors(errs []error)
	HelpPrompt()
}

// NewFmt returns the Fmt view.
func NewFmt(view *View) Fmt {
	return &FmtHuman{View: view}
}

// FmtHuman writes file names, diffs and source to stdout, problems to stderr.
type FmtHuman struct {
	*View
}

var _ Fmt = (*FmtHuman)(nil)

func (v *FmtHuman) Changed(path string) {
	v.stdout().Write([]byte(path + "\n"))
}

func (v *FmtHuman) Diff(path string, src, formatted []byte) {
	p := filepath.ToSlash(path)
	v.stdout().Write(unifiedDiff("old/"+p, "new/"+p, src, formatted))
}

func (v *FmtHuman) Formatted(formatted []byte) {
	v.stdout().Write(formatted)
}

func (v *FmtHuman) HelpPrompt() { v.View.HelpPrompt("fmt") }
