//go:build e2e && linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/state"

	wire "github.com/escalator-nfv/escalator/internal/vnfm"
	samplevnfm "github.com/escalator-nfv/escalator/testing/vnfm"
)

// migrateSteps matches the escalator migration steps of instance inst in
// wave n (any wave when n is 0), the own_action waits excluded.
func migrateSteps(n int, inst string) func(id string) bool {
	return func(id string) bool {
		if n > 0 && !strings.HasPrefix(id, fmt.Sprintf("w%d/", n)) {
			return false
		}
		return strings.Contains(id, "/migrate/") && (inst == "" || strings.Contains(id, "/migrate/"+inst)) && !strings.HasSuffix(id, "/own_action")
	}
}

// TestVNFMOwnAction: the sample VNF manager through a full apply, replying
// synchronously, then asynchronously through apply -listen. It is told
// before any of its instances moves, with the lead time; when its active
// instance's host comes, it switches over and takes the instance over
// (OWN_ACTION), and escalator does not migrate it but waits for the VNF
// manager's own move; the standby is migrated by escalator; every host
// ends upgraded.
func TestVNFMOwnAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reply         samplevnfm.ReplyMode
		standbyAction string
		args          []string
	}{
		{name: "sync", reply: samplevnfm.ReplySync},
		{name: "async through apply -listen", reply: samplevnfm.ReplyAsync, standbyAction: wire.ActionLiveMigrate, args: []string{"-listen=127.0.0.1:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newVNFMCampaign(t, vnfmSpec{mode: samplevnfm.ModeAck, reply: tt.reply, standbyAction: tt.standbyAction})
			f := c.plan()
			activeWave, standbyWave := pairWaves(t, f)
			args := append(append([]string{"apply", "-auto-approve", "-json"}, tt.args...), "plan.json")
			r := c.run(args...)
			if r.code != 0 {
				t.Fatalf("apply: %s", r)
			}
			if _, outcome := jsonEvents(r.stdout); outcome["status"] != string(state.RunFinished) {
				t.Errorf("outcome: %v", outcome)
			}
			c.assertUpgraded()
			recs := c.waitOwnActions()
			j := c.journal()

			// (a) Told before anything of its moved, escalator's moves at
			// least lead_time after the notification.
			for _, p := range recs.CheckLead(vnfmLead) {
				t.Error(p)
			}
			notes := maintenanceNotes(recs)
			byWave := map[int]samplevnfm.Notification{}
			for _, n := range notes {
				byWave[n.Wave] = n
			}
			if len(notes) != 2 || byWave[activeWave].ID == "" || byWave[standbyWave].ID == "" {
				t.Fatalf("maintenance notifications %+v; want one for wave %d and one for wave %d", notes, standbyWave, activeWave)
			}
			available := map[int]bool{}
			for _, n := range recs.Notifications {
				if n.EventType == wire.EventScheduled && n.State == wire.StateMaintenanceComplete {
					available[n.Wave] = true
				}
			}
			c.assertHostEvents(recs, j)
			for _, n := range notes {
				// not_before is the lead time from when escalator began
				// notifying the wave: a little before the notification
				// arrived, never after.
				if n.NotBefore.After(n.Received.Add(vnfmLead)) || n.NotBefore.Before(n.Received.Add(vnfmLead-250*time.Millisecond)) {
					t.Errorf("wave %d: not_before %s for a notification received at %s with lead_time %s", n.Wave, n.NotBefore, n.Received, vnfmLead)
				}
				if !stepEndedAs(j, string(state.StepOK), fmt.Sprintf("w%d/lead_time", n.Wave)) {
					t.Errorf("wave %d: no lead_time step finished OK in the journal", n.Wave)
				}
				for _, e := range journalSteps(j, migrateSteps(n.Wave, "")) {
					if e.Kind == state.KindStepStarted && e.Time.Before(n.NotBefore) {
						t.Errorf("wave %d: step %s started at %s, before not_before %s", n.Wave, e.StepID, e.Time, n.NotBefore)
					}
				}
				if !available[n.Wave] {
					t.Errorf("wave %d: no MAINTENANCE_COMPLETE notification after it", n.Wave)
				}
				if tt.reply == samplevnfm.ReplyAsync {
					if !n.Async || n.ReplyStatus != 202 || n.ReplyError != "" || !strings.HasPrefix(n.ReplyURL, "http://127.0.0.1:") ||
						!strings.HasSuffix(n.ReplyURL, "/v1/vnfm/"+vnfmName+"/replies") {
						t.Errorf("wave %d: asynchronous reply: %+v", n.Wave, n)
					}
				}
			}

			// The standby's wave: no switch-over; escalator migrates it.
			sn := byWave[standbyWave]
			if sn.SwitchedOver || sn.Reply == nil || sn.Reply.InstanceActions[instStandby] != tt.standbyAction {
				t.Errorf("reply to the standby's wave: %+v", sn)
			}
			if b := recs.Instance(instStandby); len(b.Moves) != 1 || b.Moves[0].ByVNFM || !strings.Contains(b.Moves[0].StepID, fmt.Sprintf("/w%d/", standbyWave)) {
				t.Errorf("moves of the standby %s: %+v; want one, by escalator, in wave %d", instStandby, b.Moves, standbyWave)
			}

			// (b) The active's wave: switch-over, OWN_ACTION, and no
			// escalator migration of the old active.
			an := byWave[activeWave]
			if !an.SwitchedOver || an.ActiveBefore != instActive || an.ActiveAfter != instStandby || an.Reply == nil || an.Reply.InstanceActions[instActive] != wire.ActionOwn {
				t.Errorf("reply to the active's wave: %+v", an)
			}
			if steps := journalSteps(j, migrateSteps(0, instActive)); len(steps) > 0 {
				t.Errorf("escalator migrated %s, which its VNF manager took over: %+v", instActive, steps)
			}
			own := journalSteps(j, func(id string) bool { return strings.HasSuffix(id, "/migrate/"+instActive+"/own_action") })
			if len(own) != 2 || own[0].Kind != state.KindStepStarted || own[1].Status != string(state.StepOK) {
				t.Fatalf("journal steps waiting for the own action: %+v; want one started and finished OK", own)
			}
			noted := false
			for _, e := range j {
				if e.Kind == state.KindNote && e.Code == state.CodeOwnAction && e.Data[engine.DataOwnAction] == instActive {
					noted = true
				}
			}
			if !noted {
				t.Errorf("no %s note for %s in the journal", state.CodeOwnAction, instActive)
			}
			// The move in the sim's log is the VNF manager's own, off the
			// host, outside the wave's hosts, while escalator waited.
			a := recs.Instance(instActive)
			if len(a.Moves) != 1 || !a.Moves[0].ByVNFM || a.Moves[0].From != "cmp-1" || containsStr(an.Hosts, a.Moves[0].To) {
				t.Fatalf("moves of %s: %+v; want one, by the VNF manager, off cmp-1 to a host outside %v", instActive, a.Moves, an.Hosts)
			}
			// It moves once the host is in maintenance: possibly before
			// escalator's wait for it began (they race), never after that
			// wait ended.
			enter := journalSteps(j, func(id string) bool { return strings.HasSuffix(id, "/cmp-1/enter_maintenance") })
			if len(enter) == 0 {
				t.Fatalf("no journal step entering cmp-1 into maintenance")
			}
			if mv := a.Moves[0]; mv.Time.Before(enter[0].Time) || mv.Time.After(own[1].Time) {
				t.Errorf("the VNF manager moved %s at %s, not between cmp-1 entering maintenance (%s) and the end of escalator's wait (%s)", instActive, mv.Time, enter[0].Time, own[1].Time)
			}
			if len(recs.OwnActions) != 1 || recs.OwnActions[0].Error != "" || recs.OwnActions[0].To != a.Moves[0].To {
				t.Errorf("own actions: %+v", recs.OwnActions)
			}
			if recs.Active != instStandby || recs.Standby != instActive {
				t.Errorf("roles at the end: active %s, standby %s; want %s, %s", recs.Active, recs.Standby, instStandby, instActive)
			}
			if tt.reply == samplevnfm.ReplyAsync {
				mustContain(t, "apply stderr", r.stderr, "Serving the API")
			}
			c.checkInvariants(recs)
			t.Logf("%s: waves %d (standby) and %d (active), own move %s -> %s, apply %s", tt.name, standbyWave, activeWave,
				a.Moves[0].From, a.Moves[0].To, r.wall.Round(time.Millisecond))
		})
	}
}

// assertUntouched checks that escalator never touched the hosts: no
// change of theirs in the sim's log, in service at their old versions.
// assertHostEvents checks the host-level notifications against the
// journal: for each host its instances left, IN_MAINTENANCE arrived after
// every move off the host ended (escalator's migrations and the VNF
// manager's own action) and before the host's first upgrade step
// started; MAINTENANCE_COMPLETE for the host arrived after it left
// maintenance; each exactly once.
func (c *vnfmCampaign) assertHostEvents(recs *samplevnfm.Records, j []state.Event) {
	c.t.Helper()
	type key struct{ host, state string }
	got := map[key][]samplevnfm.Notification{}
	for _, n := range recs.Notifications {
		if n.EventType == wire.EventHost {
			if len(n.Hosts) != 1 {
				c.t.Errorf("host-level notification for %d hosts: %+v", len(n.Hosts), n)
				continue
			}
			got[key{n.Hosts[0], n.State}] = append(got[key{n.Hosts[0], n.State}], n)
		}
	}
	hosts := map[string]int{} // host -> wave, for the hosts the pair left
	for _, n := range maintenanceNotes(recs) {
		for _, in := range n.Instances {
			hosts[in.Host] = n.Wave
		}
	}
	if len(hosts) == 0 {
		c.t.Fatal("the VNF manager was told of no host")
	}
	for host, wave := range hosts {
		in, back := got[key{host, wire.StateInMaintenance}], got[key{host, wire.StateMaintenanceComplete}]
		if len(in) != 1 || len(back) != 1 {
			c.t.Errorf("%s: %d IN_MAINTENANCE and %d host MAINTENANCE_COMPLETE notifications, want one each", host, len(in), len(back))
			continue
		}
		prefix := fmt.Sprintf("w%d/%s/", wave, host)
		for _, e := range journalSteps(j, func(id string) bool { return strings.HasPrefix(id, prefix) }) {
			rel := strings.TrimPrefix(e.StepID, prefix)
			switch {
			case strings.HasPrefix(rel, "migrate/") && e.Kind == state.KindStepFinished && e.Time.After(in[0].Received):
				c.t.Errorf("%s: step %s ended at %s, after IN_MAINTENANCE arrived (%s)", host, e.StepID, stamp(e.Time), stamp(in[0].Received))
			case strings.HasPrefix(rel, "upgrade/") && e.Kind == state.KindStepStarted && e.Time.Before(in[0].Received):
				c.t.Errorf("%s: step %s started at %s, before IN_MAINTENANCE arrived (%s)", host, e.StepID, stamp(e.Time), stamp(in[0].Received))
			case rel == "leave_maintenance" && e.Kind == state.KindStepFinished && e.Time.After(back[0].Received):
				c.t.Errorf("%s: left maintenance at %s, after MAINTENANCE_COMPLETE for it arrived (%s)", host, stamp(e.Time), stamp(back[0].Received))
			}
		}
		if !stepEndedAs(j, string(state.StepOK), prefix+"leave_maintenance") {
			c.t.Errorf("%s: no leave_maintenance in the journal", host)
		}
	}
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000000") }

func (c *vnfmCampaign) assertUntouched(hosts ...string) {
	c.t.Helper()
	evs := c.events()
	for _, h := range hosts {
		if got := simHostChanges(evs, h); len(got) > 0 {
			c.t.Errorf("host %s was touched: %v", h, got)
		}
	}
	c.assertOld(hosts...)
}

// assertRefused checks that the hosts failed with E_VNFM_REFUSED in
// escalator's state.
func (c *vnfmCampaign) assertRefused(st *state.State, hosts ...string) {
	c.t.Helper()
	for _, h := range hosts {
		if sh := st.Hosts[h]; sh == nil || sh.Status != state.HostFailed || sh.Code != state.CodeVNFMRefused {
			c.t.Errorf("status of %s: %+v; want failed with %s", h, sh, state.CodeVNFMRefused)
		}
	}
}

// notifyFailed reports whether wave n's notify step finished failed.
func notifyFailed(j []state.Event, n int) bool {
	return stepEndedAs(j, string(state.StepFailed), fmt.Sprintf("w%d/notify/%s/maintenance", n, vnfmName))
}

// TestVNFMRefusal (d): a NACK leaves the hosts holding the VNF manager's
// instances untouched and in service, failed with E_VNFM_REFUSED, and the
// rollout's on_failure decides: halt stops the run there; continue goes
// on within max_failed.
func TestVNFMRefusal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		onFailure string
	}{
		{name: "halt", onFailure: `action = "halt"`},
		{name: "continue", onFailure: "action     = \"continue\"\n    max_failed = 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newVNFMCampaign(t, vnfmSpec{mode: samplevnfm.ModeNack, onFailure: tt.onFailure})
			f := c.plan()
			activeWave, standbyWave := pairWaves(t, f)
			r := c.run("apply", "-auto-approve", "plan.json")
			st := c.status()
			recs := c.records()
			j := c.journal()
			notes := maintenanceNotes(recs)
			for _, n := range notes {
				if n.Reply == nil || n.Reply.State != "NACK_PLANNED_MAINTENANCE" {
					t.Errorf("wave %d: reply %+v", n.Wave, n.Reply)
				}
				if !notifyFailed(j, n.Wave) {
					t.Errorf("wave %d: the refused notify step is not recorded as failed (a resumed apply must ask again)", n.Wave)
				}
			}
			switch tt.name {
			case "halt":
				if r.code == 0 {
					t.Fatalf("apply succeeded after a NACK with on_failure halt: %s", r)
				}
				mustContain(t, "apply output", r.stdout+r.stderr, "refused", "the pair is resynchronising its state")
				if st.Run.Status != state.RunHalted {
					t.Errorf("run: %+v; want halted", st.Run)
				}
				// The standby's host was refused; the active's never came.
				c.assertRefused(st, "cmp-2")
				if sh := st.Hosts["cmp-1"]; sh != nil && sh.Status != state.HostPending {
					t.Errorf("status of cmp-1, in a wave after the halt: %+v", sh)
				}
				c.assertUntouched("cmp-1", "cmp-2")
				c.assertUpgraded("cmp-1", "cmp-2")
				if len(notes) != 1 || notes[0].Wave != standbyWave {
					t.Errorf("maintenance notifications %+v; want only wave %d's", notes, standbyWave)
				}
			case "continue":
				if r.code != 0 {
					t.Fatalf("apply: %s", r)
				}
				if st.Run.Status != state.RunFinished {
					t.Errorf("run: %+v; want finished (2 failed hosts, max_failed = 2)", st.Run)
				}
				c.assertRefused(st, "cmp-1", "cmp-2")
				c.assertUntouched("cmp-1", "cmp-2")
				c.assertUpgraded("cmp-1", "cmp-2")
				if len(notes) != 2 || notes[0].Wave != standbyWave || notes[1].Wave != activeWave {
					t.Errorf("maintenance notifications %+v; want waves %d and %d", notes, standbyWave, activeWave)
				}
			}
			if recs.Active != instActive || len(recs.OwnActions) != 0 {
				t.Errorf("a refusing VNF manager switched over or moved: %+v", recs)
			}
			c.checkInvariants(recs)
			t.Logf("NACK, on_failure %s: run %s (code %q), cmp-2 %s (%s), apply %s", tt.name, st.Run.Status, st.Run.Code,
				st.Hosts["cmp-2"].Status, st.Hosts["cmp-2"].Code, r.wall.Round(time.Millisecond))
		})
	}
}

// TestVNFMSilent (e): a VNF manager that never answers, holding the
// request or answering 202 and never replying; on_timeout decides:
// proceed (alert W_VNFM_NO_REPLY, evacuate anyway, the run finishes),
// fail_host (its hosts fail under on_failure, untouched), halt (the run
// halts before the wave).
func TestVNFMSilent(t *testing.T) {
	t.Parallel()
	const replyTimeout = time.Second
	tests := []struct {
		name      string
		reply     samplevnfm.ReplyMode
		onTimeout string
		args      []string
	}{
		{name: "proceed, request held", reply: samplevnfm.ReplySync, onTimeout: "proceed"},
		{name: "proceed, 202 and no reply", reply: samplevnfm.ReplyAsync, onTimeout: "proceed", args: []string{"-listen=127.0.0.1:0"}},
		{name: "fail_host", reply: samplevnfm.ReplySync, onTimeout: "fail_host"},
		{name: "halt", reply: samplevnfm.ReplySync, onTimeout: "halt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newVNFMCampaign(t, vnfmSpec{mode: samplevnfm.ModeSilent, reply: tt.reply, onTimeout: tt.onTimeout, replyTimeout: replyTimeout.String()})
			_, standbyWave := pairWaves(t, c.plan())
			args := append(append([]string{"apply", "-auto-approve", "-json"}, tt.args...), "plan.json")
			r := c.run(args...)
			st := c.status()
			recs := c.records()
			j := c.journal()
			notes := maintenanceNotes(recs)
			for _, n := range notes {
				if n.Reply != nil || !n.Answered.IsZero() {
					t.Errorf("wave %d: a silent VNF manager answered: %+v", n.Wave, n)
				}
			}
			switch tt.onTimeout {
			case "proceed":
				if r.code != 0 {
					t.Fatalf("apply: %s", r)
				}
				c.assertUpgraded()
				if got := journalAlerts(j, state.CodeVNFMNoReply); len(got) < 2 {
					t.Errorf("%d %s alerts; want one per notified wave (2): %+v", len(got), state.CodeVNFMNoReply, got)
				}
				if len(notes) != 2 {
					t.Fatalf("maintenance notifications %+v; want 2", notes)
				}
				// Escalator moved both, and only after giving up waiting.
				for _, id := range []string{instActive, instStandby} {
					tr := recs.Instance(id)
					if len(tr.Moves) != 1 || tr.Moves[0].ByVNFM || len(tr.Notified) != 1 || tr.Moves[0].Time.Before(tr.Notified[0].Add(replyTimeout)) {
						t.Errorf("%s: notified %v, moves %+v; want one escalator move at least reply_timeout (%s) after the notification", id, tr.Notified, tr.Moves, replyTimeout)
					}
				}
				for _, p := range recs.CheckLead(vnfmLead) {
					t.Error(p)
				}
				c.checkInvariants(recs)
			case "fail_host":
				if r.code == 0 {
					t.Fatalf("apply succeeded with on_timeout fail_host and on_failure halt: %s", r)
				}
				if st.Run.Status != state.RunHalted {
					t.Errorf("run: %+v; want halted", st.Run)
				}
				c.assertRefused(st, "cmp-2")
				c.assertUntouched("cmp-1", "cmp-2")
				c.assertUpgraded("cmp-1", "cmp-2")
				if len(notes) != 1 || notes[0].Wave != standbyWave || !notifyFailed(j, standbyWave) {
					t.Errorf("maintenance notifications %+v; want only wave %d's, its notify step failed", notes, standbyWave)
				}
				c.checkInvariants(recs)
			case "halt":
				if r.code == 0 {
					t.Fatalf("apply succeeded with on_timeout halt: %s", r)
				}
				_, outcome := jsonEvents(r.stdout)
				if st.Run.Status != state.RunHalted || outcome["status"] != string(state.RunHalted) {
					t.Errorf("run %+v, outcome %v; want halted", st.Run, outcome)
				}
				mustContain(t, "apply output", r.stdout, "on_timeout", "nothing of the wave was touched")
				// Before the wave: none of its hosts has a status or a step.
				if sh := st.Hosts["cmp-2"]; sh != nil && sh.Status != state.HostPending {
					t.Errorf("status of cmp-2, in the halted wave: %+v", sh)
				}
				if steps := journalSteps(j, func(id string) bool { return strings.HasPrefix(id, fmt.Sprintf("w%d/cmp-2/", standbyWave)) }); len(steps) > 0 {
					t.Errorf("steps on cmp-2 after the halt before its wave: %+v", steps)
				}
				c.assertUntouched("cmp-1", "cmp-2")
				c.assertUpgraded("cmp-1", "cmp-2")
				if len(notes) != 1 || !notifyFailed(j, standbyWave) {
					t.Errorf("maintenance notifications %+v; want only wave %d's, its notify step failed", notes, standbyWave)
				}
				c.checkInvariants(recs)
			}
			t.Logf("silent, %s: run %s (code %q), apply %s", tt.name, st.Run.Status, st.Run.Code, r.wall.Round(time.Millisecond))
			// Escalator gave up at reply_timeout, not sooner.
			for _, n := range notes {
				if d := n.Ended.Sub(n.Received); tt.reply == samplevnfm.ReplySync && (d < replyTimeout-50*time.Millisecond || d > replyTimeout+2*time.Second) {
					t.Errorf("wave %d: escalator held the request %s; reply_timeout is %s", n.Wave, d, replyTimeout)
				}
			}
		})
	}
}
