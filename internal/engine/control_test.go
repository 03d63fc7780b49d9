package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/control"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// abortAfter aborts the run once n steps have passed the gate.
type abortAfter struct {
	n, passed int
}

func (a *abortAfter) Gate(context.Context, string, func(control.Request)) error {
	if a.passed >= a.n {
		return control.ErrAborted
	}
	a.passed++
	return nil
}

func (a *abortAfter) WaitApproval(context.Context, string, int) error { return nil }

// TestAbortHaltsWithoutPolicy: an abort halts the run at a step boundary;
// the host it caught mid-visit is neither failed nor rolled back, and the
// next run continues it.
func TestAbortHaltsWithoutPolicy(t *testing.T) {
	cfg, p := setup(t, false, "rollback_host", "")
	rec := &memRecorder{}
	e := newEngine(cfg, p, &fakeExec{}, rec)
	e.Parallelism = 1
	e.Control = &abortAfter{n: 3}
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunHalted || out.Code != state.CodeAborted || len(out.Failed) != 0 {
		t.Fatalf("aborted run: %+v %v", out, err)
	}
	for _, ev := range rec.events {
		if ev.Action == "rollback" || (ev.Kind == state.KindHostStatus && ev.Status != string(state.HostInProgress)) {
			t.Errorf("abort applied a policy: %+v", ev)
		}
	}
	e2 := newEngine(cfg, p, &fakeExec{}, rec)
	e2.Done = rec.finished()
	if out, err := e2.Run(context.Background()); err != nil || out.Status != state.RunFinished {
		t.Fatalf("resumed: %+v %v", out, err)
	}
}

// TestCanaryApprovalThroughControl: with WaitCanary, the run waits after a
// canary wave for an approval in the control file, then goes on.
func TestCanaryApprovalThroughControl(t *testing.T) {
	cfg, p := setup(t, true, "halt", "")
	f := control.Open(filepath.Join(t.TempDir(), "state.control.json"))
	if _, err := f.Update("run-1", "op", func(r *control.Request) { r.ApprovedWaves = []int{1} }); err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	e := newEngine(cfg, p, &fakeExec{}, rec)
	e.Control, e.WaitCanary = f, true
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished || out.Paused {
		t.Fatalf("approved canary: %+v %v", out, err)
	}
	noted := false
	for _, ev := range rec.events {
		noted = noted || (ev.Kind == state.KindNote && strings.Contains(ev.Message, "approve"))
	}
	if !noted {
		t.Error("no note that the run waited for an approval")
	}
}

// TestDrain: once Drain is closed no step starts; the running ones finish,
// and the run halts (interrupted) without applying the failure policy.
func TestDrain(t *testing.T) {
	cfg, p := setup(t, false, "rollback_host", "")
	rec := &memRecorder{}
	drain := make(chan struct{})
	ex := &drainingExec{drain: drain, after: 4}
	e := newEngine(cfg, p, &fakeExec{}, rec)
	e.Executors = map[string]Executor{"sim": ex}
	e.Parallelism = 1
	e.Drain = drain
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunHalted || out.Code != state.CodeInterrupted || len(out.Failed) != 0 {
		t.Fatalf("drained run: %+v %v", out, err)
	}
	if n := len(ex.calls); n != 4 {
		t.Errorf("%d actions ran, want the 4 started before the drain", n)
	}
	for _, ev := range rec.events {
		if ev.Kind == state.KindStepFinished && ev.Status != string(state.StepOK) {
			t.Errorf("a step did not finish cleanly: %+v", ev)
		}
	}
}

// drainingExec closes drain during its after-th action (which then
// finishes normally).
type drainingExec struct {
	fakeExec
	drain chan struct{}
	after int
}

func (d *drainingExec) Execute(ctx context.Context, req sdk.ExecuteActionRequest, p func(string, float64)) (*sdk.ExecuteActionResponse, error) {
	resp, err := d.fakeExec.Execute(ctx, req, p)
	if len(d.calls) == d.after {
		close(d.drain)
	}
	return resp, err
}

// TestRecoveryWait: a wave with a recovery wait starts no sooner than its
// delay after the wave it names ended; the wait is a journaled step.
func TestRecoveryWait(t *testing.T) {
	cfg, p := setup(t, false, "halt", "")
	p.Rollouts[0].Waves[1].Recovery = []plans.Recovery{{AfterWave: 1, Delay: 10 * time.Minute, Group: "g1"}}
	rec := &memRecorder{}
	e := newEngine(cfg, p, &fakeExec{}, rec)
	clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return clock }
	var slept []time.Duration
	e.Sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		clock = clock.Add(d)
		return nil
	}
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished {
		t.Fatalf("out %+v err %v", out, err)
	}
	if len(slept) != 1 || slept[0] != 10*time.Minute {
		t.Errorf("slept %v, want one 10m recovery wait", slept)
	}
	if !rec.finished()["w2/recovery"] {
		t.Error("the recovery wait is not a journaled step")
	}
	// Resumed after the wait was due: nothing to wait.
	e2 := newEngine(cfg, p, &fakeExec{}, &memRecorder{})
	e2.Done = rec.finished()
	delete(e2.Done, "w2/recovery")
	for id := range e2.Done {
		if !strings.HasPrefix(id, "w1/") {
			delete(e2.Done, id)
		}
	}
	e2.WaveEnds = map[int]time.Time{1: clock.Add(-time.Hour)}
	e2.Now = func() time.Time { return clock }
	var slept2 []time.Duration
	e2.Sleep = func(_ context.Context, d time.Duration) error { slept2 = append(slept2, d); return nil }
	if _, err := e2.Run(context.Background()); err != nil || len(slept2) != 0 {
		t.Errorf("a wait already over was waited again: %v %v", slept2, err)
	}
}
