// Package notify tells VNF managers about maintenance, in the protocol of
// package vnfm. The webhook mode POSTs a signed notification and takes the
// reply from the response (synchronous) or, when the VNF manager answers
// 202 Accepted, from the campaign's reply inbox, where the API puts the
// replies POSTed to the notification's reply_url (asynchronous). The none
// mode sends nothing.
package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/vnfm"
)

// maxCompleteDelivery bounds the retries of a MAINTENANCE_COMPLETE
// notification.
const maxCompleteDelivery = 30 * time.Second

// Host-level notifications are sent twice per host while the host waits:
// a VNF manager that cannot be reached must not add minutes to every
// host of a thousand. Each gets hostDelivery; once one to a VNF manager
// failed, the next ones to it get hostRetryDelivery, until one gets
// through.
const (
	hostDelivery      = 10 * time.Second
	hostRetryDelivery = 2 * time.Second
)

// Webhook is the engine's Notifier for a campaign's notify blocks.
type Webhook struct {
	// Config gives each notify block's mode, secret and settings (the
	// plan does not hold secrets).
	Config *config.Config
	Client *http.Client
	// Inbox holds asynchronous replies; nil means synchronous only.
	Inbox *vnfm.Inbox
	// ReplyBase is the API's URL (apply -listen) from which reply URLs
	// are made when a notify block sets no reply_url.
	ReplyBase string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Backoff is the first retry delay (doubling up to 30 s); 0 means 1 s.
	Backoff time.Duration

	// hostWait and hostRetryWait replace hostDelivery and
	// hostRetryDelivery (tests).
	hostWait, hostRetryWait time.Duration

	mu sync.Mutex
	// unreachable lists the VNF managers whose last host-level
	// notification could not be delivered.
	unreachable map[string]bool
}

// Notify sends one notification. For maintenance it waits for the reply
// (notify blocks with wait), at most reply_timeout, retrying with backoff
// while the VNF manager cannot be reached or answers 5xx, 408 or 429.
func (w *Webhook) Notify(ctx context.Context, n plans.Notification, msg engine.Notification) (*engine.Reply, error) {
	nb := w.block(n)
	if nb != nil && nb.Mode == config.NotifyNone {
		return &engine.Reply{Ack: true}, nil
	}
	now := w.now()
	wire := w.message(nb, n, msg, now)
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, err
	}
	maintenance := wire.State == vnfm.StatePlannedMaintenance
	wait := maintenance && (nb == nil || nb.Wait)
	deadline := now.Add(n.ReplyTimeout)
	host := wire.EventType == vnfm.EventHost
	switch {
	case host:
		deadline = now.Add(min(n.ReplyTimeout, w.hostDeadline(n.Notify)))
	case !maintenance:
		// Nothing waits on an "available" notification: a VNF manager
		// that cannot be reached gets half a minute, not the whole
		// reply_timeout, while the next wave waits.
		deadline = now.Add(min(n.ReplyTimeout, maxCompleteDelivery))
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	secret := ""
	if nb != nil {
		secret = nb.Secret
	}
	status, reply, err := w.post(ctx, n, secret, body)
	if host {
		w.setUnreachable(n.Notify, err != nil)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !maintenance:
		return nil, nil
	case status >= 400:
		// An explicit refusal by HTTP status.
		return &engine.Reply{Ack: false, Reason: fmt.Sprintf("HTTP %d %s", status, strings.TrimSpace(string(reply)))}, nil
	case !wait:
		return &engine.Reply{Ack: true}, nil
	}
	var r vnfm.Reply
	if len(bytes.TrimSpace(reply)) > 0 && json.Unmarshal(reply, &r) == nil && r.State != "" {
		return toEngine(&r, &wire)
	}
	if status != http.StatusAccepted {
		// A plain 2xx without a reply document accepts everything as
		// planned: VNF managers that only need to be told.
		return &engine.Reply{Ack: true}, nil
	}
	// 202 Accepted: the reply comes to the reply URL.
	if w.Inbox == nil || wire.ReplyURL == "" {
		return nil, fmt.Errorf("%w: VNF manager %s answered 202 (it will reply later) but this apply has no reply endpoint: run it with -listen, or set the notify block's reply_url", engine.ErrNoReply, n.Notify)
	}
	got, err := w.Inbox.Wait(ctx, wire.ID)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s sent no reply to %s within %s", engine.ErrNoReply, n.Notify, wire.ReplyURL, n.ReplyTimeout)
		}
		return nil, err
	}
	return toEngine(got, &wire)
}

func (w *Webhook) hostDeadline(name string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unreachable[name] {
		return cmp.Or(w.hostRetryWait, hostRetryDelivery)
	}
	return cmp.Or(w.hostWait, hostDelivery)
}

func (w *Webhook) setUnreachable(name string, down bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unreachable == nil {
		w.unreachable = map[string]bool{}
	}
	w.unreachable[name] = down
}

// post sends body until an answer that is not worth retrying, or ctx
// ends (engine.ErrNoReply).
func (w *Webhook) post(ctx context.Context, n plans.Notification, secret string, body []byte) (int, []byte, error) {
	client := w.Client
	if client == nil {
		client = &http.Client{}
	}
	delay := w.Backoff
	if delay <= 0 {
		delay = time.Second
	}
	var last string
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
		if err != nil {
			return 0, nil, fmt.Errorf("notify %s: %w", n.Notify, err)
		}
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set(vnfm.SignatureHeader, vnfm.Sign(secret, body, w.now()))
		}
		resp, err := client.Do(req)
		if err == nil {
			reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			switch s := resp.StatusCode; {
			case s < 300, s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests:
				return s, reply, nil
			default:
				last = fmt.Sprintf("HTTP %d", s)
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("%w: %s at %s after %d attempts: %s", engine.ErrNoReply, n.Notify, n.URL, attempt, last)
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// message makes the wire notification.
func (w *Webhook) message(nb *config.Notify, n plans.Notification, msg engine.Notification, now time.Time) vnfm.Notification {
	wire := vnfm.Notification{
		Version: vnfm.Version, ID: msg.ID, SessionID: msg.RunID, EventType: vnfm.EventScheduled,
		State: vnfm.StatePlannedMaintenance, VNFM: n.Notify, Projects: msg.Projects, Wave: msg.Wave, Hosts: msg.Hosts,
		InstanceIDs: []string{}, NotBefore: msg.NotBefore, Versions: msg.Versions,
	}
	switch msg.Event {
	case "available":
		wire.State = vnfm.StateMaintenanceComplete
	case engine.EventInMaintenance:
		wire.EventType, wire.State = vnfm.EventHost, vnfm.StateInMaintenance
	case engine.EventHostComplete:
		wire.EventType, wire.State = vnfm.EventHost, vnfm.StateMaintenanceComplete
	default:
		wire.ReplyBy = now.Add(n.ReplyTimeout)
		switch {
		case nb != nil && nb.ReplyURL != "":
			wire.ReplyURL = nb.ReplyURL
		case w.ReplyBase != "":
			wire.ReplyURL = strings.TrimSuffix(w.ReplyBase, "/") + "/v1/vnfm/" + n.Notify + "/replies"
		}
	}
	for _, in := range msg.Instances {
		wire.InstanceIDs = append(wire.InstanceIDs, in.ID)
		if wire.EventType == vnfm.EventHost {
			// The instances that left the host: no action to choose.
			continue
		}
		vi := vnfm.Instance{ID: in.ID, Name: in.Name, Host: in.Host, Destination: in.Destination,
			AllowedActions: []string{vnfm.ActionMigrate, vnfm.ActionOwn}, PlannedAction: vnfm.ActionMigrate}
		if in.Live {
			vi.AllowedActions = []string{vnfm.ActionLiveMigrate, vnfm.ActionMigrate, vnfm.ActionOwn}
			vi.PlannedAction = vnfm.ActionLiveMigrate
		}
		wire.Instances = append(wire.Instances, vi)
	}
	return wire
}

// toEngine checks a reply against its notification.
func toEngine(r *vnfm.Reply, n *vnfm.Notification) (*engine.Reply, error) {
	ack, err := r.Check(n)
	if err != nil {
		return nil, fmt.Errorf("%w: VNF manager %s sent a reply that does not fit: %v", engine.ErrNoReply, n.VNFM, err)
	}
	return &engine.Reply{Ack: ack, Reason: r.Reason, Actions: r.InstanceActions}, nil
}

func (w *Webhook) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Webhook) block(n plans.Notification) *config.Notify {
	if w.Config == nil {
		return nil
	}
	for _, r := range w.Config.Rollouts {
		for _, nb := range r.Notify {
			if nb.Name == n.Notify && nb.URL == n.URL {
				return nb
			}
		}
	}
	return nil
}

// ErrUnknownVNFM is returned by Secrets' lookup for a name no notify block
// has.
var ErrUnknownVNFM = errors.New("no notify block has this name")

// Secret returns the secret of the notify block named name, for checking
// its asynchronous replies.
func Secret(cfg *config.Config, name string) (string, error) {
	for _, r := range cfg.Rollouts {
		for _, nb := range r.Notify {
			if nb.Name == name {
				return nb.Secret, nil
			}
		}
	}
	return "", ErrUnknownVNFM
}

var _ engine.Notifier = (*Webhook)(nil)
