// Package diags holds escalator's diagnostics: errors and warnings that
// usually point at a range of configuration source, and the two ways the CLI
// prints them, as human-readable text (WriteText) and as JSON (ToJSON).
//
// Every command reports problems through this package rather than through
// bare errors so that a single run can report many problems at once, each
// tied to the file, line and column an operator has to fix.
package diags

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Severity tells whether a diagnostic stops the operation (Error) or is
// merely advice (Warning).
type Severity int

const (
	// Error is the zero value so that a Diagnostic built without an explicit
	// severity fails safe: it blocks rather than being ignored.
	Error Severity = iota
	// Warning reports something suspicious that does not stop the operation.
	Warning
)

// String returns "error" or "warning", the spelling used in JSON output.
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	default:
		return "Severity(" + strconv.Itoa(int(s)) + ")"
	}
}

// title is the capitalised label that starts a diagnostic in text output.
func (s Severity) title() string {
	switch s {
	case Error:
		return "Error"
	case Warning:
		return "Warning"
	default:
		return s.String()
	}
}

// Diagnostic is one error or warning, optionally tied to source code.
type Diagnostic struct {
	// Severity says whether this diagnostic blocks the operation.
	Severity Severity
	// Summary is a short, single-line description of the problem.
	Summary string
	// Detail is the longer explanation; it may contain several lines, and
	// lines starting with a space or tab are printed without re-wrapping.
	Detail string
	// Subject is the offending text; nil when the diagnostic is not about
	// a source location.
	Subject *hcl.Range
	// Context is an optional wider range (e.g. the whole expression) that
	// contains Subject; it only widens the source snippet that is shown.
	Context *hcl.Range
}

// Diagnostics is an ordered list of diagnostics. The zero value (nil) is an
// empty list ready for Append.
type Diagnostics []Diagnostic

// Append returns ds with items added, in the manner of the built-in append.
//
// Accepted items are Diagnostic, *Diagnostic, Diagnostics, *hcl.Diagnostic,
// hcl.Diagnostics and error. A plain error becomes an Error diagnostic whose
// Summary is err.Error(); an error obtained from Errs or Err is turned back
// into the diagnostic(s) it came from, so ranges survive a trip through code
// that only knows about errors. Nil items (including nil pointers) are
// ignored. Any other type is a programming error and panics.
func (ds Diagnostics) Append(items ...any) Diagnostics {
	for _, item := range items {
		// hcl.Diagnostics and *hcl.Diagnostic implement error, so they must
		// be matched before the generic error case.
		switch item := item.(type) {
		case nil:
		case Diagnostic:
			ds = append(ds, item)
		case *Diagnostic:
			if item != nil {
				ds = append(ds, *item)
			}
		case Diagnostics:
			ds = append(ds, item...)
		case *hcl.Diagnostic:
			if item != nil {
				ds = append(ds, FromHCL(item))
			}
		case hcl.Diagnostics:
			for _, d := range item {
				if d != nil {
					ds = append(ds, FromHCL(d))
				}
			}
		case error:
			ds = appendError(ds, item)
		default:
			panic(fmt.Sprintf("diags: Append of unsupported type %T", item))
		}
	}
	return ds
}

// appendError converts err, restoring the original diagnostics when err was
// produced by Errs or Err.
func appendError(ds Diagnostics, err error) Diagnostics {
	if de, ok := err.(*diagError); ok {
		return append(ds, de.diag)
	}
	if leaves, ok := diagLeaves(err); ok {
		for _, de := range leaves {
			ds = append(ds, de.diag)
		}
		return ds
	}
	return append(ds, Diagnostic{Severity: Error, Summary: err.Error()})
}

// diagLeaves reports the diagnostics inside an errors.Join tree, but only
// when every leaf is one of ours: splitting a join that also holds foreign
// errors would change how those are reported.
func diagLeaves(err error) ([]*diagError, bool) {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil, false
	}
	var out []*diagError
	for _, e := range joined.Unwrap() {
		if de, ok := e.(*diagError); ok {
			out = append(out, de)
			continue
		}
		sub, ok := diagLeaves(e)
		if !ok {
			return nil, false
		}
		out = append(out, sub...)
	}
	return out, true
}

// HasErrors reports whether any diagnostic has Error severity.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errs returns one error per Error-severity diagnostic, for code that can
// only deal in errors. The message is "file:line:col: summary: detail" when
// the diagnostic has a Subject, "summary: detail" otherwise (": detail" is
// dropped when Detail is empty). Warnings are not included.
func (ds Diagnostics) Errs() []error {
	var errs []error
	for _, d := range ds {
		if d.Severity == Error {
			errs = append(errs, &diagError{diag: d})
		}
	}
	return errs
}

// Err returns nil if ds has no errors, otherwise errors.Join of Errs().
func (ds Diagnostics) Err() error {
	return errors.Join(ds.Errs()...)
}

// Sort orders ds in place for presentation: by filename, then start byte,
// then severity (errors first), then summary. Diagnostics without a Subject
// go last, keeping their original order; the sort is stable throughout.
func (ds Diagnostics) Sort() {
	slices.SortStableFunc(ds, compare)
}

func compare(a, b Diagnostic) int {
	switch {
	case a.Subject == nil && b.Subject == nil:
		return 0
	case a.Subject == nil:
		return 1
	case b.Subject == nil:
		return -1
	}
	return cmp.Or(
		strings.Compare(a.Subject.Filename, b.Subject.Filename),
		cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte),
		cmp.Compare(a.Severity, b.Severity),
		strings.Compare(a.Summary, b.Summary),
	)
}

// Errorf returns an Error diagnostic about subject (which may be nil) whose
// Detail is fmt.Sprintf(detailFormat, args...).
func Errorf(subject *hcl.Range, summary, detailFormat string, args ...any) Diagnostic {
	return Diagnostic{
		Severity: Error,
		Summary:  summary,
		Detail:   fmt.Sprintf(detailFormat, args...),
		Subject:  copyRange(subject),
	}
}

// Warningf is like Errorf but returns a Warning diagnostic.
func Warningf(subject *hcl.Range, summary, detailFormat string, args ...any) Diagnostic {
	d := Errorf(subject, summary, detailFormat, args...)
	d.Severity = Warning
	return d
}

// FromHCL converts an HCL diagnostic, which must not be nil. HCL's invalid
// (zero) severity becomes Error so that it is not silently ignored; the
// Expression, EvalContext and Extra fields have no equivalent and are
// dropped.
func FromHCL(d *hcl.Diagnostic) Diagnostic {
	sev := Error
	if d.Severity == hcl.DiagWarning {
		sev = Warning
	}
	return Diagnostic{
		Severity: sev,
		Summary:  d.Summary,
		Detail:   d.Detail,
		Subject:  copyRange(d.Subject),
		Context:  copyRange(d.Context),
	}
}

// copyRange keeps a diagnostic from aliasing a range the caller may later
// modify (HCL AST nodes hand out pointers into themselves).
func copyRange(r *hcl.Range) *hcl.Range {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// diagError is the error form of an Error diagnostic. It keeps the whole
// diagnostic so Append can restore it.
type diagError struct {
	diag Diagnostic
}

func (e *diagError) Error() string {
	var b strings.Builder
	if e.diag.Subject != nil {
		b.WriteString(position(*e.diag.Subject))
		b.WriteString(": ")
	}
	b.WriteString(e.diag.Summary)
	if e.diag.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.diag.Detail)
	}
	return b.String()
}

// position formats the start of r as "file:line:col", the form editors and
// CI log parsers recognise. A range without line information (line 0)
// yields just the filename rather than a misleading ":0:0".
func position(r hcl.Range) string {
	if r.Start.Line <= 0 {
		return r.Filename
	}
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
