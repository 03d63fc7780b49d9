// Package e2e is escalator's end-to-end suite: it builds the real
// escalator binary and the sim provider plugin, runs upgrade campaigns
// against generated sim clouds (full upgrades, failure policies, canary
// pauses, stale plans, concurrent applies, kill -9 at many points followed
// by a resume), and after every run checks the invariants of a smooth
// upgrade over what the cloud recorded: see Check.
//
// The scenarios carry the build tag e2e (they start processes and take a
// couple of minutes): run them with
//
//	make e2e-apply      # go test -tags e2e -count=1 ./testing/e2e/
//
// The invariant checker itself and its unit tests build without the tag,
// so "go test ./..." checks the checker.
package e2e

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

// Invariant names, as they appear in Violation.Invariant.
const (
	// InstanceLost: an instance of the initial cloud is missing at the
	// end, is on an unknown host, changed status (left stopped) or is
	// left with a migration in flight.
	InstanceLost = "instance_lost"
	// BudgetExceeded: more members of one guarded server group were
	// impacted (migrating, or on a host in maintenance) at one instant
	// than the guard allows.
	BudgetExceeded = "anti_affinity_budget"
	// Colocated: two members of a hard anti-affinity group on one host.
	Colocated = "anti_affinity_colocated"
	// MovedTwice: an instance migrated more often than the campaign
	// allows (once, by default).
	MovedTwice = "moved_twice"
	// LeftInMaintenance: a host is in maintenance at the end and the
	// scenario's failure policy does not say it may be.
	LeftInMaintenance = "left_in_maintenance"
	// NotNotified: an instance migrated before its VNF manager was told
	// (and replied) that maintenance was coming.
	NotNotified = "not_notified"
	// NotInMaintenance: a host was changed (an instance migrated off it,
	// a component upgraded, rolled back or restored) while it was in
	// service, not in maintenance.
	NotInMaintenance = "not_in_maintenance"
	// StepRedone: the journal shows a step started again after it had
	// finished OK.
	StepRedone = "step_redone"
	// SimStepTwice: the sim committed one step id twice.
	SimStepTwice = "sim_step_twice"
	// StatusMismatch: escalator's state (escalator status) says a host is
	// at other versions, or in another service state, than the cloud.
	StatusMismatch = "status_mismatch"
	// LogInconsistent: the event log does not explain the final cloud (or
	// contradicts itself): a change was made without being logged or
	// recorded.
	LogInconsistent = "log_inconsistent"
)

// Notification is one maintenance notification a VNF manager received,
// as the e2e webhook recorder saw it.
type Notification struct {
	// Received is when the request arrived, Replied when the answer was
	// sent (the engine proceeds after that).
	Received, Replied time.Time
	RunID             string   `json:"session_id"`
	Wave              int      `json:"wave"`
	State             string   `json:"state"`
	Hosts             []string `json:"hosts"`
	Instances         []string `json:"instance_ids"`
	Projects          []string `json:"projects"`
	// Event is "maintenance" for PLANNED_MAINTENANCE, "available" for
	// the wave's MAINTENANCE_COMPLETE, "host" for a host-level
	// notification (set by whoever records the notification).
	Event string `json:"-"`
}

// Input is what the checker reads.
type Input struct {
	// Initial is the cloud before the campaign. Required.
	Initial *sim.Cloud
	// Final is the cloud file at the end: the truth about where
	// instances are. When nil, the end state is the replay of Events.
	// When set, changes it records by step id that the event log lost (a
	// process killed between the cloud write and the log append, which
	// the sim documents) are recovered from its step records.
	Final *sim.Cloud
	// Events is the sim's event log.
	Events []sim.Event
	// Journal holds the escalator journal events of the runs (any number
	// of runs, each in Seq order). Optional: it gives migration intervals
	// (a migration impacts its instance from its step's start), the
	// "no step redone" check, and the notification check when
	// Notifications is nil.
	Journal []state.Event
	// Notifications are what the VNF managers received. When nil, a
	// migration must follow an OK maintenance notify step of its wave in
	// the journal instead; with neither, notification is not checked.
	Notifications []Notification
	// Budget is how many members of one guarded group may be impacted at
	// once (the server_group guard's max_unavailable); 0 means 1.
	Budget int
	// GuardedPolicies are the server group policies the guard covers; nil
	// means hard and soft anti-affinity.
	GuardedPolicies []string
	// AllowMaintenance lists hosts the scenario's policy may leave in
	// maintenance (on_failure halt).
	AllowMaintenance []string
	// MaxMoves is how many times one instance may migrate over the whole
	// campaign; 0 means 1 (never twice).
	MaxMoves int
	// Status is escalator's state after the run (escalator status
	// -json). Optional; with Final, every host it lists must have the
	// versions it records, and a host it calls upgraded or rolled back
	// must be in service, one it left in maintenance must be in
	// maintenance. Not checked while the run is still running.
	Status *state.State
}

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	// Time and Seq locate it in the event log when they apply (Seq -1:
	// an event recovered from the cloud's step records).
	Time   time.Time
	Seq    int64
	Detail string
}

func (v Violation) String() string {
	s := v.Invariant + ": " + v.Detail
	if !v.Time.IsZero() {
		s += fmt.Sprintf(" (at %s", v.Time.UTC().Format("15:04:05.000000"))
		if v.Seq != 0 {
			s += fmt.Sprintf(", event seq %d", v.Seq)
		}
		s += ")"
	}
	return s
}

// Report is the checker's verdict and the figures it measured.
type Report struct {
	Violations []Violation
	// Instances in the initial cloud.
	Instances int
	// Migrations counts OK migrations; MovedInstances the distinct
	// instances moved; MovedTwice those moved more than once.
	Migrations, MovedInstances, MovedTwice int
	// MaxImpact is the largest number of members of one guarded group
	// impacted at one instant.
	MaxImpact int
	// Notified counts moved instances whose notification was checked.
	Notified int
	// Recovered counts changes recovered from the cloud's step records
	// because the event log lost them.
	Recovered int
	// StepsStarted counts step_started events in the journal; Resumes the
	// run_resumed events.
	StepsStarted, Resumes int
	// InMaintenance lists the hosts in maintenance at the end.
	InMaintenance []string
}

// OK reports whether no invariant was broken.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d violations; %d instances, %d migrations of %d instances, %d moved twice, max group impact %d, %d notifications checked, %d events recovered, %d steps started, %d resumes",
		len(r.Violations), r.Instances, r.Migrations, r.MovedInstances, r.MovedTwice, r.MaxImpact, r.Notified, r.Recovered, r.StepsStarted, r.Resumes)
	if len(r.InMaintenance) > 0 {
		fmt.Fprintf(&b, "; in maintenance at the end: %s", strings.Join(r.InMaintenance, ", "))
	}
	for _, v := range r.Violations {
		b.WriteString("\n  " + v.String())
	}
	return b.String()
}

func (r *Report) add(inv string, t time.Time, seq int64, format string, args ...any) {
	r.Violations = append(r.Violations, Violation{Invariant: inv, Time: t, Seq: seq, Detail: fmt.Sprintf(format, args...)})
}

// replay is the cloud as the checker replays it.
type replay struct {
	hostState map[string]string
	instHost  map[string]string
	onHost    map[string]map[string]bool // host → instance ids
	group     map[string]*sim.ServerGroup
	instGroup map[string]string
	migrating map[string]int // instance → migrations in flight
	guarded   map[string]bool
}

func newReplay(c *sim.Cloud, guarded []string) *replay {
	r := &replay{
		hostState: map[string]string{}, instHost: map[string]string{}, onHost: map[string]map[string]bool{},
		group: map[string]*sim.ServerGroup{}, instGroup: map[string]string{}, migrating: map[string]int{}, guarded: map[string]bool{},
	}
	for _, p := range guarded {
		r.guarded[p] = true
	}
	for _, h := range c.Hosts {
		st := h.State
		if st == "" {
			st = sim.StateUp
		}
		r.hostState[h.Name] = st
		r.onHost[h.Name] = map[string]bool{}
	}
	for _, in := range c.Instances {
		r.place(in.ID, in.Host)
		if in.ServerGroup != "" {
			r.instGroup[in.ID] = in.ServerGroup
		}
		if in.Migration != nil {
			r.migrating[in.ID]++
		}
	}
	for _, g := range c.ServerGroups {
		r.group[g.ID] = g
	}
	return r
}

func (r *replay) place(inst, host string) {
	if old, ok := r.instHost[inst]; ok && r.onHost[old] != nil {
		delete(r.onHost[old], inst)
	}
	r.instHost[inst] = host
	if r.onHost[host] == nil {
		r.onHost[host] = map[string]bool{}
	}
	r.onHost[host][inst] = true
}

// impacted counts the members of group g that are migrating or on a host
// in maintenance, and names them.
func (r *replay) impacted(g *sim.ServerGroup) (int, []string) {
	n := 0
	var who []string
	for _, m := range g.Members {
		h := r.instHost[m]
		switch {
		case r.migrating[m] > 0:
			who = append(who, fmt.Sprintf("%s (migrating from %s)", m, h))
		case r.hostState[h] == sim.StateMaintenance:
			who = append(who, fmt.Sprintf("%s (on %s in maintenance)", m, h))
		default:
			continue
		}
		n++
	}
	return n, who
}

// point is one instant of the merged timeline: a sim event, or the start
// or end of a migration step from the journal.
type point struct {
	t     time.Time
	ev    *sim.Event
	inst  string
	delta int // +1 a migration starts, -1 it ends
	order int // ties: sim events in log order first
}

// Check replays the initial cloud through the event log (and the
// journal's migration intervals) and reports every broken invariant:
//
//   - no instance lost: every instance exists at the end, on a known host,
//     with its initial status, with no migration in flight;
//   - no guarded server group has more members impacted (migrating, or on
//     a host in maintenance) at one instant than the budget, and no two
//     members of a hard anti-affinity group ever share a host;
//   - no instance migrates more than MaxMoves times;
//   - no host is changed (migrated off, upgraded, rolled back, restored)
//     while in service, and none is left in maintenance unless
//     AllowMaintenance lists it;
//   - every moved instance's VNF manager was told (and replied) before
//     the instance's first migration started;
//   - the journal never starts a step again after it finished OK, and the
//     sim never commits one step id twice;
//   - the event log explains the final cloud, and escalator's state
//     (Status) agrees with it.
func Check(in Input) *Report {
	rep := &Report{}
	if in.Initial == nil {
		rep.add(LogInconsistent, time.Time{}, 0, "no initial cloud given to the checker")
		return rep
	}
	budget := in.Budget
	if budget <= 0 {
		budget = 1
	}
	guarded := in.GuardedPolicies
	if guarded == nil {
		guarded = []string{sim.PolicyAntiAffinity, sim.PolicySoftAntiAffinity}
	}
	maxMoves := in.MaxMoves
	if maxMoves <= 0 {
		maxMoves = 1
	}
	rep.Instances = len(in.Initial.Instances)
	r := newReplay(in.Initial, guarded)

	// The changes the sim committed: OK events of the actions that move
	// instances or change host states, plus those the log lost.
	var changes []sim.Event
	okSteps := map[string]int64{}
	for _, e := range in.Events {
		if e.Result != sim.ResultOK {
			continue
		}
		if e.StepID != "" {
			if first, dup := okSteps[e.StepID]; dup {
				rep.add(SimStepTwice, e.Time, e.Seq, "step %s (%s) committed again; first at event seq %d", e.StepID, e.Action, first)
			} else {
				okSteps[e.StepID] = e.Seq
			}
		}
		switch e.Action {
		case "enter_maintenance", "leave_maintenance", "migrate", "upgrade", "rollback", "restore":
			changes = append(changes, e)
		}
	}
	if in.Final != nil {
		ids := make([]string, 0, len(in.Final.Steps))
		for id := range in.Final.Steps {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			rec := in.Final.Steps[id]
			if _, logged := okSteps[id]; logged || (in.Initial.Steps != nil && in.Initial.Steps[id] != nil) {
				continue
			}
			switch rec.Action {
			case "enter_maintenance", "leave_maintenance", "migrate", "upgrade", "rollback", "restore":
			default:
				continue
			}
			e := sim.Event{Seq: -1, Time: rec.Completed, Action: rec.Action, StepID: id, Host: rec.Host, Instance: rec.Instance, Component: rec.Component, Result: sim.ResultOK}
			if rec.Action == "migrate" {
				e.From, e.To = rec.Outputs["from"], rec.Outputs["to"]
			}
			changes = append(changes, e)
			rep.Recovered++
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Time.Before(changes[j].Time) })

	// Migration steps from the journal: an instance is impacted from the
	// first start of its migration step until the sim committed it (or the
	// step last ended, when it never committed).
	commitTime := map[string]time.Time{}
	for _, e := range changes {
		if e.Action == "migrate" && e.StepID != "" {
			commitTime[e.StepID] = e.Time
		}
	}
	spans := map[string]*span{}
	var spanOrder []string
	for _, e := range in.Journal {
		if e.Action != "migrate" || e.StepID == "" {
			continue
		}
		switch e.Kind {
		case state.KindStepStarted:
			if spans[e.StepID] == nil {
				spans[e.StepID] = &span{inst: lastSegment(e.StepID), start: e.Time, open: true}
				spanOrder = append(spanOrder, e.StepID)
			}
		case state.KindStepFinished:
			if s := spans[e.StepID]; s != nil {
				s.end, s.open = e.Time, false
			}
		}
	}
	migStart := map[string]time.Time{} // instance → first migration step start
	for _, id := range spanOrder {
		s := spans[id]
		if t, ok := migStart[s.inst]; !ok || s.start.Before(t) {
			migStart[s.inst] = s.start
		}
	}
	var points []point
	for i, e := range changes {
		points = append(points, point{t: e.Time, ev: &changes[i], order: 0})
	}
	for _, id := range spanOrder {
		s := spans[id]
		end, ok := commitTime[id]
		if !ok {
			end, ok = s.end, !s.open
		}
		points = append(points, point{t: s.start, inst: s.inst, delta: +1, order: 1})
		if ok {
			if end.Before(s.start) {
				end = s.start
			}
			points = append(points, point{t: end, inst: s.inst, delta: -1, order: 1})
		}
	}
	sort.SliceStable(points, func(i, j int) bool {
		if !points[i].t.Equal(points[j].t) {
			return points[i].t.Before(points[j].t)
		}
		return points[i].order < points[j].order
	})

	// Walk the timeline.
	moves := map[string]int{}
	firstMove := map[string]time.Time{}
	over := map[string]bool{} // groups currently over budget (report once per episode)
	checkGroups := func(gids map[string]bool, p point) {
		for gid := range gids {
			g := r.group[gid]
			if g == nil || !r.guarded[g.Policy] {
				continue
			}
			n, who := r.impacted(g)
			rep.MaxImpact = max(rep.MaxImpact, n)
			if n > budget && !over[gid] {
				over[gid] = true
				seq := int64(0)
				if p.ev != nil {
					seq = p.ev.Seq
				}
				rep.add(BudgetExceeded, p.t, seq, "server group %s (%s) has %d members impacted at once, budget %d: %s", groupName(g), g.Policy, n, budget, strings.Join(who, ", "))
			} else if n <= budget {
				delete(over, gid)
			}
		}
	}
	for _, p := range points {
		gids := map[string]bool{}
		if p.ev == nil {
			if p.delta > 0 {
				r.migrating[p.inst]++
			} else if r.migrating[p.inst] > 0 {
				r.migrating[p.inst]--
			}
			if g := r.instGroup[p.inst]; g != "" {
				gids[g] = true
			}
			checkGroups(gids, p)
			continue
		}
		e := p.ev
		switch e.Action {
		case "enter_maintenance", "leave_maintenance":
			if _, known := r.hostState[e.Host]; !known {
				rep.add(LogInconsistent, e.Time, e.Seq, "%s of unknown host %s", e.Action, e.Host)
				continue
			}
			if e.Action == "enter_maintenance" {
				r.hostState[e.Host] = sim.StateMaintenance
			} else {
				r.hostState[e.Host] = sim.StateUp
			}
			for inst := range r.onHost[e.Host] {
				if g := r.instGroup[inst]; g != "" {
					gids[g] = true
				}
			}
		case "upgrade", "rollback", "restore":
			if st := r.hostState[e.Host]; st != sim.StateMaintenance {
				rep.add(NotInMaintenance, e.Time, e.Seq, "%s of %s on host %s (step %s) while the host is %s", e.Action, e.Component, e.Host, e.StepID, st)
			}
		case "migrate":
			cur, known := r.instHost[e.Instance]
			if !known {
				rep.add(LogInconsistent, e.Time, e.Seq, "migration of unknown instance %s", e.Instance)
				continue
			}
			if e.From != "" && e.From != cur {
				rep.add(LogInconsistent, e.Time, e.Seq, "instance %s migrated from %s but the replay has it on %s", e.Instance, e.From, cur)
			}
			if st := r.hostState[cur]; st != sim.StateMaintenance {
				rep.add(NotInMaintenance, e.Time, e.Seq, "instance %s migrated off host %s (step %s) while the host is %s", e.Instance, cur, e.StepID, st)
			}
			if g := r.group[r.instGroup[e.Instance]]; g != nil && g.Policy == sim.PolicyAntiAffinity {
				for other := range r.onHost[e.To] {
					if other != e.Instance && r.instGroup[other] == g.ID {
						rep.add(Colocated, e.Time, e.Seq, "instance %s moved to %s, which already runs %s of the same anti-affinity group %s", e.Instance, e.To, other, groupName(g))
					}
				}
			}
			r.place(e.Instance, e.To)
			moves[e.Instance]++
			if _, ok := firstMove[e.Instance]; !ok {
				firstMove[e.Instance] = e.Time
				// Without the journal, the commit is the best known start.
				if s, ok := migStart[e.Instance]; ok && s.Before(e.Time) {
					firstMove[e.Instance] = s
				}
			}
			rep.Migrations++
			if g := r.instGroup[e.Instance]; g != "" {
				gids[g] = true
			}
		}
		checkGroups(gids, p)
	}

	// Moves.
	ids := sortedKeys(moves)
	rep.MovedInstances = len(ids)
	for _, id := range ids {
		if moves[id] > 1 {
			rep.MovedTwice++
		}
		if moves[id] > maxMoves {
			rep.add(MovedTwice, time.Time{}, 0, "instance %s migrated %d times; the campaign allows %d", id, moves[id], maxMoves)
		}
	}

	// The end state: the final cloud when given (after checking the log
	// explains it), else the replay.
	allowed := map[string]bool{}
	for _, h := range in.AllowMaintenance {
		allowed[h] = true
	}
	initialStatus := map[string]string{}
	for _, i := range in.Initial.Instances {
		initialStatus[i.ID] = i.Status
	}
	if in.Final != nil {
		finalHosts := map[string]*sim.Host{}
		for _, h := range in.Final.Hosts {
			finalHosts[h.Name] = h
			if st := r.hostState[h.Name]; st != h.State {
				rep.add(LogInconsistent, time.Time{}, 0, "host %s is %s in the final cloud but %s by the event log", h.Name, h.State, st)
			}
			if h.State == sim.StateMaintenance {
				rep.InMaintenance = append(rep.InMaintenance, h.Name)
			}
		}
		finalInst := map[string]*sim.Instance{}
		for _, i := range in.Final.Instances {
			finalInst[i.ID] = i
		}
		for _, i := range in.Initial.Instances {
			f := finalInst[i.ID]
			switch {
			case f == nil:
				rep.add(InstanceLost, time.Time{}, 0, "instance %s (%s) is gone from the final cloud", i.ID, i.Name)
				continue
			case finalHosts[f.Host] == nil:
				rep.add(InstanceLost, time.Time{}, 0, "instance %s (%s) is on unknown host %q", i.ID, i.Name, f.Host)
			case f.Status != i.Status:
				rep.add(InstanceLost, time.Time{}, 0, "instance %s (%s) is %s, was %s", i.ID, i.Name, f.Status, i.Status)
			case f.Migration != nil:
				rep.add(InstanceLost, time.Time{}, 0, "instance %s (%s) is left migrating to %s (step %s)", i.ID, i.Name, f.Migration.To, f.Migration.StepID)
			}
			if h := r.instHost[i.ID]; h != f.Host {
				rep.add(LogInconsistent, time.Time{}, 0, "instance %s (%s) is on %s in the final cloud but on %s by the event log", i.ID, i.Name, f.Host, h)
			}
		}
	} else {
		for _, h := range sortedKeys(r.hostState) {
			if r.hostState[h] == sim.StateMaintenance {
				rep.InMaintenance = append(rep.InMaintenance, h)
			}
		}
		for _, i := range in.Initial.Instances {
			if r.migrating[i.ID] > 0 {
				rep.add(InstanceLost, time.Time{}, 0, "instance %s (%s) is left migrating", i.ID, i.Name)
			}
		}
	}
	if in.Status != nil && in.Final != nil && (in.Status.Run == nil || in.Status.Run.Status != state.RunRunning) {
		for _, name := range sortedKeys(in.Status.Hosts) {
			sh, ch := in.Status.Hosts[name], in.Final.Host(name)
			if ch == nil {
				rep.add(StatusMismatch, time.Time{}, 0, "escalator's state lists host %s, which the cloud does not have", name)
				continue
			}
			for _, comp := range sortedKeys(sh.Versions) {
				if v := ch.Versions[comp]; v != sh.Versions[comp] {
					rep.add(StatusMismatch, time.Time{}, 0, "escalator's state has %s at %s %s (host %s), the cloud has %s", name, comp, sh.Versions[comp], sh.Status, v)
				}
			}
			switch {
			case (sh.Status == state.HostUpgraded || sh.Status == state.HostRolledBack) && ch.State != sim.StateUp:
				rep.add(StatusMismatch, time.Time{}, 0, "escalator's state has host %s %s (in service), the cloud has it %s", name, sh.Status, ch.State)
			case sh.Status == state.HostInMaintenance && ch.State != sim.StateMaintenance:
				rep.add(StatusMismatch, time.Time{}, 0, "escalator's state has host %s left in maintenance, the cloud has it %s", name, ch.State)
			}
		}
	}
	sort.Strings(rep.InMaintenance)
	for _, h := range rep.InMaintenance {
		if !allowed[h] {
			rep.add(LeftInMaintenance, time.Time{}, 0, "host %s is left in maintenance", h)
		}
	}

	// Notifications before the first migration.
	switch {
	case in.Notifications != nil:
		for _, id := range ids {
			start := firstMove[id]
			var best *Notification
			for i := range in.Notifications {
				n := &in.Notifications[i]
				if n.Event != "maintenance" || !containsStr(n.Instances, id) {
					continue
				}
				if best == nil || n.Replied.Before(best.Replied) {
					best = n
				}
			}
			switch {
			case best == nil:
				rep.add(NotNotified, start, 0, "instance %s migrated at %s and no maintenance notification named it", id, start.UTC().Format("15:04:05.000000"))
			case best.Replied.After(start):
				rep.add(NotNotified, start, 0, "instance %s started migrating at %s, before its VNF manager replied to the notification (received %s, replied %s)",
					id, start.UTC().Format("15:04:05.000000"), best.Received.UTC().Format("15:04:05.000000"), best.Replied.UTC().Format("15:04:05.000000"))
			default:
				rep.Notified++
			}
		}
	case len(in.Journal) > 0:
		// The journal: the migration step of wave N starts after an OK
		// wN/notify/*/maintenance step.
		notified := map[string]time.Time{} // wave prefix → first OK notify
		for _, e := range in.Journal {
			if e.Kind == state.KindStepFinished && e.Status == string(state.StepOK) && e.Action == "notify" && strings.HasSuffix(e.StepID, "/maintenance") {
				w := firstSegment(e.StepID)
				if t, ok := notified[w]; !ok || e.Time.Before(t) {
					notified[w] = e.Time
				}
			}
		}
		for _, id := range ids {
			step := ""
			for _, sid := range spanOrder {
				if spans[sid].inst == id {
					step = sid
					break
				}
			}
			if step == "" {
				continue // moved by a step the journal does not show
			}
			start := spans[step].start
			t, ok := notified[firstSegment(step)]
			switch {
			case !ok:
				rep.add(NotNotified, start, 0, "instance %s migrated by step %s, and no maintenance notify step of its wave finished OK", id, step)
			case t.After(start):
				rep.add(NotNotified, start, 0, "instance %s: step %s started at %s, before the notify step of its wave finished (%s)", id, step,
					start.UTC().Format("15:04:05.000000"), t.UTC().Format("15:04:05.000000"))
			default:
				rep.Notified++
			}
		}
	}

	// The journal: no step started again after it finished OK (per run).
	type key struct{ run, step string }
	okAt := map[key]int64{}
	for _, e := range in.Journal {
		switch e.Kind {
		case state.KindRunResumed:
			rep.Resumes++
		case state.KindStepStarted:
			rep.StepsStarted++
			if seq, done := okAt[key{e.RunID, e.StepID}]; done {
				rep.add(StepRedone, e.Time, 0, "run %s: step %s started again (journal seq %d) after it finished OK (journal seq %d)", e.RunID, e.StepID, e.Seq, seq)
			}
		case state.KindStepFinished:
			if e.Status == string(state.StepOK) {
				if _, done := okAt[key{e.RunID, e.StepID}]; !done {
					okAt[key{e.RunID, e.StepID}] = e.Seq
				}
			}
		}
	}
	return rep
}

// span is a migration step as the journal shows it.
type span struct {
	inst       string
	start, end time.Time
	open       bool
}

func groupName(g *sim.ServerGroup) string {
	if g.Name != "" {
		return g.Name
	}
	return g.ID
}

func lastSegment(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

func firstSegment(id string) string {
	if i := strings.IndexByte(id, '/'); i >= 0 {
		return id[:i]
	}
	return id
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
