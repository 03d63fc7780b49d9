package views

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// MaxListedMoves is the number of moves up to which the human rendering
// lists every move; beyond it, each host shows a count and the full list
// is in -json. A 10,000-host plan is reviewed per wave, not per instance.
const MaxListedMoves = 1000

// Plan is the view of "escalator plan" and "escalator show".
type Plan interface {
	// Plan shows a plan; saved is the file it was written to, or "".
	Plan(f *plans.File, saved string)
	Diagnostics(ds diags.Diagnostics, files diags.Files)
	Errors(errs []error)
	HelpPrompt()
}

// NewPlan returns the Plan view for vt; command names the command for the
// help prompt ("plan" or "show").
func NewPlan(vt arguments.ViewType, view *View, command string) Plan {
	switch vt {
	case arguments.ViewJSON:
		return &PlanJSON{View: view, command: command}
	case arguments.ViewHuman:
		return &PlanHuman{View: view, command: command}
	default:
		panic(fmt.Sprintf("unknown view type %v", vt))
	}
}

// PlanHuman renders a plan for review: the summary first, then each
// rollout and wave.
type PlanHuman struct {
	*View
	command string
}

var _ Plan = (*PlanHuman)(nil)

func (v *PlanHuman) HelpPrompt() { v.View.HelpPrompt(v.command) }

func (v *PlanHuman) Plan(f *plans.File, saved string) {
	RenderPlan(v.stdout(), f.Plan, v.color())
	if saved != "" {
		// apply is not released yet; point at what exists.
		fmt.Fprintf(v.stdout(), "\nSaved the plan to %s. Review it again any time with:\n  escalator show %s\n", saved, saved)
	}
}

// RenderPlan writes the human rendering of p.
func RenderPlan(w io.Writer, p *plans.Plan, color bool) {
	st := styler{color}
	t := p.Totals
	if !p.HasChanges() {
		fmt.Fprintln(w, st.bold("No changes.")+" Every selected host already runs its components' target versions.")
		writeWarnings(w, p, st)
		return
	}
	fmt.Fprintf(w, "%s %s in %s, %s, about %s.\n\n",
		st.bold("escalator will upgrade"), plural(t.Hosts, "host"), plural(t.Waves, "wave"), plural(t.Moves, "instance move"), humanDuration(t.ExpectedDuration))
	fmt.Fprintf(w, "  waves %6d   lower bound %d\n", t.Waves, t.LowerBoundWaves)
	fmt.Fprintf(w, "  moves %6d   lower bound %d (instances that must leave their host)\n", t.Moves, t.LowerBoundMoves)
	if t.Moves > t.InstancesMoved {
		fmt.Fprintf(w, "         %d extra moves: some instances move twice, because no upgraded host had room for them yet\n", t.Moves-t.InstancesMoved)
	}
	if len(p.Preflight) > 0 {
		fmt.Fprintf(w, "\nBefore the first wave, checks: %s\n", strings.Join(p.Preflight, ", "))
	}
	listMoves := t.Moves <= MaxListedMoves
	for _, r := range p.Rollouts {
		fmt.Fprintf(w, "\n%s %s — at most %d host%s at a time; on failure: %s",
			st.bold("Rollout"), st.bold(fmt.Sprintf("%q", r.Name)), r.MaxUnavailable, pluralS(r.MaxUnavailable), failureText(r))
		fmt.Fprintf(w, "\n  components: %s; %s, lower bound %d\n", strings.Join(r.Components, ", "), plural(len(r.Waves), "wave"), r.LowerBoundWaves)
		if len(r.Waves) == 0 {
			fmt.Fprintln(w, "  nothing to do: every host runs the target versions")
		}
		for _, wv := range r.Waves {
			writeWave(w, wv, listMoves, st)
		}
	}
	if len(p.After) > 0 {
		fmt.Fprintf(w, "\nAfter the last wave, checks: %s\n", strings.Join(p.After, ", "))
	}
	writeWarnings(w, p, st)
	fmt.Fprintf(w, "\nPlan: %s, %s, %s.\n", plural(t.Hosts, "host"), plural(t.Waves, "wave"), plural(t.Moves, "move"))
}

func writeWave(w io.Writer, wv *plans.Wave, listMoves bool, st styler) {
	var tags []string
	if wv.Canary {
		tags = append(tags, "canary")
	}
	if wv.Group != "" {
		tags = append(tags, wv.Group)
	}
	tags = append(tags, plural(len(wv.Hosts), "host"), "~"+humanDuration(wv.ExpectedDuration))
	head := fmt.Sprintf("Wave %d", wv.Number)
	fmt.Fprintf(w, "\n  %s · %s", st.bold(head), strings.Join(tags, " · "))
	if wv.Soak > 0 {
		fmt.Fprintf(w, ", then watch for %s", humanDuration(wv.Soak))
	}
	fmt.Fprintln(w)
	for _, r := range wv.Recovery {
		fmt.Fprintf(w, "    starts no sooner than %s after wave %d ended (recovery_time of server group %s)\n", humanDuration(r.Delay), r.AfterWave, r.Group)
	}
	for _, n := range wv.Notify {
		fmt.Fprintf(w, "    notify %s (%s: %s) before it starts; wait up to %s for the reply, then %s\n",
			n.Notify, strings.Join(n.Projects, ", "), plural(n.Instances, "instance"), humanDuration(n.ReplyTimeout), n.OnTimeout)
	}
	for _, hv := range wv.Hosts {
		fmt.Fprintf(w, "    %s %s\n", st.yellow("~"), hv.Host)
		width := 0
		for _, c := range hv.Changes {
			width = max(width, len(c.Component))
		}
		for _, c := range hv.Changes {
			from := c.From
			if from == "" {
				from = "(none)"
			}
			fmt.Fprintf(w, "        %-*s  %s → %s  (%s", width, c.Component, from, c.To, c.Disruption)
			if len(c.Backups) > 0 {
				fmt.Fprintf(w, "; backup %s", strings.Join(c.Backups, ", "))
			}
			fmt.Fprintln(w, ")")
		}
		if hv.Evacuate {
			switch {
			case len(hv.Moves) == 0:
				fmt.Fprintln(w, "        evacuate: the host is empty")
			case listMoves:
				for _, m := range hv.Moves {
					kind := "cold"
					if m.Live {
						kind = "live"
					}
					note := ""
					if !m.ToUpgraded {
						note = ", will move again"
					}
					fmt.Fprintf(w, "        move %s → %s (%s%s)\n", instanceLabel(m), m.To, kind, note)
				}
			default:
				fmt.Fprintf(w, "        evacuate %s to %s\n", plural(len(hv.Moves), "instance"), plural(destinations(hv.Moves), "host"))
			}
		}
		if len(hv.Verify) > 0 {
			fmt.Fprintf(w, "        verify: %s\n", strings.Join(hv.Verify, ", "))
		}
	}
	if len(wv.Checks) > 0 {
		fmt.Fprintf(w, "    after the wave, checks: %s\n", strings.Join(wv.Checks, ", "))
	}
}

func instanceLabel(m plans.Move) string {
	if m.Name != "" && m.Name != m.Instance {
		return fmt.Sprintf("%s (%s)", m.Instance, m.Name)
	}
	return m.Instance
}

func destinations(ms []plans.Move) int {
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.To] = true
	}
	return len(seen)
}

func failureText(r *plans.Rollout) string {
	switch r.FailurePolicy {
	case "continue":
		return fmt.Sprintf("continue, up to %d failed host%s", r.MaxFailed, pluralS(r.MaxFailed))
	case "rollback_host":
		return "roll the host back and halt"
	case "rollback_all":
		return "roll every upgraded host back"
	default:
		return "halt"
	}
}

func writeWarnings(w io.Writer, p *plans.Plan, st styler) {
	if len(p.Warnings) == 0 {
		return
	}
	ws := append([]string(nil), p.Warnings...)
	sort.Strings(ws)
	fmt.Fprintf(w, "\n%s\n", st.yellow("Warnings:"))
	for _, s := range ws {
		fmt.Fprintf(w, "  - %s\n", s)
	}
}

// humanDuration prints 1h20m, 45m, 1m30s, 30s: the largest units that
// matter for a human estimate (seconds are dropped above an hour).
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Hour {
		d = d.Round(time.Minute)
	}
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// pluralS is the plural ending for n things.
func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type styler struct{ on bool }

func (s styler) bold(t string) string {
	if !s.on {
		return t
	}
	return "\x1b[1m" + t + "\x1b[0m"
}

func (s styler) yellow(t string) string {
	if !s.on {
		return t
	}
	return "\x1b[33m" + t + "\x1b[0m"
}

// PlanJSON prints the saved-plan document on stdout: the same shape as a
// plan file, so that tools read either.
type PlanJSON struct {
	*View
	command string
}

var _ Plan = (*PlanJSON)(nil)

func (v *PlanJSON) Plan(f *plans.File, _ string) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic(err) // plain data
	}
	_, _ = v.stdout().Write(append(b, '\n'))
}

// Diagnostics in JSON mode go to stderr as JSON lines, keeping stdout a
// single document.
func (v *PlanJSON) Diagnostics(ds diags.Diagnostics, files diags.Files) {
	for _, d := range ds {
		b, _ := json.Marshal(diags.ToJSON(d, files))
		_, _ = v.stderr().Write(append(b, '\n'))
	}
}

func (v *PlanJSON) Errors(errs []error) {
	var ds diags.Diagnostics
	for _, err := range errs {
		ds = ds.Append(err)
	}
	v.Diagnostics(ds, nil)
}

func (v *PlanJSON) HelpPrompt() {}
