// Package engine carries out a plan: wave after wave, host by host, the
// per-host workflow of enter maintenance, evacuate, back up, upgrade,
// verify and leave maintenance, through the providers. Every step is
// journaled before it starts and when it ends, so a run that is killed
// resumes without redoing what finished; a failed step is handled by the
// rollout's failure policy.
//
// Side effects sit behind three narrow interfaces (Executor, Recorder,
// Notifier) so the engine is tested without plugins, disks or networks.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/control"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Executor performs actions for one provider.
type Executor interface {
	Execute(ctx context.Context, req sdk.ExecuteActionRequest, onProgress func(msg string, fraction float64)) (*sdk.ExecuteActionResponse, error)
}

// Recorder makes journal events durable before returning.
type Recorder interface {
	Record(ctx context.Context, events ...state.Event) error
}

// Notifier tells a VNF manager about maintenance and returns its reply;
// ErrNoReply when it did not reply in time (or could not be reached).
// Notifications of completed maintenance need no reply (nil, nil).
type Notifier interface {
	Notify(ctx context.Context, n plans.Notification, msg Notification) (*Reply, error)
}

// Reply is a VNF manager's answer to a maintenance notification.
type Reply struct {
	// Ack: it accepts; otherwise it refuses (NACK) for Reason.
	Ack    bool
	Reason string
	// Actions chooses an action per instance: vnfm.ActionOwn means the
	// VNF manager moves the instance itself.
	Actions map[string]string
}

// Placer picks destinations from the live cloud for what the plan cannot
// say: another destination when the plan's failed, and where a host's
// instances go when a rollback must empty it again.
type Placer interface {
	// Repick returns a destination for instance (now on source) other
	// than the hosts in avoid, preferring those in prefer.
	Repick(ctx context.Context, instance, source string, avoid, prefer map[string]bool) (string, error)
	// Evacuation returns a move for every instance now on req.Host.
	Evacuation(ctx context.Context, req EvacuationRequest) ([]plans.Move, error)
	// Locate returns the host an instance is on ("" when it is gone).
	Locate(ctx context.Context, instance string) (string, error)
}

// EvacuationRequest asks where a host's instances go.
type EvacuationRequest struct {
	Host string
	// Later are hosts still to be worked on: taken only when nothing
	// else fits, since an instance put there moves again.
	Later map[string]bool
	// Live asks for live migrations where possible.
	Live bool
	// KeepVersions are components a live migration must not find older
	// on the destination than on the source (a hypervisor: a running
	// guest cannot move to an older QEMU or libvirt).
	KeepVersions []string
	// AllowCold lets an instance with no live destination move cold.
	AllowCold bool
}

// Control carries the operator's requests (package control): pause,
// abort, canary approval.
type Control interface {
	// Gate returns nil when a step may start, waits while the run is
	// paused (calling onPause once), and returns control.ErrAborted when
	// the run was aborted.
	Gate(ctx context.Context, runID string, onPause func(control.Request)) error
	// WaitApproval waits until canary wave is approved.
	WaitApproval(ctx context.Context, runID string, wave int) error
}

// ErrNoReply is returned by a Notifier whose VNF manager did not answer in
// time.
var ErrNoReply = errors.New("the VNF manager did not reply in time")

// Notification is what a VNF manager is told.
type Notification struct {
	// ID identifies it (a reply names it): <run id>/<step id>.
	ID    string
	RunID string
	Wave  int
	// Event is "maintenance" (before its instances move), "available"
	// (after the wave, with Versions), or one host's own news: EventInMaintenance
	// (emptied, about to change) and EventHostComplete (back in service,
	// with its Versions).
	Event     string
	Hosts     []string
	Instances []NotifiedInstance
	Projects  []string
	// NotBefore is when the first instance may move (lead_time).
	NotBefore time.Time
	// Versions are the new versions per host, for "available".
	Versions map[string]map[string]string
}

// NotifiedInstance is one instance named in a notification, with what
// escalator plans for it.
type NotifiedInstance struct {
	ID, Name, Host, Destination string
	Live                        bool
}

// Engine runs one plan. Set the fields, then call Run.
type Engine struct {
	RunID  string
	Plan   *plans.Plan
	Config *config.Config
	// Executors maps provider name to its executor.
	Executors map[string]Executor
	Recorder  Recorder
	Notifier  Notifier
	// Own lists the instances a VNF manager took over (OWN_ACTION), from
	// earlier attempts of the run (the journal's notes): escalator waits
	// for them to leave their host instead of migrating them.
	Own map[string]bool
	// Placer, when set, re-picks a failed migration's destination once,
	// and empties hosts that a rollback changes. Without it a failed
	// migration fails its host, and a rollback does not move instances.
	Placer Placer
	// Backups maps host, then component, to the id of the newest backup
	// taken of it (from the journal), for a rollback that restores.
	Backups map[string]map[string]string
	// Repicked maps a migration's retry step to the destination picked for
	// it in an earlier attempt of the run (from the journal's
	// W_DESTINATION_REPICKED alerts), so a resumed retry goes there.
	Repicked map[string]string
	// Done holds the steps that finished OK in earlier attempts of this
	// run (from the journal): they are not run again.
	Done map[string]bool
	// Started holds the steps started in earlier attempts of this run,
	// whatever their end: an upgrade that started may have committed, so
	// a rollback reverses it too.
	Started map[string]bool
	// AllowCold lets a rollback move instances cold when no destination
	// can take them live (escalator rollback -allow-cold), besides the
	// rollout's evacuate { fallback_to_cold = true }.
	AllowCold bool
	// Control, when set, is asked before every step: a paused run starts
	// none until resumed, an aborted one halts at the next step boundary.
	Control Control
	// WaitCanary makes a canary wave that pauses wait for an approval
	// through Control (apply -listen) instead of halting the run.
	WaitCanary bool
	// WaveEnds holds when each wave of the run ended (its last step), from
	// the journal of earlier attempts; the engine adds the waves it ends.
	// A wave with a recovery wait starts no sooner than its Delay after
	// the wave it names ended.
	WaveEnds map[int]time.Time
	// Drain, when closed, stops the run at the next step boundary: no new
	// step starts, the running ones finish (the first Ctrl-C).
	Drain <-chan struct{}
	// Parallelism bounds the hosts worked on at once within a wave.
	Parallelism int
	// Observe, when set, is told of every event as it is recorded.
	Observe func(state.Event)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits (soak, checks' intervals); nil means a context-aware
	// time.Sleep.
	Sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	failures int
	// ran counts the steps this process started.
	ran int
}

func (e *Engine) stepsRun() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ran
}

// Outcome is how a run ended.
type Outcome struct {
	Status state.RunStatus
	// Message says why the run stopped early.
	Message string
	// Failed lists hosts whose workflow failed.
	Failed []string
	// Paused is set when the run stopped after a canary wave that pauses.
	Paused bool
	// Code is the code of a halt (state.Code…), "" when it finished.
	Code string
}

// ErrDrained is returned by a step that did not start because Drain was
// closed.
var ErrDrained = errors.New("interrupted: no new step starts")

// drainedMessage is the outcome of a drained run.
const drainedMessage = "interrupted (Ctrl-C): no new step started and the running ones finished. escalator apply continues the run"

// abortedMessage is the outcome of an aborted run.
const abortedMessage = "aborted by an operator at a step boundary; the steps that were running finished. escalator apply continues the run"

// Step timeouts for steps the plan gives no duration for.
const (
	maintenanceTimeout = 5 * time.Minute
	minStepTimeout     = time.Minute
)

// errHalt stops the run after the running hosts finish.
type haltError struct {
	msg string
	// code is the run_halted event's code; "" means state.CodeHalted.
	code string
	// rollbackAll: roll back every host of the run before halting.
	rollbackAll bool
}

func (e *haltError) Error() string { return e.msg }

// Run carries out the plan. It returns when the plan is done, a failure
// policy stopped it, or ctx is cancelled (running steps are cancelled
// through their contexts; what finished is journaled).
func (e *Engine) Run(ctx context.Context) (*Outcome, error) {
	e.defaults()
	out := &Outcome{Status: state.RunFinished}
	for _, rp := range e.Plan.Rollouts {
		r := e.Config.Rollouts[rp.Name]
		if r == nil {
			return nil, fmt.Errorf("the plan's rollout %q is not in the campaign; the plan is stale, run escalator plan again", rp.Name)
		}
		e.failures = 0
		for _, w := range rp.Waves {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			if err := e.recoveryWait(ctx, w); err != nil {
				if errors.Is(err, ErrDrained) {
					out.Status, out.Message, out.Code = state.RunHalted, drainedMessage, state.CodeInterrupted
					return out, nil
				}
				return out, err
			}
			before := e.stepsRun()
			failed, err := e.runWave(ctx, r, rp, w)
			out.Failed = append(out.Failed, failed...)
			if err == nil && e.stepsRun() != before {
				// The wave ended now, unless it had all been done before
				// (a resume): then the journal's time stands.
				e.mu.Lock()
				e.WaveEnds[w.Number] = e.Now()
				e.mu.Unlock()
			}
			if errors.Is(err, ErrDrained) {
				err = &haltError{msg: drainedMessage, code: state.CodeInterrupted}
			}
			var he *haltError
			if errors.As(err, &he) {
				out.Status, out.Message, out.Code = state.RunHalted, he.msg, he.code
				if he.rollbackAll {
					if err := e.rollbackVisits(ctx, e.touched(), false); err != nil {
						out.Message += fmt.Sprintf("; rolling back the run stopped: %v. Run escalator rollback to go on", err)
					} else {
						out.Message += "; every host of the run was rolled back"
					}
				}
				return out, nil
			}
			if err != nil {
				return out, err
			}
			if w.Canary && r.Canary != nil && r.Canary.Pause && !e.isDone(pauseStep(w)) && e.WaitCanary && e.Control != nil {
				// Wait here for an approval through the API.
				if err := e.record(ctx, state.Event{Kind: state.KindNote, Message: fmt.Sprintf("paused after canary wave %d; approve it to go on", w.Number),
					Data: map[string]string{"wave": fmt.Sprint(w.Number)}}); err != nil {
					return out, err
				}
				if err := e.Control.WaitApproval(ctx, e.RunID, w.Number); err != nil {
					if errors.Is(err, control.ErrAborted) {
						out.Status, out.Message, out.Code = state.RunHalted, abortedMessage, state.CodeAborted
						return out, nil
					}
					return out, err
				}
				if err := e.stepOK(ctx, pauseStep(w), "", "", "pause"); err != nil {
					return out, err
				}
			}
			if w.Canary && r.Canary != nil && r.Canary.Pause && !e.isDone(pauseStep(w)) {
				if err := e.stepOK(ctx, pauseStep(w), "", "", "pause"); err != nil {
					return out, err
				}
				out.Status, out.Paused, out.Code = state.RunHalted, true, state.CodeCanaryPaused
				out.Message = fmt.Sprintf("paused after canary wave %d as the rollout asks (canary { pause = true }); run escalator apply again to go on", w.Number)
				return out, nil
			}
		}
	}
	return out, nil
}

// defaults fills the fields left unset.
func (e *Engine) defaults() {
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Sleep == nil {
		e.Sleep = sleepCtx
	}
	if e.Done == nil {
		e.Done = map[string]bool{}
	}
	if e.Started == nil {
		e.Started = map[string]bool{}
	}
	if e.Repicked == nil {
		e.Repicked = map[string]string{}
	}
	if e.Own == nil {
		e.Own = map[string]bool{}
	}
	if e.WaveEnds == nil {
		e.WaveEnds = map[int]time.Time{}
	}
	if e.Parallelism < 1 {
		e.Parallelism = 1
	}
}

// recoveryWait waits, as a journaled step, until every earlier wave that
// moved members of a server group this wave moves too ended at least the
// group's recovery_time ago.
func (e *Engine) recoveryWait(ctx context.Context, w *plans.Wave) error {
	var until time.Time
	var why string
	e.mu.Lock()
	for _, rec := range w.Recovery {
		if end, ok := e.WaveEnds[rec.AfterWave]; ok && end.Add(rec.Delay).After(until) {
			until = end.Add(rec.Delay)
			why = fmt.Sprintf("server group %s was impacted in wave %d (recovery_time %s)", rec.Group, rec.AfterWave, rec.Delay)
		}
	}
	e.mu.Unlock()
	wait := until.Sub(e.Now())
	if wait <= 0 {
		return nil
	}
	id := fmt.Sprintf("w%d/recovery", w.Number)
	return e.step(ctx, id, "", "", "recovery", func(ctx context.Context) error {
		if err := e.record(ctx, state.Event{Kind: state.KindNote, StepID: id,
			Message: fmt.Sprintf("wave %d waits %s: %s", w.Number, wait.Round(time.Second), why)}); err != nil {
			return err
		}
		return e.Sleep(ctx, wait)
	})
}

func pauseStep(w *plans.Wave) string { return fmt.Sprintf("w%d/pause", w.Number) }

// runWave notifies, works on the wave's hosts concurrently, then runs the
// health gate (between-wave checks) and the soak.
func (e *Engine) runWave(ctx context.Context, r *config.Rollout, rp *plans.Rollout, w *plans.Wave) ([]string, error) {
	refused, err := e.notifyWave(ctx, r, w)
	if err != nil {
		return nil, err
	}
	sem := make(chan struct{}, e.Parallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	var halt error
	aborted, drained := false, false
	for _, hv := range w.Hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := refused[hv.Host]
			if err == nil {
				err = e.runHost(ctx, r, w, hv)
			}
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				// An abort or Ctrl-C is not the host's failure: it stays
				// as it is, and the resumed run goes on with it.
				if errors.Is(err, control.ErrAborted) {
					aborted = true
					return
				}
				if errors.Is(err, ErrDrained) {
					drained = true
					return
				}
				if ctx.Err() != nil {
					return
				}
				failed = append(failed, hv.Host)
				if h := e.onFailure(ctx, r, rp, w, hv, err); h != nil && halt == nil {
					halt = h
				}
			}
		}()
	}
	wg.Wait()
	sort.Strings(failed)
	if halt != nil {
		return failed, halt
	}
	if aborted {
		return failed, &haltError{msg: abortedMessage, code: state.CodeAborted}
	}
	if drained {
		return failed, &haltError{msg: drainedMessage, code: state.CodeInterrupted}
	}
	if err := ctx.Err(); err != nil {
		return failed, err
	}
	if err := e.notifyAvailable(ctx, w, failed); err != nil {
		return failed, err
	}
	for _, name := range w.Checks {
		id := fmt.Sprintf("w%d/check/%s", w.Number, name)
		if err := e.step(ctx, id, "", "", "check", func(ctx context.Context) error { return e.runCheck(ctx, name, "") }); errors.Is(err, ErrDrained) {
			return failed, err
		} else if err != nil {
			return failed, &haltError{msg: fmt.Sprintf("the health gate after wave %d failed: check %q: %v", w.Number, name, err)}
		}
	}
	if w.Soak > 0 {
		if err := e.step(ctx, fmt.Sprintf("w%d/soak", w.Number), "", "", "soak", func(ctx context.Context) error { return e.Sleep(ctx, w.Soak) }); err != nil {
			return failed, err
		}
	}
	return failed, nil
}

// onFailure applies the rollout's failure policy to a failed host and
// returns a haltError when the run must stop.
func (e *Engine) onFailure(ctx context.Context, r *config.Rollout, rp *plans.Rollout, w *plans.Wave, hv *plans.HostVisit, cause error) error {
	if enter := e.hostStep(w, hv, "enter_maintenance"); !e.wasStarted(enter) && !e.isDone(enter) {
		// Never touched (its VNF manager refused, or did not reply with
		// on_timeout = "fail_host"): nothing to roll back, and it is not
		// in maintenance.
		_ = e.record(ctx, state.Event{Kind: state.KindHostStatus, Host: hv.Host, Status: string(state.HostFailed), Error: cause.Error(), Code: state.CodeVNFMRefused})
		switch r.OnFailure.Action {
		case config.FailureContinue:
			if e.failures++; e.failures > rp.MaxFailed {
				return &haltError{msg: fmt.Sprintf("host %s was not upgraded (%v): %d hosts failed in rollout %q, more than max_failed = %d", hv.Host, cause, e.failures, rp.Name, rp.MaxFailed)}
			}
			return nil
		case config.FailureRollbackAll:
			return &haltError{msg: fmt.Sprintf("host %s was not upgraded (%v)", hv.Host, cause), rollbackAll: true}
		default:
			return &haltError{msg: fmt.Sprintf("host %s was not upgraded: %v. It was not touched; escalator apply tries again", hv.Host, cause)}
		}
	}
	switch r.OnFailure.Action {
	case config.FailureRollbackHost:
		if err := e.rollbackHost(ctx, r, w, hv, false, nil); err != nil {
			return &haltError{msg: fmt.Sprintf("host %s failed (%v) and rolling it back failed too (%v); it is left in maintenance", hv.Host, cause, err)}
		}
		return &haltError{msg: fmt.Sprintf("host %s failed (%v); it was rolled back to its previous versions and put back in service", hv.Host, cause)}
	case config.FailureRollbackAll:
		// Every host of the run is rolled back once the wave's other hosts
		// have finished (Run does it): rolling back a host still being
		// upgraded would race with its own workflow.
		return &haltError{msg: fmt.Sprintf("host %s failed (%v)", hv.Host, cause), rollbackAll: true}
	case config.FailureContinue:
		e.failures++
		if err := e.rollbackHost(ctx, r, w, hv, false, nil); err != nil {
			return &haltError{msg: fmt.Sprintf("host %s failed (%v) and rolling it back failed (%v); it is left in maintenance", hv.Host, cause, err)}
		}
		if e.failures > rp.MaxFailed {
			return &haltError{msg: fmt.Sprintf("host %s failed (%v): %d hosts failed in rollout %q, more than max_failed = %d", hv.Host, cause, e.failures, rp.Name, rp.MaxFailed)}
		}
		return nil
	default: // halt
		_ = e.record(ctx, state.Event{Kind: state.KindHostStatus, Host: hv.Host, Status: string(state.HostInMaintenance), Error: cause.Error(), Code: state.CodeStepFailed})
		return &haltError{msg: fmt.Sprintf("host %s failed: %v. It is left in maintenance for you to look at (on_failure halt); fix the cause and run escalator apply again, or escalator rollback", hv.Host, cause)}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
