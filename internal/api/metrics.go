package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/escalator-nfv/escalator/internal/state"
)

// metrics writes Prometheus' text format (version 0.0.4). The handful of
// series are written by hand rather than through client_golang: they are
// computed per scrape from the journal, so none of that library's
// registries or collectors would be used, only its encoder.
//
// Series (run = the current run):
//
//	escalator_runs{status}                         runs by status
//	escalator_run_info{run,status}                 1 for the current run
//	escalator_hosts{status}                        the run's planned hosts by status
//	escalator_steps{status}                        the run's steps by status (running included)
//	escalator_step_duration_seconds_sum{action}    time spent in finished steps, by action
//	escalator_step_duration_seconds_count{action}  finished steps, by action
//	escalator_migrations_total{result}             migrations ok / failed
//	escalator_alerts_total{code}                   alerts by code
//	escalator_wave_group_impact{wave}              the plan's largest impact on one server group, per wave started
func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	runs, err := s.Backend.Runs(ctx)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "list runs: %v", err)
		return
	}
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family("escalator_runs", "gauge", "Runs of the campaign by status.")
	byStatus := map[state.RunStatus]int{}
	for _, run := range runs {
		byStatus[run.Status]++
	}
	for _, st := range state.RunStatuses {
		fmt.Fprintf(&b, "escalator_runs{status=%q} %d\n", st, byStatus[st])
	}
	if len(runs) > 0 {
		cur := runs[len(runs)-1]
		family("escalator_run_info", "gauge", "The current run.")
		fmt.Fprintf(&b, "escalator_run_info{run=%q,status=%q} 1\n", cur.ID, cur.Status)
		if j, err := s.Backend.ReadJournal(ctx, cur.ID); err == nil {
			if rep, err := s.report(cur.ID, j); err == nil {
				family("escalator_hosts", "gauge", "Planned hosts of the current run by status.")
				for _, st := range state.HostStatuses {
					fmt.Fprintf(&b, "escalator_hosts{status=%q} %d\n", st, rep.Totals.ByState[st])
				}
				family("escalator_steps", "gauge", "Steps of the current run by status.")
				t := rep.Totals
				for _, kv := range []struct {
					s string
					n int
				}{{"ok", t.StepsOK}, {"failed", t.StepsFailed}, {"cancelled", t.StepsCancelled}, {"running", t.StepsRunning}} {
					fmt.Fprintf(&b, "escalator_steps{status=%q} %d\n", kv.s, kv.n)
				}
			}
			stepMetrics(&b, family, j)
			if p, _ := s.plan(cur.ID); p != nil {
				started := map[int]bool{}
				for _, e := range j.Events {
					var n int
					if e.Kind == state.KindStepStarted && len(e.StepID) > 1 && e.StepID[0] == 'w' {
						if _, err := fmt.Sscanf(e.StepID, "w%d/", &n); err == nil {
							started[n] = true
						}
					}
				}
				family("escalator_wave_group_impact", "gauge", "Largest number of members of one server group the plan impacts in a wave, for the waves started.")
				for _, rp := range p.Rollouts {
					for _, wv := range rp.Waves {
						if started[wv.Number] {
							fmt.Fprintf(&b, "escalator_wave_group_impact{wave=\"%d\"} %d\n", wv.Number, wv.MaxGroupImpact)
						}
					}
				}
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// stepMetrics adds the step durations, migrations and alerts of j.
func stepMetrics(b *strings.Builder, family func(name, typ, help string), j *state.Journal) {
	startedAt := map[string]state.Event{}
	sum, count := map[string]float64{}, map[string]int{}
	migrations := map[string]int{"ok": 0, "failed": 0}
	alerts := map[string]int{}
	for _, e := range j.Events {
		switch e.Kind {
		case state.KindStepStarted:
			startedAt[e.StepID] = e
		case state.KindStepFinished:
			if s, ok := startedAt[e.StepID]; ok {
				sum[e.Action] += e.Time.Sub(s.Time).Seconds()
				count[e.Action]++
			}
			if e.Action == "migrate" {
				if e.Status == string(state.StepOK) {
					migrations["ok"]++
				} else {
					migrations["failed"]++
				}
			}
		case state.KindAlert:
			alerts[e.Code]++
		}
	}
	family("escalator_step_duration_seconds", "summary", "Time spent in finished steps of the current run, by action.")
	for _, a := range sortedKeys(count) {
		fmt.Fprintf(b, "escalator_step_duration_seconds_sum{action=%q} %g\n", a, sum[a])
		fmt.Fprintf(b, "escalator_step_duration_seconds_count{action=%q} %d\n", a, count[a])
	}
	family("escalator_migrations_total", "counter", "Migrations of the current run by result.")
	for _, k := range sortedKeys(migrations) {
		fmt.Fprintf(b, "escalator_migrations_total{result=%q} %d\n", k, migrations[k])
	}
	family("escalator_alerts_total", "counter", "Alerts of the current run by code.")
	for _, k := range sortedKeys(alerts) {
		fmt.Fprintf(b, "escalator_alerts_total{code=%q} %d\n", k, alerts[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
