package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/vnfm"
)

// vnfmServer answers with the responses given, one per request (the last
// repeats), and records what it got.
type vnfmServer struct {
	mu        sync.Mutex
	responses []response
	got       []vnfm.Notification
	sigErrs   []error
	srv       *httptest.Server
}

type response struct {
	status int
	body   string
}

func newVNFM(t *testing.T, secret string, rs ...response) *vnfmServer {
	v := &vnfmServer{responses: rs}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		var n vnfm.Notification
		_ = json.Unmarshal(body, &n)
		v.got = append(v.got, n)
		v.sigErrs = append(v.sigErrs, vnfm.Verify(secret, r.Header.Get(vnfm.SignatureHeader), body, time.Now()))
		resp := v.responses[min(len(v.got), len(v.responses))-1]
		v.mu.Unlock()
		w.WriteHeader(resp.status)
		_, _ = w.Write([]byte(resp.body))
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func setup(url string, mutate func(*config.Notify)) (*Webhook, plans.Notification) {
	nb := &config.Notify{Name: "vnfm", URL: url, Mode: config.NotifyWebhook, Secret: "k", Wait: true, ReplyTimeout: config.Duration(time.Second)}
	if mutate != nil {
		mutate(nb)
	}
	cfg := &config.Config{Rollouts: map[string]*config.Rollout{"r": {Notify: []*config.Notify{nb}}}}
	return &Webhook{Config: cfg, Backoff: 10 * time.Millisecond}, plans.Notification{Notify: "vnfm", URL: url, ReplyTimeout: nb.ReplyTimeout.D()}
}

var maintenance = engine.Notification{ID: "r1/w1/notify/vnfm/maintenance", RunID: "r1", Wave: 1, Event: "maintenance", Hosts: []string{"h1"},
	Instances: []engine.NotifiedInstance{{ID: "vm1", Host: "h1", Destination: "h2", Live: true}, {ID: "vm2", Host: "h1", Destination: "h3"}}}

func TestNotifyReplies(t *testing.T) {
	tests := []struct {
		name      string
		responses []response
		ack       bool
		actions   map[string]string
		reason    string
		noReply   bool
		attempts  int
	}{
		{name: "plain 200 accepts", responses: []response{{200, ""}}, ack: true, attempts: 1},
		{name: "synchronous ACK with an own action", responses: []response{{200, `{"id":"r1/w1/notify/vnfm/maintenance","state":"ACK_PLANNED_MAINTENANCE","instance_actions":{"vm1":"OWN_ACTION"}}`}},
			ack: true, actions: map[string]string{"vm1": "OWN_ACTION"}, attempts: 1},
		{name: "synchronous NACK", responses: []response{{200, `{"state":"NACK_PLANNED_MAINTENANCE","reason":"switch-over running"}`}}, reason: "switch-over running", attempts: 1},
		{name: "HTTP refusal", responses: []response{{409, "busy"}}, reason: "HTTP 409 busy", attempts: 1},
		{name: "retried after 503", responses: []response{{503, ""}, {503, ""}, {200, ""}}, ack: true, attempts: 3},
		{name: "a reply choosing a forbidden action", responses: []response{{200, `{"state":"ACK_PLANNED_MAINTENANCE","instance_actions":{"vm2":"LIVE_MIGRATE"}}`}}, noReply: true, attempts: 1},
		{name: "202 without a reply endpoint", responses: []response{{202, ""}}, noReply: true, attempts: 1},
		{name: "always 503", responses: []response{{503, ""}}, noReply: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVNFM(t, "k", tt.responses...)
			w, n := setup(v.srv.URL, nil)
			reply, err := w.Notify(context.Background(), n, maintenance)
			if tt.noReply {
				if !errors.Is(err, engine.ErrNoReply) {
					t.Fatalf("reply %+v err %v, want ErrNoReply", reply, err)
				}
			} else if err != nil || reply.Ack != tt.ack || !strings.Contains(reply.Reason, tt.reason) || len(reply.Actions) != len(tt.actions) {
				t.Fatalf("reply %+v err %v", reply, err)
			}
			if tt.attempts > 0 && len(v.got) != tt.attempts {
				t.Errorf("%d attempts, want %d", len(v.got), tt.attempts)
			}
			for _, e := range v.sigErrs {
				if e != nil {
					t.Errorf("signature: %v", e)
				}
			}
			got := v.got[0]
			if got.State != vnfm.StatePlannedMaintenance || got.VNFM != "vnfm" || len(got.Instances) != 2 || got.Instances[0].PlannedAction != vnfm.ActionLiveMigrate ||
				len(got.Instances[1].AllowedActions) != 2 || got.ReplyBy.IsZero() || got.SessionID != "r1" || got.ID != maintenance.ID {
				t.Errorf("notification %+v", got)
			}
		})
	}
}

func TestNotifyAsyncReply(t *testing.T) {
	v := newVNFM(t, "k", response{202, ""})
	w, n := setup(v.srv.URL, nil)
	w.Inbox = vnfm.InboxFor(filepath.Join(t.TempDir(), "state.json"))
	w.Inbox.Poll = 5 * time.Millisecond
	w.ReplyBase = "http://127.0.0.1:8470"
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = w.Inbox.Put(vnfm.Reply{ID: maintenance.ID, State: "ACK_PLANNED_MAINTENANCE", InstanceActions: map[string]string{"vm2": "OWN_ACTION"}})
	}()
	reply, err := w.Notify(context.Background(), n, maintenance)
	if err != nil || !reply.Ack || reply.Actions["vm2"] != "OWN_ACTION" {
		t.Fatalf("reply %+v err %v", reply, err)
	}
	if v.got[0].ReplyURL != "http://127.0.0.1:8470/v1/vnfm/vnfm/replies" {
		t.Errorf("reply_url %q", v.got[0].ReplyURL)
	}
	// No reply in time.
	n.ReplyTimeout = 100 * time.Millisecond
	m := maintenance
	m.ID = "r1/w2/notify/vnfm/maintenance"
	if _, err := w.Notify(context.Background(), n, m); !errors.Is(err, engine.ErrNoReply) {
		t.Errorf("no async reply: %v", err)
	}
}

func TestNotifyModes(t *testing.T) {
	v := newVNFM(t, "k", response{500, ""})
	// mode none: nothing is sent, everything accepted.
	w, n := setup(v.srv.URL, func(nb *config.Notify) { nb.Mode = config.NotifyNone })
	if reply, err := w.Notify(context.Background(), n, maintenance); err != nil || !reply.Ack || len(v.got) != 0 {
		t.Errorf("mode none: %+v %v, %d sent", reply, err, len(v.got))
	}
	// wait = false: told, not asked.
	v2 := newVNFM(t, "k", response{202, ""})
	w, n = setup(v2.srv.URL, func(nb *config.Notify) { nb.Wait = false })
	if reply, err := w.Notify(context.Background(), n, maintenance); err != nil || !reply.Ack {
		t.Errorf("wait = false: %+v %v", reply, err)
	}
	// available: the versions go out, no reply awaited.
	v3 := newVNFM(t, "k", response{200, `{"state":"NACK_MAINTENANCE_COMPLETE"}`})
	w, n = setup(v3.srv.URL, nil)
	avail := maintenance
	avail.Event, avail.Versions = "available", map[string]map[string]string{"h1": {"qemu": "7.2.0"}}
	if reply, err := w.Notify(context.Background(), n, avail); err != nil || reply != nil {
		t.Errorf("available: %+v %v", reply, err)
	}
	if g := v3.got[0]; g.State != vnfm.StateMaintenanceComplete || g.Versions["h1"]["qemu"] != "7.2.0" || g.ReplyURL != "" {
		t.Errorf("available notification %+v", g)
	}
}

// Host-level notifications are Fenix's "maintenance.host": one host, the
// instances that left it by id only, signed, no reply awaited (a reply
// document, even a NACK, changes nothing).
func TestNotifyHostEvents(t *testing.T) {
	for _, tt := range []struct {
		event, state string
		versions     map[string]map[string]string
	}{
		{engine.EventInMaintenance, vnfm.StateInMaintenance, nil},
		{engine.EventHostComplete, vnfm.StateMaintenanceComplete, map[string]map[string]string{"h1": {"qemu": "7.2.0"}}},
	} {
		t.Run(tt.event, func(t *testing.T) {
			v := newVNFM(t, "k", response{200, `{"state":"NACK_` + tt.state + `"}`})
			w, n := setup(v.srv.URL, nil)
			msg := maintenance
			msg.ID, msg.Event, msg.Versions = "r1/w1/h1/notify/vnfm/"+tt.event, tt.event, tt.versions
			if reply, err := w.Notify(context.Background(), n, msg); err != nil || reply != nil {
				t.Fatalf("Notify = %+v, %v; want no reply and no error", reply, err)
			}
			g := v.got[0]
			if g.EventType != vnfm.EventHost || g.State != tt.state || strings.Join(g.Hosts, ",") != "h1" ||
				strings.Join(g.InstanceIDs, ",") != "vm1,vm2" || len(g.Instances) != 0 || g.ReplyURL != "" || !g.ReplyBy.IsZero() {
				t.Errorf("notification %+v", g)
			}
			if tt.versions != nil && g.Versions["h1"]["qemu"] != "7.2.0" {
				t.Errorf("versions %v", g.Versions)
			}
			if v.sigErrs[0] != nil {
				t.Errorf("signature: %v", v.sigErrs[0])
			}
		})
	}
	// Unreachable: bounded retries, then an error the engine turns into an
	// alert.
	w, n := setup("http://127.0.0.1:1/", nil)
	msg := maintenance
	msg.Event = engine.EventInMaintenance
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := w.Notify(ctx, n, msg); !errors.Is(err, engine.ErrNoReply) {
		t.Errorf("unreachable: %v, want ErrNoReply", err)
	}
}

// A VNF manager that answers host-level notifications with 503 gets
// hostDelivery the first time, then hostRetryDelivery until one gets
// through (not reply_timeout, an hour here): an outage of one VNF manager
// must not add its whole retry budget to every host.
func TestNotifyHostEventsUnreachableBudget(t *testing.T) {
	v := newVNFM(t, "k", response{503, ""})
	w, n := setup(v.srv.URL, nil)
	n.ReplyTimeout = time.Hour
	w.hostWait, w.hostRetryWait = 300*time.Millisecond, 50*time.Millisecond
	msg := maintenance
	msg.Event = engine.EventInMaintenance
	for i, want := range []time.Duration{300 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond} {
		if got := w.hostDeadline(n.Notify); got != want {
			t.Errorf("attempt %d: budget %v, want %v", i+1, got, want)
		}
		if _, err := w.Notify(context.Background(), n, msg); !errors.Is(err, engine.ErrNoReply) {
			t.Fatalf("attempt %d: %v, want ErrNoReply", i+1, err)
		}
	}
	// Once one gets through, the next has the full budget again.
	v.mu.Lock()
	v.responses = []response{{204, ""}}
	v.mu.Unlock()
	if _, err := w.Notify(context.Background(), n, msg); err != nil {
		t.Fatal(err)
	}
	if got := w.hostDeadline(n.Notify); got != 300*time.Millisecond {
		t.Errorf("after a delivery the budget is %v", got)
	}
}
