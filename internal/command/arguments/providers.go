package arguments

import "errors"

// Providers is the parsed command line of "escalator providers".
type Providers struct {
	// Dir is the campaign directory, "." if none was given.
	Dir      string
	ViewType ViewType
	NoColor  bool
}

// ParseProviders parses the arguments of
// "escalator providers [-json] [-no-color] [DIR]".
func ParseProviders(args []string) (*Providers, []error) {
	p := &Providers{Dir: "."}
	var json bool
	f := newFlagSet("providers")
	f.BoolVar(&json, "json", false, "JSON output")
	f.BoolVar(&p.NoColor, "no-color", false, "no color")
	err := parseFlags(f, args)
	p.ViewType = viewType(json)
	if err != nil {
		return p, []error{err}
	}
	var errs []error
	if extra := f.Args(); len(extra) > 0 {
		p.Dir = extra[0]
		if len(extra) > 1 {
			errs = append(errs, tooManyArgs("providers", "at most one directory", extra[1:]))
		}
	}
	return p, errs
}

// ProvidersSchema is the parsed command line of
// "escalator providers schema".
type ProvidersSchema struct {
	// Dir is the campaign directory, "." if none was given.
	Dir     string
	NoColor bool
}

// errSchemaJSON is returned when -json is missing: the schemas are only
// printed as JSON, and requiring the flag leaves room for a human format
// later without changing what scripts get.
var errSchemaJSON = errors.New("the -json flag is required: escalator providers schema prints the schemas as JSON only (escalator providers schema -json)")

// ParseProvidersSchema parses the arguments of
// "escalator providers schema -json [-no-color] [DIR]".
func ParseProvidersSchema(args []string) (*ProvidersSchema, []error) {
	p := &ProvidersSchema{Dir: "."}
	var json bool
	f := newFlagSet("providers schema")
	f.BoolVar(&json, "json", false, "JSON output")
	f.BoolVar(&p.NoColor, "no-color", false, "no color")
	if err := parseFlags(f, args); err != nil {
		return p, []error{err}
	}
	var errs []error
	if !json {
		errs = append(errs, errSchemaJSON)
	}
	if extra := f.Args(); len(extra) > 0 {
		p.Dir = extra[0]
		if len(extra) > 1 {
			errs = append(errs, tooManyArgs("providers schema", "at most one directory", extra[1:]))
		}
	}
	return p, errs
}
