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
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/control"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/logging"
	"github.com/escalator-nfv/escalator/internal/notify"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/state/local"
	"github.com/escalator-nfv/escalator/internal/version"
	"github.com/escalator-nfv/escalator/internal/vnfm"
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

// ControlFile is the campaign's control file (package control), next to
// its state.
func ControlFile(cfg *config.Config) *control.File {
	return control.Open(control.PathFor(statePath(cfg)))
}

// Inbox is the campaign's inbox of asynchronous VNF manager replies, next
// to its state.
func Inbox(cfg *config.Config) *vnfm.Inbox {
	return vnfm.InboxFor(statePath(cfg))
}

func statePath(cfg *config.Config) string {
	p := cfg.Settings.State.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(cfg.Dir, p)
	}
	return p
}

// ApplyOptions say what apply carries out.
type ApplyOptions struct {
	// Plan is a saved plan already checked for staleness, or a fresh one;
	// nil resumes the unfinished run of the state.
	Plan *plans.File
	// PlanPath is where Plan came from, for the journal ("" when fresh).
	PlanPath    string
	Parallelism int
	// WaitCanary: a canary pause waits for an approval through the
	// control file (apply -listen) instead of ending the apply.
	WaitCanary bool
	// ReplyBase is the API's URL (apply -listen), from which VNF managers'
	// reply URLs are made.
	ReplyBase string
	// Drain, when closed, stops the run at the next step boundary (the
	// first Ctrl-C).
	Drain <-chan struct{}
	// Start, when set, is told the run and its plan before anything runs.
	Start func(runID string, p *plans.Plan)
	// Observe, when set, is told of every event as recorded (with its
	// sequence number).
	Observe func(state.Event)
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
	rec := &recorder{b: b, lock: lock, observe: opts.Observe}
	res := &ApplyResult{}
	var plan *plans.File
	var journal *state.Journal
	if run := PendingRun(st); run != nil && (opts.Plan == nil || planDigest(opts.Plan) == run.PlanDigest) {
		if run.Reverting {
			return nil, ds.Append(fmt.Errorf("run %s is being rolled back (%s): finish that with escalator rollback; a run being reversed is not continued", run.ID, run.Status))
		}
		res.RunID, res.Resumed = run.ID, true
		f, err := plans.Read(planCopyPath(b, s.Config, run.ID))
		if err != nil {
			return nil, ds.Append(fmt.Errorf("resume run %s: %w", run.ID, err))
		}
		plan = f
		if journal, err = b.ReadJournal(ctx, run.ID); err != nil {
			return nil, ds.Append(err)
		}
		if opts.Start != nil {
			opts.Start(run.ID, plan.Plan)
		}
		// Running apply again is how an aborted run is continued.
		if r, err := ControlFile(s.Config).Read(run.ID); err == nil && r.Aborted {
			if _, err := ControlFile(s.Config).Update(run.ID, lock.Holder().User, func(r *control.Request) { r.Aborted = false }); err != nil {
				return nil, ds.Append(err)
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
		if opts.Start != nil {
			opts.Start(res.RunID, plan.Plan)
		}
		if err := rec.Record(ctx, state.Event{RunID: res.RunID, Kind: state.KindRunStarted, Data: map[string]string{
			state.DataPlanDigest: planDigest(plan), state.DataPlanPath: opts.PlanPath,
		}}); err != nil {
			return nil, ds.Append(err)
		}
	}
	eng := s.newEngine(res.RunID, plan.Plan, journal, rec, opts.Parallelism)
	eng.WaitCanary, eng.Drain = opts.WaitCanary, opts.Drain
	eng.Notifier.(*notify.Webhook).ReplyBase = opts.ReplyBase
	out, err := eng.Run(ctx)
	res.Outcome = out
	return res, s.finish(ctx, b, lock, rec, res.RunID, out, err, state.KindRunFinished, ds)
}

// finish records how a run (or its rollback) ended, done when the engine
// ended with done, and writes the state summary. It is recorded even after
// Ctrl-C.
func (s *Session) finish(ctx context.Context, b state.Backend, lock state.Lock, rec *recorder, runID string, out *engine.Outcome, err error, done state.Kind, ds diags.Diagnostics) diags.Diagnostics {
	ctx = context.WithoutCancel(ctx)
	end := state.Event{RunID: runID, Kind: done}
	switch {
	case err != nil:
		end.Kind, end.Error, end.Code = state.KindRunHalted, err.Error(), state.CodeInterrupted
		again := "escalator apply"
		if done == state.KindRunRolledBack {
			again = "escalator rollback"
		}
		ds = ds.Append(fmt.Errorf("run %s stopped: %w. Run %s again to continue it", runID, err, again))
	case out.Status == state.RunHalted:
		end.Kind, end.Message, end.Code = state.KindRunHalted, out.Message, out.Code
		if end.Code == "" {
			end.Code = state.CodeHalted
		}
	}
	if rerr := rec.Record(ctx, end); rerr != nil {
		ds = ds.Append(rerr)
	}
	if st2, lerr := state.Load(ctx, b); lerr == nil && st2 != nil {
		if werr := b.WriteState(ctx, lock, st2); werr != nil {
			ds = ds.Append(werr)
		}
	}
	return ds
}

// newEngine makes the engine of a run, with what its journal (nil for a
// new run) says was done: finished and started steps, re-picked
// destinations, backups.
func (s *Session) newEngine(runID string, plan *plans.Plan, j *state.Journal, rec engine.Recorder, parallelism int) *engine.Engine {
	execs := map[string]engine.Executor{}
	for _, name := range s.Providers.Names() {
		execs[name] = executor{s.Providers.Provider(name)}
	}
	eng := &engine.Engine{
		RunID: runID, Plan: plan, Config: s.Config, Executors: execs, Recorder: rec,
		Notifier: &notify.Webhook{Config: s.Config, Inbox: Inbox(s.Config)}, Placer: &placer{s: s}, Control: ControlFile(s.Config), Parallelism: parallelism,
		Done: map[string]bool{}, Started: map[string]bool{}, Repicked: map[string]string{}, Backups: map[string]map[string]string{},
		Own: map[string]bool{}, WaveEnds: map[int]time.Time{},
	}
	if j == nil {
		return eng
	}
	for _, e := range j.Events {
		switch {
		case e.Kind == state.KindStepStarted:
			eng.Started[e.StepID] = true
		case e.Kind == state.KindStepFinished && e.Status == string(state.StepOK):
			eng.Done[e.StepID] = true
			var n int
			if _, err := fmt.Sscanf(e.StepID, "w%d/", &n); err == nil && e.Time.After(eng.WaveEnds[n]) {
				eng.WaveEnds[n] = e.Time
			}
		case e.Kind == state.KindAlert && e.Code == state.CodeDestinationRepicked && e.Data[engine.DataDestination] != "":
			eng.Repicked[e.StepID] = e.Data[engine.DataDestination]
		case e.Kind == state.KindNote && e.Code == state.CodeOwnAction && e.Data[engine.DataOwnAction] != "":
			eng.Own[engine.OwnKey(e.Data[engine.DataOwnScope], e.Data[engine.DataOwnAction])] = true
		case e.Kind == state.KindBackupRecorded && e.Data[state.DataBackupID] != "":
			if eng.Backups[e.Host] == nil {
				eng.Backups[e.Host] = map[string]string{}
			}
			eng.Backups[e.Host][e.Component] = e.Data[state.DataBackupID]
		}
	}
	return eng
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

// RunPlan reads the plan a run carries out (its copy next to the state).
func RunPlan(cfg *config.Config, runID string) (*plans.File, error) {
	return plans.Read(planCopyPath(nil, cfg, runID))
}

// PlanDigest identifies a plan, to tell whether a saved plan is the one an
// unfinished run carries out.
func PlanDigest(f *plans.File) string { return planDigest(f) }

func planDigest(f *plans.File) string {
	b, _ := json.Marshal(f.Plan)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// recorder appends events to the journal under the lock, and shows them
// as recorded.
type recorder struct {
	b       state.Backend
	lock    state.Lock
	observe func(state.Event)
	// log gets a line per event (website/docs/codes.md).
	log hclog.Logger
}

func (r *recorder) Record(ctx context.Context, evs ...state.Event) error {
	recorded, err := r.b.AppendJournal(ctx, r.lock, evs...)
	if err != nil {
		return err
	}
	for _, e := range recorded {
		if r.log == nil {
			r.log = logging.Named("run")
		}
		logEvent(r.log, e)
		if r.observe != nil {
			r.observe(e)
		}
	}
	return nil
}

// logEvent writes e as a log line: step starts at debug, the rest at
// info, so that the default level (warn) leaves a terminal run to its
// view, and -log-level=info gives the whole run with codes.
func logEvent(l hclog.Logger, e state.Event) {
	args := []any{"run", e.RunID, "seq", e.Seq, "event", string(e.Kind)}
	for _, kv := range [][2]string{{"host", e.Host}, {"component", e.Component}, {"step", e.StepID}, {"action", e.Action},
		{"status", e.Status}, {"code", e.Code}, {"error", e.Error}} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	msg := strings.ReplaceAll(string(e.Kind), "_", " ")
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Kind == state.KindStepStarted {
		l.Debug(msg, args...)
		return
	}
	l.Info(msg, args...)
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
