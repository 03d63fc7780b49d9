package arguments

import "fmt"

// Plan is the parsed command line of "escalator plan".
type Plan struct {
	// Dir is the campaign directory, "." if none was given.
	Dir      string
	ViewType ViewType
	NoColor  bool
	Vars     []VarArg
	// Out is the file to save the plan to, "" for none.
	Out string
	// DetailedExitCode: exit 0 for no changes, 2 for changes, 1 on error.
	DetailedExitCode bool
	// Parallelism bounds concurrent calls to providers while planning.
	Parallelism int
}

// DefaultParallelism is the default of -parallelism.
const DefaultParallelism = 10

// ParsePlan parses
// "escalator plan [-out=FILE] [-json] [-no-color] [-var …] [-var-file=…] [-detailed-exitcode] [-parallelism=N] [DIR]".
func ParsePlan(args []string) (*Plan, []error) {
	var errs []error
	p := &Plan{Dir: ".", Parallelism: DefaultParallelism}
	var json bool
	var vars varsCollector
	f := newFlagSet("plan")
	f.BoolVar(&json, "json", false, "JSON output")
	f.BoolVar(&p.NoColor, "no-color", false, "no color")
	f.StringVar(&p.Out, "out", "", "save the plan")
	f.BoolVar(&p.DetailedExitCode, "detailed-exitcode", false, "exit 2 on changes")
	f.IntVar(&p.Parallelism, "parallelism", DefaultParallelism, "concurrent provider calls")
	vars.addFlags(f)
	flagErr := parseFlags(f, args)
	p.ViewType = viewType(json)
	p.Vars = vars.vars
	errs = append(errs, vars.errs...)
	if flagErr != nil {
		return p, append(errs, flagErr)
	}
	if p.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("invalid -parallelism=%d: it must be at least 1", p.Parallelism))
		p.Parallelism = 1
	}
	if extra := f.Args(); len(extra) > 0 {
		p.Dir = extra[0]
		if len(extra) > 1 {
			errs = append(errs, tooManyArgs("plan", "at most one directory", extra[1:]))
		}
	}
	return p, errs
}

// Show is the parsed command line of "escalator show".
type Show struct {
	Path     string
	ViewType ViewType
	NoColor  bool
}

// ParseShow parses "escalator show [-json] [-no-color] FILE".
func ParseShow(args []string) (*Show, []error) {
	s := &Show{}
	var json bool
	f := newFlagSet("show")
	f.BoolVar(&json, "json", false, "JSON output")
	f.BoolVar(&s.NoColor, "no-color", false, "no color")
	if err := parseFlags(f, args); err != nil {
		return s, []error{err}
	}
	s.ViewType = viewType(json)
	switch extra := f.Args(); len(extra) {
	case 0:
		return s, []error{fmt.Errorf("show needs the plan file to show: escalator show FILE (make one with escalator plan -out=FILE)")}
	case 1:
		s.Path = extra[0]
	default:
		s.Path = extra[0]
		return s, []error{tooManyArgs("show", "one plan file", extra[1:])}
	}
	return s, nil
}

// Graph is the parsed command line of "escalator graph".
type Graph struct {
	Dir string
	// Type is "components" (the dependency graph of the campaign) or
	// "plan" (the waves of a saved plan, given by PlanFile).
	Type     string
	PlanFile string
}

// ParseGraph parses "escalator graph [-type=components|plan] [-plan=FILE] [DIR]".
func ParseGraph(args []string) (*Graph, []error) {
	g := &Graph{Dir: ".", Type: "components"}
	f := newFlagSet("graph")
	f.StringVar(&g.Type, "type", "components", "components or plan")
	f.StringVar(&g.PlanFile, "plan", "", "saved plan for -type=plan")
	if err := parseFlags(f, args); err != nil {
		return g, []error{err}
	}
	var errs []error
	switch g.Type {
	case "components":
		if g.PlanFile != "" {
			errs = append(errs, fmt.Errorf("-plan only applies to -type=plan"))
		}
	case "plan":
		if g.PlanFile == "" {
			errs = append(errs, fmt.Errorf("-type=plan needs a saved plan: escalator graph -type=plan -plan=FILE"))
		}
	default:
		errs = append(errs, fmt.Errorf("invalid -type=%q: it is \"components\" or \"plan\"", g.Type))
	}
	if extra := f.Args(); len(extra) > 0 {
		g.Dir = extra[0]
		if len(extra) > 1 {
			errs = append(errs, tooManyArgs("graph", "at most one directory", extra[1:]))
		}
	}
	return g, errs
}
