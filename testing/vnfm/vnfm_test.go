package vnfm

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sim"
	"github.com/zclconf/go-cty/cty"

	wire "github.com/escalator-nfv/escalator/internal/vnfm"
)

const secret = "unit-not-a-secret"

// writeCloud writes a small cloud: four hosts, the pair "vnf-a" (on h1)
// and "vnf-b" (on h2) in the anti-affinity group "pair", and a filler on
// h3.
func writeCloud(t *testing.T) string {
	t.Helper()
	c := &sim.Cloud{FormatVersion: sim.FormatVersion, Name: "unit"}
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		c.Hosts = append(c.Hosts, &sim.Host{Name: h, Role: "compute", AvailabilityZone: "az1", State: sim.StateUp,
			Capacity: sim.Resources{VCPUs: 8, MemoryMB: 16384, DiskGB: 100}, Versions: map[string]string{"qemu": "7.1.0"}})
	}
	f := sim.Flavor{Name: "m", Resources: sim.Resources{VCPUs: 4, MemoryMB: 8192, DiskGB: 20}}
	for _, in := range []struct{ id, name, host, group string }{{"a", "vnf-a", "h1", "g"}, {"b", "vnf-b", "h2", "g"}, {"x", "filler", "h3", ""}} {
		c.Instances = append(c.Instances, &sim.Instance{ID: in.id, Name: in.name, Flavor: f, Host: in.host, Status: sim.StatusActive,
			Project: "ims", ServerGroup: in.group, LiveMigratable: true})
	}
	c.ServerGroups = []*sim.ServerGroup{{ID: "g", Name: "pair", Policy: sim.PolicyAntiAffinity, Project: "ims", Members: []string{"b", "a"}}}
	var b bytes.Buffer
	if err := sim.EncodeCloud(&b, c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cloud.json")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// start runs a Manager on a loopback port until the test ends.
func start(t *testing.T, cfg Config) (*Manager, *Server) {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	if cfg.Group == "" && cfg.Pair == nil {
		cfg.Group = "pair"
	}
	if cfg.Poll == 0 {
		cfg.Poll = 5 * time.Millisecond
	}
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Serve(m, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return m, s
}

func inst(id, host, dest string) wire.Instance {
	return wire.Instance{ID: id, Host: host, Destination: dest, PlannedAction: wire.ActionLiveMigrate,
		AllowedActions: []string{wire.ActionLiveMigrate, wire.ActionMigrate, wire.ActionOwn}}
}

// maintenance is a PLANNED_MAINTENANCE notification of hosts for insts.
func maintenance(id string, hosts []string, replyURL string, insts ...wire.Instance) wire.Notification {
	n := wire.Notification{Version: wire.Version, ID: "run/w1/notify/vnfm/" + id, SessionID: "run", EventType: "maintenance.scheduled",
		State: wire.StatePlannedMaintenance, VNFM: "vnfm", Wave: 1, Hosts: hosts, Instances: insts, ReplyURL: replyURL,
		ReplyBy: time.Now().Add(time.Minute), NotBefore: time.Now()}
	for _, in := range insts {
		n.InstanceIDs = append(n.InstanceIDs, in.ID)
	}
	return n
}

// send POSTs n signed with key at t to the server, with a client that
// gives up after timeout.
func send(t *testing.T, s *Server, n wire.Notification, key string, at time.Time, timeout time.Duration) (int, []byte, error) {
	t.Helper()
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.NotifyURL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(wire.SignatureHeader, wire.Sign(key, body, at))
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// replySink is escalator's reply endpoint: it checks each reply's
// signature and keeps the replies.
type replySink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []wire.Reply
	bad     int
	got     chan struct{}
}

func newReplySink(t *testing.T) *replySink {
	r := &replySink{got: make(chan struct{}, 16)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if wire.Verify(secret, req.Header.Get(wire.SignatureHeader), body, time.Now()) != nil {
			r.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var rep wire.Reply
		_ = json.Unmarshal(body, &rep)
		r.replies = append(r.replies, rep)
		w.WriteHeader(http.StatusAccepted)
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func TestNewRefusesBadConfig(t *testing.T) {
	cloud := writeCloud(t)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no secret", Config{Cloud: cloud, Group: "pair"}, "secret is needed"},
		{"no cloud", Config{Secret: secret, Group: "pair"}, "cloud file's path"},
		{"no pair", Config{Cloud: cloud, Secret: secret}, "give the pair"},
		{"pair and group", Config{Cloud: cloud, Secret: secret, Group: "pair", Pair: []string{"a", "b"}}, "not both"},
		{"one instance", Config{Cloud: cloud, Secret: secret, Pair: []string{"a"}}, "two distinct"},
		{"same instance twice", Config{Cloud: cloud, Secret: secret, Pair: []string{"a", "a"}}, "two distinct"},
		{"unknown instance", Config{Cloud: cloud, Secret: secret, Pair: []string{"a", "zz"}}, "instance zz is not in the cloud"},
		{"unknown group", Config{Cloud: cloud, Secret: secret, Group: "nope"}, `no server group named "nope"`},
		{"unknown mode", Config{Cloud: cloud, Secret: secret, Group: "pair", Mode: "maybe"}, `unknown mode "maybe"`},
		{"unknown reply mode", Config{Cloud: cloud, Secret: secret, Group: "pair", Reply: "carrier-pigeon"}, "unknown reply mode"},
		{"own action for the standby", Config{Cloud: cloud, Secret: secret, Group: "pair", StandbyAction: wire.ActionOwn}, "standby action"},
		{"missing cloud file", Config{Cloud: filepath.Join(t.TempDir(), "none.json"), Secret: secret, Group: "pair"}, "open the sim cloud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(context.Background(), tt.cfg)
			if err == nil {
				m.Close()
				t.Fatalf("New accepted %+v", tt.cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestPairFromGroup(t *testing.T) {
	cloud := writeCloud(t)
	tests := []struct {
		name                  string
		cfg                   Config
		wantActive, wantStand string
	}{
		// The group lists b first; the pair is ordered by instance name.
		{"group by name", Config{Group: "pair"}, "a", "b"},
		{"group by id", Config{Group: "g"}, "a", "b"},
		{"explicit pair", Config{Pair: []string{"b", "a"}}, "b", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Cloud, tt.cfg.Secret = cloud, secret
			m, err := New(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if a, s := m.Roles(); a != tt.wantActive || s != tt.wantStand {
				t.Errorf("roles: active %s, standby %s; want %s, %s", a, s, tt.wantActive, tt.wantStand)
			}
		})
	}
}

// TestReplies: what each mode answers, synchronously.
func TestReplies(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		n          wire.Notification
		key        string
		at         time.Time
		wantStatus int
		want       wire.Reply
		// wantActive is the active instance afterwards.
		wantActive string
	}{
		{
			name: "active named: switch-over and OWN_ACTION",
			n:    maintenance("m1", []string{"h1"}, "", inst("a", "h1", "h4"), inst("x", "h1", "h4")),
			key:  secret, at: time.Now(), wantStatus: http.StatusOK,
			want:       wire.Reply{State: "ACK_PLANNED_MAINTENANCE", InstanceActions: map[string]string{"a": wire.ActionOwn}},
			wantActive: "b",
		},
		{
			name: "standby named: escalator migrates it as planned",
			n:    maintenance("m2", []string{"h2"}, "", inst("b", "h2", "h4")),
			key:  secret, at: time.Now(), wantStatus: http.StatusOK,
			want:       wire.Reply{State: "ACK_PLANNED_MAINTENANCE"},
			wantActive: "a",
		},
		{
			name: "standby named, the standby action chosen",
			cfg:  Config{StandbyAction: wire.ActionLiveMigrate},
			n:    maintenance("m3", []string{"h2"}, "", inst("b", "h2", "h4")),
			key:  secret, at: time.Now(), wantStatus: http.StatusOK,
			want:       wire.Reply{State: "ACK_PLANNED_MAINTENANCE", InstanceActions: map[string]string{"b": wire.ActionLiveMigrate}},
			wantActive: "a",
		},
		{
			name: "nack",
			cfg:  Config{Mode: ModeNack, NackReason: "busy"},
			n:    maintenance("m4", []string{"h1"}, "", inst("a", "h1", "h4")),
			key:  secret, at: time.Now(), wantStatus: http.StatusOK,
			want:       wire.Reply{State: "NACK_PLANNED_MAINTENANCE", Reason: "busy"},
			wantActive: "a",
		},
		{
			name: "wrong secret",
			n:    maintenance("m5", []string{"h1"}, "", inst("a", "h1", "h4")),
			key:  "guess", at: time.Now(), wantStatus: http.StatusUnauthorized, wantActive: "a",
		},
		{
			name: "replayed (old signature)",
			n:    maintenance("m6", []string{"h1"}, "", inst("a", "h1", "h4")),
			key:  secret, at: time.Now().Add(-10 * time.Minute), wantStatus: http.StatusUnauthorized, wantActive: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Cloud = writeCloud(t)
			// Own moves wait for a maintenance that never comes here.
			tt.cfg.OwnActionTimeout = time.Second
			m, s := start(t, tt.cfg)
			status, body, err := send(t, s, tt.n, tt.key, tt.at, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.wantStatus {
				t.Fatalf("HTTP %d %s, want %d", status, body, tt.wantStatus)
			}
			recs, err := m.Records(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantStatus != http.StatusOK {
				if recs.BadSignatures != 1 || len(recs.Notifications) != 0 {
					t.Errorf("records after a refused notification: %+v", recs)
				}
			} else {
				var got wire.Reply
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				tt.want.ID = tt.n.ID
				if !sameReply(got, tt.want) {
					t.Errorf("reply %+v, want %+v", got, tt.want)
				}
				if len(recs.Notifications) != 1 || recs.Notifications[0].Answered.IsZero() || recs.Notifications[0].Reply == nil {
					t.Errorf("records: %+v", recs.Notifications)
				}
				// The reply must be one escalator takes.
				if _, err := got.Check(&tt.n); err != nil {
					t.Errorf("escalator would refuse the reply: %v", err)
				}
			}
			if a, _ := m.Roles(); a != tt.wantActive {
				t.Errorf("active is %s, want %s", a, tt.wantActive)
			}
		})
	}
}

func sameReply(a, b wire.Reply) bool {
	if a.ID != b.ID || a.State != b.State || a.Reason != b.Reason || len(a.InstanceActions) != len(b.InstanceActions) {
		return false
	}
	for k, v := range a.InstanceActions {
		if b.InstanceActions[k] != v {
			return false
		}
	}
	return true
}

// TestAsyncReply: 202 at once, then the signed reply POSTed to reply_url.
func TestAsyncReply(t *testing.T) {
	sink := newReplySink(t)
	m, s := start(t, Config{Cloud: writeCloud(t), Reply: ReplyAsync, ReplyDelay: 20 * time.Millisecond, OwnActionTimeout: time.Second})
	n := maintenance("async", []string{"h1"}, sink.srv.URL+"/v1/vnfm/vnfm/replies", inst("a", "h1", "h4"))
	status, body, err := send(t, s, n, secret, time.Now(), 5*time.Second)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("HTTP %d %s, %v; want 202", status, body, err)
	}
	select {
	case <-sink.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no reply POSTed within 5s")
	}
	sink.mu.Lock()
	replies, bad := sink.replies, sink.bad
	sink.mu.Unlock()
	want := wire.Reply{ID: n.ID, State: "ACK_PLANNED_MAINTENANCE", InstanceActions: map[string]string{"a": wire.ActionOwn}}
	if bad != 0 || len(replies) != 1 || !sameReply(replies[0], want) {
		t.Fatalf("replies %+v (%d badly signed), want %+v", replies, bad, want)
	}
	// The sink signals before its answer reaches the VNF manager.
	var rec Notification
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		recs, err := m.Records(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rec = recs.Notifications[0]; rec.ReplyStatus != 0 || time.Now().After(deadline) {
			break
		}
	}
	if !rec.Async || rec.ReplyStatus != http.StatusAccepted || rec.Answered.Before(rec.Received.Add(20*time.Millisecond)) {
		t.Errorf("record: %+v", rec)
	}
}

// TestSilent: no reply, whichever way.
func TestSilent(t *testing.T) {
	tests := []struct {
		name  string
		reply ReplyMode
	}{
		{"sync: the request is held until the client gives up", ReplySync},
		{"async: 202 and no reply", ReplyAsync},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newReplySink(t)
			m, s := start(t, Config{Cloud: writeCloud(t), Mode: ModeSilent, Reply: tt.reply})
			n := maintenance("silent", []string{"h1"}, sink.srv.URL, inst("a", "h1", "h4"))
			sent := time.Now()
			status, _, err := send(t, s, n, secret, time.Now(), 300*time.Millisecond)
			switch tt.reply {
			case ReplySync:
				if err == nil {
					t.Fatalf("a silent VNF manager answered HTTP %d", status)
				}
			case ReplyAsync:
				if err != nil || status != http.StatusAccepted {
					t.Fatalf("HTTP %d, %v; want 202", status, err)
				}
			}
			// Nothing comes later either.
			select {
			case <-sink.got:
				t.Fatal("a silent VNF manager POSTed a reply")
			case <-time.After(300 * time.Millisecond):
			}
			recs, err := m.Records(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// The held request ends when the client leaves.
			deadline := time.Now().Add(5 * time.Second)
			for recs.Notifications[0].Ended.IsZero() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				recs, _ = m.Records(context.Background())
			}
			rec := recs.Notifications[0]
			if !rec.Answered.IsZero() || rec.Reply != nil || rec.Ended.IsZero() {
				t.Errorf("record: %+v", rec)
			}
			if tt.reply == ReplySync && rec.Ended.Sub(sent) < 250*time.Millisecond {
				t.Errorf("the held request ended %s after it was sent, before the client gave up", rec.Ended.Sub(sent))
			}
			if a, _ := m.Roles(); a != "a" {
				t.Errorf("a silent VNF manager switched over")
			}
		})
	}
}

// simAction runs one action through a sim provider of the test's own, as
// escalator's plugin would.
func simAction(t *testing.T, cloud string, req sdk.ExecuteActionRequest) {
	t.Helper()
	p := sim.New()
	var cr sdk.ConfigureResponse
	p.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{
		"cloud": cty.StringVal(cloud), "create": cty.False, "time_scale": cty.NumberIntVal(0),
	})}, &cr)
	if cr.Diagnostics.HasErrors() {
		t.Fatal(diagText(cr.Diagnostics))
	}
	var resp sdk.ExecuteActionResponse
	p.ExecuteAction(context.Background(), req, &resp)
	if resp.Diagnostics.HasErrors() {
		t.Fatalf("%s: %s", req.Kind, diagText(resp.Diagnostics))
	}
}

// TestOwnAction: after OWN_ACTION, the instance moves only once its host
// is in maintenance, to the planned destination when it can, else to
// another host outside the notification's.
func TestOwnAction(t *testing.T) {
	tests := []struct {
		name    string
		planned string
		// prepare changes the cloud before the maintenance.
		prepare []sdk.ExecuteActionRequest
		wantTo  string
		wantErr string
	}{
		{name: "to the planned destination", planned: "h4", wantTo: "h4"},
		{
			name: "the planned destination is in maintenance: another host", planned: "h4",
			prepare: []sdk.ExecuteActionRequest{{ID: "t/h4", Kind: sdk.ActionEnterMaintenance, Host: "h4", Reason: "other"}},
			// h2 holds the other member of the group, h1 is the source:
			// h3 is what is left.
			wantTo: "h3",
		},
		{
			name: "nowhere to go", planned: "h4",
			prepare: []sdk.ExecuteActionRequest{
				{ID: "t/h4", Kind: sdk.ActionEnterMaintenance, Host: "h4", Reason: "other"},
				{ID: "t/h3", Kind: sdk.ActionEnterMaintenance, Host: "h3", Reason: "other"},
			},
			wantErr: "no host took instance a off h1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cloud := writeCloud(t)
			m, s := start(t, Config{Cloud: cloud, OwnActionTimeout: 10 * time.Second})
			for _, req := range tt.prepare {
				simAction(t, cloud, req)
			}
			n := maintenance("own", []string{"h1"}, "", inst("a", "h1", tt.planned))
			if status, body, err := send(t, s, n, secret, time.Now(), 5*time.Second); err != nil || status != http.StatusOK {
				t.Fatalf("HTTP %d %s, %v", status, body, err)
			}
			// Not before the host is in maintenance.
			time.Sleep(100 * time.Millisecond)
			recs, err := m.Records(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(recs.Instance("a").Moves) != 0 || len(recs.OwnActions) != 1 || !recs.OwnActions[0].Moved.IsZero() {
				t.Fatalf("the instance moved before its host entered maintenance: %+v", recs)
			}
			entered := time.Now()
			simAction(t, cloud, sdk.ExecuteActionRequest{ID: "esc/h1/enter", Kind: sdk.ActionEnterMaintenance, Host: "h1", Reason: "escalator run"})
			deadline := time.Now().Add(5 * time.Second)
			for {
				recs, err = m.Records(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if a := recs.OwnActions[0]; !a.Moved.IsZero() || a.Error != "" || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			a := recs.OwnActions[0]
			if tt.wantErr != "" {
				if !strings.Contains(a.Error, tt.wantErr) || !a.Moved.IsZero() {
					t.Fatalf("own action %+v, want error %q", a, tt.wantErr)
				}
				return
			}
			if a.Error != "" || a.To != tt.wantTo {
				t.Fatalf("own action %+v, want moved to %s", a, tt.wantTo)
			}
			moves := recs.Instance("a").Moves
			if len(moves) != 1 || !moves[0].ByVNFM || moves[0].From != "h1" || moves[0].To != tt.wantTo || moves[0].Time.Before(entered) {
				t.Errorf("moves of a from the event log: %+v", moves)
			}
			cl, err := sim.ReadCloud(context.Background(), cloud)
			if err != nil {
				t.Fatal(err)
			}
			if h := cl.Instance("a").Host; h != tt.wantTo {
				t.Errorf("instance a is on %s in the cloud, want %s", h, tt.wantTo)
			}
		})
	}
}

// TestMaintenanceComplete: the "available" notification needs no reply
// and changes nothing.
func TestMaintenanceComplete(t *testing.T) {
	m, s := start(t, Config{Cloud: writeCloud(t)})
	n := maintenance("done", []string{"h1"}, "", inst("a", "h1", ""))
	n.State = wire.StateMaintenanceComplete
	status, body, err := send(t, s, n, secret, time.Now(), 5*time.Second)
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("HTTP %d %s, %v; want 204", status, body, err)
	}
	recs, err := m.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.Notifications) != 1 || recs.Notifications[0].Reply != nil || recs.Active != "a" {
		t.Errorf("records: %+v", recs)
	}
	// A MAINTENANCE_COMPLETE does not count as being told of a move.
	if got := recs.Instance("a").Notified; len(got) != 0 {
		t.Errorf("notified: %v", got)
	}
	// The same records over HTTP.
	resp, err := http.Get(s.URL() + PathRecords)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got Records
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v", PathRecords, resp.StatusCode, err)
	}
	if got.Active != "a" || got.Standby != "b" || len(got.Notifications) != 1 || got.Notifications[0].State != wire.StateMaintenanceComplete {
		t.Errorf("records over HTTP: %+v", got)
	}
}

func TestCheckLead(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name  string
		track InstanceTrack
		want  []string // substrings, one per problem
	}{
		{"no move", InstanceTrack{ID: "a", Notified: []time.Time{at(0)}}, nil},
		{"escalator move after the lead", InstanceTrack{ID: "a", Notified: []time.Time{at(0)}, Moves: []Move{{Time: at(1000)}}}, nil},
		{"escalator move too soon", InstanceTrack{ID: "a", Notified: []time.Time{at(0)}, Moves: []Move{{Time: at(999)}}}, []string{"less than the lead time 1s"}},
		{"own move needs no lead", InstanceTrack{ID: "a", Notified: []time.Time{at(0)}, Moves: []Move{{Time: at(10), ByVNFM: true}}}, nil},
		{"move before any notification", InstanceTrack{ID: "a", Notified: []time.Time{at(500)}, Moves: []Move{{Time: at(100), ByVNFM: true}}}, []string{"without a notification"}},
		{
			"the lead counts from the latest notification before the move",
			InstanceTrack{ID: "a", Notified: []time.Time{at(0), at(5000)}, Moves: []Move{{Time: at(10), ByVNFM: true}, {Time: at(5500)}}},
			[]string{"500ms after the notification"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&Records{Instances: []InstanceTrack{tt.track}}).CheckLead(time.Second)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d", got, len(tt.want))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %q lacks %q", got[i], tt.want[i])
				}
			}
		})
	}
}
