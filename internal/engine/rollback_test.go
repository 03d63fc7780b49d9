package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// fakePlacer moves each host's one instance "back" to h0 and records what
// it was asked.
type fakePlacer struct {
	mu      sync.Mutex
	later   map[string][]string // host → the later hosts it was told of
	repicks []string
	// at is where Locate finds instances; locates counts its calls.
	at      map[string]string
	locates int
}

func (p *fakePlacer) Locate(_ context.Context, instance string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.locates++
	return p.at[instance], nil
}

func (p *fakePlacer) Evacuation(_ context.Context, req EvacuationRequest) ([]plans.Move, error) {
	host, later := req.Host, req.Later
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.later == nil {
		p.later = map[string][]string{}
	}
	for h := range later {
		p.later[host] = append(p.later[host], h)
	}
	slices.Sort(p.later[host])
	return []plans.Move{{Instance: "back-" + host, From: host, To: "h0", Live: true}}, nil
}

func (p *fakePlacer) Repick(_ context.Context, instance, source string, avoid, _ map[string]bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.repicks = append(p.repicks, fmt.Sprintf("%s from %s avoiding %v", instance, source, avoid))
	return "h8", nil
}

// finishedRun runs the plan to its end and returns the recorder.
func finishedRun(t *testing.T) (*memRecorder, *Engine) {
	t.Helper()
	cfg, p := setup(t, false, "halt", "")
	rec := &memRecorder{}
	e := newEngine(cfg, p, &fakeExec{}, rec)
	if out, err := e.Run(context.Background()); err != nil || out.Status != state.RunFinished {
		t.Fatalf("run: %+v %v", out, err)
	}
	return rec, e
}

func TestRollbackFinishedRun(t *testing.T) {
	rec, first := finishedRun(t)
	ex, pl := &fakeExec{}, &fakePlacer{}
	e := newEngine(first.Config, first.Plan, ex, rec)
	e.Done, e.Started, e.Placer = rec.finished(), rec.started(), pl
	out, err := e.Rollback(context.Background(), false)
	if err != nil || out.Status != state.RunRolledBack {
		t.Fatalf("rollback: %+v %v", out, err)
	}
	// Newest first, one host at a time; each emptied, then nova before
	// qemu (reverse dependency order), then back in service.
	got, want := ex.calls, []string{}
	for _, h := range []string{"h4", "h3", "h2", "h1"} {
		want = append(want, "rollback/"+h+"/enter_maintenance", "rollback/"+h+"/migrate/back-"+h,
			"rollback/"+h+"/nova", "rollback/"+h+"/qemu", "rollback/"+h+"/leave_maintenance")
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rollback calls:\n got %v\nwant %v", got, want)
	}
	// Instances avoid the hosts still to be rolled back.
	if l := pl.later["h4"]; strings.Join(l, ",") != "h1,h2,h3" {
		t.Errorf("h4's evacuation was told later = %v, want h1,h2,h3", l)
	}
	if l := pl.later["h1"]; len(l) != 0 {
		t.Errorf("h1's evacuation was told later = %v, want none", l)
	}
	for _, r := range ex.reqs {
		if r.Kind == sdk.ActionRollback && r.Component == "qemu" && (r.FromVersion != "7.1.0" || r.ToVersion != "7.2.0") {
			t.Errorf("qemu rollback request %+v: want from 7.1.0 (the version to go back to), to 7.2.0", r)
		}
	}

	// A second rollback (a resume after it finished) has nothing to do.
	ex2 := &fakeExec{}
	e2 := newEngine(first.Config, first.Plan, ex2, rec)
	e2.Done, e2.Started, e2.Placer = rec.finished(), rec.started(), pl
	if out, err := e2.Rollback(context.Background(), false); err != nil || out.Status != state.RunRolledBack {
		t.Fatalf("second rollback: %+v %v", out, err)
	}
	if len(ex2.calls) != 0 {
		t.Errorf("second rollback did %v", ex2.calls)
	}
}

// TestRollbackResumes: a rollback that fails on one host halts there; the
// next one goes on without redoing the hosts already rolled back.
func TestRollbackResumes(t *testing.T) {
	rec, first := finishedRun(t)
	ex := &fakeExec{failOn: map[string]bool{"rollback h2 nova": true}}
	e := newEngine(first.Config, first.Plan, ex, rec)
	e.Done, e.Started = rec.finished(), rec.started()
	out, err := e.Rollback(context.Background(), false)
	if err != nil || out.Status != state.RunHalted || !strings.Contains(out.Message, "h2") {
		t.Fatalf("failed rollback: %+v %v", out, err)
	}
	ex2 := &fakeExec{}
	e2 := newEngine(first.Config, first.Plan, ex2, rec)
	e2.Done, e2.Started = rec.finished(), rec.started()
	if out, err := e2.Rollback(context.Background(), false); err != nil || out.Status != state.RunRolledBack {
		t.Fatalf("resumed rollback: %+v %v", out, err)
	}
	for _, c := range ex2.calls {
		if strings.Contains(c, "h4") || strings.Contains(c, "h3") {
			t.Errorf("resumed rollback redid %s", c)
		}
	}
	if len(ex2.calls) == 0 || ex2.calls[0] != "rollback/h2/nova" {
		t.Errorf("resumed rollback calls %v, want to start with rollback/h2/nova", ex2.calls)
	}
}

func TestRollbackRestore(t *testing.T) {
	rec, first := finishedRun(t)
	ex := &fakeExec{}
	e := newEngine(first.Config, first.Plan, ex, rec)
	e.Done, e.Started = rec.finished(), rec.started()
	e.Backups = map[string]map[string]string{"h1": {"nova": "b-h1"}}
	if out, err := e.Rollback(context.Background(), true); err != nil || out.Status != state.RunRolledBack {
		t.Fatalf("rollback: %+v %v", out, err)
	}
	var restores []string
	for _, r := range ex.reqs {
		if r.Kind == sdk.ActionRestore {
			restores = append(restores, r.Host+":"+r.Component+":"+r.BackupID)
		}
	}
	if strings.Join(restores, " ") != "h1:nova:b-h1" {
		t.Errorf("restores %v, want h1's nova from b-h1 only", restores)
	}
	noBackup := 0
	for _, ev := range rec.events {
		if ev.Code == "W_NO_BACKUP" {
			noBackup++
		}
	}
	// nova and qemu of h2..h4, and qemu of h1, have no backup.
	if noBackup != 7 {
		t.Errorf("%d W_NO_BACKUP alerts, want 7", noBackup)
	}
}

// TestRollbackAllWaitsForWave: rollback_all rolls back every host of the
// run, including the failed host's wave mates once they finished, newest
// first, and leaves the next waves alone.
func TestRollbackAllWaitsForWave(t *testing.T) {
	cfg, p := setup(t, false, "rollback_all", "")
	ex, rec := &fakeExec{failOn: map[string]bool{"upgrade h3 nova": true}}, &memRecorder{}
	out, err := newEngine(cfg, p, ex, rec).Run(context.Background())
	if err != nil || out.Status != state.RunHalted || !strings.Contains(out.Message, "every host of the run was rolled back") {
		t.Fatalf("out = %+v, err = %v", out, err)
	}
	last := map[string]string{}
	for _, e := range rec.events {
		if e.Kind == state.KindHostStatus {
			last[e.Host] = e.Status
		}
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if last[h] != string(state.HostRolledBack) {
			t.Errorf("%s ended %q, want rolled_back", h, last[h])
		}
	}
	if _, ok := last["h4"]; ok {
		t.Errorf("h4 (wave 3) was touched: %q", last["h4"])
	}
}

// TestRepickDestination: a migration to a destination that fails is tried
// once more to one the Placer picks; a resumed run reuses that pick.
func TestRepickDestination(t *testing.T) {
	cfg, p := setup(t, false, "halt", "")
	pl := &fakePlacer{}
	ex, rec := &fakeExec{failTo: map[string]bool{"h9": true}}, &memRecorder{}
	e := newEngine(cfg, p, ex, rec)
	e.Placer = pl
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished {
		t.Fatalf("out = %+v, err = %v", out, err)
	}
	if len(pl.repicks) != 4 {
		t.Errorf("repicks %v, want one per host", pl.repicks)
	}
	// The first host's re-pick avoids the failed destination and every
	// host the plan still empties (h1's own visit included: it is the
	// source).
	if !strings.Contains(pl.repicks[0], "h9:true") || !strings.Contains(pl.repicks[0], "h4:true") {
		t.Errorf("first re-pick %q: want h9 and the hosts still to be emptied avoided", pl.repicks[0])
	}
	moved := 0
	for _, r := range ex.reqs {
		if r.Kind == sdk.ActionMigrate && r.Destination == "h8" {
			moved++
		}
	}
	if moved != 4 {
		t.Errorf("%d migrations to h8, want 4", moved)
	}
	alerts := 0
	for _, ev := range rec.events {
		if ev.Code == "W_DESTINATION_REPICKED" && ev.Data[DataDestination] == "h8" {
			alerts++
		}
	}
	if alerts != 4 {
		t.Errorf("%d W_DESTINATION_REPICKED alerts, want 4", alerts)
	}

	// Without a Placer the failure fails the host, naming both.
	ex2 := &fakeExec{failTo: map[string]bool{"h9": true}}
	out, _ = newEngine(cfg, p, ex2, &memRecorder{}).Run(context.Background())
	if out.Status != state.RunHalted || !strings.Contains(out.Message, "migrate vm-h1 to h9") {
		t.Errorf("without a placer: %+v", out)
	}
}

// TestRetryAfterRollbackMovesOnlyWhatIsLeft: a host rolled back by its
// policy is worked on again in a new attempt; its instances already left
// in the first one, so they are not migrated again.
func TestRetryAfterRollbackMovesOnlyWhatIsLeft(t *testing.T) {
	cfg, p := setup(t, false, "rollback_host", "")
	rec := &memRecorder{}
	out, _ := newEngine(cfg, p, &fakeExec{failOn: map[string]bool{"upgrade h2 nova": true}}, rec).Run(context.Background())
	if out.Status != state.RunHalted {
		t.Fatalf("first attempt: %+v", out)
	}
	ex := &fakeExec{}
	e := newEngine(cfg, p, ex, rec)
	e.Done, e.Started = rec.finished(), rec.started()
	// vm-h2 went to h9 in the first attempt and stays there.
	e.Placer = &fakePlacer{at: map[string]string{"vm-h2": "h9"}}
	if out, err := e.Run(context.Background()); err != nil || out.Status != state.RunFinished {
		t.Fatalf("resume: %+v %v", out, err)
	}
	for _, c := range ex.calls {
		if strings.Contains(c, "migrate/vm-h2") {
			t.Errorf("vm-h2 migrated again: %s", c)
		}
	}
}
