package arguments

// Init is the parsed command line of "escalator init".
type Init struct {
	// Dir is the campaign directory, "." if none was given.
	Dir string
	// Upgrade replaces lock entries whose plugin changed, instead of
	// refusing them.
	Upgrade bool
	NoColor bool
}

// ParseInit parses the arguments of "escalator init [-upgrade] [-no-color] [DIR]".
func ParseInit(args []string) (*Init, []error) {
	in := &Init{Dir: "."}
	f := newFlagSet("init")
	f.BoolVar(&in.Upgrade, "upgrade", false, "accept changed plugins")
	f.BoolVar(&in.NoColor, "no-color", false, "no color")
	if err := parseFlags(f, args); err != nil {
		return in, []error{err}
	}
	var errs []error
	if extra := f.Args(); len(extra) > 0 {
		in.Dir = extra[0]
		if len(extra) > 1 {
			errs = append(errs, tooManyArgs("init", "at most one directory", extra[1:]))
		}
	}
	return in, errs
}
