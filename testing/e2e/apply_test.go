//go:build e2e && linux

package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

// hostWithMoves picks the first host of wave n that has instances to move.
func hostWithMoves(t *testing.T, f *plans.File, n int) string {
	t.Helper()
	for _, hv := range waveHosts(f)[n] {
		if len(hv.Moves) > 0 {
			return hv.Host
		}
	}
	t.Fatalf("wave %d of the plan has no host with instances to move", n)
	return ""
}

// waveOf returns the wave number of host in the plan.
func waveOf(f *plans.File, host string) int {
	for n, hvs := range waveHosts(f) {
		for _, hv := range hvs {
			if hv.Host == host {
				return n
			}
		}
	}
	return 0
}

// hostsOfWaves lists the hosts of the waves for which keep is true.
func hostsOfWaves(f *plans.File, keep func(n int) bool) []string {
	var out []string
	for n, hvs := range waveHosts(f) {
		if keep(n) {
			for _, hv := range hvs {
				out = append(out, hv.Host)
			}
		}
	}
	return out
}

// withFaults adds fault blocks, re-plans, and checks the fault hosts kept
// their waves (the plan does not depend on faults).
func (c *campaign) withFaults(before *plans.File, faults ...fault) *plans.File {
	c.t.Helper()
	c.spec.faults = append(c.spec.faults, faults...)
	c.writeConfig()
	f := c.plan()
	for _, fl := range faults {
		if fl.host != "" && waveOf(f, fl.host) != waveOf(before, fl.host) {
			c.t.Fatalf("host %s moved from wave %d to %d when faults were added", fl.host, waveOf(before, fl.host), waveOf(f, fl.host))
		}
	}
	return f
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, tail(s, 4000))
		}
	}
}

// TestFullUpgrade: a saved plan carried out to the end; every host
// upgraded, every instance moved once, every VNF manager told first.
func TestFullUpgrade(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	f := c.plan()
	r := c.run("apply", "-auto-approve", "-json", "plan.json")
	if r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	evs, outcome := jsonEvents(r.stdout)
	if outcome["status"] != string(state.RunFinished) {
		t.Errorf("outcome: %v", outcome)
	}
	c.assertUpgraded()
	st := c.status()
	if st.Run == nil || st.Run.Status != state.RunFinished || st.Run.Totals.StepsFailed != 0 || st.Run.Totals.StepsOK != st.Run.Totals.StepsStarted {
		t.Errorf("run: %+v", st.Run)
	}
	rep := c.check()
	if rep.Migrations != f.Plan.Totals.Moves || rep.MovedTwice != 0 || rep.Notified != rep.MovedInstances {
		t.Errorf("the plan has %d moves; the cloud saw %d migrations, %d instances moved twice, %d of %d notified",
			f.Plan.Totals.Moves, rep.Migrations, rep.MovedTwice, rep.Notified, rep.MovedInstances)
	}
	// Each wave with instances to move told the VNF manager before
	// (maintenance) and after (available).
	got := map[string]bool{}
	for _, n := range c.hook.received() {
		got[fmt.Sprintf("%d/%s", n.Wave, n.Event)] = true
	}
	for _, r := range f.Plan.Rollouts {
		for _, w := range r.Waves {
			if len(w.Notify) == 0 {
				continue
			}
			for _, ev := range []string{"maintenance", "available"} {
				if !got[fmt.Sprintf("%d/%s", w.Number, ev)] {
					t.Errorf("wave %d: no %s notification", w.Number, ev)
				}
			}
		}
	}
	t.Logf("full upgrade: %d hosts, %d waves, %d steps, %d migrations in %s", len(c.computeHosts()), f.Plan.Totals.Waves,
		countKind(evs, state.KindStepStarted), rep.Migrations, r.wall.Round(1e6))
}

// TestHaltPolicy: an upgrade fails on a host of wave 3 with on_failure
// halt: the run halts, the host stays in maintenance (and nothing after
// it starts); the next apply retries it and finishes.
func TestHaltPolicy(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	base := c.plan()
	x := hostWithMoves(t, base, 3)
	f := c.withFaults(base, fault{action: "upgrade", host: x, mode: "fail", times: 1})
	r := c.run("apply", "-auto-approve", "plan.json")
	if r.code == 0 {
		t.Fatalf("apply with a failing upgrade succeeded: %s", r)
	}
	mustContain(t, "apply output", r.stdout, "left in maintenance", x)
	st := c.status()
	if st.Run.Status != state.RunHalted || st.Hosts[x] == nil || st.Hosts[x].Status != state.HostInMaintenance {
		t.Errorf("status after the halt: run %+v, host %s %+v", st.Run, x, st.Hosts[x])
	}
	if h := c.cloud().Host(x); h.State != sim.StateMaintenance {
		t.Errorf("cloud host %s is %s, want maintenance", x, h.State)
	}
	c.assertUpgraded(append(hostsOfWaves(f, func(n int) bool { return n > 3 }), x)...)
	c.assertOld(hostsOfWaves(f, func(n int) bool { return n > 3 })...)
	c.check(x)

	// The fault fired once: apply again finishes the run.
	r = c.run("apply", "-auto-approve")
	if r.code != 0 {
		t.Fatalf("apply after the halt: %s", r)
	}
	c.assertUpgraded()
	if rep := c.check(); rep.Resumes != 1 {
		t.Errorf("the journal shows %d resumes of the run, want 1", rep.Resumes)
	}
}

// TestRollbackHostPolicy: verification fails on a host of wave 3 after
// both its components were upgraded, with on_failure rollback_host: the
// host goes back to its old versions, in service, and the run halts.
func TestRollbackHostPolicy(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{onFailure: `action = "rollback_host"`})
	base := c.plan()
	x := hostWithMoves(t, base, 3)
	f := c.withFaults(base, fault{action: "verify", host: x, mode: "fail", times: 1})
	r := c.run("apply", "-auto-approve", "plan.json")
	if r.code == 0 {
		t.Fatalf("apply with a failing verification succeeded: %s", r)
	}
	mustContain(t, "apply output", r.stdout, "rolled back", x)
	c.assertOld(x)
	c.assertOld(hostsOfWaves(f, func(n int) bool { return n > 3 })...)
	c.assertUpgraded(append(hostsOfWaves(f, func(n int) bool { return n > 3 }), x)...)
	st := c.status()
	if st.Run.Status != state.RunHalted || st.Hosts[x].Status != state.HostRolledBack {
		t.Errorf("status: run %s, host %s %+v", st.Run.Status, x, st.Hosts[x])
	}
	if v := st.Hosts[x].Versions; v["qemu"] != "7.1.0" || v["nova_compute"] != "26.2.0" {
		t.Errorf("status versions of %s: %v, want the old ones", x, v)
	}
	rolledBack := 0
	for _, e := range c.events() {
		if e.Action == "rollback" && e.Host == x && e.Result == sim.ResultOK {
			rolledBack++
		}
	}
	if rolledBack != 2 {
		t.Errorf("%d components of %s rolled back, want 2", rolledBack, x)
	}
	c.check()
}

// TestRollbackHostAfterCommittedUpgrade: the first upgrade of a host
// commits and then reports a failure (at = "end": the sim made the change,
// escalator sees an error). rollback_host must still leave the host on
// its old versions: the failed step may have changed the host.
func TestRollbackHostAfterCommittedUpgrade(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{onFailure: `action = "rollback_host"`})
	base := c.plan()
	x := hostWithMoves(t, base, 3)
	c.withFaults(base, fault{action: "upgrade", host: x, mode: "fail", at: "end", times: 1})
	r := c.run("apply", "-auto-approve", "plan.json")
	if r.code == 0 {
		t.Fatalf("apply with a failing upgrade succeeded: %s", r)
	}
	mustContain(t, "apply output", r.stdout, "rolled back", x)
	c.assertOld(x)
	st := c.status()
	if h := st.Hosts[x]; h == nil || h.Status != state.HostRolledBack || h.Versions["qemu"] != c.cloud().Host(x).Versions["qemu"] {
		t.Errorf("status of %s: %+v; the cloud has qemu %s", x, h, c.cloud().Host(x).Versions["qemu"])
	}
	c.check()
}

// TestContinuePolicy: with on_failure continue and max_failed = 1, a
// failed host of wave 3 is rolled back and the run goes on; a second
// failure, in a later wave, is one too many: rolled back, and the run
// halts.
func TestContinuePolicy(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{onFailure: "action     = \"continue\"\n    max_failed = 1"})
	base := c.plan()
	x, y := hostWithMoves(t, base, 3), hostWithMoves(t, base, 7)
	f := c.withFaults(base,
		fault{action: "verify", host: x, mode: "fail", times: 1},
		fault{action: "verify", host: y, mode: "fail", times: 1})
	r := c.run("apply", "-auto-approve", "plan.json")
	if r.code == 0 {
		t.Fatalf("apply with two failures and max_failed = 1 succeeded: %s", r)
	}
	mustContain(t, "apply output", r.stdout, "max_failed = 1", y)
	c.assertOld(x, y)
	c.assertOld(hostsOfWaves(f, func(n int) bool { return n > 7 })...)
	// Waves 4 to 6 ran after the first failure.
	c.assertUpgraded(append(hostsOfWaves(f, func(n int) bool { return n > 7 }), x, y)...)
	st := c.status()
	if st.Run.Status != state.RunHalted || st.Hosts[x].Status != state.HostRolledBack || st.Hosts[y].Status != state.HostRolledBack {
		t.Errorf("status: run %s, %s %+v, %s %+v", st.Run.Status, x, st.Hosts[x], y, st.Hosts[y])
	}
	if n := len(hostsOfWaves(f, func(n int) bool { return n > 3 && n < 7 })); n == 0 {
		t.Errorf("no wave between the failures: the scenario proves nothing")
	}
	c.check()
}

// TestCanaryPause: canary { pause = true } stops apply after the canary
// wave, successfully; the next apply finishes the run.
func TestCanaryPause(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{canaryPause: true})
	f := c.plan()
	canary := hostsOfWaves(f, func(n int) bool { return n == 1 })
	rest := hostsOfWaves(f, func(n int) bool { return n > 1 })
	r := c.run("apply", "-auto-approve", "plan.json")
	if r.code != 0 {
		t.Fatalf("apply up to the canary pause: %s", r)
	}
	mustContain(t, "apply output", r.stdout, "paused after canary wave 1")
	st := c.status()
	if st.Run.Status != state.RunHalted {
		t.Errorf("run after the pause: %+v", st.Run)
	}
	c.assertUpgraded(rest...)
	c.assertOld(rest...)
	for _, h := range rest {
		if st.Hosts[h] != nil && st.Hosts[h].Status != state.HostPending {
			t.Errorf("host %s after the pause: %+v", h, st.Hosts[h])
		}
	}
	c.check()

	r = c.run("apply", "-auto-approve")
	if r.code != 0 {
		t.Fatalf("apply after the pause: %s", r)
	}
	mustContain(t, "apply output", r.stdout, "Apply complete!")
	c.assertUpgraded()
	if len(canary) != 1 {
		t.Errorf("canary wave: %v", canary)
	}
	if rep := c.check(); rep.Resumes != 1 {
		t.Errorf("the journal shows %d resumes of the run, want 1", rep.Resumes)
	}
}

// TestStalePlanRefused: the cloud changes (one host's nova_compute
// version) after the plan was saved: apply refuses it, naming the host,
// and changes nothing.
func TestStalePlanRefused(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	f := c.plan()
	h := hostWithMoves(t, f, 4)
	c.editCloud(func(cl *sim.Cloud) { cl.Host(h).Versions["nova_compute"] = "26.3.0" })
	before := c.cloud()
	r := c.run("apply", "-auto-approve", "plan.json")
	if r.code == 0 {
		t.Fatalf("a stale plan was applied: %s", r)
	}
	mustContain(t, "stderr", r.stderr, "plan is stale", "1 host changed", h)
	t.Logf("stale plan refused: %s", strings.TrimSpace(r.stderr))
	if evs := c.events(); len(evs) != 0 {
		t.Errorf("the refused apply changed the cloud: %d events, first %+v", len(evs), evs[0])
	}
	if j := c.journal(); len(j) != 0 {
		t.Errorf("the refused apply started a run: %+v", j[0])
	}
	after := c.cloud()
	for _, hh := range after.Hosts {
		if b := before.Host(hh.Name); b.State != hh.State || b.Versions["qemu"] != hh.Versions["qemu"] {
			t.Errorf("host %s changed", hh.Name)
		}
	}
	// A fresh plan of the changed cloud goes through.
	c.plan()
	if r := c.run("apply", "-auto-approve", "plan.json"); r.code != 0 {
		t.Fatalf("apply of a fresh plan: %s", r)
	}
	c.assertUpgraded()
	c.initial.Host(h).Versions["nova_compute"] = "26.3.0"
	c.check()
}

// TestSecondApplyRefused: while an apply runs (held by an upgrade that
// hangs), a second apply is refused naming the holder; status shows the
// running step. The first is then killed (-9) in the middle of the hung
// step, and a third apply resumes and finishes.
func TestSecondApplyRefused(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	base := c.plan()
	x := hostWithMoves(t, base, 2)
	c.withFaults(base, fault{action: "upgrade", host: x, mode: "hang", times: 1})
	hung := fmt.Sprintf("w2/%s/upgrade/qemu", x)
	var second result
	var st *state.State
	var errSecond, errStatus error
	k := c.applyKill(func(e state.Event, _ int) bool {
		if e.Kind != state.KindStepStarted || e.StepID != hung {
			return false
		}
		second, errSecond = c.runErr("apply", "-auto-approve")
		st, errStatus = c.statusErr()
		return true
	}, "plan.json")
	if k.at == nil {
		t.Fatalf("the hung step %s never started: %s", hung, k.out)
	}
	if errSecond != nil || errStatus != nil {
		t.Fatalf("while the first apply ran: %v; %v", errSecond, errStatus)
	}
	if second.code == 0 {
		t.Fatalf("a second apply ran while one was running: %s", second)
	}
	// The holder is named: operation, pid and how to break a stale lock.
	if pid := holderPID(t, second.stderr); pid != k.pid {
		t.Errorf("the refusal names pid %d; the running apply is pid %d", pid, k.pid)
	}
	pid := k.pid
	mustContain(t, "second apply's stderr", second.stderr, "apply", fmt.Sprintf("pid %d", pid), "force-unlock")
	t.Logf("second apply refused (exit %d): %s", second.code, strings.TrimSpace(second.stderr))
	if st.Run == nil || st.Run.Status != state.RunRunning || st.Hosts[x] == nil || st.Hosts[x].Step != hung {
		t.Errorf("status while running: run %+v, host %s %+v", st.Run, x, st.Hosts[x])
	}
	r := c.run("apply", "-auto-approve")
	if r.code != 0 {
		t.Fatalf("apply after the kill: %s", r)
	}
	c.assertUpgraded()
	c.check()
}

// holderPID finds "pid N" in a lock refusal.
func holderPID(t *testing.T, s string) int {
	t.Helper()
	i := strings.Index(s, "(pid ")
	if i < 0 {
		t.Fatalf("the refusal names no pid: %s", s)
	}
	var pid int
	fmt.Sscanf(s[i:], "(pid %d)", &pid)
	return pid
}

// TestSecondCampaignSameCloud: after a campaign finished, a second one
// upgrades the same hosts further (qemu 7.2.0 → 7.3.0, nova_compute
// 27.1.0 → 28.0.0). Every host must end at the new versions, as the
// second run's status claims.
func TestSecondCampaignSameCloud(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	c.plan()
	if r := c.run("apply", "-auto-approve", "plan.json"); r.code != 0 {
		t.Fatalf("first campaign: %s", r)
	}
	c.assertUpgraded()
	c.spec.qemu, c.spec.nova = "7.3.0", "28.0.0"
	c.writeConfig()
	c.plan()
	r := c.run("apply", "-auto-approve", "plan.json")
	if r.code != 0 {
		t.Fatalf("second campaign: %s", r)
	}
	c.assertUpgraded()
	c.checkWith(func(in *Input) { in.MaxMoves = 2 })
}
