package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

// Data keys of the notes recording a VNF manager's choices, so that a
// resumed run keeps them: the instance it took over, and the scope of
// that choice (the wave "w3", or the rollback of a host "rollback/h1"):
// a choice answers one notification, not the run.
const (
	DataOwnAction = "own_action"
	DataOwnScope  = "scope"
	ownActionPoll = 2 * time.Second
)

// OwnKey is the key of Engine.Own for an instance taken over in scope.
func OwnKey(scope, instance string) string { return scope + "|" + instance }

// scopeOf is the scope of a step id: its wave ("w3") or its rollback
// ("rollback/h1").
func scopeOf(stepID string) string {
	parts := strings.SplitN(stepID, "/", 3)
	if parts[0] == "rollback" && len(parts) > 1 {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// Host-level events (Fenix's "maintenance.host"): no reply is awaited.
const (
	EventInMaintenance = "in_maintenance"
	EventHostComplete  = "host_complete"
)

// actionOwn is vnfm.ActionOwn (the engine does not import the wire
// protocol).
const actionOwn = "OWN_ACTION"

// notifyBlock returns the campaign's notify block for a plan notification.
func (e *Engine) notifyBlock(n plans.Notification) *config.Notify {
	for _, r := range e.Config.Rollouts {
		for _, nb := range r.Notify {
			if nb.Name == n.Notify && nb.URL == n.URL {
				return nb
			}
		}
	}
	return nil
}

// hostInstances lists the instances of n's projects among moves off host.
func hostInstances(n plans.Notification, host string, moves []plans.Move) []NotifiedInstance {
	var out []NotifiedInstance
	for _, m := range moves {
		if len(n.Projects) == 0 || contains(n.Projects, m.Project) {
			out = append(out, NotifiedInstance{ID: m.Instance, Name: m.Name, Host: host, Destination: m.To, Live: m.Live})
		}
	}
	return out
}

// waveInstances lists the instances of n's projects that the wave moves.
func waveInstances(n plans.Notification, hvs []*plans.HostVisit) []NotifiedInstance {
	var out []NotifiedInstance
	for _, hv := range hvs {
		out = append(out, hostInstances(n, hv.Host, hv.Moves)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// notifyWave tells each VNF manager about the wave's instances of its
// projects before any of them moves, and waits for the replies (notify
// blocks with wait) and the lead time. It returns the hosts that must not
// be worked on, with why: their VNF manager refused (NACK), or did not
// reply and says on_timeout = "fail_host".
func (e *Engine) notifyWave(ctx context.Context, r *config.Rollout, w *plans.Wave) (map[string]error, error) {
	refused := map[string]error{}
	// ready is when the first move may happen: each VNF manager gets its
	// lead_time counted from when it answered (or, when escalator does not
	// wait, from when it was told), whatever the others took.
	var ready time.Time
	for _, n := range w.Notify {
		insts := waveInstances(n, w.Hosts)
		if len(insts) == 0 {
			continue
		}
		nb := e.notifyBlock(n)
		var lead time.Duration
		if nb != nil {
			lead = nb.LeadTime.D()
		}
		id := fmt.Sprintf("w%d/notify/%s/maintenance", w.Number, n.Notify)
		msg := Notification{ID: e.providerID(id), RunID: e.RunID, Wave: w.Number, Event: "maintenance", Projects: n.Projects, Instances: insts,
			NotBefore: e.Now().Add(lead)}
		for _, hv := range w.Hosts {
			msg.Hosts = append(msg.Hosts, hv.Host)
		}
		done := e.isDone(id)
		err := e.tell(ctx, id, n, msg)
		if t := e.Now().Add(lead); lead > 0 && !done && t.After(ready) {
			ready = t
		}
		var refusal *refusalError
		switch {
		case err == nil:
		case errors.As(err, &refusal):
			for _, in := range insts {
				refused[in.Host] = err
			}
		case errors.Is(err, ErrDrained):
			return nil, err
		default:
			return nil, &haltError{msg: fmt.Sprintf("notifying VNF manager %q before wave %d failed: %v (on_timeout = %q); nothing of the wave was touched", n.Notify, w.Number, err, n.OnTimeout)}
		}
	}
	if wait := ready.Sub(e.Now()); wait > 0 && len(refused) < len(w.Hosts) {
		// The VNF managers were promised lead_time before the first move.
		id := fmt.Sprintf("w%d/lead_time", w.Number)
		if err := e.step(ctx, id, "", "", "lead_time", func(ctx context.Context) error { return e.Sleep(ctx, wait) }); err != nil {
			return nil, err
		}
	}
	return refused, nil
}

// refusalError is a VNF manager's refusal (or silence with on_timeout =
// "fail_host"): its hosts fail, the others go on.
type refusalError struct{ msg string }

func (e *refusalError) Error() string { return e.msg }

// tell sends one maintenance notification as a journaled step and applies
// the reply: a refusal fails the step (so a resumed run asks again) and
// returns a *refusalError; OWN_ACTION choices are recorded.
func (e *Engine) tell(ctx context.Context, id string, n plans.Notification, msg Notification) error {
	return e.step(ctx, id, "", "", "notify", func(ctx context.Context) error {
		if e.Notifier == nil {
			return nil
		}
		reply, err := e.Notifier.Notify(ctx, n, msg)
		if errors.Is(err, ErrNoReply) {
			switch n.OnTimeout {
			case config.OnTimeoutProceed:
				_ = e.record(ctx, state.Event{Kind: state.KindAlert, StepID: id, Code: state.CodeVNFMNoReply,
					Message: fmt.Sprintf("VNF manager %q gave no reply (%v; reply_timeout %s); proceeding (on_timeout = \"proceed\")", n.Notify, err, n.ReplyTimeout)})
				return nil
			case config.OnTimeoutFailHost:
				return &refusalError{fmt.Sprintf("VNF manager %q gave no reply (%v) and on_timeout = \"fail_host\"", n.Notify, err)}
			}
			return err
		}
		if err != nil {
			return err
		}
		if reply != nil && !reply.Ack {
			return &refusalError{fmt.Sprintf("VNF manager %q refused the maintenance (NACK): %s", n.Notify, reply.Reason)}
		}
		if reply != nil {
			listed := map[string]bool{}
			for _, in := range msg.Instances {
				listed[in.ID] = true
			}
			var own []string
			for inst, a := range reply.Actions {
				// Only instances this notification named can be taken over.
				if a == actionOwn && listed[inst] {
					own = append(own, inst)
				}
			}
			sort.Strings(own)
			for _, inst := range own {
				if err := e.record(ctx, state.Event{Kind: state.KindNote, StepID: id, Code: state.CodeOwnAction, Data: map[string]string{DataOwnAction: inst, DataOwnScope: scopeOf(id)},
					Message: fmt.Sprintf("VNF manager %q takes instance %s over (OWN_ACTION): escalator waits for it to leave its host instead of migrating it", n.Notify, inst)}); err != nil {
					return err
				}
				e.mu.Lock()
				e.Own[OwnKey(scopeOf(id), inst)] = true
				e.mu.Unlock()
			}
		}
		return nil
	})
}

// notifyAvailable tells each VNF manager that the wave's hosts (but the
// failed ones) are back in service, with their new versions, so it can
// put workloads back on upgraded capacity. No reply is awaited.
func (e *Engine) notifyAvailable(ctx context.Context, w *plans.Wave, failed []string) error {
	for _, n := range w.Notify {
		insts := waveInstances(n, w.Hosts)
		if len(insts) == 0 {
			continue
		}
		id := fmt.Sprintf("w%d/notify/%s/available", w.Number, n.Notify)
		msg := Notification{ID: e.providerID(id), RunID: e.RunID, Wave: w.Number, Event: "available", Projects: n.Projects, Instances: insts,
			Versions: map[string]map[string]string{}}
		for _, hv := range w.Hosts {
			if contains(failed, hv.Host) {
				continue
			}
			msg.Hosts = append(msg.Hosts, hv.Host)
			vs := map[string]string{}
			for _, ch := range hv.Changes {
				vs[ch.Component] = ch.To
			}
			msg.Versions[hv.Host] = vs
		}
		if len(msg.Hosts) == 0 {
			continue // nothing of the wave came back upgraded
		}
		err := e.step(ctx, id, "", "", "notify", func(ctx context.Context) error {
			if e.Notifier == nil {
				return nil
			}
			_, err := e.Notifier.Notify(ctx, n, msg)
			if err != nil {
				// The work is done; a VNF manager that missed this can
				// read the hosts' state. Say so and go on.
				_ = e.record(ctx, state.Event{Kind: state.KindAlert, StepID: id, Code: state.CodeVNFMNoReply,
					Message: fmt.Sprintf("VNF manager %q was not told that wave %d is done: %v", n.Notify, w.Number, err)})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// notifyHostState tells the VNF managers whose instances the plan moves
// off one host what that host is doing (Fenix's host-level states): that
// it is empty and in maintenance (EventInMaintenance, before its first
// backup or upgrade), or back in service with its new versions
// (EventHostComplete). Each is a journaled step, sent once per attempt at
// the host; nothing waits for a reply, and a VNF manager that cannot be
// reached gets an alert, never a failed or held host.
func (e *Engine) notifyHostState(ctx context.Context, w *plans.Wave, hv *plans.HostVisit, event string) error {
	for _, n := range w.Notify {
		insts := hostInstances(n, hv.Host, hv.Moves)
		if len(insts) == 0 {
			continue
		}
		id := e.hostStep(w, hv, "notify", n.Notify, event)
		msg := Notification{ID: e.providerID(id), RunID: e.RunID, Wave: w.Number, Event: event, Hosts: []string{hv.Host}, Projects: n.Projects, Instances: insts}
		if event == EventHostComplete {
			vs := map[string]string{}
			for _, ch := range hv.Changes {
				vs[ch.Component] = ch.To
			}
			msg.Versions = map[string]map[string]string{hv.Host: vs}
		}
		err := e.step(ctx, id, hv.Host, "", "notify", func(ctx context.Context) error {
			if e.Notifier == nil {
				return nil
			}
			if _, err := e.Notifier.Notify(ctx, n, msg); err != nil {
				_ = e.record(ctx, state.Event{Kind: state.KindAlert, StepID: id, Host: hv.Host, Code: state.CodeVNFMNoReply,
					Message: fmt.Sprintf("VNF manager %q was not told that %s is %s: %v", n.Notify, hv.Host, hostEventWords[event], err)})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

var hostEventWords = map[string]string{EventInMaintenance: "in maintenance", EventHostComplete: "back in service"}

// notifyHost tells the VNF managers of the moved instances' projects that
// they move off host outside the plan's waves: when a rollback empties a
// host again. A refusal stops that host's rollback.
func (e *Engine) notifyHost(ctx context.Context, w *plans.Wave, host string, moves []plans.Move, rid func(...string) string, event string) error {
	for _, n := range w.Notify {
		insts := hostInstances(n, host, moves)
		if len(insts) == 0 {
			continue
		}
		id := rid("notify", n.Notify, event)
		msg := Notification{ID: e.providerID(id), RunID: e.RunID, Wave: w.Number, Event: event, Hosts: []string{host}, Projects: n.Projects, Instances: insts}
		if err := e.tell(ctx, id, n, msg); err != nil {
			return fmt.Errorf("notify VNF manager %q before moving instances off %s: %w", n.Notify, host, err)
		}
	}
	return nil
}

// isOwn reports whether a VNF manager took the instance over for the
// notification of scope.
func (e *Engine) isOwn(scope, instance string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Own[OwnKey(scope, instance)]
}

// awaitOwnAction waits, as a journaled step, for an instance its VNF
// manager took over to leave host (moved or removed by the VNF manager),
// at most the notify block's own_action_timeout.
func (e *Engine) awaitOwnAction(ctx context.Context, id, host, instance string, timeout time.Duration) error {
	return e.step(ctx, id, host, "", "own_action", func(ctx context.Context) error {
		if e.Placer == nil {
			return fmt.Errorf("instance %s was taken over by its VNF manager (OWN_ACTION), and this escalator cannot read where instances are to wait for it", instance)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for {
			at, err := e.Placer.Locate(ctx, instance)
			if err == nil && at != host {
				return nil
			}
			if err := e.Sleep(ctx, ownActionPoll); err != nil {
				if ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
					return fmt.Errorf("instance %s, taken over by its VNF manager (OWN_ACTION), is still on %s after %s (own_action_timeout)", instance, host, timeout)
				}
				return err
			}
		}
	})
}

// ownActionTimeout is the longest own_action_timeout of the notify
// blocks whose projects include project (every block lists who may take
// instances over), or the default.
func (e *Engine) ownActionTimeout(project string) time.Duration {
	d := time.Duration(0)
	for _, r := range e.Config.Rollouts {
		for _, nb := range r.Notify {
			if (len(nb.Projects) == 0 || contains(nb.Projects, project)) && nb.OwnActionTimeout.D() > d {
				d = nb.OwnActionTimeout.D()
			}
		}
	}
	if d == 0 {
		d = config.DefaultOwnActionTimeout.D()
	}
	return d
}
