package views

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/state"
)

// Apply is the view of "escalator apply": a line per finished step (or a
// JSON line per event), and the outcome.
type Apply interface {
	Event(e state.Event)
	Outcome(runID string, resumed bool, status state.RunStatus, message string, failed []string)
	Diagnostics(ds diags.Diagnostics, files diags.Files)
	Errors(errs []error)
	HelpPrompt()
}

// NewApply returns the Apply view for vt.
func NewApply(vt arguments.ViewType, view *View) Apply {
	if vt == arguments.ViewJSON {
		return &ApplyJSON{View: view}
	}
	return &ApplyHuman{View: view, op: "Apply"}
}

// NewRollback returns the view of "escalator rollback": apply's.
func NewRollback(vt arguments.ViewType, view *View) Apply {
	if vt == arguments.ViewJSON {
		return &ApplyJSON{View: view}
	}
	return &ApplyHuman{View: view, op: "Rollback"}
}

// ApplyHuman prints plain lines, one per step end, host status change and
// alert, so that a log of an apply reads as what happened, in order.
type ApplyHuman struct {
	*View
	mu sync.Mutex
	op string // "Apply" or "Rollback"
}

func (v *ApplyHuman) HelpPrompt() { v.View.HelpPrompt(strings.ToLower(v.op)) }

func (v *ApplyHuman) Event(e state.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := styler{v.color()}
	switch e.Kind {
	case state.KindStepFinished:
		mark := "ok"
		if e.Status != string(state.StepOK) {
			mark = st.yellow(e.Status)
		}
		line := fmt.Sprintf("  %-60s %s", e.StepID, mark)
		if e.Error != "" {
			line += ": " + e.Error
		}
		fmt.Fprintln(v.stdout(), line)
	case state.KindHostStatus:
		fmt.Fprintf(v.stdout(), "%s %s\n", st.bold(e.Host), e.Status)
	case state.KindAlert:
		fmt.Fprintf(v.stderr(), "%s %s\n", st.yellow("Alert:"), e.Message)
	case state.KindRunStarted:
		fmt.Fprintf(v.stdout(), "Run %s started.\n", e.RunID)
	case state.KindRunResumed:
		fmt.Fprintf(v.stdout(), "Run %s resumed: finished steps are not run again.\n", e.RunID)
	}
}

func (v *ApplyHuman) Outcome(runID string, resumed bool, status state.RunStatus, message string, failed []string) {
	st := styler{v.color()}
	switch status {
	case state.RunFinished:
		fmt.Fprintf(v.stdout(), "\n%s Run %s finished.\n", st.bold("Apply complete!"), runID)
	case state.RunRolledBack:
		fmt.Fprintf(v.stdout(), "\n%s Run %s rolled back: %s.\n", st.bold("Rollback complete!"), runID, message)
	default:
		fmt.Fprintf(v.stdout(), "\n%s Run %s %s: %s\n", st.bold(v.op+" stopped."), runID, status, message)
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		fmt.Fprintf(v.stdout(), "Failed hosts: %s\n", strings.Join(failed, ", "))
	}
	fmt.Fprintln(v.stdout(), "See the hosts with: escalator status")
}

// ApplyJSON prints every event as a JSON line, then an outcome line.
type ApplyJSON struct {
	*View
	mu sync.Mutex
}

func (v *ApplyJSON) HelpPrompt() {}

func (v *ApplyJSON) Event(e state.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b, _ := json.Marshal(e)
	_, _ = v.stdout().Write(append(b, '\n'))
}

func (v *ApplyJSON) Outcome(runID string, resumed bool, status state.RunStatus, message string, failed []string) {
	b, _ := json.Marshal(map[string]any{"type": "outcome", "run_id": runID, "resumed": resumed, "status": status, "message": message, "failed_hosts": failed})
	_, _ = v.stdout().Write(append(b, '\n'))
}

func (v *ApplyJSON) Diagnostics(ds diags.Diagnostics, files diags.Files) {
	for _, d := range ds {
		b, _ := json.Marshal(diags.ToJSON(d, files))
		_, _ = v.stderr().Write(append(b, '\n'))
	}
}

func (v *ApplyJSON) Errors(errs []error) {
	var ds diags.Diagnostics
	for _, err := range errs {
		ds = ds.Append(err)
	}
	v.Diagnostics(ds, nil)
}

// Status is the view of "escalator status".
type Status interface {
	Status(st *state.State)
	Errors(errs []error)
	HelpPrompt()
}

// NewStatus returns the Status view for vt.
func NewStatus(vt arguments.ViewType, view *View) Status {
	if vt == arguments.ViewJSON {
		return &StatusJSON{View: view}
	}
	return &StatusHuman{View: view}
}

// StatusHuman prints the run and a table of hosts.
type StatusHuman struct{ *View }

func (v *StatusHuman) HelpPrompt() { v.View.HelpPrompt("status") }

func (v *StatusHuman) Status(st *state.State) {
	if st == nil || st.Run == nil {
		fmt.Fprintln(v.stdout(), "No run yet: escalator apply starts one.")
		return
	}
	r := st.Run
	fmt.Fprintf(v.stdout(), "Run %s: %s (started %s)\n", r.ID, r.Status, r.StartedAt.UTC().Format("2006-01-02 15:04:05Z"))
	if r.Error != "" {
		fmt.Fprintf(v.stdout(), "  %s\n", r.Error)
	}
	fmt.Fprintf(v.stdout(), "  steps: %d ok, %d failed, %d cancelled, %d running\n\n", r.Totals.StepsOK, r.Totals.StepsFailed, r.Totals.StepsCancelled,
		r.Totals.StepsStarted-r.Totals.StepsOK-r.Totals.StepsFailed-r.Totals.StepsCancelled-r.Totals.StepsSkipped)
	names := make([]string, 0, len(st.Hosts))
	for n := range st.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(v.stdout(), "%-28s %-15s %-45s %s\n", "HOST", "STATUS", "VERSIONS", "STEP / ERROR")
	for _, n := range names {
		h := st.Hosts[n]
		var vs []string
		for c, ver := range h.Versions {
			vs = append(vs, c+"="+ver)
		}
		sort.Strings(vs)
		note := h.Step
		if h.Error != "" {
			note = h.Error
		}
		fmt.Fprintf(v.stdout(), "%-28s %-15s %-45s %s\n", n, h.Status, strings.Join(vs, " "), note)
	}
}

// StatusJSON prints the state document.
type StatusJSON struct{ *View }

func (v *StatusJSON) HelpPrompt() {}

func (v *StatusJSON) Status(st *state.State) {
	if st == nil {
		st = state.New()
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	_, _ = v.stdout().Write(append(b, '\n'))
}

func (v *StatusJSON) Errors(errs []error) {
	for _, err := range errs {
		b, _ := json.Marshal(map[string]string{"severity": "error", "summary": err.Error()})
		_, _ = v.stderr().Write(append(b, '\n'))
	}
}
