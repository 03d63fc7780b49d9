// Package report turns a run's state, plan and journal into what
// `escalator status` shows: a row per host (zone, wave, status, versions
// from and to, the running step, elapsed against expected, the last
// error), tables per availability zone and per component, and run totals.
// It only reads; the state stays the one source of truth.
package report

import (
	"sort"
	"time"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

// Report is the status of one run.
type Report struct {
	RunID  string          `json:"run_id"`
	Status state.RunStatus `json:"status"`
	// Reverting: the run is being rolled back (escalator rollback).
	Reverting bool      `json:"reverting,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Elapsed is the wall time since the run started (until it ended,
	// when it ended); Expected the plan's estimate for the whole run.
	Elapsed  time.Duration `json:"elapsed_ns"`
	Expected time.Duration `json:"expected_ns"`
	Totals   Totals        `json:"totals"`
	Hosts    []Host        `json:"hosts"`
	Zones    []Group       `json:"zones"`
	// Components count the planned hosts of each component by where its
	// version stands.
	Components []Component `json:"components"`
	// Alerts are the run's latest alerts (hang detection, VNF managers
	// that did not reply, re-picked destinations), newest last.
	Alerts []Alert `json:"alerts,omitempty"`
}

// Totals are the run's figures.
type Totals struct {
	Hosts   int                      `json:"hosts"`
	ByState map[state.HostStatus]int `json:"hosts_by_status"`
	Waves   int                      `json:"waves"`
	// Wave is the highest wave with a host that started; 0 before any.
	Wave           int `json:"current_wave"`
	StepsOK        int `json:"steps_ok"`
	StepsFailed    int `json:"steps_failed"`
	StepsCancelled int `json:"steps_cancelled"`
	StepsRunning   int `json:"steps_running"`
}

// Host is one planned (or touched) host.
type Host struct {
	Name     string           `json:"name"`
	Zone     string           `json:"zone,omitempty"`
	Wave     int              `json:"wave,omitempty"`
	Status   state.HostStatus `json:"status"`
	Versions []Version        `json:"versions"`
	// Step is the running step, StepStarted when it started.
	Step        string    `json:"step,omitempty"`
	StepStarted time.Time `json:"step_started,omitzero"`
	// Elapsed is the time spent on the host so far (since it went in
	// progress, until it finished); Expected the plan's estimate.
	Elapsed  time.Duration `json:"elapsed_ns"`
	Expected time.Duration `json:"expected_ns"`
	Error    string        `json:"error,omitempty"`
	Code     string        `json:"code,omitempty"`
}

// Version is one component on a host: the version before the run, the
// target, and the version now (as last recorded).
type Version struct {
	Component string `json:"component"`
	From      string `json:"from"`
	To        string `json:"to"`
	Now       string `json:"now"`
}

// Group counts hosts by status.
type Group struct {
	Name     string                   `json:"name"`
	Hosts    int                      `json:"hosts"`
	ByStatus map[state.HostStatus]int `json:"hosts_by_status"`
}

// Component counts a component's planned hosts by where they stand.
type Component struct {
	Name string `json:"name"`
	// Changes lists the distinct from → to changes ("7.1.0 -> 7.2.0").
	Changes  []string `json:"changes"`
	Hosts    int      `json:"hosts"`
	AtTarget int      `json:"at_target"`
	AtFrom   int      `json:"at_from"`
	// Other: neither (a failed or partial change, or changed outside).
	Other int `json:"other"`
}

// Alert is one alert of the run, or several alike in a row (same code,
// host and message): then Count says how many and Time is the last one's.
type Alert struct {
	Time    time.Time `json:"time"`
	Code    string    `json:"code,omitempty"`
	Host    string    `json:"host,omitempty"`
	Message string    `json:"message"`
	Count   int       `json:"count"`
}

// maxAlerts bounds the alerts a report carries.
const maxAlerts = 20

// Build makes the report of st's run. plan is the run's plan and j its
// journal; either may be nil (then only what the state knows is shown).
func Build(st *state.State, plan *plans.Plan, j *state.Journal, now time.Time) *Report {
	if st == nil || st.Run == nil {
		return nil
	}
	run := st.Run
	r := &Report{RunID: run.ID, Status: run.Status, Reverting: run.Reverting, StartedAt: run.StartedAt,
		Totals: Totals{ByState: map[state.HostStatus]int{}, StepsOK: run.Totals.StepsOK, StepsFailed: run.Totals.StepsFailed,
			StepsCancelled: run.Totals.StepsCancelled}}
	r.Totals.StepsRunning = run.Totals.StepsStarted - run.Totals.StepsOK - run.Totals.StepsFailed - run.Totals.StepsCancelled - run.Totals.StepsSkipped
	end := now
	if !run.EndedAt.IsZero() {
		end = run.EndedAt
	}
	r.Elapsed = end.Sub(run.StartedAt)

	// When each host started and finished, and when its running step
	// started, from the journal.
	hostStart, hostEnd, stepStart := map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	if j != nil {
		for _, e := range j.Events {
			switch e.Kind {
			case state.KindHostStatus:
				if e.Status == string(state.HostInProgress) {
					hostStart[e.Host], hostEnd[e.Host] = e.Time, time.Time{}
				} else {
					hostEnd[e.Host] = e.Time
				}
			case state.KindStepStarted:
				stepStart[e.StepID] = e.Time
			case state.KindAlert:
				if n := len(r.Alerts); n > 0 {
					if last := &r.Alerts[n-1]; last.Code == e.Code && last.Host == e.Host && last.Message == e.Message {
						last.Time = e.Time
						last.Count++
						continue
					}
				}
				r.Alerts = append(r.Alerts, Alert{Time: e.Time, Code: e.Code, Host: e.Host, Message: e.Message, Count: 1})
			}
		}
	}
	if len(r.Alerts) > maxAlerts {
		r.Alerts = r.Alerts[len(r.Alerts)-maxAlerts:]
	}

	seen := map[string]bool{}
	comps := map[string]*Component{}
	var compOrder []string
	addHost := func(name, zone string, wave int, expected time.Duration, changes []plans.Change) {
		seen[name] = true
		sh := st.Hosts[name]
		h := Host{Name: name, Zone: zone, Wave: wave, Status: state.HostPending, Expected: expected}
		if sh != nil && sh.Run == run.ID {
			h.Status, h.Step, h.Error, h.Code = sh.Status, sh.Step, sh.Error, sh.Code
			if h.Step != "" {
				h.StepStarted = stepStart[h.Step]
			}
			if t := hostStart[name]; !t.IsZero() {
				e := hostEnd[name]
				if e.IsZero() || h.Status == state.HostInProgress {
					e = end
				}
				h.Elapsed = e.Sub(t)
			}
		}
		for _, ch := range changes {
			v := Version{Component: ch.Component, From: ch.From, To: ch.To, Now: ch.From}
			if sh != nil {
				if now, ok := sh.Versions[ch.Component]; ok {
					v.Now = now
				}
			}
			h.Versions = append(h.Versions, v)
			c := comps[ch.Component]
			if c == nil {
				c = &Component{Name: ch.Component}
				comps[ch.Component] = c
				compOrder = append(compOrder, ch.Component)
			}
			c.Hosts++
			change := ch.From + " -> " + ch.To
			if !contains(c.Changes, change) {
				c.Changes = append(c.Changes, change)
			}
			switch v.Now {
			case ch.To:
				c.AtTarget++
			case ch.From:
				c.AtFrom++
			default:
				c.Other++
			}
		}
		if wave > 0 && h.Status != state.HostPending && wave > r.Totals.Wave {
			r.Totals.Wave = wave
		}
		r.Hosts = append(r.Hosts, h)
	}
	if plan != nil {
		for _, rp := range plan.Rollouts {
			for _, w := range rp.Waves {
				r.Totals.Waves++
				r.Expected += w.ExpectedDuration + w.Soak
				for _, hv := range w.Hosts {
					if !seen[hv.Host] {
						addHost(hv.Host, hv.AvailabilityZone, w.Number, hv.ExpectedDuration, hv.Changes)
					}
				}
			}
		}
	}
	// Hosts the run touched that the plan does not list (no plan copy).
	var rest []string
	for name, h := range st.Hosts {
		if !seen[name] && h.Run == run.ID {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		var changes []plans.Change
		sh := st.Hosts[name]
		for _, c := range sortedKeys(sh.Versions) {
			changes = append(changes, plans.Change{Component: c, From: sh.Original[c], To: sh.Versions[c]})
		}
		addHost(name, "", 0, 0, changes)
	}

	zones := map[string]*Group{}
	for _, h := range r.Hosts {
		r.Totals.Hosts++
		r.Totals.ByState[h.Status]++
		z := zones[h.Zone]
		if z == nil {
			z = &Group{Name: h.Zone, ByStatus: map[state.HostStatus]int{}}
			zones[h.Zone] = z
		}
		z.Hosts++
		z.ByStatus[h.Status]++
	}
	for _, name := range sortedKeys(zones) {
		r.Zones = append(r.Zones, *zones[name])
	}
	for _, name := range compOrder {
		r.Components = append(r.Components, *comps[name])
	}
	sort.SliceStable(r.Hosts, func(i, k int) bool {
		a, b := r.Hosts[i], r.Hosts[k]
		if a.Wave != b.Wave {
			return a.Wave < b.Wave
		}
		return a.Name < b.Name
	})
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
