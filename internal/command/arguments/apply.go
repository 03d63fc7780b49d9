package arguments

import (
	"fmt"
	"time"
)

// Apply is the parsed command line of "escalator apply".
type Apply struct {
	// PlanFile is the saved plan to carry out, "" to plan now (or resume).
	PlanFile    string
	AutoApprove bool
	Parallelism int
	ViewType    ViewType
	NoColor     bool
	Vars        []VarArg
	// Listen serves the API during the apply when Listen.Listen is set.
	Listen Listen
}

// ParseApply parses "escalator apply [-auto-approve] [-parallelism=N] [-json] [-no-color] [-var …] [FILE]".
// The campaign is the current directory (use -chdir).
func ParseApply(args []string) (*Apply, []error) {
	a := &Apply{Parallelism: DefaultParallelism}
	var json bool
	var vars varsCollector
	f := newFlagSet("apply")
	f.BoolVar(&a.AutoApprove, "auto-approve", false, "do not ask")
	f.IntVar(&a.Parallelism, "parallelism", DefaultParallelism, "hosts at once")
	f.BoolVar(&json, "json", false, "JSON lines")
	f.BoolVar(&a.NoColor, "no-color", false, "no color")
	vars.addFlags(f)
	a.Listen.addFlags(f, "")
	err := parseFlags(f, args)
	a.ViewType = viewType(json)
	a.Vars = vars.vars
	errs := vars.errs
	if err != nil {
		return a, append(errs, err)
	}
	if a.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("invalid -parallelism=%d: it must be at least 1", a.Parallelism))
		a.Parallelism = 1
	}
	if extra := f.Args(); len(extra) > 0 {
		a.PlanFile = extra[0]
		if len(extra) > 1 {
			errs = append(errs, tooManyArgs("apply", "at most one plan file (the campaign is the current directory; use -chdir)", extra[1:]))
		}
	}
	if a.PlanFile != "" && len(a.Vars) > 0 {
		errs = append(errs, fmt.Errorf("-var and -var-file can't be used with a saved plan: it was made with its own values; plan again to change them"))
	}
	return a, errs
}

// Status is the parsed command line of "escalator status".
type Status struct {
	ViewType ViewType
	NoColor  bool
	// Watch redraws every Interval until the run stops.
	Watch    bool
	Interval time.Duration
}

// ParseStatus parses "escalator status [-json] [-no-color] [-watch] [-interval=D]".
func ParseStatus(args []string) (*Status, []error) {
	s := &Status{}
	var json bool
	f := newFlagSet("status")
	f.BoolVar(&json, "json", false, "JSON")
	f.BoolVar(&s.NoColor, "no-color", false, "no color")
	f.BoolVar(&s.Watch, "watch", false, "redraw until the run stops")
	f.DurationVar(&s.Interval, "interval", 2*time.Second, "redraw interval")
	if err := parseFlags(f, args); err != nil {
		return s, []error{err}
	}
	if s.Interval < 100*time.Millisecond {
		return s, []error{fmt.Errorf("invalid -interval=%s: it must be at least 100ms", s.Interval)}
	}
	s.ViewType = viewType(json)
	if extra := f.Args(); len(extra) > 0 {
		return s, []error{tooManyArgs("status", "no arguments (the campaign is the current directory; use -chdir)", extra)}
	}
	return s, nil
}

// Rollback is the parsed command line of "escalator rollback".
type Rollback struct {
	AutoApprove bool
	// Restore restores from backups instead of downgrading.
	Restore bool
	// AllowCold allows cold migrations where no live one can be done.
	AllowCold   bool
	Parallelism int
	ViewType    ViewType
	NoColor     bool
	Vars        []VarArg
}

// ParseRollback parses "escalator rollback [-restore] [-allow-cold] [-auto-approve] [-json] [-no-color] [-var …]".
func ParseRollback(args []string) (*Rollback, []error) {
	r := &Rollback{Parallelism: DefaultParallelism}
	var json bool
	var vars varsCollector
	f := newFlagSet("rollback")
	vars.addFlags(f)
	f.BoolVar(&r.AutoApprove, "auto-approve", false, "do not ask")
	f.BoolVar(&r.Restore, "restore", false, "restore from backups")
	f.BoolVar(&r.AllowCold, "allow-cold", false, "allow cold migrations")
	f.BoolVar(&json, "json", false, "JSON lines")
	f.BoolVar(&r.NoColor, "no-color", false, "no color")
	if err := parseFlags(f, args); err != nil {
		return r, append(vars.errs, err)
	}
	r.ViewType, r.Vars = viewType(json), vars.vars
	if len(vars.errs) > 0 {
		return r, vars.errs
	}
	if extra := f.Args(); len(extra) > 0 {
		return r, []error{tooManyArgs("rollback", "no arguments (it reverses the campaign's last run; the campaign is the current directory, use -chdir)", extra)}
	}
	if json && !r.AutoApprove {
		return r, []error{fmt.Errorf("-json needs -auto-approve: there is no one to answer the confirmation")}
	}
	return r, nil
}

// ForceUnlock is the parsed command line of "escalator force-unlock".
type ForceUnlock struct {
	LockID string
	Force  bool
}

// ParseForceUnlock parses "escalator force-unlock [-force] LOCK_ID".
func ParseForceUnlock(args []string) (*ForceUnlock, []error) {
	u := &ForceUnlock{}
	f := newFlagSet("force-unlock")
	f.BoolVar(&u.Force, "force", false, "do not ask")
	if err := parseFlags(f, args); err != nil {
		return u, []error{err}
	}
	switch extra := f.Args(); len(extra) {
	case 0:
		return u, []error{fmt.Errorf("force-unlock needs the lock ID: the refused command printed it (\"lock ID …\"); escalator status shows the holder")}
	case 1:
		u.LockID = extra[0]
	default:
		return u, []error{tooManyArgs("force-unlock", "one lock ID", extra[1:])}
	}
	return u, nil
}
