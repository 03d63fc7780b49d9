package views

import (
	"fmt"

	"github.com/escalator-nfv/escalator/internal/diags"
)

// InitProvider is one provider escalator init resolved and locked.
type InitProvider struct {
	Name     string
	Version  string
	Path     string
	SHA256   string
	Protocol int
	// Change is how the lock entry changed: "new", "unchanged" or
	// "upgraded" (the plugin changed and -upgrade accepted it).
	Change string
	// Previous is the entry replaced, for "upgraded": "VERSION (sha256
	// HASH)".
	Previous string
	// Shadowed are other executables of the provider that discovery
	// skipped because this one comes first.
	Shadowed []string
}

// InitResult is the outcome of escalator init.
type InitResult struct {
	// LockFile is the lock file's path.
	LockFile string
	// Written reports whether the lock file was (re)written; false when
	// it was already up to date, or on errors.
	Written bool
	// Removed are lock entries dropped because the campaign no longer
	// requires them.
	Removed []string
}

// Init is the view of "escalator init".
type Init interface {
	// Start announces the campaign directory.
	Start(dir string)
	// Provider reports one provider as it is locked.
	Provider(p InitProvider)
	// Result reports the outcome and every diagnostic.
	Result(ds diags.Diagnostics, files diags.Files, r InitResult)
	Errors(errs []error)
	HelpPrompt()
}

// NewInit returns the human view of escalator init, the only one.
func NewInit(view *View) Init {
	return &InitHuman{View: view}
}

// InitHuman prints progress and the result on stdout, diagnostics on
// stderr.
type InitHuman struct {
	*View
}

var _ Init = (*InitHuman)(nil)

func (v *InitHuman) Start(dir string) {
	fmt.Fprintf(v.stdout(), "Finding the provider plugins of the campaign in %s:\n", dir)
}

func (v *InitHuman) Provider(p InitProvider) {
	note := ""
	switch p.Change {
	case "new":
		note = " (newly locked)"
	case "upgraded":
		note = " (upgraded; was " + p.Previous + ")"
	case "unchanged":
		note = " (unchanged)"
	}
	fmt.Fprintf(v.stdout(), "- %s %s%s\n", p.Name, p.Version, note)
	fmt.Fprintf(v.stdout(), "    path:     %s\n", p.Path)
	fmt.Fprintf(v.stdout(), "    sha256:   %s\n", p.SHA256)
	fmt.Fprintf(v.stdout(), "    protocol: %d\n", p.Protocol)
	for _, s := range p.Shadowed {
		fmt.Fprintf(v.stdout(), "    shadows:  %s\n", s)
	}
}

func (v *InitHuman) Result(ds diags.Diagnostics, files diags.Files, r InitResult) {
	if len(ds) > 0 {
		v.Diagnostics(ds, files)
	}
	if ds.HasErrors() {
		errs, _ := count(ds)
		fmt.Fprintf(v.stderr(), "\nescalator init failed: %s. The lock file %s was not changed.\n", plural(errs, "error"), r.LockFile)
		return
	}
	for _, n := range r.Removed {
		fmt.Fprintf(v.stdout(), "- %s removed from the lock file: the campaign no longer requires it\n", n)
	}
	if r.Written {
		fmt.Fprintf(v.stdout(), "\nescalator wrote the lock file %s. Commit it with the campaign.\n", r.LockFile)
		return
	}
	fmt.Fprintf(v.stdout(), "\nThe lock file %s is up to date.\n", r.LockFile)
}

func (v *InitHuman) HelpPrompt() { v.View.HelpPrompt("init") }
