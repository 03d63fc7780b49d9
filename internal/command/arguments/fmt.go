package arguments

import "fmt"

// StdinPath is the path argument that makes fmt read standard input and
// write the formatted result to standard output.
const StdinPath = "-"

// Fmt is the parsed command line of "escalator fmt".
type Fmt struct {
	// List prints the name of each file whose formatting changed (-list,
	// default true).
	List bool
	// Write rewrites files in place (-write, default true). The fmt command
	// ignores it with -check or when reading standard input.
	Write bool
	// Diff prints a unified diff of the changes (-diff).
	Diff bool
	// Check writes nothing and makes the exit status say whether all input
	// was already formatted (-check).
	Check bool
	// Recursive descends into subdirectories (-recursive).
	Recursive bool
	// NoColor disables color in error messages (-no-color).
	NoColor bool
	// Paths are the files and directories to format, ["."] if none were
	// given, or [StdinPath].
	Paths []string
}

// ParseFmt parses the arguments of
// "escalator fmt [-check] [-diff] [-list=true] [-write=true] [-recursive] [-no-color] [DIR or FILE...]".
func ParseFmt(args []string) (*Fmt, []error) {
	var errs []error
	a := &Fmt{}

	f := newFlagSet("fmt")
	f.BoolVar(&a.List, "list", true, "list changed files")
	f.BoolVar(&a.Write, "write", true, "write changes to files")
	f.BoolVar(&a.Diff, "diff", false, "show diffs")
	f.BoolVar(&a.Check, "check", false, "check only")
	f.BoolVar(&a.Recursive, "recursive", false, "descend into subdirectories")
	f.BoolVar(&a.NoColor, "no-color", false, "no color")
	if err := parseFlags(f, args); err != nil {
		// The remaining arguments are meaningless after a bad flag.
		a.Paths = []string{"."}
		return a, append(errs, err)
	}

	a.Paths = f.Args()
	if len(a.Paths) == 0 {
		a.Paths = []string{"."}
	}
	if len(a.Paths) > 1 {
		for _, p := range a.Paths {
			if p == StdinPath {
				errs = append(errs, fmt.Errorf(
					"%q (standard input) cannot be combined with other paths", StdinPath))
				break
			}
		}
	}
	return a, errs
}
