package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// An action runs in three steps, so the lock is never held while simulated
// time passes and concurrent actions (migrations in parallel) interleave:
//
//  1. begin, under the lock: confirm an already completed step id; fire a
//     fault at "start"; check the rules on the current cloud; a migration
//     claims its destination (Nova's migration context), so parallel
//     migrations cannot overbook a host.
//  2. wait the simulated duration, reporting progress and honouring ctx.
//     A cancelled action changes nothing: a migration's claim is dropped.
//  3. commit, under the lock: check the rules again (the cloud may have
//     changed meanwhile), apply the change, record the step id, log the
//     event; fire a fault at "end".
//
// With time_scale 0 there is nothing to wait for, and 1 and 3 are one
// transaction.
//
// A crash between 1 and 3 leaves a migration's claim in the file; the
// same step id sent again resumes it, any other migration of that
// instance is refused as Nova refuses one while a migration is in flight.

// run is one ExecuteAction call.
type run struct {
	p     *Provider
	cfg   *Config
	store *Store
	req   sdk.ExecuteActionRequest
	resp  *sdk.ExecuteActionResponse

	kind     string
	settings Settings
}

// refusal is a rule the action broke: reported as the action's failure and
// logged, not an infrastructure error.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error {
	return &refusal{fmt.Sprintf(format, args...)}
}

func (r *run) execute(ctx context.Context) {
	r.kind = r.req.Kind.String()
	if err := ctx.Err(); err != nil {
		r.resp.Diagnostics.AddError(r.summary("not started"), fmt.Sprintf("The call was already over (%v) when it arrived; nothing was changed.", err))
		return
	}
	if _, ok := actionByName[r.kind]; !ok {
		r.resp.Diagnostics.Errorf("Unsupported action", "The sim provider does not know action kind %d.", int(r.req.Kind))
		return
	}
	var diags sdk.Diagnostics
	r.settings, diags = DecodeSettings(r.req.Component, r.req.Settings)
	r.resp.Diagnostics = append(r.resp.Diagnostics, diags...)
	if diags.HasErrors() {
		return
	}

	// With no time to wait (time_scale 0), begin and commit are one
	// transaction: one write of the cloud instead of two, which is what
	// makes scale runs on a large cloud bearable.
	instant := r.duration() <= 0
	var (
		done                 *StepRecord
		startFault, endFault *Fault
		refused              error
		committed            bool
		warnings             []string
	)
	err := r.store.Update(ctx, func(c *Cloud, tx *Tx) error {
		if rec, err := r.completed(c); err != nil || rec != nil {
			done, refused = rec, err
			return nil
		}
		if startFault = r.fireFault(c, tx, FaultAtStart); startFault != nil {
			tx.Log(r.event(c, ResultInjectedFault, func(e *Event) { e.Fault = startFault.Mode }))
			return nil
		}
		resumed, err := r.check(c)
		if err != nil {
			refused = err
			r.log(tx, r.event(c, ResultFailed, func(e *Event) { e.Error = err.Error() }))
			return nil
		}
		if instant {
			warnings, endFault = r.commit(c, tx)
			committed = true
			return nil
		}
		if r.req.Kind == sdk.ActionMigrate && !resumed {
			in := c.Instance(r.req.Instance)
			in.Migration = &Migration{To: r.req.Destination, Live: r.req.Live, StepID: r.req.ID, Started: r.p.now().UTC()}
			tx.ChangedInstance(in)
		}
		return nil
	})
	if !r.settled(err, refused, done) {
		return
	}
	if startFault != nil {
		r.injected(ctx, startFault)
		return
	}

	if !committed {
		if err := r.wait(ctx); err != nil {
			r.cancel(ctx, err)
			return
		}
		// The wait is over: commit even if ctx ends now, so a finished
		// action is not thrown away at the last moment.
		err = r.store.Update(context.WithoutCancel(ctx), func(c *Cloud, tx *Tx) error {
			if rec, err := r.completed(c); err != nil || rec != nil {
				// Another run completed the same step meanwhile.
				done, refused = rec, err
				return nil
			}
			if _, err := r.check(c); err != nil {
				refused = err
				r.dropClaim(c, tx)
				r.log(tx, r.event(c, ResultFailed, func(e *Event) { e.Error = err.Error() }))
				return nil
			}
			warnings, endFault = r.commit(c, tx)
			return nil
		})
		if !r.settled(err, refused, done) {
			return
		}
	} else {
		r.resp.Progress(fmt.Sprintf("%s: %s (instant: time_scale is 0)", r.kind, r.describe()), 0)
	}
	for _, w := range warnings {
		r.resp.Diagnostics.AddWarning(r.summary("warning"), w)
	}
	if endFault != nil {
		r.resp.Outputs = nil
		r.injected(ctx, endFault)
		return
	}
	r.resp.Progress(r.kind+" done", 1)
}

// commit applies the action, records its step id, logs it and fires a
// fault at "end". check has just passed under the same lock.
func (r *run) commit(c *Cloud, tx *Tx) (warnings []string, fault *Fault) {
	ev := r.event(c, ResultOK, nil)
	var outputs map[string]string
	outputs, warnings = r.apply(c, tx, &ev)
	if r.req.Kind != sdk.ActionProbe {
		if r.req.ID != "" {
			q := r.req
			tx.recordStep(c, q.ID, &StepRecord{
				Action: r.kind, Host: q.Host, Instance: q.Instance, Component: q.Component,
				Outputs: outputs, Completed: r.p.now().UTC(),
			})
		}
		ev.Warning = strings.Join(warnings, "; ")
		tx.Log(ev)
	}
	r.resp.Outputs = outputs
	if fault = r.fireFault(c, tx, FaultAtEnd); fault != nil {
		tx.Log(r.event(c, ResultInjectedFault, func(e *Event) { e.Fault = fault.Mode }))
	}
	return warnings, fault
}

// settled reports the outcome of a transaction that ended the action (an
// error, a refusal, a step already completed); true means carry on.
func (r *run) settled(err, refused error, done *StepRecord) bool {
	switch {
	case err != nil:
		r.resp.Diagnostics.Errorf(r.summary("failed"), "%v", err)
	case refused != nil:
		r.resp.Diagnostics.Errorf(r.summary("refused"), "%v", refused)
	case done != nil:
		r.resp.Outputs = copyMap(done.Outputs)
		r.resp.Progress(fmt.Sprintf("step %s already completed at %s; nothing to do", r.req.ID, done.Completed.Format(time.RFC3339)), 1)
	default:
		return true
	}
	return false
}

// summary is a diagnostic's summary line.
func (r *run) summary(what string) string {
	return fmt.Sprintf("sim: %s %s", r.kind, what)
}

// completed returns the record of a step id that already completed, or an
// error if the id was used for a different action. Probes are not
// recorded: a check must observe the cloud as it is now.
func (r *run) completed(c *Cloud) (*StepRecord, error) {
	if r.req.ID == "" || r.req.Kind == sdk.ActionProbe {
		return nil, nil
	}
	rec := c.Steps[r.req.ID]
	if rec == nil {
		return nil, nil
	}
	if rec.Action != r.kind || rec.Host != r.req.Host || rec.Instance != r.req.Instance || rec.Component != r.req.Component {
		return nil, refuse("step id %q already completed as %s (host %q, instance %q, component %q); a step id names one action: this is a bug in the plan or a reused id", r.req.ID, rec.Action, rec.Host, rec.Instance, rec.Component)
	}
	return rec, nil
}

// log queues an event, except for probes: health checks may poll, and a
// probe changes nothing (its injected faults are still logged).
func (r *run) log(tx *Tx, e Event) {
	if r.req.Kind != sdk.ActionProbe {
		tx.Log(e)
	}
}

// event starts an event describing this action.
func (r *run) event(c *Cloud, result string, edit func(*Event)) Event {
	e := Event{
		Action: r.kind, StepID: r.req.ID, Host: r.req.Host, Instance: r.req.Instance,
		Component: r.req.Component, Result: result,
	}
	switch r.req.Kind {
	case sdk.ActionMigrate:
		live := r.req.Live
		e.Live = &live
		e.To = r.req.Destination
		if in := c.Instance(r.req.Instance); in != nil {
			e.From = in.Host
			if e.Host == "" {
				e.Host = in.Host
			}
		}
	case sdk.ActionUpgrade, sdk.ActionRollback:
		e.From, e.To = r.req.FromVersion, r.req.ToVersion
		if r.req.Kind == sdk.ActionRollback {
			e.From, e.To = r.req.ToVersion, r.req.FromVersion
		}
	case sdk.ActionVerify:
		e.To = r.req.ToVersion
	case sdk.ActionEnterMaintenance, sdk.ActionLeaveMaintenance:
		e.Reason = r.reason()
	case sdk.ActionRestore:
		e.BackupID = r.req.BackupID
	}
	if edit != nil {
		edit(&e)
	}
	return e
}

// reason is the maintenance reason; one that names the step when the
// caller gave none, so the host still says who disabled it.
func (r *run) reason() string {
	if r.req.Reason != "" {
		return r.req.Reason
	}
	if r.req.Kind == sdk.ActionLeaveMaintenance {
		return ""
	}
	return "escalator step " + r.req.ID
}

// duration is the wall-clock time this action takes.
func (r *run) duration() time.Duration {
	switch r.req.Kind {
	case sdk.ActionMigrate:
		if r.req.Live {
			return r.cfg.Scaled(DurMigrateLive)
		}
		return r.cfg.Scaled(DurMigrateCold)
	}
	return r.cfg.Scaled(r.kind)
}

// wait lets the simulated duration pass, reporting progress four times.
func (r *run) wait(ctx context.Context) error {
	d := r.duration()
	what := r.describe()
	r.resp.Progress(fmt.Sprintf("%s: %s (simulated %s)", r.kind, what, r.cfg.Durations[r.durationKey()]), 0)
	if d <= 0 {
		return ctx.Err()
	}
	const steps = 4
	t := time.NewTimer(d / steps)
	defer t.Stop()
	for i := 1; i <= steps; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if i < steps {
			r.resp.Progress(fmt.Sprintf("%s: %s", r.kind, what), float64(i)/steps)
			t.Reset(d / steps)
		}
	}
	return nil
}

func (r *run) durationKey() string {
	if r.req.Kind == sdk.ActionMigrate {
		if r.req.Live {
			return DurMigrateLive
		}
		return DurMigrateCold
	}
	return r.kind
}

// describe is a progress message's object.
func (r *run) describe() string {
	q := r.req
	switch q.Kind {
	case sdk.ActionMigrate:
		mode := "cold"
		if q.Live {
			mode = "live"
		}
		return fmt.Sprintf("%s-migrating instance %s to %s", mode, q.Instance, q.Destination)
	case sdk.ActionUpgrade:
		s := fmt.Sprintf("upgrading %s on %s to %s", q.Component, q.Host, q.ToVersion)
		if len(r.settings.Packages) > 0 {
			s += " (packages " + strings.Join(r.settings.Packages, ", ") + ")"
		}
		return s
	case sdk.ActionRollback:
		return fmt.Sprintf("rolling %s on %s back to %s", q.Component, q.Host, q.FromVersion)
	case sdk.ActionRestore:
		return fmt.Sprintf("restoring backup %s", q.BackupID)
	case sdk.ActionProbe:
		return fmt.Sprintf("probe %s on %s", q.Probe, q.Host)
	}
	s := "host " + q.Host
	if q.Component != "" {
		s += ", component " + q.Component
	}
	return s
}

// cancel handles a wait cut short: the claim of a migration is dropped so
// the cloud is as before the call, and the cancellation is logged.
func (r *run) cancel(ctx context.Context, cause error) {
	uctx, stop := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.LockTimeout)
	defer stop()
	err := r.store.Update(uctx, func(c *Cloud, tx *Tx) error {
		r.dropClaim(c, tx)
		r.log(tx, r.event(c, ResultCancelled, func(e *Event) { e.Error = cause.Error() }))
		return nil
	})
	detail := fmt.Sprintf("%s was interrupted (%v) before it changed the cloud; nothing was changed.", r.describe(), cause)
	if err != nil {
		detail += fmt.Sprintf(" Recording the cancellation failed: %v", err)
	}
	r.resp.Diagnostics.AddError(r.summary("cancelled"), detail)
}

// dropClaim ends this step's migration claim, if it holds one.
func (r *run) dropClaim(c *Cloud, tx *Tx) {
	if r.req.Kind != sdk.ActionMigrate {
		return
	}
	if in := c.Instance(r.req.Instance); in != nil && in.Migration != nil && in.Migration.StepID == r.req.ID {
		in.Migration = nil
		tx.ChangedInstance(in)
	}
}

// injected acts out a fault that fired. The event is already logged and
// the counter persisted.
func (r *run) injected(ctx context.Context, f *Fault) {
	detail := fmt.Sprintf("Injected fault (mode %s, at %s) on %s, as the provider's fault block (action %q, host %q, instance %q) asks.", f.Mode, f.At, r.describe(), f.Action, f.Host, f.Instance)
	if f.Mode != FaultCrash {
		slog.WarnContext(ctx, detail)
	}
	switch f.Mode {
	case FaultHang:
		r.resp.Progress(r.kind+": hanging (injected fault) until escalator's deadline", -1)
		<-ctx.Done()
		r.resp.Diagnostics.AddError(r.summary("hung"), detail+fmt.Sprintf(" It hung until %v.", ctx.Err()))
	case FaultCrash:
		// Logged before exiting: the log line is all escalator gets to
		// tell an injected crash from a real one.
		slog.ErrorContext(ctx, fmt.Sprintf("%s Exiting with status %d.", detail, CrashExitCode))
		r.p.exit(CrashExitCode)
		// Reached only when a test replaced exit.
		r.resp.Diagnostics.AddError(r.summary("crashed"), detail)
	default:
		r.resp.Diagnostics.AddError(r.summary("failed (injected fault)"), detail)
	}
}

// fireFault finds the first fault block that matches this action and
// fires, counting it in the cloud file. With a rate, the draw is a hash of
// the seed, the block and how many calls it has matched: deterministic
// across processes and runs, as the count is persisted.
func (r *run) fireFault(c *Cloud, tx *Tx, at string) *Fault {
	host := r.req.Host
	if r.req.Kind == sdk.ActionMigrate {
		if in := c.Instance(r.req.Instance); in != nil {
			host = in.Host
		}
	}
	for i := range r.cfg.Faults {
		f := &r.cfg.Faults[i]
		if f.At != at || (f.Action != "*" && f.Action != r.kind) ||
			(f.Host != "" && f.Host != host) || (f.Instance != "" && f.Instance != r.req.Instance) {
			continue
		}
		if n := c.Faults[f.key]; n != nil && f.Times > 0 && n.Injected >= f.Times {
			continue
		}
		n := tx.faultCount(c, f.key)
		n.Matched++
		if f.Rate > 0 && draw(r.cfg.Seed, f.key, n.Matched) >= f.Rate {
			continue
		}
		n.Injected++
		return f
	}
	return nil
}

// draw is a uniform number in [0, 1) determined by its arguments.
func draw(seed int64, key string, n int) float64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], uint64(n))
	h.Write(b[:])
	h.Write([]byte(key))
	// splitmix64's finaliser spreads FNV's weak low bits.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
