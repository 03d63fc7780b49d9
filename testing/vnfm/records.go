package vnfm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sim"

	wire "github.com/escalator-nfv/escalator/internal/vnfm"
)

// Notification is one notification the VNF manager received, and what it
// did with it.
type Notification struct {
	ID string `json:"id"`
	// EventType is maintenance.scheduled (instances about to move, and
	// the wave's end) or maintenance.host (one host's own state).
	EventType   string             `json:"event_type"`
	State       string             `json:"state"`
	Wave        int                `json:"wave"`
	Hosts       []string           `json:"hosts"`
	InstanceIDs []string           `json:"instance_ids"`
	Instances   []NotifiedInstance `json:"instances,omitempty"`
	NotBefore   time.Time          `json:"not_before,omitzero"`
	ReplyBy     time.Time          `json:"reply_by,omitzero"`
	ReplyURL    string             `json:"reply_url,omitempty"`
	// Received is when the request arrived.
	Received time.Time `json:"received"`
	// Answered is when the reply went out: just before the response was
	// written (sync) or the first POST to reply_url (async). Zero: never
	// answered (silent, or no reply expected).
	Answered time.Time `json:"answered,omitzero"`
	// Ended is when the request ended on this side: the response written,
	// 202 sent, or the client gave up on a held request.
	Ended time.Time `json:"ended,omitzero"`
	// Reply is what it answered; nil when it did not.
	Reply *wire.Reply `json:"reply,omitempty"`
	// Async: the reply went (or was to go) to reply_url; ReplyStatus is
	// escalator's HTTP status for it, ReplyError why it was not taken.
	Async       bool   `json:"async,omitempty"`
	ReplyStatus int    `json:"reply_status,omitempty"`
	ReplyError  string `json:"reply_error,omitempty"`
	// SwitchedOver: the notification named the active instance, and the
	// standby took over; the roles before and after.
	SwitchedOver bool   `json:"switched_over,omitempty"`
	ActiveBefore string `json:"active_before,omitempty"`
	ActiveAfter  string `json:"active_after,omitempty"`
}

// NotifiedInstance is an instance as a notification described it.
type NotifiedInstance struct {
	ID            string `json:"instance_id"`
	Host          string `json:"host"`
	PlannedAction string `json:"planned_action"`
	Destination   string `json:"destination,omitempty"`
}

// Records is what the VNF manager saw and did.
type Records struct {
	Name          string          `json:"name"`
	Active        string          `json:"active"`
	Standby       string          `json:"standby"`
	Notifications []Notification  `json:"notifications"`
	OwnActions    []OwnAction     `json:"own_actions"`
	BadSignatures int             `json:"bad_signatures"`
	Instances     []InstanceTrack `json:"instances"`
}

// InstanceTrack is one of the pair's instances: when the VNF manager was
// told it would move (the PLANNED_MAINTENANCE notifications naming it),
// and each move the sim's event log shows.
type InstanceTrack struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	Notified []time.Time `json:"notified"`
	Moves    []Move      `json:"moves"`
}

// Move is a completed migration of an instance, from the sim's event log.
type Move struct {
	// Time is when the sim committed it (the end of the migration).
	Time   time.Time `json:"time"`
	Seq    int64     `json:"seq"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	StepID string    `json:"step_id"`
	// ByVNFM: the VNF manager made it (its own action); otherwise
	// escalator did.
	ByVNFM bool `json:"by_vnfm"`
}

// Records returns a copy of what the VNF manager recorded, with the pair's
// moves read from the sim's event log now.
func (m *Manager) Records(ctx context.Context) (*Records, error) {
	m.mu.Lock()
	r := &Records{Name: m.cfg.Name, Active: m.active, Standby: m.standby, BadSignatures: m.badSigs}
	for _, n := range m.notes {
		c := *n
		if n.Reply != nil {
			reply := *n.Reply
			c.Reply = &reply
		}
		r.Notifications = append(r.Notifications, c)
	}
	for _, a := range m.own {
		r.OwnActions = append(r.OwnActions, *a)
	}
	pair := []string{m.active, m.standby}
	sort.Strings(pair)
	for _, id := range pair {
		t := InstanceTrack{ID: id, Name: m.names[id]}
		for _, n := range m.notes {
			if n.EventType == wire.EventScheduled && n.State == wire.StatePlannedMaintenance && contains(n.InstanceIDs, id) {
				t.Notified = append(t.Notified, n.Received)
			}
		}
		r.Instances = append(r.Instances, t)
	}
	m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	events, err := sim.ReadEvents(m.store.EventsPath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the sim's event log: %w", err)
	}
	prefix := m.cfg.Name + "/"
	for _, e := range events {
		if e.Action != "migrate" || e.Result != sim.ResultOK {
			continue
		}
		for i := range r.Instances {
			if r.Instances[i].ID == e.Instance {
				r.Instances[i].Moves = append(r.Instances[i].Moves, Move{Time: e.Time, Seq: e.Seq, From: e.From, To: e.To,
					StepID: e.StepID, ByVNFM: strings.HasPrefix(e.StepID, prefix)})
			}
		}
	}
	return r, nil
}

// Instance returns the track of instance id, or nil.
func (r *Records) Instance(id string) *InstanceTrack {
	for i := range r.Instances {
		if r.Instances[i].ID == id {
			return &r.Instances[i]
		}
	}
	return nil
}

// CheckLead checks what a VNF manager is promised, over the records, and
// returns each breach: every move of one of its instances comes after a
// PLANNED_MAINTENANCE notification naming it was received, and every move
// escalator made comes at least lead after the notification that
// announced it (the latest one received before the move). A move the VNF
// manager made itself needs no lead: it chose when.
func (r *Records) CheckLead(lead time.Duration) []string {
	var out []string
	for _, t := range r.Instances {
		for _, mv := range t.Moves {
			var told time.Time
			for _, n := range t.Notified {
				if !n.After(mv.Time) && n.After(told) {
					told = n
				}
			}
			switch {
			case told.IsZero():
				out = append(out, fmt.Sprintf("instance %s (%s) moved %s -> %s at %s (step %s) without a notification naming it before",
					t.ID, t.Name, mv.From, mv.To, stamp(mv.Time), mv.StepID))
			case !mv.ByVNFM && mv.Time.Sub(told) < lead:
				out = append(out, fmt.Sprintf("instance %s (%s) moved %s -> %s by escalator at %s, %s after the notification received at %s: less than the lead time %s",
					t.ID, t.Name, mv.From, mv.To, stamp(mv.Time), mv.Time.Sub(told).Round(time.Millisecond), stamp(told), lead))
			}
		}
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
