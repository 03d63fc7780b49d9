// Package vnfm is the wire protocol between escalator and VNF managers:
// the maintenance notifications escalator sends, the replies VNF managers
// send back, and how both are signed. It follows OpenStack Fenix's
// maintenance workflow where that helps existing VNF managers (its states,
// ACK_/NACK_ replies, per-instance actions); website/docs/vnfm.md is the
// reference and maps each field to Fenix's.
package vnfm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the protocol version, in every message.
const Version = 1

// States of a notification (Fenix's project-level states).
const (
	// StatePlannedMaintenance: the listed instances are about to be
	// moved off the listed hosts; reply ACK (optionally choosing an
	// action per instance) or NACK.
	StatePlannedMaintenance = "PLANNED_MAINTENANCE"
	// StateMaintenanceComplete: the hosts are done and back in service,
	// with the new versions; no reply is needed. With EventHost, one
	// host is.
	StateMaintenanceComplete = "MAINTENANCE_COMPLETE"
	// StateInMaintenance (EventHost only): the one host named is empty
	// of the VNF manager's instances and about to change; no reply is
	// needed.
	StateInMaintenance = "IN_MAINTENANCE"
)

// Event types (Fenix's): a notification about a set of instances and the
// hosts they leave, or about one host.
const (
	EventScheduled = "maintenance.scheduled"
	EventHost      = "maintenance.host"
)

// Instance actions (Fenix's allowed_actions).
const (
	ActionMigrate     = "MIGRATE"
	ActionLiveMigrate = "LIVE_MIGRATE"
	// ActionOwn: the VNF manager moves, switches over or removes the
	// instance itself; escalator does not migrate it and waits for it to
	// leave its host.
	ActionOwn = "OWN_ACTION"
)

// Notification is what escalator POSTs to a VNF manager.
type Notification struct {
	Version int `json:"version"`
	// ID identifies the notification; a reply names it.
	ID string `json:"id"`
	// SessionID is the run id (Fenix's maintenance session).
	SessionID string `json:"session_id"`
	// EventType is EventScheduled or EventHost (Fenix's event types).
	EventType string `json:"event_type"`
	State     string `json:"state"`
	// VNFM is the notify block's name: whom this is for.
	VNFM     string   `json:"vnfm"`
	Projects []string `json:"projects,omitempty"`
	Wave     int      `json:"wave"`
	Hosts    []string `json:"hosts"`
	// InstanceIDs lists the VNF manager's instances concerned (Fenix's
	// instance_ids, inline rather than by URL).
	InstanceIDs []string   `json:"instance_ids"`
	Instances   []Instance `json:"instances,omitempty"`
	// ReplyURL is where an asynchronous reply goes; empty when the VNF
	// manager must reply in the response to this request.
	ReplyURL string `json:"reply_url,omitempty"`
	// ReplyBy is when escalator stops waiting for a reply.
	ReplyBy time.Time `json:"reply_by,omitzero"`
	// NotBefore is when the first instance may move (now + lead_time).
	NotBefore time.Time `json:"not_before,omitzero"`
	// Versions are the new versions per host, in MAINTENANCE_COMPLETE.
	Versions map[string]map[string]string `json:"versions,omitempty"`
}

// Instance is one instance concerned by a notification.
type Instance struct {
	ID   string `json:"instance_id"`
	Name string `json:"name,omitempty"`
	Host string `json:"host"`
	// AllowedActions are what the VNF manager may choose.
	AllowedActions []string `json:"allowed_actions"`
	// PlannedAction is what escalator does if the reply does not choose:
	// MIGRATE (cold) or LIVE_MIGRATE (Fenix's migration_type).
	PlannedAction string `json:"planned_action"`
	Destination   string `json:"destination,omitempty"`
}

// Reply is a VNF manager's answer: in the response to the notification
// (synchronous), or POSTed to its reply_url (asynchronous).
type Reply struct {
	// ID is the notification's id.
	ID string `json:"id"`
	// State is ACK_<state> or NACK_<state> (e.g. ACK_PLANNED_MAINTENANCE).
	State string `json:"state"`
	// InstanceActions chooses an action per instance (ACK only).
	InstanceActions map[string]string `json:"instance_actions,omitempty"`
	// Reason says why, for a NACK.
	Reason string `json:"reason,omitempty"`
}

// Check reports whether r accepts n (ACK), and checks that it answers n
// with actions n allows.
func (r *Reply) Check(n *Notification) (ack bool, err error) {
	if r.ID != "" && r.ID != n.ID {
		return false, fmt.Errorf("the reply is for notification %q, not %q", r.ID, n.ID)
	}
	switch r.State {
	case "ACK_" + n.State:
		ack = true
	case "NACK_" + n.State:
		return false, nil
	default:
		return false, fmt.Errorf("reply state %q is neither ACK_%s nor NACK_%s", r.State, n.State, n.State)
	}
	allowed := map[string]map[string]bool{}
	for _, in := range n.Instances {
		allowed[in.ID] = map[string]bool{}
		for _, a := range in.AllowedActions {
			allowed[in.ID][a] = true
		}
	}
	for id, a := range r.InstanceActions {
		switch {
		case allowed[id] == nil:
			return false, fmt.Errorf("the reply chooses an action for instance %s, which the notification does not list", id)
		case !allowed[id][a]:
			return false, fmt.Errorf("the reply chooses %s for instance %s; allowed: %s", a, id, strings.Join(keys(allowed[id]), ", "))
		}
	}
	return ack, nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">" with the VNF manager's secret, on notifications and on
// asynchronous replies. The time in the signature lets the receiver
// refuse a replayed message.
const SignatureHeader = "X-Escalator-Signature"

// MaxSkew is how old (or how far in the future) a signed message may be.
const MaxSkew = 5 * time.Minute

// Sign returns the signature header value for body at t.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("the message is not signed (no " + SignatureHeader + " header)")
	ErrBadSignature = errors.New("the signature does not match the body and the secret")
	ErrStale        = errors.New("the signature's time is too far from now: a replayed or delayed message")
)

// Verify checks header against body and secret at now.
func Verify(secret, header string, body []byte, now time.Time) error {
	if header == "" {
		return ErrNoSignature
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%w: malformed header %q", ErrBadSignature, header)
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	return nil
}
