package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// fakeNotifier answers maintenance notifications with reply (nil: ACK)
// or err, and records what it was told.
type fakeNotifier struct {
	mu    sync.Mutex
	reply *Reply
	err   error
	got   []Notification
}

func (f *fakeNotifier) Notify(_ context.Context, _ plans.Notification, msg Notification) (*Reply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, msg)
	if msg.Event != "maintenance" {
		return nil, nil
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.reply != nil {
		return f.reply, nil
	}
	return &Reply{Ack: true}, nil
}

// vnfmSetup is setup() with a notify block "vnfm" for project "ims" (all
// instances are of "ims") and the given on_timeout and lead_time.
func vnfmSetup(t *testing.T, action, onTimeout, lead string) (*config.Config, *plans.Plan) {
	return vnfmSetupOwn(t, action, onTimeout, lead, "1m")
}

func vnfmSetupOwn(t *testing.T, action, onTimeout, lead, ownTimeout string) (*config.Config, *plans.Plan) {
	t.Helper()
	extra := ""
	if action == "continue" {
		extra = "max_failed = 10"
	}
	_, p := setup(t, false, action, extra)
	dir := t.TempDir()
	src := fmt.Sprintf(strings.Replace(campaign, "  on_failure {", `  notify "vnfm" {
    url        = "http://127.0.0.1:9/"
    projects   = ["ims"]
    on_timeout = %q
    lead_time  = %q
    own_action_timeout = %q
  }
  on_failure {`, 1), "false", onTimeout, lead, ownTimeout, action, extra)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, ds := config.Load(dir, config.Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	for _, w := range p.Rollouts[0].Waves {
		w.Notify = []plans.Notification{{Notify: "vnfm", URL: "http://127.0.0.1:9/", Projects: []string{"ims"}, OnTimeout: onTimeout}}
		for _, hv := range w.Hosts {
			for i := range hv.Moves {
				hv.Moves[i].Project = "ims"
			}
		}
	}
	return cfg, p
}

func lastHostStatus(rec *memRecorder, host string) (string, string) {
	var st, code string
	for _, e := range rec.events {
		if e.Kind == state.KindHostStatus && e.Host == host {
			st, code = e.Status, e.Code
		}
	}
	return st, code
}

func TestVNFMNackFailsItsHostsUntouched(t *testing.T) {
	cfg, p := vnfmSetup(t, "halt", "proceed", "0s")
	ex, rec := &fakeExec{}, &memRecorder{}
	e := newEngine(cfg, p, ex, rec)
	e.Notifier = &fakeNotifier{reply: &Reply{Ack: false, Reason: "switch-over in progress"}}
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunHalted || !strings.Contains(out.Message, "switch-over in progress") {
		t.Fatalf("out %+v err %v", out, err)
	}
	if len(ex.calls) != 0 {
		t.Errorf("a refused wave was touched: %v", ex.calls)
	}
	if st, code := lastHostStatus(rec, "h1"); st != string(state.HostFailed) || code != state.CodeVNFMRefused {
		t.Errorf("h1 ended %s/%s, want failed/%s (not in maintenance: it was never touched)", st, code, state.CodeVNFMRefused)
	}
	// The refusal is a failed notify step: a resumed run asks again.
	if rec.finished()["w1/notify/vnfm/maintenance"] {
		t.Error("a refused notification counts as done")
	}
}

func TestVNFMNoReplyFailHost(t *testing.T) {
	cfg, p := vnfmSetup(t, "continue", "fail_host", "0s")
	p.Rollouts[0].MaxFailed = 10
	ex, rec := &fakeExec{}, &memRecorder{}
	e := newEngine(cfg, p, ex, rec)
	fn := &fakeNotifier{err: fmt.Errorf("%w: timeout", ErrNoReply)}
	e.Notifier = fn
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished || len(out.Failed) != 4 {
		t.Fatalf("out %+v err %v", out, err)
	}
	if len(ex.calls) != 0 {
		t.Errorf("hosts of a silent VNF manager were touched: %v", ex.calls)
	}
	// No wave came back upgraded: nothing is "available".
	for _, n := range fn.got {
		if n.Event == "available" {
			t.Errorf("available notification for a wave none of whose hosts was upgraded: %+v", n)
		}
	}
}

func TestVNFMOwnActionAndLeadTime(t *testing.T) {
	cfg, p := vnfmSetup(t, "halt", "proceed", "30s")
	ex, rec := &fakeExec{}, &memRecorder{}
	e := newEngine(cfg, p, ex, rec)
	notifier := &fakeNotifier{reply: &Reply{Ack: true, Actions: map[string]string{"vm-h1": actionOwn}}}
	// vm-h1 is gone from h1 (the VNF manager moved it) when first looked
	// for.
	pl := &fakePlacer{at: map[string]string{"vm-h1": "h7"}}
	var slept []time.Duration
	e.Notifier, e.Placer = notifier, pl
	e.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished {
		t.Fatalf("out %+v err %v", out, err)
	}
	for _, r := range ex.reqs {
		if r.Kind == sdk.ActionMigrate && r.Instance == "vm-h1" {
			t.Errorf("escalator migrated vm-h1, which its VNF manager took over")
		}
	}
	if pl.locates == 0 || !rec.finished()["w1/h1/migrate/vm-h1/own_action"] {
		t.Errorf("no wait for vm-h1 to leave h1 (locates %d)", pl.locates)
	}
	// Lead time once per wave, before its first move.
	if len(slept) != 3 || slept[0] <= 0 || slept[0] > 30*time.Second {
		t.Errorf("lead time sleeps %v, want three of at most 30s", slept)
	}
	// Notifications name the instances with what is planned, and the
	// available one carries the new versions.
	var maint, avail int
	for _, n := range notifier.got {
		switch n.Event {
		case "maintenance":
			maint++
			if len(n.Instances) == 0 || n.Instances[0].Destination != "h9" || !n.Instances[0].Live || n.NotBefore.IsZero() || !strings.HasPrefix(n.ID, "run-1/") {
				t.Errorf("maintenance notification %+v", n)
			}
		case "available":
			avail++
			for _, h := range n.Hosts {
				if n.Versions[h]["nova"] != "27.1.0" {
					t.Errorf("available notification without versions: %+v", n)
				}
			}
		}
	}
	if maint != 3 || avail != 3 {
		t.Errorf("%d maintenance and %d available notifications, want 3 and 3", maint, avail)
	}
	// A resumed run still knows vm-h1 is the VNF manager's (from the
	// journal's note), so it does not migrate it either.
	own := false
	for _, ev := range rec.events {
		own = own || (ev.Code == state.CodeOwnAction && ev.Data[DataOwnAction] == "vm-h1" && ev.Data[DataOwnScope] == "w1")
	}
	if !own {
		t.Error("OWN_ACTION not recorded in the journal with its scope")
	}
	// The choice answers wave 1's notification only.
	if !e.isOwn("w1", "vm-h1") || e.isOwn("rollback/h1", "vm-h1") || e.isOwn("w2", "vm-h1") {
		t.Errorf("OWN_ACTION scope: %v", e.Own)
	}
}

// TestVNFMOwnActionTimeout: an instance the VNF manager took over and never
// moved fails its host after own_action_timeout.
func TestVNFMOwnActionTimeout(t *testing.T) {
	cfg, p := vnfmSetupOwn(t, "halt", "proceed", "0s", "1s")
	ex, rec := &fakeExec{}, &memRecorder{}
	e := newEngine(cfg, p, ex, rec)
	e.Notifier = &fakeNotifier{reply: &Reply{Ack: true, Actions: map[string]string{"vm-h1": actionOwn}}}
	e.Placer = &fakePlacer{at: map[string]string{"vm-h1": "h1"}}
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunHalted || !strings.Contains(out.Message, "still on h1 after 1s") {
		t.Fatalf("out %+v err %v", out, err)
	}
	if st, _ := lastHostStatus(rec, "h1"); st != string(state.HostInMaintenance) {
		t.Errorf("h1 ended %s, want in_maintenance (halt)", st)
	}
}

// hostEventNotifier records every notification with its VNF manager and
// fails the host-level ones when failHost is set.
type hostEventNotifier struct {
	mu       sync.Mutex
	failHost bool
	got      []string // "<vnfm> <event> <hosts>"
	msgs     []Notification
}

func (f *hostEventNotifier) Notify(_ context.Context, n plans.Notification, msg Notification) (*Reply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, n.Notify+" "+msg.Event+" "+strings.Join(msg.Hosts, ","))
	f.msgs = append(f.msgs, msg)
	switch msg.Event {
	case "maintenance":
		return &Reply{Ack: true}, nil
	case EventInMaintenance, EventHostComplete:
		if f.failHost {
			return nil, fmt.Errorf("%w: connection refused", ErrNoReply)
		}
	}
	return nil, nil
}

// stepOrder is the position of each step's successful end in the journal.
func stepOrder(rec *memRecorder) map[string]int {
	pos := map[string]int{}
	for i, e := range rec.events {
		if e.Kind == state.KindStepFinished && e.Status == string(state.StepOK) {
			pos[e.StepID] = i
		}
	}
	return pos
}

// TestVNFMHostEvents: each VNF manager with instances on a host hears that
// the host is in maintenance once they left it and before anything on it
// changes, and that it is back once it left maintenance, before the
// wave's own MAINTENANCE_COMPLETE; a VNF manager without instances there
// hears nothing of it; a resumed run does not repeat what was sent.
func TestVNFMHostEvents(t *testing.T) {
	cfg, p := vnfmSetup(t, "halt", "proceed", "0s")
	for _, w := range p.Rollouts[0].Waves {
		w.Notify = append(w.Notify, plans.Notification{Notify: "other", URL: "http://127.0.0.1:9/", Projects: []string{"nobody"}, OnTimeout: "proceed"})
	}
	ex, rec := &fakeExec{}, &memRecorder{}
	e := newEngine(cfg, p, ex, rec)
	fn := &hostEventNotifier{}
	e.Notifier = fn
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished {
		t.Fatalf("out %+v err %v", out, err)
	}
	pos := stepOrder(rec)
	hostsSeen := 0
	for _, w := range p.Rollouts[0].Waves {
		for _, hv := range w.Hosts {
			if len(hv.Moves) == 0 {
				continue
			}
			hostsSeen++
			pre := fmt.Sprintf("w%d/%s/", w.Number, hv.Host)
			in, back := pre+"notify/vnfm/"+EventInMaintenance, pre+"notify/vnfm/"+EventHostComplete
			order := []string{fmt.Sprintf("w%d/notify/vnfm/maintenance", w.Number), pre + "migrate/" + hv.Moves[len(hv.Moves)-1].Instance, in}
			for _, ch := range hv.Changes {
				for _, b := range ch.Backups {
					order = append(order, pre+"backup/"+ch.Component+"/"+b)
				}
			}
			for _, ch := range hv.Changes {
				order = append(order, pre+"upgrade/"+ch.Component)
			}
			order = append(order, pre+"leave_maintenance", back, fmt.Sprintf("w%d/notify/vnfm/available", w.Number))
			for i := 1; i < len(order); i++ {
				a, okA := pos[order[i-1]]
				b, okB := pos[order[i]]
				if !okA || !okB || a >= b {
					t.Errorf("%s: %s (%d, done %v) should end before %s (%d, done %v)", hv.Host, order[i-1], a, okA, order[i], b, okB)
				}
			}
		}
	}
	if hostsSeen == 0 {
		t.Fatal("the plan moves no instance")
	}
	var in, back int
	for i, g := range fn.got {
		if strings.HasPrefix(g, "other ") {
			t.Errorf("VNF manager without instances was told: %s", g)
		}
		m := fn.msgs[i]
		switch m.Event {
		case EventInMaintenance:
			in++
			if len(m.Hosts) != 1 || len(m.Instances) == 0 || m.Instances[0].Host != m.Hosts[0] || m.Versions != nil {
				t.Errorf("IN_MAINTENANCE %+v", m)
			}
		case EventHostComplete:
			back++
			if len(m.Hosts) != 1 || m.Versions[m.Hosts[0]]["nova"] != "27.1.0" {
				t.Errorf("host MAINTENANCE_COMPLETE without its versions: %+v", m)
			}
		}
	}
	if in != hostsSeen || back != hostsSeen {
		t.Errorf("%d IN_MAINTENANCE and %d host MAINTENANCE_COMPLETE for %d hosts", in, back, hostsSeen)
	}

	// A crash right after the first host's IN_MAINTENANCE: the resumed
	// run does not send it again, but sends the rest.
	first := p.Rollouts[0].Waves[0].Hosts[0].Host
	cut := pos[fmt.Sprintf("w1/%s/notify/vnfm/%s", first, EventInMaintenance)]
	done := map[string]bool{}
	for id, i := range pos {
		if i <= cut {
			done[id] = true
		}
	}
	e2 := newEngine(cfg, p, &fakeExec{}, &memRecorder{})
	fn2 := &hostEventNotifier{}
	e2.Notifier, e2.Done = fn2, done
	if out, err := e2.Run(context.Background()); err != nil || out.Status != state.RunFinished {
		t.Fatalf("resumed: out %+v err %v", out, err)
	}
	for _, g := range fn2.got {
		if g == "vnfm "+EventInMaintenance+" "+first {
			t.Errorf("resumed run told again that %s is in maintenance", first)
		}
	}
	if !slices.Contains(fn2.got, "vnfm "+EventHostComplete+" "+first) {
		t.Errorf("resumed run did not say %s is back: %v", first, fn2.got)
	}
}

// TestVNFMHostEventUnreachable: a VNF manager that cannot be told of a
// host gets an alert; the host is upgraded all the same.
func TestVNFMHostEventUnreachable(t *testing.T) {
	cfg, p := vnfmSetup(t, "halt", "proceed", "0s")
	ex, rec := &fakeExec{}, &memRecorder{}
	e := newEngine(cfg, p, ex, rec)
	e.Notifier = &hostEventNotifier{failHost: true}
	out, err := e.Run(context.Background())
	if err != nil || out.Status != state.RunFinished || len(out.Failed) != 0 {
		t.Fatalf("out %+v err %v", out, err)
	}
	alerts := 0
	for _, ev := range rec.events {
		if ev.Kind == state.KindAlert && ev.Code == state.CodeVNFMNoReply && ev.Host != "" && strings.Contains(ev.Message, "was not told that") {
			alerts++
		}
	}
	if alerts == 0 {
		t.Error("no alert for the host notifications that could not be sent")
	}
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		if st, _ := lastHostStatus(rec, h); st != string(state.HostUpgraded) {
			t.Errorf("%s ended %s", h, st)
		}
	}
}
