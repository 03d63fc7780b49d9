package arguments

// Validate is the parsed command line of "escalator validate".
type Validate struct {
	// Dir is the campaign directory, "." if none was given.
	Dir      string
	ViewType ViewType
	NoColor  bool
	// Vars are the -var and -var-file options in command-line order.
	Vars []VarArg
}

// ParseValidate parses the arguments of
// "escalator validate [-json] [-no-color] [-var 'NAME=VALUE']... [-var-file=FILE]... [DIR]".
func ParseValidate(args []string) (*Validate, []error) {
	var errs []error
	v := &Validate{Dir: "."}

	var json bool
	var vars varsCollector
	f := newFlagSet("validate")
	f.BoolVar(&json, "json", false, "JSON output")
	f.BoolVar(&v.NoColor, "no-color", false, "no color")
	vars.addFlags(f)
	flagErr := parseFlags(f, args)
	v.ViewType = viewType(json)
	v.Vars = vars.vars
	errs = append(errs, vars.errs...)
	if flagErr != nil {
		// The remaining arguments are meaningless after a bad flag.
		return v, append(errs, flagErr)
	}

	if extra := f.Args(); len(extra) > 0 {
		v.Dir = extra[0]
		if len(extra) > 1 {
			errs = append(errs, tooManyArgs("validate", "at most one directory", extra[1:]))
		}
	}
	return v, errs
}
