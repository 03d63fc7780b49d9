package report

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestBuild(t *testing.T) {
	visit := func(h, zone string) *plans.HostVisit {
		return &plans.HostVisit{Host: h, AvailabilityZone: zone, ExpectedDuration: 10 * time.Minute, Changes: []plans.Change{
			{Component: "qemu", From: "7.1.0", To: "7.2.0"}, {Component: "nova", From: "26", To: "27"}}}
	}
	plan := &plans.Plan{Rollouts: []*plans.Rollout{{Name: "c", Waves: []*plans.Wave{
		{Number: 1, Hosts: []*plans.HostVisit{visit("a1", "az1")}, ExpectedDuration: 10 * time.Minute, Soak: time.Minute},
		{Number: 2, Hosts: []*plans.HostVisit{visit("a2", "az1"), visit("b1", "az2")}, ExpectedDuration: 10 * time.Minute},
		{Number: 3, Hosts: []*plans.HostVisit{visit("b2", "az2")}, ExpectedDuration: 10 * time.Minute},
	}}}}
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	events := []state.Event{
		{Kind: state.KindRunStarted, Time: min(0)},
		{Kind: state.KindHostStatus, Host: "a1", Status: "in_progress", Time: min(0)},
		{Kind: state.KindOriginalRecorded, Host: "a1", Component: "qemu", Data: map[string]string{"version": "7.1.0"}, Time: min(1)},
		{Kind: state.KindVersionRecorded, Host: "a1", Component: "qemu", Data: map[string]string{"version": "7.2.0"}, Time: min(5)},
		{Kind: state.KindOriginalRecorded, Host: "a1", Component: "nova", Data: map[string]string{"version": "26"}, Time: min(5)},
		{Kind: state.KindVersionRecorded, Host: "a1", Component: "nova", Data: map[string]string{"version": "27"}, Time: min(8)},
		{Kind: state.KindHostStatus, Host: "a1", Status: "upgraded", Time: min(9)},
		{Kind: state.KindHostStatus, Host: "a2", Status: "in_progress", Time: min(11)},
		{Kind: state.KindHostStatus, Host: "b1", Status: "in_progress", Time: min(11)},
		{Kind: state.KindStepStarted, StepID: "w2/a2/upgrade/qemu", Host: "a2", Component: "qemu", Action: "upgrade", Time: min(12)},
		{Kind: state.KindAlert, Host: "a2", Code: "W_STEP_SLOW", Message: "slow", Time: min(13)},
		{Kind: state.KindAlert, Host: "a2", Code: "W_STEP_SLOW", Message: "slow", Time: min(14)},
		{Kind: state.KindStepStarted, StepID: "w2/b1/upgrade/qemu", Host: "b1", Component: "qemu", Action: "upgrade", Time: min(12)},
		{Kind: state.KindStepFinished, StepID: "w2/b1/upgrade/qemu", Host: "b1", Status: "failed", Error: "boom", Code: "E_STEP_FAILED", Time: min(13)},
		{Kind: state.KindHostStatus, Host: "b1", Status: "in_maintenance", Error: "boom", Code: "E_STEP_FAILED", Time: min(13)},
	}
	st := state.New()
	for i := range events {
		events[i].RunID, events[i].Seq = "r1", int64(i+1)
		if err := st.Apply(events[i]); err != nil {
			t.Fatal(err)
		}
	}
	r := Build(st, plan, &state.Journal{RunID: "r1", Events: events}, min(15))

	if r.Elapsed != 15*time.Minute || r.Expected != 31*time.Minute {
		t.Errorf("elapsed %s expected %s, want 15m and 31m", r.Elapsed, r.Expected)
	}
	wantTotals := Totals{Hosts: 4, ByState: map[state.HostStatus]int{"upgraded": 1, "in_progress": 1, "in_maintenance": 1, "pending": 1},
		Waves: 3, Wave: 2, StepsFailed: 1, StepsRunning: 1}
	if diff := cmp.Diff(wantTotals, r.Totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	wantHosts := []Host{
		{Name: "a1", Zone: "az1", Wave: 1, Status: "upgraded", Elapsed: 9 * time.Minute, Expected: 10 * time.Minute,
			Versions: []Version{{"qemu", "7.1.0", "7.2.0", "7.2.0"}, {"nova", "26", "27", "27"}}},
		{Name: "a2", Zone: "az1", Wave: 2, Status: "in_progress", Step: "w2/a2/upgrade/qemu", StepStarted: min(12), Elapsed: 4 * time.Minute, Expected: 10 * time.Minute,
			Versions: []Version{{"qemu", "7.1.0", "7.2.0", "7.1.0"}, {"nova", "26", "27", "26"}}},
		{Name: "b1", Zone: "az2", Wave: 2, Status: "in_maintenance", Elapsed: 2 * time.Minute, Expected: 10 * time.Minute, Error: "boom", Code: "E_STEP_FAILED",
			Versions: []Version{{"qemu", "7.1.0", "7.2.0", "7.1.0"}, {"nova", "26", "27", "26"}}},
		{Name: "b2", Zone: "az2", Wave: 3, Status: "pending", Expected: 10 * time.Minute,
			Versions: []Version{{"qemu", "7.1.0", "7.2.0", "7.1.0"}, {"nova", "26", "27", "26"}}},
	}
	if diff := cmp.Diff(wantHosts, r.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	wantZones := []Group{
		{Name: "az1", Hosts: 2, ByStatus: map[state.HostStatus]int{"upgraded": 1, "in_progress": 1}},
		{Name: "az2", Hosts: 2, ByStatus: map[state.HostStatus]int{"in_maintenance": 1, "pending": 1}},
	}
	if diff := cmp.Diff(wantZones, r.Zones); diff != "" {
		t.Errorf("zones (-want +got):\n%s", diff)
	}
	wantComps := []Component{
		{Name: "qemu", Changes: []string{"7.1.0 -> 7.2.0"}, Hosts: 4, AtTarget: 1, AtFrom: 3},
		{Name: "nova", Changes: []string{"26 -> 27"}, Hosts: 4, AtTarget: 1, AtFrom: 3},
	}
	if diff := cmp.Diff(wantComps, r.Components); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if len(r.Alerts) != 1 || r.Alerts[0].Code != "W_STEP_SLOW" || r.Alerts[0].Count != 2 || !r.Alerts[0].Time.Equal(min(14)) {
		t.Errorf("alerts %+v", r.Alerts)
	}

	// Without plan or journal: the hosts the state knows, nothing invented.
	r = Build(st, nil, nil, min(15))
	if len(r.Hosts) != 3 || r.Totals.Waves != 0 || r.Hosts[0].Elapsed != 0 {
		t.Errorf("report without a plan: %+v", r)
	}
	if Build(state.New(), plan, nil, t0) != nil {
		t.Error("a report of a state without a run")
	}
}
