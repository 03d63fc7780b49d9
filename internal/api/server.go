// Package api is escalator's HTTP API (`escalator serve`, `apply
// -listen`): runs, their plans, events (also as a Server-Sent Events
// stream), status reports and Prometheus metrics for viewers; pause,
// resume, abort and canary approval for operators; tokens for admins.
//
// It reads the state through the state backend and acts through the
// control file (package control), so it works the same beside an apply in
// the same process or in another one, and keeps answering while the
// cloud's own services (Keystone included) are being upgraded: its
// authentication is its own token file, and, optionally, Keystone tokens
// with a cached fallback for when Keystone cannot answer (keystone.go).
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/internal/control"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/report"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/vnfm"
)

// Server serves the API of one campaign.
type Server struct {
	Backend state.Backend
	// Plan returns a run's plan (nil when it is not kept).
	Plan    func(runID string) (*plans.Plan, error)
	Control *control.File
	Tokens  *Tokens
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Poll is how often the event stream looks for new events; 0 means
	// 500ms.
	Poll time.Duration
	// Timeout bounds each request's reads of the state; 0 means 30s.
	Timeout time.Duration
	// Inbox receives VNF managers' asynchronous replies; VNFMSecret gives
	// the secret a VNF manager's replies are signed with.
	Inbox      *vnfm.Inbox
	VNFMSecret func(name string) (string, error)
	// Keystone, when set, also accepts Keystone tokens (roles mapped from
	// Keystone's); tokens of the token file never depend on it.
	Keystone *Keystone
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Poll == 0 {
		s.Poll = 500 * time.Millisecond
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	mux := http.NewServeMux()
	route := func(pattern string, need Role, h func(http.ResponseWriter, *http.Request, Token)) {
		mux.HandleFunc(pattern, s.auth(need, h))
	}
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	route("GET /v1/whoami", RoleViewer, func(w http.ResponseWriter, r *http.Request, tk Token) {
		out := map[string]any{"id": tk.ID, "name": tk.Name, "role": string(tk.Role), "source": authSource(w)}
		if tk.KeystoneRoles != nil {
			out["keystone_roles"] = tk.KeystoneRoles
		}
		writeJSON(w, http.StatusOK, out)
	})
	route("GET /v1/runs", RoleViewer, s.listRuns)
	route("GET /v1/runs/{id}", RoleViewer, s.getRun)
	route("GET /v1/runs/{id}/plan", RoleViewer, s.getPlan)
	route("GET /v1/runs/{id}/status", RoleViewer, s.getStatus)
	route("GET /v1/runs/{id}/events", RoleViewer, s.getEvents)
	route("GET /v1/runs/{id}/stream", RoleViewer, s.streamEvents)
	route("GET /v1/runs/{id}/control", RoleViewer, s.getControl)
	route("POST /v1/runs/{id}/pause", RoleOperator, s.act(func(r *control.Request, _ *http.Request) error { r.Paused = true; return nil }))
	route("POST /v1/runs/{id}/resume", RoleOperator, s.act(func(r *control.Request, _ *http.Request) error { r.Paused = false; return nil }))
	route("POST /v1/runs/{id}/abort", RoleOperator, s.act(func(r *control.Request, _ *http.Request) error { r.Aborted = true; return nil }))
	route("POST /v1/runs/{id}/approve", RoleOperator, s.act(approveWave))
	// VNF managers authenticate by signing, not with a token.
	mux.HandleFunc("POST /v1/vnfm/{name}/replies", s.vnfmReply)
	route("GET /v1/tokens", RoleAdmin, s.listTokens)
	route("POST /v1/tokens", RoleAdmin, s.createToken)
	route("DELETE /v1/tokens/{tid}", RoleAdmin, s.deleteToken)
	route("GET /metrics", RoleViewer, s.metrics)
	mux.Handle("GET /", dashboard())
	return securityHeaders(mux)
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

// authSourceHeader says, on every authenticated answer, where the
// identity came from: local (the token file), keystone, or
// keystone-cached (Keystone was unreachable and an earlier validation was
// used).
const authSourceHeader = "Escalator-Auth"

func authSource(w http.ResponseWriter) string { return w.Header().Get(authSourceHeader) }

// auth checks the token's role: 401 without a valid token, 403 with too
// little role, 503 when Keystone would have to say and cannot. Tokens
// come as "Authorization: Bearer …" or, for Keystone's, as X-Auth-Token
// (what OpenStack clients send).
func (s *Server) auth(need Role, h func(http.ResponseWriter, *http.Request, Token)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok && s.Keystone != nil {
			secret, ok = r.Header.Get("X-Auth-Token"), r.Header.Get("X-Auth-Token") != ""
		}
		secret = strings.TrimSpace(secret)
		if !ok || secret == "" || (s.Tokens == nil && s.Keystone == nil) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="escalator"`)
			writeError(w, http.StatusUnauthorized, "a bearer token is needed (Authorization: Bearer esc_…); an admin makes one with escalator token create")
			return
		}
		var tk Token
		source := SourceLocal
		if strings.HasPrefix(secret, tokenPrefix) || s.Keystone == nil {
			if s.Tokens != nil {
				tk, ok = s.Tokens.Verify(secret)
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="escalator", error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, "the token is not valid (unknown or deleted)")
				return
			}
		} else {
			var err error
			tk, source, err = s.Keystone.Verify(r.Context(), secret)
			switch {
			case errors.Is(err, ErrKeystoneUnavailable):
				w.Header().Set("Retry-After", "30")
				writeError(w, http.StatusServiceUnavailable, "%v", err)
				return
			case err != nil:
				w.Header().Set("WWW-Authenticate", `Bearer realm="escalator", error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, "Keystone does not accept the token (expired, revoked or unknown)")
				return
			case tk.Role == "":
				writeError(w, http.StatusForbidden, "%s has Keystone roles [%s], none of which maps to an escalator role here (%s); ask for one of those roles%s",
					tk.Name, strings.Join(tk.KeystoneRoles, ", "), s.Keystone.describeRoles(), s.Keystone.projectHint())
				return
			}
		}
		w.Header().Set(authSourceHeader, source)
		if !tk.Role.Allows(need) {
			writeError(w, http.StatusForbidden, "token %q has role %s; this needs %s", tk.Name, tk.Role, need)
			return
		}
		h(w, r, tk)
	}
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.Timeout)
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	runs, err := s.Backend.Runs(ctx)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "list runs: %v", err)
		return
	}
	if runs == nil {
		runs = []state.RunSummary{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

// runID resolves {id}; "current" is the state's current (last) run.
func (s *Server) runID(ctx context.Context, w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if id == "current" {
		st, err := state.Load(ctx, s.Backend)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "read state: %v", err)
			return "", false
		}
		if st == nil || st.Run == nil {
			writeError(w, http.StatusNotFound, "there is no run yet")
			return "", false
		}
		return st.Run.ID, true
	}
	if err := state.ValidateRunID(id); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return "", false
	}
	return id, true
}

func (s *Server) journal(ctx context.Context, w http.ResponseWriter, id string) (*state.Journal, bool) {
	j, err := s.Backend.ReadJournal(ctx, id)
	switch {
	case errors.Is(err, state.ErrRunNotFound):
		writeError(w, http.StatusNotFound, "no run %s", id)
		return nil, false
	case err != nil:
		writeError(w, http.StatusInternalServerError, "read run %s: %v", id, err)
		return nil, false
	}
	return j, true
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	id, ok := s.runID(ctx, w, r)
	if !ok {
		return
	}
	j, ok := s.journal(ctx, w, id)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, state.Summarize(j))
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	id, ok := s.runID(ctx, w, r)
	if !ok {
		return
	}
	if _, ok := s.journal(ctx, w, id); !ok {
		return
	}
	p, err := s.plan(id)
	if err != nil || p == nil {
		writeError(w, http.StatusNotFound, "the plan of run %s is not kept: %v", id, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) plan(id string) (*plans.Plan, error) {
	if s.Plan == nil {
		return nil, errors.New("no plan store")
	}
	return s.Plan(id)
}

// Status is the body of GET /v1/runs/{id}/status: the report, and what
// the operator asked of the run.
type Status struct {
	Report  *report.Report  `json:"report"`
	Control control.Request `json:"control"`
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	id, ok := s.runID(ctx, w, r)
	if !ok {
		return
	}
	j, ok := s.journal(ctx, w, id)
	if !ok {
		return
	}
	rep, err := s.report(id, j)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	st := Status{Report: rep}
	if s.Control != nil {
		st.Control, _ = s.Control.Read(id)
	}
	writeJSON(w, http.StatusOK, st)
}

// report folds the run's own journal (not the campaign's state, which may
// be at a later run) into a report.
func (s *Server) report(id string, j *state.Journal) (*report.Report, error) {
	st := state.New()
	for _, e := range j.Events {
		if err := st.Apply(e); err != nil {
			return nil, fmt.Errorf("read run %s: %w", id, err)
		}
	}
	p, _ := s.plan(id)
	return report.Build(st, p, j, s.Now()), nil
}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	id, ok := s.runID(ctx, w, r)
	if !ok {
		return
	}
	after, err := afterParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	j, ok := s.journal(ctx, w, id)
	if !ok {
		return
	}
	events := []state.Event{}
	for _, e := range j.Events {
		if e.Seq > after {
			events = append(events, e)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"run_id": id, "events": events})
}

func afterParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("after")
	if v == "" {
		v = r.Header.Get("Last-Event-ID")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("after=%q is not a sequence number", v)
	}
	return n, nil
}

// streamEvents sends the run's events as Server-Sent Events (id = seq, so
// a reconnecting client resumes with Last-Event-ID), polling the journal,
// until the client goes away. A comment line every 15 s keeps proxies
// from closing an idle stream.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx := r.Context()
	rctx, cancel := s.ctx(r)
	id, ok := s.runID(rctx, w, r)
	cancel()
	if !ok {
		return
	}
	after, err := afterParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, s.Timeout)
		j, err := s.Backend.ReadJournal(rctx, id)
		cancel()
		if err == nil {
			for _, e := range j.Events {
				if e.Seq <= after {
					continue
				}
				b, _ := json.Marshal(e)
				if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, b); err != nil {
					return
				}
				after = e.Seq
			}
			fl.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-time.After(s.Poll):
		}
	}
}

func (s *Server) getControl(w http.ResponseWriter, r *http.Request, _ Token) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	id, ok := s.runID(ctx, w, r)
	if !ok {
		return
	}
	if s.Control == nil {
		writeJSON(w, http.StatusOK, control.Request{RunID: id})
		return
	}
	req, err := s.Control.Read(id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// act changes what the operator asks of a run, and answers with the
// request as it now stands. Only a run that exists can be acted on.
func (s *Server) act(change func(*control.Request, *http.Request) error) func(http.ResponseWriter, *http.Request, Token) {
	return func(w http.ResponseWriter, r *http.Request, tk Token) {
		ctx, cancel := s.ctx(r)
		defer cancel()
		id, ok := s.runID(ctx, w, r)
		if !ok {
			return
		}
		if _, ok := s.journal(ctx, w, id); !ok {
			return
		}
		if s.Control == nil {
			writeError(w, http.StatusServiceUnavailable, "this server has no control file")
			return
		}
		var cerr error
		req, err := s.Control.Update(id, tk.Name, func(cr *control.Request) { cerr = change(cr, r) })
		switch {
		case cerr != nil:
			writeError(w, http.StatusBadRequest, "%v", cerr)
		case err != nil:
			writeError(w, http.StatusInternalServerError, "%v", err)
		default:
			writeJSON(w, http.StatusOK, req)
		}
	}
}

// approveWave reads {"wave": N} and approves it. (The change is made in
// the control file's update; a bad body leaves the request as it was,
// except for the update's author and time.)
func approveWave(cr *control.Request, r *http.Request) error {
	var body struct {
		Wave int `json:"wave"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(&body); err != nil {
		return fmt.Errorf(`the body must be {"wave": N}: %v`, err)
	}
	if body.Wave < 1 {
		return fmt.Errorf("wave %d is not a wave number", body.Wave)
	}
	for _, w := range cr.ApprovedWaves {
		if w == body.Wave {
			return nil
		}
	}
	cr.ApprovedWaves = append(cr.ApprovedWaves, body.Wave)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ Token) {
	list := s.Tokens.List()
	for i := range list {
		list[i].Hash = "" // not even the hash leaves the server
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, _ Token) {
	var body struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, `the body must be {"name": "…", "role": "viewer|operator|admin"}: %v`, err)
		return
	}
	role, err := ParseRole(body.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	tk, secret, err := s.Tokens.Create(body.Name, role)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	tk.Hash = ""
	writeJSON(w, http.StatusCreated, map[string]any{"token": tk, "secret": secret})
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, _ Token) {
	if err := s.Tokens.Delete(r.PathValue("tid")); err != nil {
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

//go:embed openapi.json
var openAPI []byte

// vnfmReply takes a VNF manager's asynchronous reply: signed with its own
// notify block's secret (so one VNF manager cannot answer for another),
// timestamped within vnfm.MaxSkew (so an old reply cannot be replayed),
// and the first reply to a notification wins.
func (s *Server) vnfmReply(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.Inbox == nil || s.VNFMSecret == nil {
		writeError(w, http.StatusServiceUnavailable, "this server takes no VNF manager replies")
		return
	}
	secret, err := s.VNFMSecret(name)
	if err != nil {
		writeError(w, http.StatusNotFound, "no VNF manager (notify block) named %q", name)
		return
	}
	if secret == "" {
		writeError(w, http.StatusForbidden, "notify block %q has no secret, so its replies cannot be checked: give it one, or reply in the response to the notification", name)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read the reply: %v", err)
		return
	}
	if err := vnfm.Verify(secret, r.Header.Get(vnfm.SignatureHeader), body, s.Now()); err != nil {
		writeError(w, http.StatusUnauthorized, "reply refused: %v", err)
		return
	}
	var reply vnfm.Reply
	if err := json.Unmarshal(body, &reply); err != nil || reply.ID == "" || reply.State == "" {
		writeError(w, http.StatusBadRequest, `the reply must be {"id": "<notification id>", "state": "ACK_…" or "NACK_…", …}`)
		return
	}
	if !strings.Contains(reply.ID, "/notify/"+name+"/") {
		writeError(w, http.StatusForbidden, "notification %q was not sent to VNF manager %q", reply.ID, name)
		return
	}
	switch err := s.Inbox.Put(reply); {
	case errors.Is(err, vnfm.ErrDuplicate):
		writeError(w, http.StatusConflict, "notification %q already has a reply; the first one counts", reply.ID)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"id": reply.ID, "status": "accepted"})
	}
}
