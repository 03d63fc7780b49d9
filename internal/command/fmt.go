package command

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// fmtExtensions are the file name endings that fmt formats: campaign files
// and variable files.
var fmtExtensions = []string{".hcl", ".hclvars"}

// stdinName names standard input in messages.
const stdinName = "<stdin>"

// FmtCommand is "escalator fmt": it rewrites campaign files in the canonical
// format of hclwrite.Format, like terraform fmt.
type FmtCommand struct {
	Meta
}

var (
	_ cli.Command             = (*FmtCommand)(nil)
	_ cli.CommandAutocomplete = (*FmtCommand)(nil)
)

func (c *FmtCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseFmt(rawArgs)
	view := views.NewFmt(c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}

	f := &formatter{
		view:      view,
		list:      args.List,
		write:     args.Write && !args.Check,
		diff:      args.Diff,
		recursive: args.Recursive,
	}
	if args.Paths[0] == arguments.StdinPath {
		f.list, f.write = false, false
	}
	// Without anything else to show, show the formatted source, as terraform
	// fmt does (this is how standard input is formatted).
	f.source = !args.Check && !f.list && !f.write && !f.diff

	if args.Paths[0] == arguments.StdinPath {
		f.stdin(c.Streams.Stdin)
	} else {
		for _, p := range args.Paths {
			f.path(p)
		}
	}

	switch {
	case f.failed:
		return ExitFmtError
	case args.Check && f.changed:
		return ExitFmtCheck
	default:
		return ExitOK
	}
}

// formatter is one run of fmt.
type formatter struct {
	view views.Fmt

	list, write, diff, source bool
	recursive                 bool

	changed bool // some input was not formatted
	failed  bool // some input could not be read, parsed or written
}

func (f *formatter) error(err error) {
	f.failed = true
	f.view.Errors([]error{err})
}

func (f *formatter) stdin(r io.Reader) {
	src, err := io.ReadAll(r)
	if err != nil {
		f.error(fmt.Errorf("cannot read standard input: %v", err))
		return
	}
	f.format(stdinName, src)
}

// path formats a file or a directory named on the command line.
func (f *formatter) path(p string) {
	p = filepath.Clean(p)
	info, err := os.Stat(p)
	if err != nil {
		f.error(fmt.Errorf("no file or directory at %s", p))
		return
	}
	if info.IsDir() {
		f.dir(p)
		return
	}
	if !isFmtFile(p) {
		f.error(fmt.Errorf("cannot format %s: only %s files can be formatted",
			p, strings.Join(fmtExtensions, " and ")))
		return
	}
	f.file(p)
}

// dir formats the files of directory p, and of its subdirectories with
// -recursive. Hidden files and editor backups are skipped.
func (f *formatter) dir(p string) {
	entries, err := os.ReadDir(p)
	if err != nil {
		f.error(fmt.Errorf("cannot read directory %s: %v", p, unwrapPathError(err)))
		return
	}
	for _, e := range entries {
		name := e.Name()
		if isIgnoredFile(name) {
			continue
		}
		sub := filepath.Join(p, name)
		if e.IsDir() {
			if f.recursive {
				f.dir(sub)
			}
			continue
		}
		if isFmtFile(name) {
			f.file(sub)
		}
	}
}

func (f *formatter) file(p string) {
	src, err := os.ReadFile(p)
	if err != nil {
		f.error(fmt.Errorf("cannot read %s: %v", p, unwrapPathError(err)))
		return
	}
	out, ok := f.format(p, src)
	if !ok || !f.write || bytes.Equal(src, out) {
		return
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		f.error(fmt.Errorf("cannot write %s: %v", p, unwrapPathError(err)))
	}
}

// format formats src, read from name, and shows the result as the flags
// ask. It returns false if src has syntax errors.
func (f *formatter) format(name string, src []byte) ([]byte, bool) {
	// Only well-formed input is formatted: on broken input the formatter can
	// make changes that are hard to undo.
	file, hclDiags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if hclDiags.HasErrors() {
		f.failed = true
		f.view.Diagnostics(diags.Diagnostics(nil).Append(hclDiags), diags.Files{name: file})
		return nil, false
	}

	out := hclwrite.Format(src)
	if !bytes.Equal(src, out) {
		f.changed = true
		if f.list {
			f.view.Changed(name)
		}
		if f.diff {
			f.view.Diff(name, src, out)
		}
	}
	if f.source {
		f.view.Formatted(out)
	}
	return out, true
}

func isFmtFile(name string) bool {
	for _, ext := range fmtExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// isIgnoredFile reports whether a directory entry is skipped: hidden files
// and directories, and editor backup and lock files.
func isIgnoredFile(name string) bool {
	return strings.HasPrefix(name, ".") ||
		strings.HasSuffix(name, "~") ||
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#")
}

// unwrapPathError drops the operation and path that the caller's message
// already states.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (c *FmtCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] fmt [options] [DIR or FILE...]

  Rewrites campaign files (*.hcl) and variable files (*.hclvars) in the
  canonical format and style, and lists the files it changed.

  By default fmt formats the files in the current directory. Given
  directories, it formats the files in them; given files, those files. Given
  a single dash ("-"), it reads standard input and writes the formatted
  result to standard output. Files with syntax errors are reported and left
  untouched. Hidden files and directories are skipped.

Options:

  -check         Write nothing; exit with status 3 if any input is not
                 formatted, 0 if all of it is. Files that need formatting
                 are listed (unless -list=false).

  -diff          Show the formatting changes as a unified diff.

  -list=false    Don't list the files whose formatting changed.

  -write=false   Don't rewrite the files (always off with -check or "-").

  -recursive     Also format the files in subdirectories.

  -no-color      Don't use color in error messages.

Exit status: 0 on success, 1 on bad usage, 2 if some input could not be
read, parsed or written, 3 if -check found input that is not formatted.
`)
}

func (c *FmtCommand) Synopsis() string {
	return "Rewrite campaign files in the canonical format"
}

func (c *FmtCommand) AutocompleteArgs() complete.Predictor {
	return complete.PredictOr(
		complete.PredictFiles("*.hcl"),
		complete.PredictFiles("*.hclvars"),
	)
}

func (c *FmtCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{
		"-check":     complete.PredictNothing,
		"-diff":      complete.PredictNothing,
		"-list":      complete.PredictSet("true", "false"),
		"-write":     complete.PredictSet("true", "false"),
		"-recursive": complete.PredictNothing,
		"-no-color":  complete.PredictNothing,
	}
}
