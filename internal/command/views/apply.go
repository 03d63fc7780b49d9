package views

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

// Apply is the view of "escalator apply": a line per finished step (or a
// JSON line per event), and the outcome.
type Apply interface {
	// Start tells the view the plan being carried out (for totals).
	Start(runID string, p *plans.Plan)
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
// alert, so that a log of an apply reads as what happened, in order. On a
// terminal it also keeps a live progress block under those lines (see
// progress.go).
type ApplyHuman struct {
	*View
	mu sync.Mutex
	op string // "Apply" or "Rollback"
	// live is the progress block, on a terminal only.
	live *progress
}

func (v *ApplyHuman) Start(runID string, p *plans.Plan) {
	if !v.streams.Terminal {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.live = newProgress(p, time.Now)
	v.live.run(func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.redraw(nil)
	})
}

// redraw replaces the progress block with lines (kept above it) and the
// block again. Called with mu held.
func (v *ApplyHuman) redraw(lines []string) {
	w := v.stdout()
	if v.live == nil {
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		return
	}
	var b strings.Builder
	if v.live.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.live.drawn)
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	block := v.live.render(styler{v.color()})
	for _, l := range block {
		b.WriteString(l + "\n")
	}
	v.live.drawn = len(block)
	_, _ = io.WriteString(w, b.String())
}

func (v *ApplyHuman) HelpPrompt() { v.View.HelpPrompt(strings.ToLower(v.op)) }

func (v *ApplyHuman) Event(e state.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := styler{v.color()}
	if v.live != nil {
		v.live.event(e)
	}
	var lines []string
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
		lines = append(lines, line)
	case state.KindHostStatus:
		lines = append(lines, fmt.Sprintf("%s %s", st.bold(e.Host), e.Status))
	case state.KindAlert:
		line := fmt.Sprintf("%s %s", st.yellow("Alert:"), e.Message)
		if v.live == nil {
			// Alerts go to stderr, except under the live block, which
			// a line on another stream would break.
			fmt.Fprintln(v.stderr(), line)
			return
		}
		lines = append(lines, line)
	case state.KindRunStarted:
		lines = append(lines, fmt.Sprintf("Run %s started.", e.RunID))
	case state.KindRunResumed:
		if e.Action == state.ActionRollback {
			lines = append(lines, fmt.Sprintf("Run %s: rolling back; finished steps are not run again.", e.RunID))
		} else {
			lines = append(lines, fmt.Sprintf("Run %s resumed: finished steps are not run again.", e.RunID))
		}
	case state.KindStepStarted:
		// Shown by the live block only.
	default:
		return
	}
	v.redraw(lines)
}

func (v *ApplyHuman) Outcome(runID string, resumed bool, status state.RunStatus, message string, failed []string) {
	v.mu.Lock()
	if v.live != nil {
		// The last block stays, as the run's summary.
		v.live.stop()
		v.redraw(nil)
		v.live = nil
	}
	v.mu.Unlock()
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

func (v *ApplyJSON) Start(runID string, p *plans.Plan) {}

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
