package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/migrations"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Migration types and statuses, as Nova's migration records spell them.
const (
	typeLive = "live-migration"
	typeCold = "migration"

	statusCompleted = "completed" // live
	statusFinished  = "finished"  // cold, awaiting confirmation
	statusConfirmed = "confirmed" // cold, confirmed
)

// failedStatuses end a migration without moving the instance.
var failedStatuses = map[string]bool{"error": true, "failed": true, "cancelled": true, "reverted": true}

// A migration is one ExecuteAction(migrate) call. Every step starts from
// what Nova says now, so the same step sent again after a crash finishes
// the earlier attempt instead of repeating it:
//
//   - the server already on the destination (or, with no destination,
//     off the source): done;
//   - a migration of the server in flight: wait for it (it is most likely
//     this step's, from before the crash), then look again;
//   - a cold migration awaiting confirmation: confirm it;
//   - otherwise start one, find its migration record (by id, newer than
//     any before the request) and wait on that record, never on the
//     API's 202: Nova reports a failed migration only there.
//
// The wait ends at the step's deadline, less a margin to clean up, or at
// migration_timeout. A live migration still running then is aborted (or
// force-completed, by on_migration_timeout). A call cancelled otherwise
// (Ctrl-C, escalator stopping) leaves the migration running in Nova: the
// step sent again waits for it.
type migration struct {
	c    *cloud
	req  sdk.ExecuteActionRequest
	resp *sdk.ExecuteActionResponse
	// until is when waiting ends and a stuck migration is dealt with.
	until time.Time
	// margin is what is kept after until for the clean-up.
	margin time.Duration
	start  time.Time
}

func (c *cloud) migrate(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) error {
	if req.Instance == "" {
		return errors.New("migrate: no instance given; this is a bug in the plan")
	}
	m := &migration{c: c, req: req, resp: resp, start: c.now()}
	m.setDeadline(ctx)
	// At most: wait for a migration in flight, confirm one, start ours.
	for range 4 {
		srv, err := m.server(ctx)
		if err != nil {
			return err
		}
		switch {
		case m.arrived(srv):
			resp.Progress(fmt.Sprintf("instance %s is on %s", req.Instance, srv.Host), 1)
			return nil
		case srv.Status == "VERIFY_RESIZE":
			if err := m.confirmPending(ctx, srv); err != nil {
				return err
			}
			continue
		case srv.TaskState != "":
			rec, err := m.inFlight(ctx)
			if err != nil {
				return err
			}
			if rec == nil {
				return fmt.Errorf("instance %s is busy (task_state %s, status %s) with no migration in flight; wait until the task ends, then run the step again", req.Instance, srv.TaskState, srv.Status)
			}
			resp.Progress(fmt.Sprintf("instance %s already has migration %d in flight (%s to %s); waiting for it", req.Instance, rec.ID, rec.Status, firstOf(rec.DestCompute, "a host Nova picks")), -1)
			if _, err := m.wait(ctx, rec, ""); err != nil {
				return err
			}
			continue
		case req.Host != "" && srv.Host != req.Host:
			resp.Diagnostics.AddWarning("Instance no longer on the host",
				fmt.Sprintf("Instance %s is on %s, not %s as planned: someone moved it, so it is not moved again.", req.Instance, srv.Host, req.Host))
			return nil
		}
		return m.run(ctx, srv)
	}
	return fmt.Errorf("instance %s keeps changing while escalator migrates it; look at it (openstack server show %s) and run the step again", req.Instance, req.Instance)
}

// setDeadline fixes when waiting ends: the step's deadline less a margin
// (a tenth of the time left, 5 to 30 s), and at most migration_timeout.
func (m *migration) setDeadline(ctx context.Context) {
	if dl, ok := ctx.Deadline(); ok {
		left := dl.Sub(m.start)
		m.margin = min(max(left/10, 5*time.Second), 30*time.Second)
		if m.margin > left/2 {
			m.margin = left / 2
		}
		m.until = dl.Add(-m.margin)
	}
	if t := m.c.cfg.MigrationTimeout; t > 0 {
		if lim := m.start.Add(t); m.until.IsZero() || lim.Before(m.until) {
			m.until = lim
		}
		if m.margin == 0 {
			m.margin = 30 * time.Second
		}
	}
}

func (m *migration) server(ctx context.Context) (*servers.Server, error) {
	srv, err := servers.Get(ctx, m.c.compute, m.req.Instance).Extract()
	if err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil, fmt.Errorf("instance %s no longer exists; plan again", m.req.Instance)
		}
		return nil, m.c.apiError("read instance "+m.req.Instance, err)
	}
	return srv, nil
}

// arrived: the server rests where the step wants it.
func (m *migration) arrived(srv *servers.Server) bool {
	if srv.TaskState != "" || srv.Status == "VERIFY_RESIZE" {
		return false
	}
	if m.req.Destination != "" {
		return srv.Host == m.req.Destination
	}
	return m.req.Host != "" && srv.Host != "" && srv.Host != m.req.Host
}

func (m *migration) kind() string {
	if m.req.Live {
		return "live migration"
	}
	return "cold migration"
}

func (m *migration) migrationType() string {
	if m.req.Live {
		return typeLive
	}
	return typeCold
}

// records lists the server's migration records, newest first.
func (m *migration) records(ctx context.Context) ([]migrations.Migration, error) {
	id := m.req.Instance
	pages, err := migrations.List(m.c.compute, migrations.ListOpts{InstanceID: &id}).AllPages(ctx)
	if err != nil {
		return nil, m.c.apiError("list the migrations of instance "+id, err)
	}
	recs, err := migrations.ExtractMigrations(pages)
	if err != nil {
		return nil, m.c.apiError("read the migrations of instance "+id, err)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID > recs[j].ID })
	return recs, nil
}

// inFlight is the server's newest migration not yet over, if any.
func (m *migration) inFlight(ctx context.Context) (*migrations.Migration, error) {
	recs, err := m.records(ctx)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		r := &recs[i]
		if r.MigrationType != typeLive && r.MigrationType != typeCold && r.MigrationType != "resize" {
			continue
		}
		if !failedStatuses[r.Status] && r.Status != statusCompleted && r.Status != statusConfirmed && r.Status != "done" {
			return r, nil
		}
	}
	return nil, nil
}

// run starts the migration and waits on its record.
func (m *migration) run(ctx context.Context, srv *servers.Server) error {
	q := m.req
	if q.Live && srv.Status != "ACTIVE" && srv.Status != "PAUSED" {
		return fmt.Errorf("instance %s is %s: only ACTIVE or PAUSED instances can be live-migrated; let the rollout cold-migrate it (evacuate fallback_to_cold) or start it first", q.Instance, srv.Status)
	}
	if !q.Live && srv.Status != "ACTIVE" && srv.Status != "SHUTOFF" {
		return fmt.Errorf("instance %s is %s: only ACTIVE or SHUTOFF instances can be cold-migrated", q.Instance, srv.Status)
	}
	before, err := m.records(ctx)
	if err != nil {
		return err
	}
	var lastID int64
	if len(before) > 0 {
		lastID = before[0].ID
	}

	var body map[string]any
	dest := any(nil)
	if q.Destination != "" {
		dest = q.Destination
	}
	if q.Live {
		// block_migration "auto" (2.25+): Nova picks block or shared-
		// storage migration from the hosts' storage. No "force": the
		// scheduler checks the destination (capacity, affinity).
		body = map[string]any{"os-migrateLive": map[string]any{"host": dest, "block_migration": "auto"}}
	} else {
		body = map[string]any{"migrate": map[string]any{"host": dest}}
	}
	m.resp.Progress(fmt.Sprintf("starting the %s of %s from %s to %s", m.kind(), q.Instance, srv.Host, firstOf(q.Destination, "a host Nova's scheduler picks")), 0)
	hr, perr := m.c.compute.Post(ctx, m.c.compute.ServiceURL("servers", q.Instance, "action"), body, nil, &gophercloud.RequestOpts{OkCodes: []int{202}})
	reqID := requestID(hr)
	// Wait for the record even when the POST failed: a connection that
	// broke after Nova accepted the request leaves a migration running.
	rec, ferr := m.findRecord(ctx, lastID, perr != nil)
	if perr != nil && rec == nil {
		if ferr != nil {
			return fmt.Errorf("%w (then: %v)", m.c.apiError(fmt.Sprintf("start the %s of %s to %s", m.kind(), q.Instance, firstOf(q.Destination, "any host")), perr), ferr)
		}
		return m.c.apiError(fmt.Sprintf("start the %s of %s to %s", m.kind(), q.Instance, firstOf(q.Destination, "any host")), perr)
	}
	if ferr != nil {
		return ferr
	}
	if rec == nil {
		// Nova failed the request before it made a record (the
		// conductor found no host, say): the instance action says why.
		detail := m.failure(ctx, reqID)
		return fmt.Errorf("the %s of %s to %s did not start: Nova made no migration record within %s%s", m.kind(), q.Instance, firstOf(q.Destination, "any host"), m.c.now().Sub(m.start).Round(time.Second), detail)
	}
	rec, err = m.wait(ctx, rec, reqID)
	if err != nil {
		return err
	}
	// The record is final a moment before the server is (its task
	// state is cleared last): give it a few polls.
	for i := 0; ; i++ {
		if srv, err = m.server(ctx); err != nil {
			return err
		}
		if m.arrived(srv) || i >= 5 || m.c.sleep(ctx, min(m.c.cfg.PollInterval, time.Second)) != nil {
			break
		}
	}
	if !m.arrived(srv) {
		return fmt.Errorf("the %s of %s ended %q, but the instance is on %s (status %s, task_state %q); look at it (openstack server migration list --server %s)", m.kind(), q.Instance, rec.Status, srv.Host, srv.Status, srv.TaskState, q.Instance)
	}
	m.resp.Progress(fmt.Sprintf("instance %s is on %s after %s", q.Instance, srv.Host, m.c.now().Sub(m.start).Round(time.Second)), 1)
	return nil
}

// findRecord polls for the migration record the request made: the newest
// of the step's type with an id above lastID. quick: give up after a few
// polls (the request failed, so there is most likely none).
func (m *migration) findRecord(ctx context.Context, lastID int64, quick bool) (*migrations.Migration, error) {
	for attempt := 0; ; attempt++ {
		recs, err := m.records(ctx)
		if err != nil {
			return nil, err
		}
		for i := range recs {
			if recs[i].ID > lastID && recs[i].MigrationType == m.migrationType() {
				return &recs[i], nil
			}
		}
		if quick && attempt >= 2 {
			return nil, nil
		}
		// Without a record the server's task state tells whether the
		// request is still being handled.
		srv, err := m.server(ctx)
		if err != nil {
			return nil, err
		}
		if srv.TaskState == "" && attempt >= 2 {
			return nil, nil
		}
		if err := m.pause(ctx); err != nil {
			return nil, nil
		}
	}
}

// pause waits one poll interval, or less when until comes first; an error
// when until or ctx is reached.
func (m *migration) pause(ctx context.Context) error {
	d := m.c.cfg.PollInterval
	if !m.until.IsZero() {
		left := m.until.Sub(m.c.now())
		if left <= 0 {
			return context.DeadlineExceeded
		}
		d = min(d, left)
	}
	return m.c.sleep(ctx, d)
}

// wait polls the record until the migration is over: for a cold
// migration, confirmed. It returns the final record.
func (m *migration) wait(ctx context.Context, rec *migrations.Migration, reqID string) (*migrations.Migration, error) {
	last := ""
	for {
		if rec.Status != last {
			m.resp.Progress(fmt.Sprintf("migration %d of %s (%s to %s): %s", rec.ID, rec.InstanceID, rec.MigrationType, firstOf(rec.DestCompute, m.req.Destination, "a host Nova picks"), rec.Status), -1)
			last = rec.Status
		}
		switch {
		case rec.Status == statusCompleted || rec.Status == statusConfirmed:
			return rec, nil
		case rec.Status == statusFinished && rec.MigrationType != typeLive:
			if err := m.confirm(ctx, rec); err != nil {
				return nil, err
			}
		case failedStatuses[rec.Status]:
			return nil, fmt.Errorf("the %s %d of %s from %s to %s ended %q%s; the instance stays on %s", rec.MigrationType, rec.ID, rec.InstanceID, rec.SourceCompute, firstOf(rec.DestCompute, m.req.Destination, "a host Nova picks"), rec.Status, m.failure(ctx, reqID), rec.SourceCompute)
		}
		if err := m.pause(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, m.interrupted(ctx, rec)
			}
			return m.stuck(ctx, rec)
		}
		next, err := m.record(ctx, rec.ID)
		if err != nil {
			return nil, err
		}
		rec = next
	}
}

// record reads one migration record by id.
func (m *migration) record(ctx context.Context, id int64) (*migrations.Migration, error) {
	recs, err := m.records(ctx)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if recs[i].ID == id {
			return &recs[i], nil
		}
	}
	return nil, fmt.Errorf("migration %d of instance %s disappeared from Nova's records", id, m.req.Instance)
}

// confirmPending confirms a cold migration that waits for it (the
// server is VERIFY_RESIZE), when it goes where the step wants.
func (m *migration) confirmPending(ctx context.Context, srv *servers.Server) error {
	recs, err := m.records(ctx)
	if err != nil {
		return err
	}
	for i := range recs {
		r := &recs[i]
		if r.Status != statusFinished || (r.MigrationType != typeCold && r.MigrationType != "resize") {
			continue
		}
		if r.MigrationType == "resize" || (m.req.Destination != "" && r.DestCompute != m.req.Destination) {
			return fmt.Errorf("instance %s waits for the confirmation of a %s to %s, which is not this step's (to %s); confirm or revert it (openstack server resize confirm|revert %s), then run the step again", m.req.Instance, r.MigrationType, r.DestCompute, firstOf(m.req.Destination, "any host"), m.req.Instance)
		}
		m.resp.Progress(fmt.Sprintf("instance %s has migration %d to %s awaiting confirmation; confirming it", m.req.Instance, r.ID, r.DestCompute), -1)
		_, err := m.wait(ctx, r, "")
		return err
	}
	return fmt.Errorf("instance %s is VERIFY_RESIZE but has no finished migration to confirm; look at it (openstack server migration list --server %s)", m.req.Instance, srv.ID)
}

// confirm confirms a finished cold migration; Nova then frees the source.
func (m *migration) confirm(ctx context.Context, rec *migrations.Migration) error {
	m.resp.Progress(fmt.Sprintf("confirming migration %d of %s on %s", rec.ID, rec.InstanceID, rec.DestCompute), -1)
	err := servers.ConfirmResize(ctx, m.c.compute, rec.InstanceID).ExtractErr()
	if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		return m.c.apiError(fmt.Sprintf("confirm migration %d of %s", rec.ID, rec.InstanceID), err)
	}
	// A 409 here means it is already being confirmed; the record says
	// when that is over.
	return nil
}

// interrupted: the call was cancelled (not timed out). The migration goes
// on in Nova; the same step sent again waits for it.
func (m *migration) interrupted(ctx context.Context, rec *migrations.Migration) error {
	return fmt.Errorf("interrupted (%v) while the %s %d of %s to %s was %s; it goes on in Nova, and the step, run again, waits for it", context.Cause(ctx), rec.MigrationType, rec.ID, rec.InstanceID, firstOf(rec.DestCompute, m.req.Destination, "a host Nova picks"), rec.Status)
}

// stuck handles a migration still going when its time is up: a live one
// is aborted or force-completed, by on_migration_timeout, within the
// margin kept for it; a cold one can't be stopped and is reported.
func (m *migration) stuck(ctx context.Context, rec *migrations.Migration) (*migrations.Migration, error) {
	took := m.c.now().Sub(m.start).Round(time.Second)
	if rec.MigrationType != typeLive {
		return nil, fmt.Errorf("the %s %d of %s to %s is still %s after %s; Nova goes on with it (a cold migration can't be aborted): look at it (openstack server migration list --server %s)", rec.MigrationType, rec.ID, rec.InstanceID, rec.DestCompute, rec.Status, took, rec.InstanceID)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(m.margin, 5*time.Second))
	defer cancel()
	url := m.c.compute.ServiceURL("servers", rec.InstanceID, "migrations", strconv.FormatInt(rec.ID, 10))
	policy := m.c.cfg.OnMigrationTimeout
	var err error
	if policy == OnTimeoutForceComplete {
		m.resp.Progress(fmt.Sprintf("migration %d of %s still %s after %s: forcing it to complete", rec.ID, rec.InstanceID, rec.Status, took), -1)
		_, err = m.c.compute.Post(cctx, url+"/action", map[string]any{"force_complete": nil}, nil, &gophercloud.RequestOpts{OkCodes: []int{202}})
	} else {
		m.resp.Progress(fmt.Sprintf("migration %d of %s still %s after %s: aborting it", rec.ID, rec.InstanceID, rec.Status, took), -1)
		_, err = m.c.compute.Delete(cctx, url, &gophercloud.RequestOpts{OkCodes: []int{202}})
	}
	verb := strings.ReplaceAll(policy, "_", "-")
	if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusBadRequest) && !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		return nil, fmt.Errorf("the live migration %d of %s to %s did not finish within %s, and %s failed: %w", rec.ID, rec.InstanceID, rec.DestCompute, took, verb, m.c.apiError(verb+" it", err))
	}
	// 400/409: it is no longer in a state that can be aborted (it just
	// ended, say); its record tells how.
	final := rec
	for {
		next, rerr := m.record(cctx, rec.ID)
		if rerr == nil {
			final = next
			if final.Status == statusCompleted || failedStatuses[final.Status] {
				break
			}
		}
		if cctx.Err() != nil || m.c.sleep(cctx, min(m.c.cfg.PollInterval, time.Second)) != nil {
			break
		}
	}
	if final.Status == statusCompleted {
		if policy == OnTimeoutForceComplete {
			m.resp.Diagnostics.AddWarning("Migration force-completed",
				fmt.Sprintf("The live migration %d of %s did not finish within %s and was forced to complete (the instance was paused for the end of the copy).", rec.ID, rec.InstanceID, took))
			return final, nil
		}
		// It completed while being aborted: as good as done.
		return final, nil
	}
	return nil, fmt.Errorf("the live migration %d of %s to %s did not finish within %s; %s asked by on_migration_timeout, the migration is now %q and the instance stays on %s",
		rec.ID, rec.InstanceID, rec.DestCompute, took, verb, final.Status, rec.SourceCompute)
}

// failure is ": <why>" from the instance action of the request (or the
// newest migration action), best effort: "" when Nova says nothing.
func (m *migration) failure(ctx context.Context, reqID string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	id := m.req.Instance
	if reqID == "" {
		var list struct {
			Actions []struct {
				Action    string `json:"action"`
				RequestID string `json:"request_id"`
			} `json:"instanceActions"`
		}
		if _, err := m.c.compute.Get(ctx, m.c.compute.ServiceURL("servers", id, "os-instance-actions"), &list, nil); err != nil {
			return ""
		}
		for _, a := range list.Actions { // newest first
			if a.Action == "live-migration" || a.Action == "migrate" {
				reqID = a.RequestID
				break
			}
		}
		if reqID == "" {
			return ""
		}
	}
	var detail struct {
		Action struct {
			Message string `json:"message"`
			Events  []struct {
				Event     string `json:"event"`
				Result    string `json:"result"`
				Details   string `json:"details"`
				Traceback string `json:"traceback"`
			} `json:"events"`
		} `json:"instanceAction"`
	}
	if _, err := m.c.compute.Get(ctx, m.c.compute.ServiceURL("servers", id, "os-instance-actions", reqID), &detail, nil); err != nil {
		return ""
	}
	var why []string
	if msg := detail.Action.Message; msg != "" && msg != "Error" {
		why = append(why, msg)
	}
	for _, e := range detail.Action.Events {
		if e.Result != "Error" {
			continue
		}
		s := e.Details
		if s == "" && e.Traceback != "" {
			// The last line of a traceback names the exception.
			lines := strings.Split(strings.TrimSpace(e.Traceback), "\n")
			s = strings.TrimSpace(lines[len(lines)-1])
		}
		if s != "" {
			why = append(why, fmt.Sprintf("%s: %s", e.Event, s))
		}
	}
	if len(why) == 0 {
		return ""
	}
	return " (Nova: " + m.c.conn.redact(strings.Join(why, "; ")) + ")"
}
