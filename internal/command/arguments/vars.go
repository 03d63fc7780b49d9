package arguments

import (
	"flag"
	"fmt"
	"strings"
)

// VarArg is one -var or -var-file option, in command-line order. Exactly one
// of Name and File is set: Name (with Value) for -var 'NAME=VALUE', File for
// -var-file=FILE. Later options override earlier ones, so the order matters
// and is kept.
type VarArg struct {
	Name  string
	Value string
	File  string
}

// IsFile reports whether v came from -var-file.
func (v VarArg) IsFile() bool { return v.File != "" }

func (v VarArg) String() string {
	if v.IsFile() {
		return fmt.Sprintf("-var-file=%s", v.File)
	}
	return fmt.Sprintf("-var '%s=%s'", v.Name, v.Value)
}

// varsCollector gathers -var and -var-file in one slice so that their
// relative order survives. Malformed values are recorded, not returned from
// Set, so that every bad option is reported instead of only the first.
type varsCollector struct {
	vars []VarArg
	errs []error
}

// addFlags registers -var and -var-file on f.
func (c *varsCollector) addFlags(f *flag.FlagSet) {
	f.Var(varFlag{c}, "var", "set a variable: -var 'NAME=VALUE'")
	f.Var(varFileFlag{c}, "var-file", "read variables from a file")
}

type varFlag struct{ c *varsCollector }

func (varFlag) String() string { return "" }

func (f varFlag) Set(raw string) error {
	name, value, ok := strings.Cut(raw, "=")
	switch {
	case !ok:
		f.c.errs = append(f.c.errs, fmt.Errorf(
			"invalid -var %q: expected NAME=VALUE, like -var 'region=east'", raw))
	case strings.TrimSpace(name) == "":
		f.c.errs = append(f.c.errs, fmt.Errorf(
			"invalid -var %q: the variable name before \"=\" is empty", raw))
	case strings.TrimSpace(name) != name:
		f.c.errs = append(f.c.errs, fmt.Errorf(
			"invalid -var %q: the variable name %q has leading or trailing spaces; did you mean -var '%s=%s'?",
			raw, name, strings.TrimSpace(name), strings.TrimLeft(value, " ")))
	default:
		f.c.vars = append(f.c.vars, VarArg{Name: name, Value: value})
	}
	return nil
}

type varFileFlag struct{ c *varsCollector }

func (varFileFlag) String() string { return "" }

func (f varFileFlag) Set(raw string) error {
	if raw == "" {
		f.c.errs = append(f.c.errs, fmt.Errorf("invalid -var-file: the file name is empty"))
		return nil
	}
	f.c.vars = append(f.c.vars, VarArg{File: raw})
	return nil
}
