//go:build e2e && linux

package e2e

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

// killPoint is a moment to kill -9 escalator apply: right after the event
// for which trigger returns true (the event is on apply -json's stdout,
// so it is in the journal and its step, when it started one, is running).
type killPoint struct {
	name    string
	trigger func(e state.Event, started int) bool
}

// afterStarted kills after the n-th step_started event.
func afterStarted(n int) killPoint {
	return killPoint{fmt.Sprintf("started-%03d", n), func(e state.Event, started int) bool {
		return e.Kind == state.KindStepStarted && started == n
	}}
}

// afterNth kills after the n-th event that match accepts.
func afterNth(name string, n int, match func(e state.Event) bool) killPoint {
	seen := 0
	return killPoint{name, func(e state.Event, _ int) bool {
		if match(e) {
			seen++
		}
		return seen == n && match(e)
	}}
}

func started(action string) func(e state.Event) bool {
	return func(e state.Event) bool { return e.Kind == state.KindStepStarted && e.Action == action }
}

func finishedOK(action string) func(e state.Event) bool {
	return func(e state.Event) bool {
		return e.Kind == state.KindStepFinished && e.Status == string(state.StepOK) && (action == "" || e.Action == action)
	}
}

// killPoints spreads at least 20 kill points over a run that starts
// steps steps: after the 1st, 3rd and 7th step_started event, then every
// twentieth of the run; plus moments picked by kind: in the middle of a
// migration, right after an upgrade finished, while a host leaves
// maintenance, while a VNF manager is notified, between two steps, right
// after a host was reported upgraded.
func killPoints(steps int) []killPoint {
	ns := map[int]bool{1: true, 3: true, 7: true}
	for k := 1; k < 20; k++ {
		ns[k*steps/20] = true
	}
	var sorted []int
	for n := range ns {
		if n >= 1 && n < steps {
			sorted = append(sorted, n)
		}
	}
	sort.Ints(sorted)
	var out []killPoint
	for _, n := range sorted {
		out = append(out, afterStarted(n))
	}
	return append(out,
		afterNth("migrate-started-10", 10, started("migrate")),
		afterNth("upgrade-finished-3", 3, finishedOK("upgrade")),
		afterNth("leave-maintenance-started-4", 4, started("leave_maintenance")),
		afterNth("notify-started-3", 3, started("notify")),
		afterNth("finished-150", 150, finishedOK("")),
		afterNth("host-upgraded-6", 6, func(e state.Event) bool {
			return e.Kind == state.KindHostStatus && e.Status == string(state.HostUpgraded)
		}),
		afterNth("check-started-9", 9, started("check")),
	)
}

// killOutcome is one kill point's result, for the summary.
type killOutcome struct {
	point      string
	at         string
	started    int
	okBefore   int
	resumedRun int
	violations int
	redone     int
}

// TestKill9Resume kills apply with SIGKILL at many points of a run, each
// on a fresh copy of the campaign, then runs apply again to the end.
// After each: the plugin died with escalator and no lock is left; the
// resumed apply finishes; no step that finished OK before the kill is
// started again (journal); every host is upgraded; the invariants hold.
func TestKill9Resume(t *testing.T) {
	t.Parallel()
	// A reference run gives the number of steps to spread the points on.
	ref := newCampaign(t, spec{})
	r := ref.run("apply", "-auto-approve", "-json")
	if r.code != 0 {
		t.Fatalf("reference apply: %s", r)
	}
	evs, _ := jsonEvents(r.stdout)
	steps := countKind(evs, state.KindStepStarted)
	points := killPoints(steps)
	if len(points) < 20 {
		t.Fatalf("only %d kill points", len(points))
	}
	t.Logf("reference run: %d steps started in %s; %d kill points", steps, r.wall.Round(1e6), len(points))

	var mu sync.Mutex
	var outcomes []killOutcome
	t.Run("points", func(t *testing.T) {
		for _, kp := range points {
			t.Run(kp.name, func(t *testing.T) {
				t.Parallel()
				o := killAndResume(t, kp)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			})
		}
	})
	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].point < outcomes[j].point })
	var b strings.Builder
	fmt.Fprintf(&b, "%-30s %-70s %7s %8s %8s %5s %6s\n", "KILL POINT", "KILLED AFTER", "STARTED", "OK-BEFORE", "RESUMED", "REDONE", "VIOLATIONS")
	for _, o := range outcomes {
		fmt.Fprintf(&b, "%-30s %-70s %7d %8d %8d %5d %6d\n", o.point, o.at, o.started, o.okBefore, o.resumedRun, o.redone, o.violations)
	}
	t.Logf("kill -9 summary:\n%s", b.String())
}

func killAndResume(t *testing.T, kp killPoint) killOutcome {
	c := newCampaign(t, spec{})
	k := c.applyKill(kp.trigger)
	if k.at == nil {
		t.Fatalf("the run ended (exit %d) before kill point %s", k.out.code, kp.name)
	}
	what := k.at.StepID
	if what == "" {
		what = k.at.Host + " " + k.at.Status
	}
	o := killOutcome{point: kp.name, at: fmt.Sprintf("%s %s", k.at.Kind, what), started: k.started}
	st := c.status()
	if st.Run == nil || st.Run.Status != state.RunRunning {
		t.Errorf("status after the kill: %+v, want the run running (interrupted)", st.Run)
	}
	runID := st.Run.ID
	seqAtKill := st.Run.LastSeq

	r := c.run("apply", "-auto-approve", "-json")
	if r.code != 0 {
		t.Fatalf("resumed apply: %s", r)
	}
	evs, outcome := jsonEvents(r.stdout)
	if outcome["status"] != string(state.RunFinished) || outcome["resumed"] != true || outcome["run_id"] != runID {
		t.Errorf("resumed apply's outcome: %v (run %s)", outcome, runID)
	}
	o.resumedRun = countKind(evs, state.KindStepStarted)

	// The journal: nothing that finished OK before the kill starts again.
	ok, again := okBeforeStartedAfter(c.journal(), runID, seqAtKill)
	o.okBefore = len(ok)
	for id, seq := range again {
		if okSeq, done := ok[id]; done {
			o.redone++
			t.Errorf("step %s finished OK before the kill (journal seq %d) and started again after it (seq %d)", id, okSeq, seq)
		}
	}
	c.assertUpgraded()
	rep := c.check()
	o.violations = len(rep.Violations)
	t.Logf("killed after %s (%d steps started, %d finished OK); the resume started %d steps", o.at, k.started, o.okBefore, o.resumedRun)
	return o
}

// TestKill9Repeatedly kills every apply after its 37th step_started event
// and starts it again, until one finishes: a run resumed many times over,
// with VNF managers in mode "none" (notification is then checked from the
// journal).
func TestKill9Repeatedly(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{notifyNone: true})
	kills := 0
	for {
		k := c.applyKill(func(e state.Event, started int) bool { return e.Kind == state.KindStepStarted && started == 37 })
		if k.at == nil {
			if k.out.code != 0 {
				t.Fatalf("apply after %d kills: %s", kills, k.out)
			}
			break
		}
		kills++
		if kills > 40 {
			t.Fatalf("still not finished after %d kills", kills)
		}
	}
	if kills < 8 {
		t.Errorf("only %d kills: the run is shorter than expected", kills)
	}
	c.assertUpgraded()
	rep := c.check()
	if rep.Resumes != kills {
		t.Errorf("the journal shows %d resumes for %d kills", rep.Resumes, kills)
	}
	t.Logf("%d kills, each after 37 steps started, then a run to the end", kills)
}

// TestKill9WithPlanFile kills an apply of a saved plan in the middle of
// wave 4 and resumes with the same plan file: the run continues (the plan
// is not refused as stale although the cloud changed under it, since it
// is the plan being carried out).
func TestKill9WithPlanFile(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	c.plan()
	k := c.applyKill(afterNth("w4-migrate-5", 5, func(e state.Event) bool {
		return e.Kind == state.KindStepStarted && e.Action == "migrate" && strings.HasPrefix(e.StepID, "w4/")
	}).trigger, "plan.json")
	if k.at == nil {
		t.Fatalf("the run ended before the kill point: %s", k.out)
	}
	r := c.run("apply", "-auto-approve", "-json", "plan.json")
	if r.code != 0 {
		t.Fatalf("apply of the same plan after the kill: %s", r)
	}
	if _, outcome := jsonEvents(r.stdout); outcome["resumed"] != true {
		t.Errorf("the plan was not resumed: %v", outcome)
	}
	c.assertUpgraded()
	c.check()
}

// TestKill9DuringRollback kills apply while rollback_host reverses a
// host whose verification failed, at each rollback step, and resumes.
// Whatever the resumed run decides for the host, escalator's state must
// agree with the cloud, the host must end in service, and nothing of the
// rest is lost.
func TestKill9DuringRollback(t *testing.T) {
	t.Parallel()
	for _, kp := range []killPoint{
		afterNth("rollback-enter-maintenance", 1, func(e state.Event) bool {
			return e.Kind == state.KindStepStarted && strings.HasPrefix(e.StepID, "rollback/") && e.Action == "enter_maintenance"
		}),
		afterNth("rollback-1-started", 1, started("rollback")),
		afterNth("rollback-1-finished", 1, finishedOK("rollback")),
		afterNth("rollback-2-finished", 2, finishedOK("rollback")),
		afterNth("rollback-leave-maintenance-finished", 1, func(e state.Event) bool {
			return e.Kind == state.KindStepFinished && strings.HasPrefix(e.StepID, "rollback/") && e.Action == "leave_maintenance"
		}),
		afterNth("host-rolled-back", 1, func(e state.Event) bool {
			return e.Kind == state.KindHostStatus && e.Status == string(state.HostRolledBack)
		}),
	} {
		t.Run(kp.name, func(t *testing.T) {
			t.Parallel()
			c := newCampaign(t, spec{onFailure: `action = "rollback_host"`})
			base := c.plan()
			x := hostWithMoves(t, base, 3)
			c.withFaults(base, fault{action: "verify", host: x, mode: "fail", times: 1})
			k := c.applyKill(kp.trigger, "plan.json")
			if k.at == nil {
				t.Fatalf("the run ended before the kill point: %s", k.out)
			}
			// The resumed run may retry the host (the fault fired once) and
			// finish, or find it rolled back and halt: both are fine.
			r := c.run("apply", "-auto-approve")
			st := c.status()
			if st.Run.Status != state.RunFinished && st.Run.Status != state.RunHalted {
				t.Errorf("resumed apply left the run %s: %s", st.Run.Status, r)
			}
			h := c.cloud().Host(x)
			if h.State != sim.StateUp {
				t.Errorf("host %s is %s after the resumed run (%s, host status %s)", x, h.State, st.Run.Status, st.Hosts[x].Status)
			}
			what := k.at.StepID
			if what == "" {
				what = k.at.Host + " " + k.at.Status
			}
			t.Logf("killed after %s %s; the resumed run ended %s (exit %d): host %s %s, qemu %s, nova_compute %s",
				k.at.Kind, what, st.Run.Status, r.code, x, st.Hosts[x].Status, h.Versions["qemu"], h.Versions["nova_compute"])
			c.check()
		})
	}
}
