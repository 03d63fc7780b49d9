package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/control"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/state/local"
	"github.com/escalator-nfv/escalator/internal/vnfm"
)

const runID = "20261122T100000.000Z-0000aaaa"

type fixture struct {
	srv     *httptest.Server
	secrets map[Role]string
	lock    state.Lock
	backend state.Backend
	control *control.File
	inbox   *vnfm.Inbox
	server  *Server
}

// newFixture serves a campaign with one run of two hosts, and a token of
// each role.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	b, err := local.New(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	lock, err := b.Lock(context.Background(), state.NewHolder("apply"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Unlock(context.Background()) })
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	events := []state.Event{
		{Kind: state.KindRunStarted, Time: t0},
		{Kind: state.KindHostStatus, Host: "h1", Status: "in_progress", Time: t0},
		{Kind: state.KindStepStarted, StepID: "w1/h1/migrate/vm1", Host: "h1", Action: "migrate", Time: t0},
		{Kind: state.KindStepFinished, StepID: "w1/h1/migrate/vm1", Host: "h1", Action: "migrate", Status: "ok", Time: t0.Add(2 * time.Second)},
		{Kind: state.KindAlert, Host: "h1", Code: state.CodeStepSlow, Message: "slow", Time: t0.Add(3 * time.Second)},
		{Kind: state.KindStepStarted, StepID: "w1/h1/upgrade/qemu", Host: "h1", Action: "upgrade", Component: "qemu", Time: t0.Add(3 * time.Second)},
	}
	for i := range events {
		events[i].RunID = runID
	}
	if _, err := b.AppendJournal(context.Background(), lock, events...); err != nil {
		t.Fatal(err)
	}
	plan := &plans.Plan{Rollouts: []*plans.Rollout{{Name: "c", Waves: []*plans.Wave{
		{Number: 1, MaxGroupImpact: 1, Hosts: []*plans.HostVisit{{Host: "h1", AvailabilityZone: "az1", Changes: []plans.Change{{Component: "qemu", From: "1", To: "2"}}}}},
		{Number: 2, Hosts: []*plans.HostVisit{{Host: "h2", AvailabilityZone: "az2", Changes: []plans.Change{{Component: "qemu", From: "1", To: "2"}}}}},
	}}}}
	tokens, err := OpenTokens(filepath.Join(dir, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{secrets: map[Role]string{}, lock: lock, backend: b, control: control.Open(filepath.Join(dir, "state.control.json"))}
	for _, r := range Roles {
		_, secret, err := tokens.Create(string(r)+"-user", r)
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[r] = secret
	}
	f.inbox = vnfm.InboxFor(filepath.Join(dir, "state.json"))
	secrets := map[string]string{"ims": "ims-secret", "epc": "epc-secret", "open": ""}
	s := &Server{Backend: b, Control: f.control, Tokens: tokens, Poll: 20 * time.Millisecond, Inbox: f.inbox,
		VNFMSecret: func(name string) (string, error) {
			sec, ok := secrets[name]
			if !ok {
				return "", errors.New("unknown")
			}
			return sec, nil
		},
		Plan: func(id string) (*plans.Plan, error) { return plan, nil }}
	f.server = s
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, secret, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestRoutesByRole: every route refuses a missing or bad token (401) and
// a role below its own (403), and answers the roles at or above it.
func TestRoutesByRole(t *testing.T) {
	f := newFixture(t)
	routes := []struct {
		method, path, body string
		need               Role
		ok                 int
	}{
		{"GET", "/v1/whoami", "", RoleViewer, 200},
		{"GET", "/v1/runs", "", RoleViewer, 200},
		{"GET", "/v1/runs/current", "", RoleViewer, 200},
		{"GET", "/v1/runs/" + runID, "", RoleViewer, 200},
		{"GET", "/v1/runs/current/plan", "", RoleViewer, 200},
		{"GET", "/v1/runs/current/status", "", RoleViewer, 200},
		{"GET", "/v1/runs/current/events?after=2", "", RoleViewer, 200},
		{"GET", "/v1/runs/current/control", "", RoleViewer, 200},
		{"GET", "/metrics", "", RoleViewer, 200},
		{"POST", "/v1/runs/current/pause", "", RoleOperator, 200},
		{"POST", "/v1/runs/current/resume", "", RoleOperator, 200},
		{"POST", "/v1/runs/current/approve", `{"wave": 1}`, RoleOperator, 200},
		{"POST", "/v1/runs/current/abort", "", RoleOperator, 200},
		{"GET", "/v1/tokens", "", RoleAdmin, 200},
		{"POST", "/v1/tokens", `{"name": "ci-%s", "role": "viewer"}`, RoleAdmin, 201},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			body := func(r Role) string {
				if strings.Contains(rt.body, "%s") {
					return strings.ReplaceAll(rt.body, "%s", string(r))
				}
				return rt.body
			}
			if resp, _ := f.do(t, rt.method, rt.path, "", body("")); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("without a token: %d", resp.StatusCode)
			}
			if resp, _ := f.do(t, rt.method, rt.path, "esc_"+strings.Repeat("0", 64), body("")); resp.StatusCode != 401 {
				t.Errorf("with a bad token: %d", resp.StatusCode)
			}
			for _, r := range Roles {
				resp, b := f.do(t, rt.method, rt.path, f.secrets[r], body(r))
				want := rt.ok
				if !r.Allows(rt.need) {
					want = 403
				}
				if resp.StatusCode != want {
					t.Errorf("as %s: %d, want %d: %s", r, resp.StatusCode, want, b)
				}
			}
		})
	}
	// Open routes.
	for _, p := range []string{"/v1/health", "/v1/openapi.json", "/", "/app.js"} {
		if resp, _ := f.do(t, "GET", p, "", ""); resp.StatusCode != 200 {
			t.Errorf("GET %s without a token: %d", p, resp.StatusCode)
		}
	}
}

func TestContent(t *testing.T) {
	f := newFixture(t)
	op := f.secrets[RoleOperator]

	if _, b := f.do(t, "GET", "/v1/whoami", op, ""); !strings.Contains(b, `"role": "operator"`) || !strings.Contains(b, `"name": "operator-user"`) {
		t.Errorf("whoami: %s", b)
	}
	_, b := f.do(t, "GET", "/v1/runs/current/status", op, "")
	var st Status
	if err := json.Unmarshal([]byte(b), &st); err != nil {
		t.Fatal(err)
	}
	if st.Report.RunID != runID || st.Report.Totals.Hosts != 2 || st.Report.Totals.StepsRunning != 1 || len(st.Report.Zones) != 2 || len(st.Report.Alerts) != 1 {
		t.Errorf("status: %s", b)
	}

	_, b = f.do(t, "GET", "/v1/runs/current/events?after=4", op, "")
	var ev struct{ Events []state.Event }
	if err := json.Unmarshal([]byte(b), &ev); err != nil || len(ev.Events) != 2 || ev.Events[0].Seq != 5 {
		t.Errorf("events after 4: %s", b)
	}
	for _, bad := range []string{"/v1/runs/current/events?after=x", "/v1/runs/..%2Fetc/events"} {
		if resp, _ := f.do(t, "GET", bad, op, ""); resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
	if resp, _ := f.do(t, "GET", "/v1/runs/20261122T100000.000Z-ffffffff", op, ""); resp.StatusCode != 404 {
		t.Errorf("unknown run: %d", resp.StatusCode)
	}

	// Actions reach the control file, named after the token.
	f.do(t, "POST", "/v1/runs/current/pause", op, "")
	if r, _ := f.control.Read(runID); !r.Paused || r.UpdatedBy != "operator-user" {
		t.Errorf("after pause: %+v", r)
	}
	if resp, b := f.do(t, "POST", "/v1/runs/current/approve", op, `{"wave": "x"}`); resp.StatusCode != 400 {
		t.Errorf("bad approval: %d %s", resp.StatusCode, b)
	}
	f.do(t, "POST", "/v1/runs/current/approve", op, `{"wave": 1}`)
	f.do(t, "POST", "/v1/runs/current/approve", op, `{"wave": 1}`)
	if r, _ := f.control.Read(runID); len(r.ApprovedWaves) != 1 {
		t.Errorf("approvals: %+v", r)
	}

	_, b = f.do(t, "GET", "/metrics", op, "")
	for _, want := range []string{`escalator_runs{status="running"} 1`, `escalator_hosts{status="pending"} 1`, `escalator_steps{status="running"} 1`,
		`escalator_step_duration_seconds_sum{action="migrate"} 2`, `escalator_migrations_total{result="ok"} 1`,
		`escalator_alerts_total{code="W_STEP_SLOW"} 1`, `escalator_wave_group_impact{wave="1"} 1`} {
		if !strings.Contains(b, want) {
			t.Errorf("metrics lack %s:\n%s", want, b)
		}
	}

	// Tokens: the secret is shown once, never the hash; a deleted token
	// stops working.
	admin := f.secrets[RoleAdmin]
	_, b = f.do(t, "POST", "/v1/tokens", admin, `{"name": "grafana", "role": "viewer"}`)
	var created struct {
		Token  Token
		Secret string
	}
	if err := json.Unmarshal([]byte(b), &created); err != nil || !strings.HasPrefix(created.Secret, "esc_") || created.Token.Hash != "" {
		t.Fatalf("created: %s", b)
	}
	if resp, _ := f.do(t, "GET", "/v1/runs", created.Secret, ""); resp.StatusCode != 200 {
		t.Errorf("new token: %d", resp.StatusCode)
	}
	_, b = f.do(t, "GET", "/v1/tokens", admin, "")
	if strings.Contains(b, "sha256:") || !strings.Contains(b, "grafana") {
		t.Errorf("token list: %s", b)
	}
	if resp, _ := f.do(t, "POST", "/v1/tokens", admin, `{"name": "x", "role": "root"}`); resp.StatusCode != 400 {
		t.Errorf("unknown role: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, "DELETE", "/v1/tokens/"+created.Token.ID, admin, ""); resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, "GET", "/v1/runs", created.Secret, ""); resp.StatusCode != 401 {
		t.Errorf("deleted token: %d", resp.StatusCode)
	}
}

// TestStream: the stream sends what is there, then what is appended, with
// ids a client resumes from.
func TestStream(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/current/stream", nil)
	req.Header.Set("Authorization", "Bearer "+f.secrets[RoleViewer])
	req.Header.Set("Last-Event-ID", "4")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var ids []string
	appended := false
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, id)
		}
		if len(ids) == 2 && !appended {
			appended = true
			if _, err := f.backend.AppendJournal(ctx, f.lock, state.Event{RunID: runID, Kind: state.KindNote, Message: "later"}); err != nil {
				t.Fatal(err)
			}
		}
		if len(ids) == 3 {
			break
		}
	}
	if strings.Join(ids, ",") != "5,6,7" {
		t.Errorf("stream ids %v, want 5,6,7", ids)
	}
}

// TestOpenAPIDocumented: the document served is the one in the docs, and
// it names every route the server has.
func TestOpenAPIDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "website", "docs", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != string(openAPI) {
		t.Error("website/docs/openapi.json differs from internal/api/openapi.json: copy it over")
	}
	var d struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &d); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("server.go")
	for _, m := range regexp.MustCompile(`"(GET|POST|DELETE) (/[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		if m[2] == "/" {
			continue // the dashboard
		}
		if _, ok := d.Paths[m[2]][strings.ToLower(m[1])]; !ok {
			t.Errorf("route %s %s is not in openapi.json", m[1], m[2])
		}
	}
}

// TestTokensReloaded: a token deleted by another process (escalator token
// delete) stops working in a running server.
func TestTokensReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	server, err := OpenTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := OpenTokens(path)
	tk, secret, err := cli.Create("bob", RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := server.Verify(secret); !ok {
		t.Fatal("a token created by another process is not seen")
	}
	if err := cli.Delete(tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := server.Verify(secret); ok {
		t.Error("a token deleted by another process still works")
	}
}

func TestVNFMReplies(t *testing.T) {
	f := newFixture(t)
	post := func(name, secret string, at time.Time, body string) int {
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/vnfm/"+name+"/replies", strings.NewReader(body))
		if secret != "" {
			req.Header.Set(vnfm.SignatureHeader, vnfm.Sign(secret, []byte(body), at))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	ack := `{"id":"r1/w1/notify/ims/maintenance","state":"ACK_PLANNED_MAINTENANCE","instance_actions":{"vm1":"OWN_ACTION"}}`
	tests := []struct {
		name, vnfm, secret string
		at                 time.Time
		body               string
		want               int
	}{
		{"unsigned", "ims", "", now, ack, 401},
		{"signed with another VNF manager's secret", "ims", "epc-secret", now, ack, 401},
		{"replayed: too old", "ims", "ims-secret", now.Add(-10 * time.Minute), ack, 401},
		{"for another VNF manager's notification", "epc", "epc-secret", now, ack, 403},
		{"unknown VNF manager", "nobody", "x", now, ack, 404},
		{"a VNF manager without a secret", "open", "", now, ack, 403},
		{"not a reply", "ims", "ims-secret", now, `{"hello":1}`, 400},
		{"good", "ims", "ims-secret", now, ack, 202},
		{"second reply to the same notification", "ims", "ims-secret", now.Add(time.Second), strings.Replace(ack, "ACK_", "NACK_", 1), 409},
	}
	for _, tt := range tests {
		if got := post(tt.vnfm, tt.secret, tt.at, tt.body); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	r, err := f.inbox.Get("r1/w1/notify/ims/maintenance")
	if err != nil || r == nil || r.State != "ACK_PLANNED_MAINTENANCE" || r.InstanceActions["vm1"] != "OWN_ACTION" {
		t.Errorf("inbox has %+v %v", r, err)
	}
}
