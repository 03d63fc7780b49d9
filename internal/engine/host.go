package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/control"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Step ids are derived from the plan, so a resumed run finds its steps:
// w<wave>/<host>[#attempt]/<action>[/<component or instance>]. A host that
// was rolled back starts a new attempt: its steps get new ids, because the
// earlier ones (enter maintenance, say) were undone, and providers treat a
// known id as already done.
func (e *Engine) hostStep(w *plans.Wave, hv *plans.HostVisit, action string, extra ...string) string {
	id := fmt.Sprintf("w%d/%s/%s", w.Number, e.hostKey(hv.Host), action)
	for _, x := range extra {
		id += "/" + x
	}
	return id
}

// runHost is the per-host workflow of DESIGN.md: enter maintenance,
// evacuate, back up, upgrade each component in order, verify, leave
// maintenance. (VNF managers are told per wave, before it starts, and of
// the host's own state once it is empty and once it is back.)
func (e *Engine) runHost(ctx context.Context, r *config.Rollout, w *plans.Wave, hv *plans.HostVisit) error {
	if err := e.record(ctx, state.Event{Kind: state.KindHostStatus, Host: hv.Host, Status: string(state.HostInProgress)}); err != nil {
		return err
	}
	reason := fmt.Sprintf("escalator run %s, wave %d", e.RunID, w.Number)
	if err := e.action(ctx, e.hostStep(w, hv, "enter_maintenance"), hv, "", maintenanceTimeout, sdk.ExecuteActionRequest{
		Kind: sdk.ActionEnterMaintenance, Host: hv.Host, Reason: reason,
	}, hv.Provider); err != nil {
		return err
	}
	if err := e.evacuate(ctx, r, w, hv); err != nil {
		return err
	}
	if err := e.notifyHostState(ctx, w, hv, EventInMaintenance); err != nil {
		return err
	}
	for _, ch := range hv.Changes {
		if err := e.record(ctx, state.Event{Kind: state.KindOriginalRecorded, Host: hv.Host, Component: ch.Component, Data: map[string]string{state.DataVersion: ch.From}}); err != nil {
			return err
		}
		for _, b := range ch.Backups {
			id := e.hostStep(w, hv, "backup", ch.Component, b)
			var backupID string
			err := e.step(ctx, id, hv.Host, ch.Component, "backup", func(ctx context.Context) error {
				resp, err := e.exec(ctx, ch.Provider, stepTimeout(0), sdk.ExecuteActionRequest{
					ID: e.providerID(id), Kind: sdk.ActionBackup, Host: hv.Host, Component: ch.Component, FromVersion: ch.From, ToVersion: ch.To,
					Settings: e.backupSettings(b),
				})
				if resp != nil {
					backupID = resp.Outputs["backup_id"]
				}
				return err
			})
			if err != nil {
				return err
			}
			if backupID != "" {
				if err := e.record(ctx, state.Event{Kind: state.KindBackupRecorded, Host: hv.Host, Component: ch.Component,
					Data: map[string]string{state.DataBackupID: backupID, state.DataBackupName: b}}); err != nil {
					return err
				}
			}
		}
	}
	// Everything is backed up before anything is upgraded (DESIGN.md step
	// 5 before 6): a failed upgrade can then be restored whatever it
	// touched.
	for _, ch := range hv.Changes {
		if err := e.action(ctx, e.hostStep(w, hv, "upgrade", ch.Component), hv, ch.Component, stepTimeout(ch.ExpectedDuration), sdk.ExecuteActionRequest{
			Kind: sdk.ActionUpgrade, Host: hv.Host, Component: ch.Component, FromVersion: ch.From, ToVersion: ch.To, Settings: e.settings(ch.Component),
		}, ch.Provider); err != nil {
			return err
		}
		if err := e.record(ctx, state.Event{Kind: state.KindVersionRecorded, Host: hv.Host, Component: ch.Component, Data: map[string]string{state.DataVersion: ch.To}}); err != nil {
			return err
		}
	}
	for _, ch := range hv.Changes {
		if err := e.action(ctx, e.hostStep(w, hv, "verify", ch.Component), hv, ch.Component, r.Verify.Timeout.D(), sdk.ExecuteActionRequest{
			Kind: sdk.ActionVerify, Host: hv.Host, Component: ch.Component, FromVersion: ch.From, ToVersion: ch.To, Settings: e.settings(ch.Component),
		}, ch.Provider); err != nil {
			return err
		}
	}
	for _, name := range hv.Verify {
		id := e.hostStep(w, hv, "check", name)
		if err := e.step(ctx, id, hv.Host, "", "check", func(ctx context.Context) error { return e.runCheck(ctx, name, hv.Host) }); err != nil {
			return err
		}
	}
	if err := e.action(ctx, e.hostStep(w, hv, "leave_maintenance"), hv, "", maintenanceTimeout, sdk.ExecuteActionRequest{
		Kind: sdk.ActionLeaveMaintenance, Host: hv.Host,
	}, hv.Provider); err != nil {
		return err
	}
	if err := e.notifyHostState(ctx, w, hv, EventHostComplete); err != nil {
		return err
	}
	return e.record(ctx, state.Event{Kind: state.KindHostStatus, Host: hv.Host, Status: string(state.HostUpgraded)})
}

// evacuate migrates the host's instances as the plan says, up to
// evacuate.parallel at once.
func (e *Engine) evacuate(ctx context.Context, r *config.Rollout, w *plans.Wave, hv *plans.HostVisit) error {
	if !hv.Evacuate || len(hv.Moves) == 0 {
		return nil
	}
	moves := hv.Moves
	if e.hostKey(hv.Host) != hv.Host && e.Placer != nil {
		// A new attempt after a rollback: the first one moved instances
		// off already, and they stay where they went. Only those still on
		// the host move.
		var err error
		if moves, err = e.stillOn(ctx, hv.Host, moves); err != nil {
			return err
		}
	}
	return e.migrateAll(ctx, r, hv, moves, func(m plans.Move, extra ...string) string {
		return e.hostStep(w, hv, "migrate", append([]string{m.Instance}, extra...)...)
	})
}

// stillOn keeps the moves whose instance is still on host.
func (e *Engine) stillOn(ctx context.Context, host string, moves []plans.Move) ([]plans.Move, error) {
	var out []plans.Move
	for _, m := range moves {
		at, err := e.Placer.Locate(ctx, m.Instance)
		if err != nil {
			return nil, fmt.Errorf("find instance %s before moving it off %s again: %w", m.Instance, host, err)
		}
		if at == host {
			out = append(out, m)
		}
	}
	return out, nil
}

// migrateAll runs moves off hv's host, up to evacuate.parallel at once. A
// migration that fails is tried once more to a destination the Placer
// picks from the live cloud (the plan's may have gone down, filled up or
// taken a member of the instance's anti-affinity group).
func (e *Engine) migrateAll(ctx context.Context, r *config.Rollout, hv *plans.HostVisit, moves []plans.Move, stepID func(m plans.Move, extra ...string) string) error {
	par := max(1, r.Evacuate.Parallel)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, m := range moves {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := e.migrate(ctx, r, hv, m, stepID); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (e *Engine) migrate(ctx context.Context, r *config.Rollout, hv *plans.HostVisit, m plans.Move, stepID func(m plans.Move, extra ...string) string) error {
	if e.isOwn(scopeOf(stepID(m)), m.Instance) {
		return e.awaitOwnAction(ctx, stepID(m, "own_action"), hv.Host, m.Instance, e.ownActionTimeout(m.Project))
	}
	req := sdk.ExecuteActionRequest{Kind: sdk.ActionMigrate, Host: hv.Host, Instance: m.Instance, Destination: m.To, Live: m.Live}
	first := stepID(m)
	err := e.action(ctx, first, hv, "", r.Evacuate.Timeout.D(), req, hv.Provider)
	if err == nil {
		return nil
	}
	if e.Placer == nil || ctx.Err() != nil {
		return fmt.Errorf("migrate %s to %s: %w", m.Instance, m.To, err)
	}
	retry := stepID(m, "repick")
	// On resume the re-pick is not made again: the retry step's
	// destination is in the journal.
	if to := e.repicked(retry); to != "" {
		req.Destination = to
	} else {
		// Not to the failed destination, nor to a host still to be emptied
		// by this plan: its evacuation moves only the plan's instances, so
		// one put there now would block its upgrade.
		avoid := e.evacuationsAhead()
		avoid[m.To] = true
		to, perr := e.Placer.Repick(ctx, m.Instance, hv.Host, avoid, e.finishedHosts())
		if perr != nil {
			return fmt.Errorf("migrate %s to %s: %w; no other destination: %v", m.Instance, m.To, err, perr)
		}
		req.Destination = to
		_ = e.record(ctx, state.Event{Kind: state.KindAlert, StepID: retry, Host: hv.Host, Code: state.CodeDestinationRepicked,
			Message: fmt.Sprintf("migration of %s to %s failed (%v); trying %s, picked from the live cloud", m.Instance, m.To, err, to),
			Data:    map[string]string{DataDestination: to}})
		e.setRepicked(retry, to)
	}
	if err2 := e.action(ctx, retry, hv, "", r.Evacuate.Timeout.D(), req, hv.Provider); err2 != nil {
		return fmt.Errorf("migrate %s to %s: %w; then to %s: %v", m.Instance, m.To, err, req.Destination, err2)
	}
	return nil
}

// DataDestination is the Data key of a re-picked destination, in the
// alert coded state.CodeDestinationRepicked.
const DataDestination = "destination"

// rollbackHost reverses a host's upgrades in reverse order and puts it back
// in service. Rollback steps have ids of their own, so a resumed rollback
// is not redone either.
//
// The host is (re)entered into maintenance first, with the run's reason:
// a host that already went back to service (rollback_all, escalator
// rollback) must not take new instances while its software changes. When
// the host's changes needed it empty (the plan evacuated it) and a Placer
// is set, its instances are moved off again first, to hosts picked from
// the live cloud, avoiding those still to be rolled back (later).
// Without a Placer, a provider that needs an empty host refuses, and the
// run halts saying so.
//
// With restore, a component with a backup is restored from it instead of
// being downgraded.
func (e *Engine) rollbackHost(ctx context.Context, r *config.Rollout, w *plans.Wave, hv *plans.HostVisit, restore bool, later map[string]bool) error {
	key := e.hostKey(hv.Host)
	rid := func(parts ...string) string { return "rollback/" + key + "/" + strings.Join(parts, "/") }
	if err := e.record(ctx, state.Event{Kind: state.KindHostStatus, Host: hv.Host, Status: string(state.HostInProgress)}); err != nil {
		return err
	}
	enter := rid("enter_maintenance")
	if err := e.action(ctx, enter, hv, "", maintenanceTimeout, sdk.ExecuteActionRequest{Kind: sdk.ActionEnterMaintenance, Host: hv.Host,
		Reason: fmt.Sprintf("escalator run %s, wave %d", e.RunID, w.Number)}, hv.Provider); err != nil {
		return err
	}
	if hv.Evacuate && e.Placer != nil && !e.isDone(rid("evacuated")) {
		req := EvacuationRequest{Host: hv.Host, Later: later, Live: r.Evacuate.Mode == config.EvacuateLive,
			AllowCold: r.Evacuate.FallbackToCold || e.AllowCold}
		for _, ch := range hv.Changes {
			if ch.Disruption == string(config.DisruptionHost) {
				req.KeepVersions = append(req.KeepVersions, ch.Component)
			}
		}
		moves, err := e.Placer.Evacuation(ctx, req)
		if err != nil {
			return fmt.Errorf("empty %s before its rollback: %w", hv.Host, err)
		}
		if len(moves) > 0 {
			if err := e.notifyHost(ctx, w, hv.Host, moves, rid, "maintenance"); err != nil {
				return err
			}
			if err := e.migrateAll(ctx, r, hv, moves, func(m plans.Move, extra ...string) string {
				return rid(append([]string{"migrate", m.Instance}, extra...)...)
			}); err != nil {
				return err
			}
		}
		if err := e.stepOK(ctx, rid("evacuated"), hv.Host, "", "evacuate"); err != nil {
			return err
		}
	}
	for i := len(hv.Changes) - 1; i >= 0; i-- {
		ch := hv.Changes[i]
		// What was upgraded is rolled back, and so is a component whose
		// upgrade started but failed or was cut short: it may have
		// committed before failing (the provider's rollback of a
		// component still at its old version is a no-op).
		if up := e.hostStep(w, hv, "upgrade", ch.Component); !e.isDone(up) && !e.wasStarted(up) {
			continue
		}
		req := sdk.ExecuteActionRequest{Kind: sdk.ActionRollback, Host: hv.Host, Component: ch.Component, FromVersion: ch.From, ToVersion: ch.To, Settings: e.settings(ch.Component)}
		id := rid(ch.Component)
		if backup := e.Backups[hv.Host][ch.Component]; restore && backup != "" {
			req = sdk.ExecuteActionRequest{Kind: sdk.ActionRestore, Host: hv.Host, Component: ch.Component, FromVersion: ch.From, ToVersion: ch.To, BackupID: backup, Settings: e.settings(ch.Component)}
			id = rid("restore", ch.Component)
		} else if restore {
			_ = e.record(ctx, state.Event{Kind: state.KindAlert, StepID: id, Host: hv.Host, Component: ch.Component, Code: state.CodeNoBackup,
				Message: fmt.Sprintf("%s on %s has no backup to restore; it is rolled back to %s instead", ch.Component, hv.Host, ch.From)})
		}
		if err := e.action(ctx, id, hv, ch.Component, stepTimeout(ch.ExpectedDuration), req, ch.Provider); err != nil {
			return err
		}
		if err := e.record(ctx, state.Event{Kind: state.KindVersionRecorded, Host: hv.Host, Component: ch.Component, Data: map[string]string{state.DataVersion: ch.From}}); err != nil {
			return err
		}
	}
	if err := e.action(ctx, rid("leave_maintenance"), hv, "", maintenanceTimeout, sdk.ExecuteActionRequest{Kind: sdk.ActionLeaveMaintenance, Host: hv.Host}, hv.Provider); err != nil {
		return err
	}
	return e.record(ctx, state.Event{Kind: state.KindHostStatus, Host: hv.Host, Status: string(state.HostRolledBack)})
}

// action runs one provider action as a journaled step.
func (e *Engine) action(ctx context.Context, id string, hv *plans.HostVisit, component string, timeout time.Duration, req sdk.ExecuteActionRequest, provider string) error {
	req.ID = e.providerID(id)
	return e.step(ctx, id, hv.Host, component, req.Kind.String(), func(ctx context.Context) error {
		_, err := e.exec(ctx, provider, timeout, req)
		return err
	})
}

// exec calls a provider with a deadline, raising a hang alert when the
// step runs past its expected duration (a third of the hard timeout).
func (e *Engine) exec(ctx context.Context, provider string, timeout time.Duration, req sdk.ExecuteActionRequest) (*sdk.ExecuteActionResponse, error) {
	ex := e.Executors[provider]
	if ex == nil {
		return nil, fmt.Errorf("provider %q is not running; run escalator init", provider)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	alert := time.AfterFunc(timeout/3, func() {
		_ = e.record(context.WithoutCancel(ctx), state.Event{Kind: state.KindAlert, StepID: req.ID, Host: req.Host, Component: req.Component,
			Message: fmt.Sprintf("step %s runs past its expected duration (%s); it fails at %s", req.ID, timeout/3, timeout), Code: state.CodeStepSlow})
	})
	defer alert.Stop()
	resp, err := ex.Execute(ctx, req, nil)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%s did not finish within %s: %w", req.Kind, timeout, err)
	}
	return resp, err
}

// stepTimeout is the hard timeout of a step expected to take d: three
// times as long, and at least a minute.
func stepTimeout(d time.Duration) time.Duration {
	return max(3*d, minStepTimeout)
}

// step journals a step around fn, and skips it when an earlier attempt of
// the run finished it.
func (e *Engine) step(ctx context.Context, id, host, component, action string, fn func(context.Context) error) error {
	if e.isDone(id) {
		return nil
	}
	select {
	case <-e.Drain:
		return ErrDrained
	default:
	}
	if e.Control != nil {
		err := e.Control.Gate(ctx, e.RunID, func(r control.Request) {
			_ = e.record(ctx, state.Event{Kind: state.KindNote, Host: host,
				Message: fmt.Sprintf("paused by %s; no step starts until the run is resumed", r.UpdatedBy)})
		})
		if err != nil {
			return err
		}
	}
	if err := e.record(ctx, state.Event{Kind: state.KindStepStarted, StepID: id, Host: host, Component: component, Action: action}); err != nil {
		return err
	}
	e.mu.Lock()
	e.Started[id] = true
	e.ran++
	e.mu.Unlock()
	err := fn(ctx)
	ev := state.Event{Kind: state.KindStepFinished, StepID: id, Host: host, Component: component, Action: action, Status: string(state.StepOK)}
	if err != nil {
		ev.Status, ev.Error, ev.Code = string(state.StepFailed), err.Error(), state.CodeStepFailed
		if ctx.Err() != nil {
			ev.Status, ev.Code = string(state.StepCancelled), state.CodeCancelled
		}
	}
	// The end is recorded even when ctx is done, so a cancelled step reads
	// as cancelled rather than as still running.
	if rerr := e.record(context.WithoutCancel(ctx), ev); rerr != nil && err == nil {
		return rerr
	}
	if err == nil {
		e.mu.Lock()
		e.Done[id] = true
		e.mu.Unlock()
	}
	return err
}

// wasStarted reports whether a step was started, in this attempt or an
// earlier one, whatever its end.
func (e *Engine) wasStarted(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Started[id]
}

// providerID is the id a provider sees for a step. It carries the run id:
// providers treat a known id as already done, and the same plan-derived
// step id recurs in the next campaign on the same cloud.
func (e *Engine) providerID(id string) string {
	return e.RunID + "/" + id
}

func (e *Engine) isDone(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Done[id]
}

func (e *Engine) stepOK(ctx context.Context, id, host, component, action string) error {
	return e.step(ctx, id, host, component, action, func(context.Context) error { return nil })
}

func (e *Engine) record(ctx context.Context, ev state.Event) error {
	ev.RunID = e.RunID
	if ev.Time.IsZero() {
		ev.Time = e.Now()
	}
	if err := e.Recorder.Record(ctx, ev); err != nil {
		return fmt.Errorf("record %s: %w", ev.Kind, err)
	}
	if e.Observe != nil {
		e.Observe(ev)
	}
	return nil
}

// runCheck runs a campaign check; host is set for per-host verification.
func (e *Engine) runCheck(ctx context.Context, name, host string) error {
	c := e.Config.Checks[name]
	if c == nil {
		return fmt.Errorf("check %q is not in the campaign", name)
	}
	var last error
	for attempt := 0; attempt <= c.Retries; attempt++ {
		if attempt > 0 {
			if err := e.Sleep(ctx, c.Interval.D()); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithTimeout(ctx, c.Timeout.D())
		last = e.checkOnce(cctx, c, host)
		cancel()
		if last == nil {
			return nil
		}
	}
	return last
}

func (e *Engine) checkOnce(ctx context.Context, c *config.Check, host string) error {
	switch c.Kind {
	case config.CheckProvider:
		_, err := e.exec(ctx, c.Provider.Name, c.Timeout.D(), sdk.ExecuteActionRequest{
			ID: e.providerID("probe/" + c.Name + "/" + host), Kind: sdk.ActionProbe, Host: host, Probe: c.Probe, Settings: c.Settings,
		})
		return err
	case config.CheckHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != c.ExpectStatus {
			return fmt.Errorf("GET %s answered %d, want %d", c.URL, resp.StatusCode, c.ExpectStatus)
		}
		return nil
	case config.CheckCommand:
		cmd := exec.CommandContext(ctx, c.Command[0], c.Command[1:]...)
		if host != "" {
			cmd.Env = append(cmd.Environ(), "ESCALATOR_HOST="+host)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %w: %s", c.Command, err, tail(out))
		}
		return nil
	}
	return fmt.Errorf("check %q has unknown kind %q", c.Name, c.Kind)
}

func tail(b []byte) string {
	if len(b) > 500 {
		b = b[len(b)-500:]
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hostKey names a host's current attempt: the host itself, then host#1
// after its first completed rollback, host#2 after the second…
func (e *Engine) hostKey(host string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for {
		key := host
		if n > 0 {
			key = fmt.Sprintf("%s#%d", host, n)
		}
		if !e.Done["rollback/"+key+"/leave_maintenance"] {
			return key
		}
		n++
	}
}

func (e *Engine) repicked(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Repicked[id]
}

func (e *Engine) setRepicked(id, to string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Repicked[id] = to
}

// evacuationsAhead are the hosts the plan still has to empty: their visit
// evacuates and has not finished.
func (e *Engine) evacuationsAhead() map[string]bool {
	out := map[string]bool{}
	for _, rp := range e.Plan.Rollouts {
		for _, w := range rp.Waves {
			for _, hv := range w.Hosts {
				if hv.Evacuate && !e.isDone(e.hostStep(w, hv, "leave_maintenance")) {
					out[hv.Host] = true
				}
			}
		}
	}
	return out
}

// finishedHosts are the hosts whose current attempt finished (upgraded
// and back in service): instances placed there will not move again.
func (e *Engine) finishedHosts() map[string]bool {
	out := map[string]bool{}
	for _, rp := range e.Plan.Rollouts {
		for _, w := range rp.Waves {
			for _, hv := range w.Hosts {
				if e.isDone(e.hostStep(w, hv, "leave_maintenance")) {
					out[hv.Host] = true
				}
			}
		}
	}
	return out
}
