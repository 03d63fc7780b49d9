package vnfm

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

// OwnAction is a move the VNF manager makes itself after replying
// OWN_ACTION for an instance.
//
// How: a migration through the sim provider, in this process. The sim
// has no action that deletes or creates an instance; delete-and-recreate
// would mean editing the cloud by hand (the instance, its server group's
// members), bypassing every rule, and an instance that vanishes is, to
// the end-to-end invariant checker, a lost instance. A migration is
// checked like escalator's (the destination is up and has room, the
// anti-affinity group holds), is logged under a step id that names this
// VNF manager, and leaves the instance's identity as it was.
//
// When: once escalator has put the instance's host in maintenance. Until
// then the host is in service: the notification is a promise that
// maintenance comes, not that it has started, and the VNF manager keeps
// serving from the switched-over pair meanwhile. Moving then also means
// escalator is already waiting for the instance to leave (its
// own_action step), which is the wait the protocol describes.
//
// Where: the destination escalator planned for the instance, which the
// rest of the plan counts on (an instance left where the plan does not
// expect it would block a later host's upgrade); failing that, any host in
// service outside the notification's hosts, roomiest first.
type OwnAction struct {
	Instance     string `json:"instance"`
	Notification string `json:"notification"`
	// Host is where the instance was; Planned is escalator's planned
	// destination; Avoid are the notification's hosts.
	Host    string   `json:"host"`
	Planned string   `json:"planned,omitempty"`
	Avoid   []string `json:"avoid,omitempty"`
	// Started is when the VNF manager began (after its reply); Moved is
	// when the migration completed, to To.
	Started time.Time `json:"started"`
	Moved   time.Time `json:"moved,omitzero"`
	To      string    `json:"to,omitempty"`
	// StepID is the sim step id of the migration.
	StepID string `json:"step_id,omitempty"`
	// Note says what happened when no move was needed; Error why the move
	// failed (escalator's own_action_timeout then fails the host).
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
}

// startOwn runs the own moves in the background.
func (m *Manager) startOwn(own []*OwnAction) {
	for _, a := range own {
		m.mu.Lock()
		a.Started = m.cfg.Now()
		m.own = append(m.own, a)
		m.mu.Unlock()
		m.background(func() { m.runOwn(a) })
	}
}

// runOwn waits for a's host to enter maintenance, then migrates the
// instance off it.
func (m *Manager) runOwn(a *OwnAction) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.OwnActionTimeout)
	defer cancel()
	set := func(f func()) {
		m.mu.Lock()
		defer m.mu.Unlock()
		f()
	}
	var (
		cands []string
		live  bool
		gone  string
	)
	for {
		var inMaintenance bool
		err := m.store.View(ctx, func(c *sim.Cloud) error {
			in := c.Instance(a.Instance)
			switch {
			case in == nil:
				gone = "the instance is gone from the cloud"
				return nil
			case in.Host != a.Host:
				gone = "the instance already left " + a.Host + " (it is on " + in.Host + ")"
				return nil
			}
			h := c.Host(a.Host)
			inMaintenance = h != nil && h.State == sim.StateMaintenance
			if inMaintenance {
				live = in.LiveMigratable && (in.Status == sim.StatusActive || in.Status == sim.StatusPaused)
				cands = candidates(c, a)
			}
			return nil
		})
		if err != nil {
			set(func() { a.Error = fmt.Sprintf("read the cloud: %v", err) })
			return
		}
		if gone != "" {
			set(func() { a.Note = gone })
			return
		}
		if inMaintenance {
			break
		}
		if err := sleep(ctx, m.cfg.Poll); err != nil {
			set(func() {
				a.Error = fmt.Sprintf("host %s did not enter maintenance within %s (%v); the instance was not moved", a.Host, m.cfg.OwnActionTimeout, err)
			})
			return
		}
	}
	var refusals []string
	for _, to := range cands {
		id := fmt.Sprintf("%s/%s/own_action/%s/%s", m.cfg.Name, a.Notification, a.Instance, to)
		var resp sdk.ExecuteActionResponse
		m.sim.ExecuteAction(ctx, sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionMigrate, Host: a.Host, Instance: a.Instance, Destination: to, Live: live}, &resp)
		if !resp.Diagnostics.HasErrors() {
			set(func() { a.Moved, a.To, a.StepID = m.cfg.Now(), to, id })
			m.cfg.Logger.Info("own action done", "instance", a.Instance, "from", a.Host, "to", to)
			return
		}
		refusals = append(refusals, to+": "+diagText(resp.Diagnostics))
		if ctx.Err() != nil {
			break
		}
	}
	set(func() {
		a.Error = fmt.Sprintf("no host took instance %s off %s: %v", a.Instance, a.Host, refusals)
	})
	m.cfg.Logger.Warn("own action failed", "instance", a.Instance, "error", a.Error)
}

// candidates orders the destinations to try: the planned one, then the
// hosts in service outside the notification's, with the most free vCPU
// first. The sim refuses those that do not fit.
func candidates(c *sim.Cloud, a *OwnAction) []string {
	avoid := map[string]bool{a.Host: true}
	for _, h := range a.Avoid {
		avoid[h] = true
	}
	var out []string
	if a.Planned != "" && !avoid[a.Planned] {
		out = append(out, a.Planned)
		avoid[a.Planned] = true
	}
	used := c.UsedByHost()
	var rest []*sim.Host
	for _, h := range c.Hosts {
		if !avoid[h.Name] && (h.State == sim.StateUp || h.State == "") {
			rest = append(rest, h)
		}
	}
	free := func(h *sim.Host) int64 { return h.Capacity.VCPUs - used[h.Name].VCPUs }
	sort.SliceStable(rest, func(i, j int) bool {
		if free(rest[i]) != free(rest[j]) {
			return free(rest[i]) > free(rest[j])
		}
		return rest[i].Name < rest[j].Name
	})
	for _, h := range rest {
		out = append(out, h.Name)
	}
	return out
}
