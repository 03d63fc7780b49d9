package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

// The checker's own tests: a small hand-made cloud and event logs, good
// and bad. Hosts h1, h2 (az1) and h3, h4, h5 (az2); group g (anti-affinity)
// with a on h1, b on h2, c on h3; a standalone instance x on h1.

var t0 = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func testCloud() *sim.Cloud {
	c := &sim.Cloud{FormatVersion: sim.FormatVersion}
	for _, h := range []struct{ name, az string }{{"h1", "az1"}, {"h2", "az1"}, {"h3", "az2"}, {"h4", "az2"}, {"h5", "az2"}} {
		c.Hosts = append(c.Hosts, &sim.Host{Name: h.name, Role: "compute", AvailabilityZone: h.az, State: sim.StateUp,
			Capacity: sim.Resources{VCPUs: 32, MemoryMB: 65536, DiskGB: 100}, Versions: map[string]string{"qemu": "7.1.0"}})
	}
	flavor := sim.Flavor{Name: "f", Resources: sim.Resources{VCPUs: 2, MemoryMB: 2048, DiskGB: 10}}
	for _, i := range []struct{ id, host, group string }{{"a", "h1", "g"}, {"b", "h2", "g"}, {"c", "h3", "g"}, {"x", "h1", ""}} {
		c.Instances = append(c.Instances, &sim.Instance{ID: i.id, Name: "vm-" + i.id, Flavor: flavor, Host: i.host,
			Status: sim.StatusActive, Project: "ims", ServerGroup: i.group, LiveMigratable: true})
	}
	c.ServerGroups = []*sim.ServerGroup{{ID: "g", Name: "ims-g", Policy: sim.PolicyAntiAffinity, Project: "ims", Members: []string{"a", "b", "c"}}}
	if err := c.Index(); err != nil {
		panic(err)
	}
	return c
}

// finalOf replays ev onto a copy of the test cloud, as the sim would
// have left the file, with the step records.
func finalOf(evs []sim.Event) *sim.Cloud {
	c := testCloud()
	c.Steps = map[string]*sim.StepRecord{}
	for _, e := range evs {
		if e.Result != sim.ResultOK {
			continue
		}
		rec := &sim.StepRecord{Action: e.Action, Host: e.Host, Instance: e.Instance, Completed: e.Time}
		switch e.Action {
		case "enter_maintenance":
			c.Host(e.Host).State = sim.StateMaintenance
		case "leave_maintenance":
			c.Host(e.Host).State = sim.StateUp
		case "migrate":
			rec.Outputs = map[string]string{"from": c.Instance(e.Instance).Host, "to": e.To}
			c.Instance(e.Instance).Host = e.To
		}
		if e.StepID != "" {
			c.Steps[e.StepID] = rec
		}
	}
	return c
}

// ev builds an OK event; seq is its position.
func ev(seq int, ms int, action, host, inst, to string) sim.Event {
	e := sim.Event{Seq: int64(seq), Time: at(ms), Action: action, Host: host, Instance: inst, To: to, Result: sim.ResultOK}
	switch action {
	case "migrate":
		e.StepID = "w1/" + host + "/migrate/" + inst
		e.From = host
	default:
		e.StepID = "w1/" + host + "/" + action
	}
	return e
}

// goodLog evacuates h1 (a, x → h4), then h2 (b → h1), one host at a time.
func goodLog() []sim.Event {
	return []sim.Event{
		ev(1, 0, "enter_maintenance", "h1", "", ""),
		ev(2, 10, "migrate", "h1", "a", "h4"),
		ev(3, 20, "migrate", "h1", "x", "h4"),
		ev(4, 30, "leave_maintenance", "h1", "", ""),
		ev(5, 40, "enter_maintenance", "h2", "", ""),
		ev(6, 50, "migrate", "h2", "b", "h1"),
		ev(7, 60, "leave_maintenance", "h2", "", ""),
	}
}

// notified says every moved instance was notified at 0 ms.
func notified() []Notification {
	return []Notification{{Received: at(-2), Replied: at(-1), Event: "maintenance", Instances: []string{"a", "b", "x"}}}
}

func wantViolations(t *testing.T, rep *Report, want ...string) {
	t.Helper()
	got := map[string]int{}
	for _, v := range rep.Violations {
		got[v.Invariant]++
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("no %s violation reported; report: %s", w, rep)
		}
		delete(got, w)
	}
	for inv := range got {
		t.Errorf("unexpected %s violation; report: %s", inv, rep)
	}
}

func TestCheckGood(t *testing.T) {
	evs := goodLog()
	rep := Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified()})
	wantViolations(t, rep)
	if rep.Migrations != 3 || rep.MovedInstances != 3 || rep.MovedTwice != 0 || rep.MaxImpact != 1 || rep.Notified != 3 {
		t.Errorf("figures: %s", rep)
	}
	// Without the final cloud, the replay is the end state.
	wantViolations(t, Check(Input{Initial: testCloud(), Events: evs, Notifications: notified()}))
}

func TestCheckBudgetByMaintenance(t *testing.T) {
	// h1 and h2 (members a and b) in maintenance together.
	evs := []sim.Event{
		ev(1, 0, "enter_maintenance", "h1", "", ""),
		ev(2, 5, "enter_maintenance", "h2", "", ""),
		ev(3, 10, "migrate", "h1", "a", "h4"),
		ev(4, 20, "migrate", "h1", "x", "h4"),
		ev(5, 30, "leave_maintenance", "h1", "", ""),
		ev(6, 50, "migrate", "h2", "b", "h1"),
		ev(7, 60, "leave_maintenance", "h2", "", ""),
	}
	rep := Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified()})
	wantViolations(t, rep, BudgetExceeded)
	if v := rep.Violations[0]; v.Seq != 2 || !strings.Contains(v.Detail, "ims-g") {
		t.Errorf("violation not located at the second enter_maintenance: %v", v)
	}
	if rep.MaxImpact != 2 {
		t.Errorf("max impact %d, want 2", rep.MaxImpact)
	}
	// A budget of 2 allows it.
	wantViolations(t, Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified(), Budget: 2}))
	// A guard that covers only soft-anti-affinity does not look at g.
	wantViolations(t, Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified(), GuardedPolicies: []string{sim.PolicySoftAntiAffinity}}))
}

func TestCheckBudgetByMigration(t *testing.T) {
	// c (on h3, never in maintenance) migrates while h1 is in maintenance
	// with a on it: the journal shows c's migration step running from
	// 5 ms, the sim commits it at 15 ms.
	evs := []sim.Event{
		ev(1, 0, "enter_maintenance", "h1", "", ""),
		ev(2, 10, "migrate", "h1", "a", "h4"),
		ev(3, 15, "migrate", "h3", "c", "h5"),
		ev(4, 20, "migrate", "h1", "x", "h4"),
		ev(5, 30, "leave_maintenance", "h1", "", ""),
	}
	// c's host h3 is not in maintenance: that is another violation, not
	// this test's.
	noMaint := func(rep *Report) *Report {
		var keep []Violation
		for _, v := range rep.Violations {
			if v.Invariant != NotInMaintenance {
				keep = append(keep, v)
			}
		}
		rep.Violations = keep
		return rep
	}
	j := []state.Event{
		{RunID: "r", Seq: 1, Kind: state.KindStepStarted, StepID: "w1/h1/migrate/a", Action: "migrate", Time: at(1)},
		{RunID: "r", Seq: 2, Kind: state.KindStepStarted, StepID: "w1/h3/migrate/c", Action: "migrate", Time: at(5)},
		{RunID: "r", Seq: 3, Kind: state.KindStepFinished, StepID: "w1/h1/migrate/a", Action: "migrate", Status: "ok", Time: at(11)},
		{RunID: "r", Seq: 4, Kind: state.KindStepFinished, StepID: "w1/h3/migrate/c", Action: "migrate", Status: "ok", Time: at(16)},
	}
	n := []Notification{{Replied: at(-1), Event: "maintenance", Instances: []string{"a", "c", "x"}}}
	rep := noMaint(Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Journal: j, Notifications: n}))
	wantViolations(t, rep, BudgetExceeded)
	// Without the journal the checker cannot see the migration in flight.
	wantViolations(t, noMaint(Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: n})))
}

func TestCheckNotInMaintenance(t *testing.T) {
	// h2 is upgraded and b migrated off it, all in service.
	up := ev(2, 10, "upgrade", "h1", "", "")
	up.Component = "qemu"
	evs := []sim.Event{ev(1, 0, "enter_maintenance", "h1", "", ""), up, ev(3, 20, "leave_maintenance", "h1", "", ""), ev(4, 30, "migrate", "h2", "b", "h4")}
	rep := Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified()})
	wantViolations(t, rep, NotInMaintenance)
	if len(rep.Violations) != 1 || !strings.Contains(rep.Violations[0].Detail, "off host h2") {
		t.Errorf("want the migration off h2 only: %s", rep)
	}
	up.Time, up.Seq = at(25), 4
	evs = []sim.Event{evs[0], evs[2], up}
	rep = Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified()})
	wantViolations(t, rep, NotInMaintenance)
	if !strings.Contains(rep.Violations[0].Detail, "upgrade of qemu on host h1") {
		t.Errorf("want the upgrade reported: %s", rep)
	}
}

func TestCheckColocated(t *testing.T) {
	evs := []sim.Event{ev(0, -1, "enter_maintenance", "h1", "", ""), ev(1, 0, "migrate", "h1", "a", "h2")}
	n := []Notification{{Replied: at(-2), Event: "maintenance", Instances: []string{"a"}}}
	wantViolations(t, Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: n, AllowMaintenance: []string{"h1"}}), Colocated)
}

func TestCheckMovedTwice(t *testing.T) {
	evs := append(goodLog(),
		ev(8, 70, "enter_maintenance", "h4", "", ""),
		ev(9, 80, "migrate", "h4", "a", "h2"),
		ev(10, 90, "leave_maintenance", "h4", "", ""),
	)
	rep := Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified()})
	wantViolations(t, rep, MovedTwice)
	if rep.MovedTwice != 1 {
		t.Errorf("moved twice = %d, want 1", rep.MovedTwice)
	}
	wantViolations(t, Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified(), MaxMoves: 2}))
}

func TestCheckLeftInMaintenance(t *testing.T) {
	evs := goodLog()[:6] // h2 never leaves
	rep := Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified()})
	wantViolations(t, rep, LeftInMaintenance)
	if len(rep.InMaintenance) != 1 || rep.InMaintenance[0] != "h2" {
		t.Errorf("in maintenance: %v", rep.InMaintenance)
	}
	// A halt policy may leave it there.
	wantViolations(t, Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: notified(), AllowMaintenance: []string{"h2"}}))
	// The replay alone sees it too.
	wantViolations(t, Check(Input{Initial: testCloud(), Events: evs, Notifications: notified()}), LeftInMaintenance)
}

func TestCheckInstanceLost(t *testing.T) {
	evs := goodLog()
	for name, edit := range map[string]func(c *sim.Cloud){
		"gone":      func(c *sim.Cloud) { c.Instances = c.Instances[1:] },
		"stopped":   func(c *sim.Cloud) { c.Instance("x").Status = sim.StatusShutoff },
		"migrating": func(c *sim.Cloud) { c.Instance("b").Migration = &sim.Migration{To: "h3", StepID: "s"} },
	} {
		t.Run(name, func(t *testing.T) {
			final := finalOf(evs)
			edit(final)
			final.Index()
			wantViolations(t, Check(Input{Initial: testCloud(), Final: final, Events: evs, Notifications: notified()}), InstanceLost)
		})
	}
	// On an unknown host (the final cloud is not re-indexed: a file the
	// sim would refuse, which the checker must still judge).
	final := finalOf(evs)
	final.Instance("x").Host = "h9"
	wantViolations(t, Check(Input{Initial: testCloud(), Final: final, Events: evs, Notifications: notified()}), InstanceLost, LogInconsistent)
}

func TestCheckNotNotified(t *testing.T) {
	evs := goodLog()
	// b is named only after its migration; x never.
	late := []Notification{
		{Received: at(-2), Replied: at(-1), Event: "maintenance", Instances: []string{"a"}},
		{Received: at(60), Replied: at(61), Event: "maintenance", Instances: []string{"b"}},
		{Received: at(-2), Replied: at(-1), Event: "available", Instances: []string{"x"}},
	}
	rep := Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Notifications: late})
	wantViolations(t, rep, NotNotified)
	if len(rep.Violations) != 2 || rep.Notified != 1 {
		t.Errorf("want b and x not notified: %s", rep)
	}

	// From the journal (notify mode none): the notify step of wave 1
	// finishes after a's migration started.
	j := []state.Event{
		{RunID: "r", Seq: 1, Kind: state.KindStepStarted, StepID: "w1/notify/vnfm/maintenance", Action: "notify", Time: at(-5)},
		{RunID: "r", Seq: 2, Kind: state.KindStepStarted, StepID: "w1/h1/migrate/a", Action: "migrate", Time: at(1)},
		{RunID: "r", Seq: 3, Kind: state.KindStepFinished, StepID: "w1/notify/vnfm/maintenance", Action: "notify", Status: "ok", Time: at(2)},
		{RunID: "r", Seq: 4, Kind: state.KindStepFinished, StepID: "w1/h1/migrate/a", Action: "migrate", Status: "ok", Time: at(11)},
	}
	rep = Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Journal: j})
	wantViolations(t, rep, NotNotified)
	j[2].Time = at(0)
	wantViolations(t, Check(Input{Initial: testCloud(), Final: finalOf(evs), Events: evs, Journal: j}))
}

func TestCheckStepRedone(t *testing.T) {
	j := []state.Event{
		{RunID: "r", Seq: 1, Kind: state.KindRunStarted},
		{RunID: "r", Seq: 2, Kind: state.KindStepStarted, StepID: "w1/h1/enter_maintenance"},
		{RunID: "r", Seq: 3, Kind: state.KindStepFinished, StepID: "w1/h1/enter_maintenance", Status: "ok"},
		{RunID: "r", Seq: 4, Kind: state.KindStepStarted, StepID: "w1/h1/upgrade/qemu"},
		{RunID: "r", Seq: 5, Kind: state.KindRunResumed},
		// The interrupted step runs again: fine.
		{RunID: "r", Seq: 6, Kind: state.KindStepStarted, StepID: "w1/h1/upgrade/qemu"},
		{RunID: "r", Seq: 7, Kind: state.KindStepFinished, StepID: "w1/h1/upgrade/qemu", Status: "ok"},
	}
	rep := Check(Input{Initial: testCloud(), Journal: j})
	wantViolations(t, rep)
	if rep.StepsStarted != 3 || rep.Resumes != 1 {
		t.Errorf("figures: %s", rep)
	}
	// The finished one runs again: not fine.
	j = append(j, state.Event{RunID: "r", Seq: 8, Kind: state.KindStepStarted, StepID: "w1/h1/enter_maintenance"})
	rep = Check(Input{Initial: testCloud(), Journal: j})
	wantViolations(t, rep, StepRedone)
	if !strings.Contains(rep.Violations[0].Detail, "seq 8") || !strings.Contains(rep.Violations[0].Detail, "seq 3") {
		t.Errorf("detail does not locate the events: %v", rep.Violations[0])
	}
}

func TestCheckSimStepTwice(t *testing.T) {
	evs := append(goodLog(), ev(8, 70, "enter_maintenance", "h1", "", ""))
	evs = append(evs, ev(9, 80, "leave_maintenance", "h1", "", ""))
	wantViolations(t, Check(Input{Initial: testCloud(), Events: evs, Notifications: notified()}), SimStepTwice)
}

func TestCheckRecoversLostEvents(t *testing.T) {
	// The sim was killed after writing the cloud and before logging the
	// last two events: the step records tell.
	evs := goodLog()
	final := finalOf(evs)
	rep := Check(Input{Initial: testCloud(), Final: final, Events: evs[:5], Notifications: notified()})
	wantViolations(t, rep)
	if rep.Recovered != 2 || rep.Migrations != 3 {
		t.Errorf("figures: %s", rep)
	}
	// A change neither logged nor recorded is an inconsistency (the final
	// cloud, the truth, has h2 back in service).
	delete(final.Steps, "w1/h2/migrate/b")
	delete(final.Steps, "w1/h2/leave_maintenance")
	rep = Check(Input{Initial: testCloud(), Final: final, Events: evs[:5], Notifications: notified()})
	wantViolations(t, rep, LogInconsistent)
	if len(rep.Violations) != 2 {
		t.Errorf("want the host state and the instance's host reported: %s", rep)
	}
}

func TestCheckStatusMismatch(t *testing.T) {
	evs := goodLog()
	final := finalOf(evs)
	final.Host("h1").Versions["qemu"] = "7.2.0"
	st := &state.State{Run: &state.Run{Status: state.RunFinished}, Hosts: map[string]*state.Host{
		"h1": {Status: state.HostUpgraded, Versions: map[string]string{"qemu": "7.2.0"}},
		"h2": {Status: state.HostRolledBack, Versions: map[string]string{"qemu": "7.1.0"}},
	}}
	wantViolations(t, Check(Input{Initial: testCloud(), Final: final, Events: evs, Notifications: notified(), Status: st}))
	// The state claims h2 was upgraded; it was not.
	st.Hosts["h2"] = &state.Host{Status: state.HostUpgraded, Versions: map[string]string{"qemu": "7.2.0"}}
	wantViolations(t, Check(Input{Initial: testCloud(), Final: final, Events: evs, Notifications: notified(), Status: st}), StatusMismatch)
	// Left in maintenance by the state, in service in the cloud.
	st.Hosts["h2"] = &state.Host{Status: state.HostInMaintenance}
	wantViolations(t, Check(Input{Initial: testCloud(), Final: final, Events: evs, Notifications: notified(), Status: st}), StatusMismatch)
	// A running run is not judged.
	st.Run.Status = state.RunRunning
	wantViolations(t, Check(Input{Initial: testCloud(), Final: final, Events: evs, Notifications: notified(), Status: st}))
}
