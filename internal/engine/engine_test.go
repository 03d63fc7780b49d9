package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// fakeExec records actions (by their step ids, without the run id every
// provider-facing id must start with) and fails those a test asks it to.
type fakeExec struct {
	mu     sync.Mutex
	calls  []string
	reqs   []sdk.ExecuteActionRequest
	failOn map[string]bool // "kind host component"
	// failTo fails migrations to these destinations.
	failTo map[string]bool
}

func (f *fakeExec) Execute(ctx context.Context, req sdk.ExecuteActionRequest, _ func(string, float64)) (*sdk.ExecuteActionResponse, error) {
	key := strings.TrimSpace(fmt.Sprintf("%s %s %s", req.Kind, req.Host, req.Component))
	id, ok := strings.CutPrefix(req.ID, "run-1/")
	if !ok {
		return nil, fmt.Errorf("step id %q does not carry the run id", req.ID)
	}
	f.mu.Lock()
	f.calls = append(f.calls, id)
	f.reqs = append(f.reqs, req)
	fail := f.failOn[key] || (req.Kind == sdk.ActionMigrate && f.failTo[req.Destination])
	f.mu.Unlock()
	if fail {
		return nil, errors.New("injected failure")
	}
	resp := &sdk.ExecuteActionResponse{}
	if req.Kind == sdk.ActionBackup {
		resp.Outputs = map[string]string{"backup_id": "b-" + req.Host}
	}
	return resp, nil
}

type memRecorder struct {
	mu     sync.Mutex
	events []state.Event
}

func (m *memRecorder) Record(_ context.Context, evs ...state.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, evs...)
	return nil
}

// started returns the steps that started, whatever their end.
func (m *memRecorder) started() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for _, e := range m.events {
		if e.Kind == state.KindStepStarted {
			out[e.StepID] = true
		}
	}
	return out
}

func (m *memRecorder) finished() map[string]bool {
	done := map[string]bool{}
	for _, e := range m.events {
		if e.Kind == state.KindStepFinished && e.Status == string(state.StepOK) {
			done[e.StepID] = true
		}
	}
	return done
}

const campaign = `
escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}
provider "sim" {}
hosts "compute" {
  provider = provider.sim
}
component "qemu" {
  hosts   = hosts.compute
  version = "7.2.0"
}
component "nova" {
  hosts      = hosts.compute
  version    = "27.1.0"
  depends_on = [component.qemu]
}
rollout "compute" {
  components = [component.qemu, component.nova]
  canary {
    pause = %s
  }
  on_failure {
    action = %q
    %s
  }
}
backup "nova" {
  components = [component.nova]
}
`

func setup(t *testing.T, pause bool, action, extra string) (*config.Config, *plans.Plan) {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(campaign, fmt.Sprint(pause), action, extra)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, ds := config.Load(dir, config.Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	visit := func(h string) *plans.HostVisit {
		return &plans.HostVisit{Host: h, Provider: "sim", Evacuate: true,
			Changes: []plans.Change{
				{Component: "qemu", Provider: "sim", From: "7.1.0", To: "7.2.0", ExpectedDuration: time.Second},
				{Component: "nova", Provider: "sim", From: "26.2.0", To: "27.1.0", ExpectedDuration: time.Second, Backups: []string{"nova"}},
			},
			Moves: []plans.Move{{Instance: "vm-" + h, From: h, To: "h9", Live: true}},
		}
	}
	p := &plans.Plan{Rollouts: []*plans.Rollout{{Name: "compute", MaxUnavailable: 2, MaxFailed: 1, Waves: []*plans.Wave{
		{Number: 1, Canary: true, Hosts: []*plans.HostVisit{visit("h1")}},
		{Number: 2, Hosts: []*plans.HostVisit{visit("h2"), visit("h3")}},
		{Number: 3, Hosts: []*plans.HostVisit{visit("h4")}},
	}}}}
	return cfg, p
}

func newEngine(cfg *config.Config, p *plans.Plan, ex *fakeExec, rec *memRecorder) *Engine {
	return &Engine{RunID: "run-1", Plan: p, Config: cfg, Executors: map[string]Executor{"sim": ex}, Recorder: rec, Parallelism: 4}
}

func TestRunAll(t *testing.T) {
	cfg, p := setup(t, false, "halt", "")
	ex, rec := &fakeExec{}, &memRecorder{}
	out, err := newEngine(cfg, p, ex, rec).Run(context.Background())
	if err != nil || out.Status != state.RunFinished {
		t.Fatalf("out = %+v, err = %v", out, err)
	}
	// Per host: enter, migrate, backup, 2 upgrades, 2 verifies, leave.
	if len(ex.calls) != 4*8 {
		t.Errorf("%d actions, want 32: %v", len(ex.calls), ex.calls)
	}
	// Order on one host: maintenance first, upgrades in dependency order,
	// leave last.
	var h1 []string
	for _, c := range ex.calls {
		if strings.HasPrefix(c, "w1/h1/") {
			h1 = append(h1, strings.TrimPrefix(c, "w1/h1/"))
		}
	}
	want := "enter_maintenance migrate/vm-h1 backup/nova/nova upgrade/qemu upgrade/nova verify/qemu verify/nova leave_maintenance"
	if got := strings.Join(h1, " "); got != want {
		t.Errorf("h1 steps:\n got %s\nwant %s", got, want)
	}
}

func TestResumeSkipsFinishedSteps(t *testing.T) {
	cfg, p := setup(t, false, "halt", "")
	ex, rec := &fakeExec{failOn: map[string]bool{"upgrade h3 nova": true}}, &memRecorder{}
	out, _ := newEngine(cfg, p, ex, rec).Run(context.Background())
	if out.Status != state.RunHalted {
		t.Fatalf("first attempt: %+v", out)
	}
	// Second attempt with the cause fixed: nothing finished runs again.
	ex2 := &fakeExec{}
	e := newEngine(cfg, p, ex2, rec)
	e.Done = rec.finished()
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished {
		t.Fatalf("resume: %+v %v", out, err)
	}
	for id := range rec.finished() {
		n := 0
		for _, c := range append(append([]string{}, ex.calls...), ex2.calls...) {
			if c == id {
				n++
			}
		}
		if n > 1 && !strings.Contains(id, "h3/upgrade/nova") {
			t.Errorf("step %s ran %d times", id, n)
		}
	}
}

func TestFailurePolicies(t *testing.T) {
	tests := []struct {
		action, extra string
		status        state.RunStatus
		hostStatus    state.HostStatus
		rollbacks     int
	}{
		{"halt", "", state.RunHalted, state.HostInMaintenance, 0},
		// Both components are rolled back: qemu's upgrade finished, nova's
		// failed but may have committed.
		{"rollback_host", "", state.RunHalted, state.HostRolledBack, 2},
		{"continue", "max_failed = 1", state.RunFinished, state.HostRolledBack, 2},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			cfg, p := setup(t, false, tt.action, tt.extra)
			// h2's nova upgrade fails after its qemu upgrade succeeded.
			ex, rec := &fakeExec{failOn: map[string]bool{"upgrade h2 nova": true}}, &memRecorder{}
			out, err := newEngine(cfg, p, ex, rec).Run(context.Background())
			if err != nil || out.Status != tt.status {
				t.Fatalf("out = %+v, err = %v", out, err)
			}
			var last string
			rollbacks := 0
			for _, e := range rec.events {
				if e.Kind == state.KindHostStatus && e.Host == "h2" {
					last = e.Status
				}
				if e.Kind == state.KindStepStarted && e.Action == "rollback" {
					rollbacks++
				}
			}
			if last != string(tt.hostStatus) || rollbacks != tt.rollbacks {
				t.Errorf("h2 ended %q with %d rollbacks, want %q and %d", last, rollbacks, tt.hostStatus, tt.rollbacks)
			}
			if tt.action == "halt" {
				for _, c := range ex.calls {
					if strings.HasPrefix(c, "w3/") {
						t.Errorf("halted run went on to wave 3: %s", c)
					}
				}
			}
		})
	}
}

func TestCanaryPause(t *testing.T) {
	cfg, p := setup(t, true, "halt", "")
	ex, rec := &fakeExec{}, &memRecorder{}
	out, err := newEngine(cfg, p, ex, rec).Run(context.Background())
	if err != nil || !out.Paused {
		t.Fatalf("out = %+v, err = %v", out, err)
	}
	for _, c := range ex.calls {
		if !strings.HasPrefix(c, "w1/") {
			t.Errorf("paused run did %s", c)
		}
	}
	e := newEngine(cfg, p, &fakeExec{}, rec)
	e.Done = rec.finished()
	out, err = e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished || out.Paused {
		t.Fatalf("continue: %+v %v", out, err)
	}
}

// TestResumeAfterRollbackStartsOver: a host rolled back by its failure
// policy is worked on again from the start when the run resumes, under new
// step ids (the provider would take the old ones as already done).
func TestResumeAfterRollbackStartsOver(t *testing.T) {
	cfg, p := setup(t, false, "rollback_host", "")
	rec := &memRecorder{}
	out, _ := newEngine(cfg, p, &fakeExec{failOn: map[string]bool{"upgrade h2 nova": true}}, rec).Run(context.Background())
	if out.Status != state.RunHalted {
		t.Fatalf("first attempt: %+v", out)
	}
	ex := &fakeExec{}
	e := newEngine(cfg, p, ex, rec)
	e.Done = rec.finished()
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished {
		t.Fatalf("resume: %+v %v", out, err)
	}
	var h2 []string
	for _, c := range ex.calls {
		if strings.Contains(c, "/h2") {
			h2 = append(h2, c)
		}
	}
	if len(h2) == 0 || h2[0] != "w2/h2#1/enter_maintenance" {
		t.Errorf("h2 after its rollback: %v, want a new attempt starting with w2/h2#1/enter_maintenance", h2)
	}
}
