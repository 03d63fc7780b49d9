package views

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/report"
	"github.com/escalator-nfv/escalator/internal/state"
)

// Status is the view of "escalator status".
type Status interface {
	// Status shows the state and, when there is a run, its report.
	// Redraw is set when it replaces an earlier one (status -watch).
	Status(st *state.State, rep *report.Report, redraw bool)
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

// StatusHuman prints the run, its totals, tables per zone and per
// component, and a row per host.
type StatusHuman struct{ *View }

func (v *StatusHuman) HelpPrompt() { v.View.HelpPrompt("status") }

func (v *StatusHuman) Status(st *state.State, rep *report.Report, redraw bool) {
	w := v.stdout()
	if redraw && v.streams.Terminal {
		// On a terminal the new table replaces the old one.
		fmt.Fprint(w, "\x1b[H\x1b[2J")
	} else if redraw {
		fmt.Fprintln(w)
	}
	if rep == nil {
		fmt.Fprintln(w, "No run yet: escalator apply starts one.")
		return
	}
	sty := styler{v.color()}
	status := string(rep.Status)
	if rep.Reverting {
		status += ", being rolled back"
	}
	fmt.Fprintf(w, "Run %s: %s (started %s, %s elapsed", rep.RunID, sty.bold(status), rep.StartedAt.UTC().Format("2006-01-02 15:04:05Z"), round(rep.Elapsed))
	if rep.Expected > 0 {
		fmt.Fprintf(w, " of %s expected", round(rep.Expected))
	}
	fmt.Fprintln(w, ")")
	if st.Run.Error != "" {
		fmt.Fprintf(w, "  %s\n", st.Run.Error)
	}
	t := rep.Totals
	fmt.Fprintf(w, "  hosts: %s of %d", byStatus(t.ByState), t.Hosts)
	if t.Waves > 0 {
		fmt.Fprintf(w, "; wave %d of %d", t.Wave, t.Waves)
	}
	fmt.Fprintf(w, "\n  steps: %d ok, %d failed, %d cancelled, %d running\n", t.StepsOK, t.StepsFailed, t.StepsCancelled, t.StepsRunning)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(rep.Zones) > 1 || (len(rep.Zones) == 1 && rep.Zones[0].Name != "") {
		fmt.Fprintln(tw, "\nZONE\tHOSTS\tBY STATUS")
		for _, z := range rep.Zones {
			name := z.Name
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", name, z.Hosts, byStatus(z.ByStatus))
		}
	}
	if len(rep.Components) > 0 {
		fmt.Fprintln(tw, "\nCOMPONENT\tCHANGE\tHOSTS\tAT TARGET\tNOT YET\tOTHER")
		for _, c := range rep.Components {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", c.Name, strings.Join(c.Changes, ", "), c.Hosts, c.AtTarget, c.AtFrom, c.Other)
		}
	}
	fmt.Fprintln(tw, "\nHOST\tZONE\tWAVE\tSTATUS\tVERSIONS\tELAPSED/EXPECTED\tSTEP / ERROR")
	for _, h := range rep.Hosts {
		var vs []string
		for _, ver := range h.Versions {
			switch {
			case ver.Now == ver.To:
				vs = append(vs, ver.Component+"="+ver.Now)
			case ver.Now == ver.From:
				vs = append(vs, fmt.Sprintf("%s=%s(->%s)", ver.Component, ver.Now, ver.To))
			default:
				vs = append(vs, fmt.Sprintf("%s=%s(!)", ver.Component, ver.Now))
			}
		}
		note := h.Step
		if note != "" && !h.StepStarted.IsZero() {
			note += " (" + round(rep.StartedAt.Add(rep.Elapsed).Sub(h.StepStarted)) + ")"
		}
		if h.Error != "" {
			note = h.Code + ": " + h.Error
			if len(note) > 120 {
				note = note[:117] + "..."
			}
		}
		elapsed := "-"
		if h.Elapsed > 0 || h.Expected > 0 {
			elapsed = round(h.Elapsed) + "/" + round(h.Expected)
			if h.Expected > 0 && h.Elapsed > h.Expected {
				elapsed = sty.yellow(elapsed)
			}
		}
		zone, wave := h.Zone, "-"
		if zone == "" {
			zone = "-"
		}
		if h.Wave > 0 {
			wave = fmt.Sprint(h.Wave)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, zone, wave, h.Status, strings.Join(vs, " "), elapsed, strings.ReplaceAll(note, "\n", " "))
	}
	_ = tw.Flush()
	if len(rep.Alerts) > 0 {
		fmt.Fprintln(w, "\nAlerts (latest last):")
		for _, a := range rep.Alerts {
			times := ""
			if a.Count > 1 {
				times = fmt.Sprintf(" (%d times, last)", a.Count)
			}
			fmt.Fprintf(w, "  %s%s %s %s\n", a.Time.UTC().Format("15:04:05Z"), times, a.Code, a.Message)
		}
	}
}

// byStatus writes counts in the order hosts go through.
func byStatus(m map[state.HostStatus]int) string {
	var parts []string
	for _, s := range state.HostStatuses {
		if n := m[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// StatusJSON prints the state document, with the run's report under
// "report". With -watch, one document per line.
type StatusJSON struct{ *View }

func (v *StatusJSON) HelpPrompt() {}

func (v *StatusJSON) Status(st *state.State, rep *report.Report, redraw bool) {
	if st == nil {
		st = state.New()
	}
	doc := struct {
		*state.State
		Report *report.Report `json:"report,omitempty"`
	}{st, rep}
	var b []byte
	if redraw {
		b, _ = json.Marshal(doc)
	} else {
		b, _ = json.MarshalIndent(doc, "", "  ")
	}
	_, _ = v.stdout().Write(append(b, '\n'))
}

func (v *StatusJSON) Errors(errs []error) {
	for _, err := range errs {
		b, _ := json.Marshal(map[string]string{"severity": "error", "summary": err.Error()})
		_, _ = v.stderr().Write(append(b, '\n'))
	}
}
