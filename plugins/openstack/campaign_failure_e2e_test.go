//go:build e2e_openstack && linux

package openstack_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

	"github.com/escalator-nfv/escalator/internal/state"
)

// setup cleans the cloud, boots the layout and writes a campaign.
func setup(ctx context.Context, t *testing.T, onFailure, rolloutExtra string) (*gophercloud.ServiceClient, *campaign, map[string][]string, []string, map[string]string) {
	t.Helper()
	env := startEnv(ctx, t)
	c := nova(ctx, t, env)
	cleanCloud(ctx, t, c)
	groups, ids := bootPlaced(ctx, t, c, env)
	start := map[string]string{}
	for _, id := range ids {
		start[id] = server(ctx, t, c, id).Host
	}
	return c, newCampaign(t, env, buildBinaries(t), onFailure, rolloutExtra), groups, ids, start
}

// afterChecks checks the cloud after a campaign: every compute up and
// enabled without an escalator reason, except those the test disabled
// (which keep its reason); every server ACTIVE on a host with no task;
// hostos upgraded everywhere but on failed hosts; and, from Nova's
// migration records and escalator's journal, no anti-affinity group ever
// with two members on hosts in maintenance.
func afterChecks(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, cp *campaign, ids []string, start map[string]string, groups map[string][]string, since int64, disabled map[string]string, failed map[string]bool) map[string]int {
	t.Helper()
	pages, err := services.List(c, services.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := services.ExtractServices(pages)
	for _, s := range svcs {
		if reason, ok := disabled[s.Host]; ok {
			if s.Status != "disabled" || s.DisabledReason != reason {
				t.Errorf("nova-compute on %s: %s %q, want it left disabled with %q", s.Host, s.Status, s.DisabledReason, reason)
			}
			continue
		}
		if s.Status != "enabled" || s.DisabledReason != "" || s.State != "up" {
			t.Errorf("nova-compute on %s after the campaign: %s/%s %q", s.Host, s.State, s.Status, s.DisabledReason)
		}
	}
	for _, id := range ids {
		if s := server(ctx, t, c, id); s.Status != "ACTIVE" || s.Host == "" || s.TaskState != "" {
			t.Errorf("server %s after the campaign: %s on %q (task %q)", id, s.Status, s.Host, s.TaskState)
		}
	}
	for h, v := range cp.hostos() {
		if want := map[bool]string{false: "2.0.0", true: "1.0.0"}[failed[h]]; v != want {
			t.Errorf("hostos on %s is %s, want %s", h, v, want)
		}
	}
	recs, count := completedMoves(ctx, t, c, ids, since)
	checkAntiAffinityHistory(t, start, recs, maintenanceWindows(cp.journal()), groups)
	return count
}

func journalHas(journal []state.Event, match func(e state.Event) bool) bool {
	for _, e := range journal {
		if match(e) {
			return true
		}
	}
	return false
}

// TestCampaignDestinationUnfit shows the failure policy on a real cloud.
// The campaign pauses after its canary wave; then the test, as an
// operator would, disables the canary host: upgraded, it is where the
// plan sends the next wave's servers. The resumed apply: those live
// migrations end "error" in Nova's scheduler (the provider reports
// Nova's reason from the instance action); the engine finds no other
// destination that would not make them move twice, so the host fails and
// on_failure (halt) stops the run, the servers still ACTIVE on their
// host and no anti-affinity group hurt. The operator enables the canary
// host again and applies once more: the run resumes and finishes, every
// server moved once.
func TestCampaignDestinationUnfit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, cp, groups, ids, start := setup(ctx, t, `action = "halt"`, `
  canary {
    count = 1
    pause = true
  }
`)
	p := cp.plan()
	waves := p.Rollouts[0].Waves
	if !waves[0].Canary || len(waves[0].Hosts) != 1 {
		t.Fatalf("wave 1 is not a canary of one host: %+v", waves[0])
	}
	canary := waves[0].Hosts[0].Host
	var victim string // the first host with a move planned to the canary
	for _, w := range waves[1:] {
		for _, hv := range w.Hosts {
			for _, m := range hv.Moves {
				if m.To == canary && victim == "" {
					victim = hv.Host
				}
			}
		}
	}
	if victim == "" {
		t.Fatalf("no move planned to the canary %s: the scenario needs one", canary)
	}
	t.Logf("canary %s; %s sends servers to it", canary, victim)

	since := lastMigrationID(ctx, t, c)
	r := cp.run(10*time.Minute, "apply", "-auto-approve", "-json", "plan.json")
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "paused after canary wave") {
		t.Fatalf("apply did not pause after the canary: %s", r)
	}
	const why = "unfit: injected by the e2e test"
	svc := computeService(ctx, t, c, canary)
	if _, err := services.Update(ctx, c, svc.ID, services.UpdateOpts{Status: services.ServiceDisabled, DisabledReason: why}).Extract(); err != nil {
		t.Fatal(err)
	}

	tHalt := time.Now()
	r = cp.run(10*time.Minute, "apply", "-auto-approve", "-json", "plan.json")
	haltTime := time.Since(tHalt)
	if r.code == 0 {
		t.Fatalf("apply succeeded with its destination disabled: %s", r)
	}
	journal := cp.journal()
	if !journalHas(journal, func(e state.Event) bool {
		return e.Kind == state.KindStepFinished && e.Host == victim && e.Action == "migrate" && e.Status == string(state.StepFailed) &&
			strings.Contains(e.Error, `ended "error"`) && strings.Contains(e.Error, "No valid host was found")
	}) {
		t.Errorf("no failed migration off %s with Nova's reason in the journal:\n%s", victim, r)
	}
	if !journalHas(journal, func(e state.Event) bool { return e.Kind == state.KindRunHalted }) {
		t.Errorf("the run did not halt:\n%s", r)
	}
	for _, id := range ids {
		if start[id] == victim {
			if s := server(ctx, t, c, id); s.Host != victim || s.Status != "ACTIVE" {
				t.Errorf("server %s is %s on %s after the failed migrations, want ACTIVE on %s", id, s.Status, s.Host, victim)
			}
		}
	}
	if s := computeService(ctx, t, c, canary); s.DisabledReason != why {
		t.Errorf("the operator's disable of %s became %q", canary, s.DisabledReason)
	}
	recs, _ := completedMoves(ctx, t, c, ids, since)
	checkAntiAffinityHistory(t, start, recs, maintenanceWindows(journal), groups)

	// The operator makes the destination fit again and applies again.
	if _, err := services.Update(ctx, c, svc.ID, services.UpdateOpts{Status: services.ServiceEnabled}).Extract(); err != nil {
		t.Fatal(err)
	}
	r = cp.run(10*time.Minute, "apply", "-auto-approve", "-json", "plan.json")
	if r.code != 0 {
		t.Fatalf("apply after the destination was enabled again: %s", r)
	}
	count := afterChecks(ctx, t, c, cp, ids, start, groups, since, nil, nil)
	moves := 0
	for _, id := range ids {
		moves += count[id]
		if count[id] > 1 {
			t.Errorf("server %s moved %d times", id, count[id])
		}
	}
	fmt.Printf("OSFAILURE canary=%s failed_host=%s halt_after=%.1fs moves=%d resumed_apply=%.1fs\n", canary, victim, haltTime.Seconds(), moves, r.wall.Seconds())
}

// TestCampaignKillAndResume kills escalator (kill -9) while a live
// migration of the second wave is in flight, then runs apply again: the
// run resumes, the migration Nova went on with is waited for, not
// repeated, and the campaign ends as an uninterrupted one would.
func TestCampaignKillAndResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, cp, groups, ids, start := setup(ctx, t, `action = "halt"`, "")
	p := cp.plan()
	final := map[string]string{}
	for id, h := range start {
		final[id] = h
	}
	for _, w := range p.Rollouts[0].Waves {
		for _, hv := range w.Hosts {
			for _, m := range hv.Moves {
				final[m.Instance] = m.To
			}
		}
	}
	since := lastMigrationID(ctx, t, c)

	actx, acancel := context.WithTimeout(ctx, 10*time.Minute)
	defer acancel()
	cmd := cp.command(actx, "apply", "-auto-approve", "-json", "plan.json")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first migration of a wave after the first: wait until Nova
	// runs it, then kill.
	var victim string
	deadline := time.Now().Add(5 * time.Minute)
	for victim == "" {
		for _, e := range cp.journal() {
			if e.Kind == state.KindStepStarted && e.Action == "migrate" && !strings.HasPrefix(e.StepID, "w1/") {
				victim = e.StepID[strings.LastIndex(e.StepID, "/")+1:]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no migration after wave 1 within 5 minutes:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		recs := migrationRecords(ctx, t, c, victim)
		if len(recs) > 0 && recs[0].ID > since && (recs[0].Status == "running" || recs[0].Status == "preparing" || recs[0].Status == "queued") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the migration of %s never ran: %+v", victim, recs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := migrationRecords(ctx, t, c, victim)[0]
	t.Logf("killed escalator while migration %d of %s was %s", killedAt.ID, victim, killedAt.Status)

	r := cp.run(10*time.Minute, "apply", "-auto-approve", "-json", "plan.json")
	if r.code != 0 {
		t.Fatalf("resumed apply: %s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "resum") {
		t.Logf("resumed apply output does not say it resumed:\n%s", r)
	}
	count := afterChecks(ctx, t, c, cp, ids, start, groups, since, nil, nil)
	for _, id := range ids {
		if count[id] > 1 {
			t.Errorf("server %s moved %d times across the kill", id, count[id])
		}
		if h := server(ctx, t, c, id).Host; h != final[id] {
			t.Errorf("server %s is on %s, the plan put it on %s", id, h, final[id])
		}
	}
	if recs := migrationRecords(ctx, t, c, victim); recs[0].ID != killedAt.ID || recs[0].Status != "completed" {
		t.Errorf("after the resume, %s's newest migration is %d %s, want %d completed (not started again)", victim, recs[0].ID, recs[0].Status, killedAt.ID)
	}
	fmt.Printf("OSKILL victim=%s migration_at_kill=%s resumed_apply=%.1fs\n", victim, killedAt.Status, r.wall.Seconds())
}
