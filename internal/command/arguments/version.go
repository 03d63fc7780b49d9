package arguments

// Version is the parsed command line of "escalator version".
type Version struct {
	ViewType ViewType
}

// ParseVersion parses the arguments of "escalator version [-json]".
func ParseVersion(args []string) (*Version, []error) {
	v := &Version{}

	var json bool
	f := newFlagSet("version")
	f.BoolVar(&json, "json", false, "JSON output")
	err := parseFlags(f, args)
	v.ViewType = viewType(json)
	if err != nil {
		return v, []error{err}
	}

	if extra := f.Args(); len(extra) > 0 {
		return v, []error{tooManyArgs("version", "no arguments", extra)}
	}
	return v, nil
}
