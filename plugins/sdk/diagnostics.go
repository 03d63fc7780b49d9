package sdk

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
)

// Severity of a diagnostic.
type Severity int

// The severities.
const (
	Error Severity = iota + 1
	Warning
)

// Diagnostic is a problem reported to escalator. Attribute, when set,
// points at the value of the configuration or settings that caused it, and
// escalator shows the operator the HCL that set that value.
type Diagnostic struct {
	Severity  Severity
	Summary   string
	Detail    string
	Attribute cty.Path
}

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// AddError appends an error.
func (ds *Diagnostics) AddError(summary, detail string) {
	*ds = append(*ds, Diagnostic{Severity: Error, Summary: summary, Detail: detail})
}

// AddWarning appends a warning.
func (ds *Diagnostics) AddWarning(summary, detail string) {
	*ds = append(*ds, Diagnostic{Severity: Warning, Summary: summary, Detail: detail})
}

// AddAttributeError appends an error about the value at path, such as
// cty.GetAttrPath("packages").IndexInt(2).
func (ds *Diagnostics) AddAttributeError(path cty.Path, summary, detail string) {
	*ds = append(*ds, Diagnostic{Severity: Error, Summary: summary, Detail: detail, Attribute: path})
}

// Errorf appends an error with a formatted detail.
func (ds *Diagnostics) Errorf(summary, format string, args ...any) {
	ds.AddError(summary, fmt.Sprintf(format, args...))
}
