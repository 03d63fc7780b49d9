package engine

import (
	"context"
	"fmt"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

// visit is one host visit of the plan with its rollout.
type visit struct {
	r  *config.Rollout
	w  *plans.Wave
	hv *plans.HostVisit
}

// touched returns the visits whose current attempt the run started (it
// entered maintenance, or tried to), newest first: the reverse of the
// plan's order, which is the order hosts were worked on. A host already
// rolled back is on a new attempt that has not started, so it is not
// listed again.
func (e *Engine) touched() []visit {
	var out []visit
	for i := len(e.Plan.Rollouts) - 1; i >= 0; i-- {
		rp := e.Plan.Rollouts[i]
		r := e.Config.Rollouts[rp.Name]
		for j := len(rp.Waves) - 1; j >= 0; j-- {
			w := rp.Waves[j]
			for k := len(w.Hosts) - 1; k >= 0; k-- {
				hv := w.Hosts[k]
				id := e.hostStep(w, hv, "enter_maintenance")
				rid := "rollback/" + e.hostKey(hv.Host) + "/enter_maintenance"
				if e.isDone(id) || e.wasStarted(id) || e.wasStarted(rid) {
					out = append(out, visit{r, w, hv})
				}
			}
		}
	}
	return out
}

// rollbackVisits rolls the visits back one host at a time, in the order
// given. Instances a rollback moves avoid the hosts still to be rolled
// back, so that they do not move twice.
func (e *Engine) rollbackVisits(ctx context.Context, vs []visit, restore bool) error {
	for i, v := range vs {
		later := map[string]bool{}
		for _, l := range vs[i+1:] {
			later[l.hv.Host] = true
		}
		if err := e.rollbackHost(ctx, v.r, v.w, v.hv, restore, later); err != nil {
			return fmt.Errorf("roll back host %s: %w", v.hv.Host, err)
		}
	}
	return nil
}

// Rollback reverses the run: every host it touched, newest first, is put
// back on the versions it had before the run (or, with restore, restored
// from its backups) and back in service. It is resumable like Run: steps
// that finished are not run again.
func (e *Engine) Rollback(ctx context.Context, restore bool) (*Outcome, error) {
	e.defaults()
	for _, rp := range e.Plan.Rollouts {
		if e.Config.Rollouts[rp.Name] == nil {
			return nil, fmt.Errorf("the run's rollout %q is not in the campaign any more; put it back to roll the run back", rp.Name)
		}
	}
	vs := e.touched()
	if err := e.rollbackVisits(ctx, vs, restore); err != nil {
		if ctx.Err() != nil {
			return &Outcome{Status: state.RunHalted, Message: err.Error()}, ctx.Err()
		}
		return &Outcome{Status: state.RunHalted, Message: err.Error() + ". The hosts not rolled back yet are as the run left them; fix the cause and run escalator rollback again"}, nil
	}
	return &Outcome{Status: state.RunRolledBack, Message: fmt.Sprintf("%d hosts rolled back", len(vs))}, nil
}
