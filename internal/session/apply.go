package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/notify"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/state/local"
	"github.com/escalator-nfv/escalator/internal/version"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// OpenBackend opens the state backend the campaign configures.
func OpenBackend(cfg *config.Config) (state.Backend, error) {
	st := cfg.Settings.State
	switch st.Type {
	case "local":
		path := st.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(cfg.Dir, path)
		}
		return local.New(path)
	default:
		return nil, fmt.Errorf("the %q state backend is not available in this release; use state \"local\"", st.Type)
	}
}

// ApplyOptions say what apply carries out.
type ApplyOptions struct {
	// Plan is a saved plan already checked for staleness, or a fresh one;
	// nil resumes the unfinished run of the state.
	Plan *plans.File
	// PlanPath is where Plan came from, for the journal ("" when fresh).
	PlanPath    string
	Parallelism int
	Observe     func(state.Event)
}

// ApplyResult is how an apply ended.
type ApplyResult struct {
	RunID   string
	Resumed bool
	Outcome *engine.Outcome
}

// PendingRun returns the state's run when it is unfinished (running after a
// crash, or halted by a policy or a canary pause): apply resumes it.
func PendingRun(st *state.State) *state.Run {
	if st == nil || st.Run == nil {
		return nil
	}
	switch st.Run.Status {
	case state.RunRunning, state.RunHalted:
		return st.Run
	}
	return nil
}

// Apply runs a plan under the state lock: a new run for opts.Plan, or the
// continuation of the unfinished run. The lock is taken by the caller
// (so it can report who holds it before planning).
func (s *Session) Apply(ctx context.Context, b state.Backend, lock state.Lock, opts ApplyOptions) (*ApplyResult, diags.Diagnostics) {
	var ds diags.Diagnostics
	st, err := state.Load(ctx, b)
	if err != nil {
		return nil, ds.Append(err)
	}
	rec := &recorder{b: b, lock: lock}
	res := &ApplyResult{}
	var plan *plans.File
	done, started := map[string]bool{}, map[string]bool{}
	if run := PendingRun(st); run != nil && (opts.Plan == nil || planDigest(opts.Plan) == run.PlanDigest) {
		res.RunID, res.Resumed = run.ID, true
		f, err := plans.Read(planCopyPath(b, s.Config, run.ID))
		if err != nil {
			return nil, ds.Append(fmt.Errorf("resume run %s: %w", run.ID, err))
		}
		plan = f
		j, err := b.ReadJournal(ctx, run.ID)
		if err != nil {
			return nil, ds.Append(err)
		}
		for _, e := range j.Events {
			switch {
			case e.Kind == state.KindStepStarted:
				started[e.StepID] = true
			case e.Kind == state.KindStepFinished && e.Status == string(state.StepOK):
				done[e.StepID] = true
			}
		}
		if err := rec.Record(ctx, state.Event{RunID: run.ID, Kind: state.KindRunResumed}); err != nil {
			return nil, ds.Append(err)
		}
	} else {
		if run := PendingRun(st); run != nil {
			return nil, ds.Append(fmt.Errorf("run %s is unfinished (%s) and this is another plan: finish it with escalator apply (no plan file), or roll it back with escalator rollback, before applying a new plan", run.ID, run.Status))
		}
		if opts.Plan == nil {
			return nil, ds.Append(errors.New("nothing to resume: give a plan"))
		}
		plan = opts.Plan
		res.RunID = state.NewRunID()
		if err := plans.Write(planCopyPath(b, s.Config, res.RunID), plan); err != nil {
			return nil, ds.Append(err)
		}
		if err := rec.Record(ctx, state.Event{RunID: res.RunID, Kind: state.KindRunStarted, Data: map[string]string{
			state.DataPlanDigest: planDigest(plan), state.DataPlanPath: opts.PlanPath,
		}}); err != nil {
			return nil, ds.Append(err)
		}
	}
	execs := map[string]engine.Executor{}
	for _, name := range s.Providers.Names() {
		execs[name] = executor{s.Providers.Provider(name)}
	}
	eng := &engine.Engine{
		RunID: res.RunID, Plan: plan.Plan, Config: s.Config, Executors: execs, Recorder: rec,
		Notifier: &notify.Webhook{Config: s.Config}, Done: done, Started: started, Parallelism: opts.Parallelism, Observe: opts.Observe,
	}
	out, err := eng.Run(ctx)
	res.Outcome = out
	// The run's end is recorded even after Ctrl-C.
	end := state.Event{RunID: res.RunID, Kind: state.KindRunFinished}
	switch {
	case err != nil:
		end.Kind, end.Error, end.Code = state.KindRunHalted, err.Error(), "E_INTERRUPTED"
		ds = ds.Append(fmt.Errorf("run %s stopped: %w. Run escalator apply again to continue it", res.RunID, err))
	case out.Status == state.RunHalted:
		end.Kind, end.Message = state.KindRunHalted, out.Message
	}
	if rerr := rec.Record(context.WithoutCancel(ctx), end); rerr != nil {
		ds = ds.Append(rerr)
	}
	if st2, lerr := state.Load(context.WithoutCancel(ctx), b); lerr == nil && st2 != nil {
		if werr := b.WriteState(context.WithoutCancel(ctx), lock, st2); werr != nil {
			ds = ds.Append(werr)
		}
	}
	return res, ds
}

// planCopyPath is where a run keeps its plan, next to the state, so that
// a resumed run carries out exactly the plan it started with.
func planCopyPath(_ state.Backend, cfg *config.Config, runID string) string {
	p := cfg.Settings.State.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(cfg.Dir, p)
	}
	dir := filepath.Join(filepath.Dir(p), "plans")
	_ = os.MkdirAll(dir, 0o700)
	return filepath.Join(dir, runID+".json")
}

// PlanDigest identifies a plan, to tell whether a saved plan is the one an
// unfinished run carries out.
func PlanDigest(f *plans.File) string { return planDigest(f) }

func planDigest(f *plans.File) string {
	b, _ := json.Marshal(f.Plan)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// recorder appends events to the journal under the lock.
type recorder struct {
	b    state.Backend
	lock state.Lock
}

func (r *recorder) Record(ctx context.Context, evs ...state.Event) error {
	_, err := r.b.AppendJournal(ctx, r.lock, evs...)
	return err
}

// executor adapts a plugin to the engine.
type executor struct {
	p interface {
		ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, onProgress func(string, float64), at pluginhost.Locator) (*sdk.ExecuteActionResponse, diags.Diagnostics)
	}
}

func (x executor) Execute(ctx context.Context, req sdk.ExecuteActionRequest, onProgress func(string, float64)) (*sdk.ExecuteActionResponse, error) {
	resp, ds := x.p.ExecuteAction(ctx, req, onProgress, nil)
	if ds.HasErrors() {
		return resp, ds.Err()
	}
	return resp, nil
}

// CurrentPlanFacts is what a saved plan is checked against.
func (s *Session) CurrentPlanFacts(ctx context.Context) (plans.Current, diags.Diagnostics) {
	snap, ds := s.Refresh(ctx)
	if ds.HasErrors() {
		return plans.Current{}, ds
	}
	total, hosts := snap.Digest()
	return plans.Current{
		EscalatorVersion: version.Number(), ConfigDigest: s.Config.Digest(), LockDigest: s.LockDigest,
		InventoryDigest: total, HostDigests: hosts,
	}, ds
}
