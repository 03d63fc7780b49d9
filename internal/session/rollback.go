package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/escalator-nfv/escalator/internal/destination"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

// RollbackOptions say how a run is reversed.
type RollbackOptions struct {
	// Restore restores components from their backups instead of
	// downgrading them, where a backup was taken.
	Restore bool
	// AllowCold allows cold migrations where no live one can be done.
	AllowCold   bool
	Parallelism int
	// Drain, Start and Observe are as in ApplyOptions.
	Drain   <-chan struct{}
	Start   func(runID string, p *plans.Plan)
	Observe func(state.Event)
}

// RollbackTarget returns the run escalator rollback would reverse, or an
// error saying why there is none.
func RollbackTarget(st *state.State) (*state.Run, error) {
	if st == nil || st.Run == nil {
		return nil, errors.New("there is no run to roll back: escalator apply has not run on this campaign")
	}
	if st.Run.Status == state.RunRolledBack {
		return nil, fmt.Errorf("run %s is already rolled back; nothing to do", st.Run.ID)
	}
	return st.Run, nil
}

// Rollback reverses the state's last run under the lock: every host it
// touched, newest first. It is resumable: an interrupted rollback goes on
// where it stopped, and from then on the run is only rolled back (apply
// refuses to continue it).
func (s *Session) Rollback(ctx context.Context, b state.Backend, lock state.Lock, opts RollbackOptions) (*ApplyResult, diags.Diagnostics) {
	var ds diags.Diagnostics
	st, err := state.Load(ctx, b)
	if err != nil {
		return nil, ds.Append(err)
	}
	run, err := RollbackTarget(st)
	if err != nil {
		return nil, ds.Append(err)
	}
	f, err := plans.Read(planCopyPath(b, s.Config, run.ID))
	if err != nil {
		return nil, ds.Append(fmt.Errorf("roll back run %s: %w", run.ID, err))
	}
	j, err := b.ReadJournal(ctx, run.ID)
	if err != nil {
		return nil, ds.Append(err)
	}
	rec := &recorder{b: b, lock: lock, observe: opts.Observe}
	if opts.Start != nil {
		opts.Start(run.ID, f.Plan)
	}
	if err := rec.Record(ctx, state.Event{RunID: run.ID, Kind: state.KindRunResumed, Action: state.ActionRollback}); err != nil {
		return nil, ds.Append(err)
	}
	eng := s.newEngine(run.ID, f.Plan, j, rec, opts.Parallelism)
	eng.AllowCold, eng.Drain = opts.AllowCold, opts.Drain
	out, err := eng.Rollback(ctx, opts.Restore)
	res := &ApplyResult{RunID: run.ID, Resumed: true, Outcome: out}
	return res, s.finish(ctx, b, lock, rec, run.ID, out, err, state.KindRunRolledBack, ds)
}

// placer picks destinations from a fresh inventory (engine.Placer).
type placer struct{ s *Session }

func (p *placer) picker(ctx context.Context) (*destination.Picker, error) {
	snap, ds := p.s.Refresh(ctx)
	if ds.HasErrors() {
		return nil, fmt.Errorf("read the inventory to pick a destination: %w", ds.Err())
	}
	return destination.New(snap), nil
}

func (p *placer) Repick(ctx context.Context, instance, source string, avoid, prefer map[string]bool) (string, error) {
	pk, err := p.picker(ctx)
	if err != nil {
		return "", err
	}
	return pk.Pick(instance, destination.Options{Avoid: avoid, Prefer: prefer})
}

// Locate returns the host an instance is on, "" when it is gone.
func (p *placer) Locate(ctx context.Context, instance string) (string, error) {
	snap, ds := p.s.Refresh(ctx)
	if ds.HasErrors() {
		return "", fmt.Errorf("read the inventory to find instance %s: %w", instance, ds.Err())
	}
	if in, ok := snap.Instance(instance); ok {
		return in.Host, nil
	}
	return "", nil
}

// Evacuation moves each instance live where it can (a destination not
// running an older version of req.KeepVersions), else cold when allowed.
func (p *placer) Evacuation(ctx context.Context, req engine.EvacuationRequest) ([]plans.Move, error) {
	snap, ds := p.s.Refresh(ctx)
	if ds.HasErrors() {
		return nil, fmt.Errorf("read the inventory to empty %s: %w", req.Host, ds.Err())
	}
	pk := destination.New(snap)
	var moves []plans.Move
	for _, in := range snap.InstancesOn(req.Host) {
		live := req.Live && in.Status == "ACTIVE" && in.LiveMigratable
		opts := destination.Options{Shun: req.Later}
		if live {
			opts.NotOlder = req.KeepVersions
		}
		to, err := pk.Pick(in.ID, opts)
		if err != nil && live && req.AllowCold {
			opts.NotOlder, live = nil, false
			to, err = pk.Pick(in.ID, opts)
		}
		if err != nil {
			if live {
				err = fmt.Errorf("%w. Moving it cold (a restart) would work: allow it with escalator rollback -allow-cold, or evacuate { fallback_to_cold = true }", err)
			}
			return nil, err
		}
		moves = append(moves, plans.Move{Instance: in.ID, Name: in.Name, Project: in.Project, ServerGroup: in.ServerGroup,
			From: req.Host, To: to, Live: live, VCPUs: in.Resources.VCPUs, MemoryMB: in.Resources.MemoryMB})
	}
	return moves, nil
}
