package views

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// ValidateSummary counts what a valid campaign declares, so that the
// success message says what was checked.
type ValidateSummary struct {
	Components int `json:"components"`
	Rollouts   int `json:"rollouts"`
	Guards     int `json:"guards"`
	Checks     int `json:"checks"`
	HostSets   int `json:"host_sets"`
}

// Validate is the view of "escalator validate".
type Validate interface {
	// Result reports the outcome: the diagnostics (possibly none) and, when
	// there is no error, what the campaign declares.
	Result(ds diags.Diagnostics, files diags.Files, summary ValidateSummary)
	Errors(errs []error)
	HelpPrompt()
}

// NewValidate returns the Validate view for vt.
func NewValidate(vt arguments.ViewType, view *View) Validate {
	switch vt {
	case arguments.ViewJSON:
		return &ValidateJSON{View: view}
	case arguments.ViewHuman:
		return &ValidateHuman{View: view}
	default:
		panic(fmt.Sprintf("unknown view type %v", vt))
	}
}

// ValidateHuman prints diagnostics on stderr and the verdict on stdout.
type ValidateHuman struct {
	*View
}

var _ Validate = (*ValidateHuman)(nil)

func (v *ValidateHuman) Result(ds diags.Diagnostics, files diags.Files, s ValidateSummary) {
	if len(ds) > 0 {
		v.Diagnostics(ds, files)
	}
	if ds.HasErrors() {
		errs, warns := count(ds)
		fmt.Fprintf(v.stderr(), "\nThe campaign is not valid: %s.\n", plural2(errs, "error", warns, "warning"))
		return
	}
	if len(ds) > 0 {
		fmt.Fprintln(v.stdout())
	}
	fmt.Fprintf(v.stdout(), "Success! The campaign is valid: %s.\n", summaryText(s))
}

func (v *ValidateHuman) HelpPrompt() { v.View.HelpPrompt("validate") }

// ValidateJSON prints one JSON object on stdout, in the shape of
// `terraform validate -json`, so existing editor and CI tooling can read it.
type ValidateJSON struct {
	*View
}

var _ Validate = (*ValidateJSON)(nil)

// ValidateOutput is the JSON document of "escalator validate -json".
type ValidateOutput struct {
	FormatVersion string                 `json:"format_version"`
	Valid         bool                   `json:"valid"`
	ErrorCount    int                    `json:"error_count"`
	WarningCount  int                    `json:"warning_count"`
	Diagnostics   []diags.JSONDiagnostic `json:"diagnostics"`
	Summary       *ValidateSummary       `json:"summary,omitempty"`
}

// ValidateFormatVersion is bumped on incompatible changes to ValidateOutput.
const ValidateFormatVersion = "1.0"

func (v *ValidateJSON) Result(ds diags.Diagnostics, files diags.Files, s ValidateSummary) {
	out := ValidateOutput{FormatVersion: ValidateFormatVersion, Valid: !ds.HasErrors(), Diagnostics: []diags.JSONDiagnostic{}}
	out.ErrorCount, out.WarningCount = count(ds)
	for _, d := range ds {
		out.Diagnostics = append(out.Diagnostics, diags.ToJSON(d, files))
	}
	if out.Valid {
		out.Summary = &s
	}
	v.writeJSON(out)
}

// Errors in JSON mode are still JSON: a script reading stdout must not get
// a half-human answer.
func (v *ValidateJSON) Errors(errs []error) {
	var ds diags.Diagnostics
	for _, err := range errs {
		ds = ds.Append(err)
	}
	v.Result(ds, nil, ValidateSummary{})
}

func (v *ValidateJSON) HelpPrompt() {}

func (v *ValidateJSON) writeJSON(x any) {
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		// Only plain data goes in; a failure is a bug worth seeing.
		panic(err)
	}
	_, _ = v.stdout().Write(append(b, '\n'))
}

func count(ds diags.Diagnostics) (errs, warns int) {
	for _, d := range ds {
		if d.Severity == diags.Error {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func plural2(a int, aw string, b int, bw string) string {
	if b == 0 {
		return plural(a, aw)
	}
	return plural(a, aw) + " and " + plural(b, bw)
}

func summaryText(s ValidateSummary) string {
	parts := []string{plural(s.Components, "component"), plural(s.Rollouts, "rollout"), plural(s.HostSets, "host set")}
	if s.Guards > 0 {
		parts = append(parts, plural(s.Guards, "guard"))
	}
	if s.Checks > 0 {
		parts = append(parts, plural(s.Checks, "check"))
	}
	return strings.Join(parts, ", ")
}
