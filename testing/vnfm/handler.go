package vnfm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	wire "github.com/escalator-nfv/escalator/internal/vnfm"
)

// Paths the Handler serves.
const (
	// PathMaintenance receives escalator's notifications: the notify
	// block's url is the server's URL plus this.
	PathMaintenance = "/maintenance"
	// PathRecords returns Records as JSON.
	PathRecords = "/v1/records"
)

// Handler serves the notification endpoint, the records and a health
// check.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathMaintenance, m.notification)
	mux.HandleFunc("GET "+PathRecords, func(w http.ResponseWriter, r *http.Request) {
		recs, err := m.Records(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, recs)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// notification takes one notification from escalator.
func (m *Manager) notification(w http.ResponseWriter, r *http.Request) {
	received := m.cfg.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read the notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Nothing unsigned or replayed is believed: a forged "maintenance is
	// coming" would make the VNF switch over for nothing.
	if err := wire.Verify(m.cfg.Secret, r.Header.Get(wire.SignatureHeader), body, m.cfg.Now()); err != nil {
		m.mu.Lock()
		m.badSigs++
		m.mu.Unlock()
		m.cfg.Logger.Warn("notification refused", "error", err)
		http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	var n wire.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, "decode the notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	if n.Version != wire.Version {
		http.Error(w, fmt.Sprintf("protocol version %d; this VNF manager speaks %d", n.Version, wire.Version), http.StatusBadRequest)
		return
	}
	if n.EventType == "" {
		// Fenix's project-level event type, for senders that leave it out.
		n.EventType = wire.EventScheduled
	}
	rec := &Notification{ID: n.ID, EventType: n.EventType, State: n.State, Wave: n.Wave, Hosts: n.Hosts, InstanceIDs: n.InstanceIDs,
		NotBefore: n.NotBefore, ReplyBy: n.ReplyBy, ReplyURL: n.ReplyURL, Received: received,
		Async: n.State == wire.StatePlannedMaintenance && m.cfg.Reply == ReplyAsync}
	for _, in := range n.Instances {
		rec.Instances = append(rec.Instances, NotifiedInstance{ID: in.ID, Host: in.Host, PlannedAction: in.PlannedAction, Destination: in.Destination})
	}
	m.mu.Lock()
	m.notes = append(m.notes, rec)
	m.mu.Unlock()
	m.cfg.Logger.Info("notification", "id", n.ID, "state", n.State, "hosts", n.Hosts, "instances", n.InstanceIDs)

	switch {
	case n.EventType == wire.EventHost && (n.State == wire.StateInMaintenance || n.State == wire.StateMaintenanceComplete),
		n.EventType == wire.EventScheduled && n.State == wire.StateMaintenanceComplete:
		// Nothing to answer: a host is empty and in maintenance, or the
		// host (or the wave's hosts) are back, with their versions.
		w.WriteHeader(http.StatusNoContent)
		m.ended(rec)
		return
	case n.EventType == wire.EventScheduled && n.State == wire.StatePlannedMaintenance:
	default:
		http.Error(w, fmt.Sprintf("unknown event %q with state %q", n.EventType, n.State), http.StatusBadRequest)
		return
	}

	var reply wire.Reply
	var own []*OwnAction
	switch m.cfg.Mode {
	case ModeSilent:
		m.silent(w, r, rec)
		return
	case ModeNack:
		reply = wire.Reply{ID: n.ID, State: "NACK_" + n.State, Reason: m.cfg.NackReason}
	default:
		reply, own = m.decide(&n, rec)
	}
	if rec.Async {
		writeJSON(w, http.StatusAccepted, map[string]string{"id": n.ID, "status": "accepted"})
		m.ended(rec)
		m.background(func() {
			if m.replyLater(n, reply, rec) {
				m.startOwn(own)
			}
		})
		return
	}
	// Answered is taken before the answer goes out: escalator can only
	// act on it later.
	m.answered(rec, &reply, m.cfg.Now())
	writeJSON(w, http.StatusOK, reply)
	m.ended(rec)
	m.startOwn(own)
}

// silent never answers: synchronously it holds the request until the
// client gives up (or the Manager closes, or maxHold); asynchronously it
// accepts and never POSTs a reply.
func (m *Manager) silent(w http.ResponseWriter, r *http.Request, rec *Notification) {
	if rec.Async {
		writeJSON(w, http.StatusAccepted, map[string]string{"id": rec.ID, "status": "accepted"})
		m.ended(rec)
		return
	}
	t := time.NewTimer(maxHold)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-m.ctx.Done():
	case <-t.C:
	}
	m.ended(rec)
}

// replyLater POSTs the signed reply to the notification's reply_url after
// Config.ReplyDelay, retrying (with backoff) what may pass until
// reply_by. It reports whether escalator took the reply.
func (m *Manager) replyLater(n wire.Notification, reply wire.Reply, rec *Notification) bool {
	deadline := n.ReplyBy
	if deadline.IsZero() {
		deadline = m.cfg.Now().Add(time.Minute)
	}
	ctx, cancel := context.WithDeadline(m.ctx, deadline)
	defer cancel()
	fail := func(format string, args ...any) bool {
		m.mu.Lock()
		rec.ReplyError = fmt.Sprintf(format, args...)
		m.mu.Unlock()
		m.cfg.Logger.Warn("asynchronous reply not delivered", "id", n.ID, "error", rec.ReplyError)
		return false
	}
	if n.ReplyURL == "" {
		return fail("the notification has no reply_url: escalator cannot take an asynchronous reply (run apply with -listen, or set the notify block's reply_url)")
	}
	if err := sleep(ctx, m.cfg.ReplyDelay); err != nil {
		return fail("reply not sent: %v", err)
	}
	body, err := json.Marshal(reply)
	if err != nil {
		return fail("encode the reply: %v", err)
	}
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.ReplyURL, bytes.NewReader(body))
		if err != nil {
			return fail("reply to %s: %v", n.ReplyURL, err)
		}
		req.Header.Set("Content-Type", "application/json")
		// Signed with the same secret, at the time of sending, so that
		// escalator can refuse a replayed reply.
		req.Header.Set(wire.SignatureHeader, wire.Sign(m.cfg.Secret, body, m.cfg.Now()))
		if attempt == 1 {
			m.answered(rec, &reply, m.cfg.Now())
		}
		resp, err := m.cfg.Client.Do(req)
		last := ""
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			m.mu.Lock()
			rec.ReplyStatus = resp.StatusCode
			m.mu.Unlock()
			switch s := resp.StatusCode; {
			case s < 300:
				return true
			case s == http.StatusConflict:
				// The first reply counts, and escalator has one.
				return fail("HTTP 409: %s", bytes.TrimSpace(msg))
			case s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests:
				return fail("HTTP %d: %s", s, bytes.TrimSpace(msg))
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
		} else {
			last = err.Error()
		}
		if err := sleep(ctx, delay); err != nil {
			return fail("reply to %s not taken after %d attempts (%s) by reply_by: %v", n.ReplyURL, attempt, last, err)
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func (m *Manager) answered(rec *Notification, reply *wire.Reply, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec.Answered = at
	if reply != nil {
		r := *reply
		rec.Reply = &r
	}
}

func (m *Manager) ended(rec *Notification) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec.Ended = m.cfg.Now()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
