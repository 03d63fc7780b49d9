// Package vnfm is a sample VNF manager, a real HTTP server speaking
// escalator's VNF manager protocol (website/docs/vnfm.md), that runs an
// active/standby pair of instances on a sim cloud. The end-to-end tests
// run it through full applies; VNF manager authors can read it as a
// worked example.
//
// What it does with a PLANNED_MAINTENANCE notification (signature
// checked with the protocol's Verify):
//
//   - naming the pair's ACTIVE instance: it switches over (the standby
//     becomes active; the VNF manager keeps that state), replies
//     OWN_ACTION for the old active, and moves that instance off its host
//     itself, with a migration through the sim provider, once escalator
//     has put the host in maintenance (see own.go for why then and why a
//     migration);
//   - naming the STANDBY: it lets escalator migrate it (ACK without an
//     action, or the action Config.StandbyAction chooses);
//   - other instances of its projects: ACK as planned.
//
// It replies in the response (sync) or answers 202 and POSTs the signed
// reply to the notification's reply_url (async). Mode nack refuses every
// maintenance with a reason; mode silent never answers (sync: it holds
// the request until the client gives up; async: 202 and no reply).
//
// It records when each of its instances was named in a notification, what
// it answered and when, and, from the sim's event log, every move of its
// instances with who made it (Records), so tests can check that it was
// told before anything moved, with the promised lead time.
package vnfm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sim"
	"github.com/zclconf/go-cty/cty"

	wire "github.com/escalator-nfv/escalator/internal/vnfm"
)

// Mode is how the VNF manager answers maintenance notifications.
type Mode string

// The modes.
const (
	// ModeAck accepts, switching over and taking the active instance
	// over (OWN_ACTION) when its host is named.
	ModeAck Mode = "ack"
	// ModeNack refuses every maintenance (NACK) with Config.NackReason.
	ModeNack Mode = "nack"
	// ModeSilent never answers.
	ModeSilent Mode = "silent"
)

// ReplyMode is how a reply travels.
type ReplyMode string

// The reply modes.
const (
	// ReplySync answers in the response to the notification.
	ReplySync ReplyMode = "sync"
	// ReplyAsync answers 202 Accepted, then POSTs the signed reply to the
	// notification's reply_url.
	ReplyAsync ReplyMode = "async"
)

// Defaults.
const (
	DefaultName             = "samplevnfm"
	DefaultNackReason       = "the VNF is in a switch-over window; try later"
	DefaultOwnActionTimeout = 5 * time.Minute
	DefaultPoll             = 50 * time.Millisecond
	// maxHold bounds how long a silent VNF manager holds a request whose
	// client never gives up: every wait has a deadline.
	maxHold = 30 * time.Minute
)

// Config configures a Manager.
type Config struct {
	// Name prefixes the sim step ids of its own migrations (so a move in
	// the event log says who made it) and its log lines; "" means
	// DefaultName.
	Name string
	// Cloud is the sim cloud file's path.
	Cloud string
	// Secret is the notify block's secret: it checks notifications and
	// signs asynchronous replies. Required: an unsigned notification is
	// refused.
	Secret string
	// Pair is the active and the standby instance, by id. Or:
	Pair []string
	// Group names a server group (name or id) whose first two members,
	// by instance name, are the pair, the first one active.
	Group string
	// Mode and Reply: see their types; "" means ack and sync.
	Mode  Mode
	Reply ReplyMode
	// NackReason is the reason of a NACK; "" means DefaultNackReason.
	NackReason string
	// StandbyAction, when set (LIVE_MIGRATE or MIGRATE), is chosen for
	// the standby when the notification allows it; "" accepts what
	// escalator planned.
	StandbyAction string
	// ReplyDelay is how long an asynchronous reply waits before it is
	// POSTed (a VNF manager thinking it over).
	ReplyDelay time.Duration
	// OwnActionTimeout bounds the VNF manager's own move of an instance it
	// took over, the wait for its host to enter maintenance included; 0
	// means DefaultOwnActionTimeout.
	OwnActionTimeout time.Duration
	// Poll is how often it looks at the cloud while it waits; 0 means
	// DefaultPoll.
	Poll time.Duration
	// TimeScale is the sim's time_scale for its own migrations (0:
	// instant).
	TimeScale float64
	// Client posts asynchronous replies; nil means a client with a 10 s
	// timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means no log.
	Logger *slog.Logger
}

// Manager is the sample VNF manager. Create it with New; serve its
// Handler; Close it.
type Manager struct {
	cfg   Config
	store *sim.Store
	sim   *sim.Provider

	// ctx ends with Close: held requests, pending replies and own moves
	// stop.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	active  string
	standby string
	names   map[string]string // instance id → name
	notes   []*Notification
	own     []*OwnAction
	badSigs int
}

// New checks cfg, opens the cloud and picks the pair.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeAck
	case ModeAck, ModeNack, ModeSilent:
	default:
		return nil, fmt.Errorf("unknown mode %q: use ack, nack or silent", cfg.Mode)
	}
	switch cfg.Reply {
	case "":
		cfg.Reply = ReplySync
	case ReplySync, ReplyAsync:
	default:
		return nil, fmt.Errorf("unknown reply mode %q: use sync or async", cfg.Reply)
	}
	switch cfg.StandbyAction {
	case "", wire.ActionLiveMigrate, wire.ActionMigrate:
	default:
		return nil, fmt.Errorf("standby action %q: use %s, %s or nothing (accept the planned action)", cfg.StandbyAction, wire.ActionLiveMigrate, wire.ActionMigrate)
	}
	if cfg.Secret == "" {
		return nil, errors.New("a secret is needed: the notify block's, to check notifications and sign replies")
	}
	if cfg.Cloud == "" {
		return nil, errors.New("the sim cloud file's path is needed")
	}
	if (len(cfg.Pair) == 0) == (cfg.Group == "") {
		return nil, errors.New("give the pair's two instance ids, or a server group to pick them from (not both)")
	}
	if len(cfg.Pair) != 0 && (len(cfg.Pair) != 2 || cfg.Pair[0] == cfg.Pair[1]) {
		return nil, fmt.Errorf("the pair is two distinct instance ids (active, standby), not %q", cfg.Pair)
	}
	if cfg.NackReason == "" {
		cfg.NackReason = DefaultNackReason
	}
	if cfg.OwnActionTimeout <= 0 {
		cfg.OwnActionTimeout = DefaultOwnActionTimeout
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	path, err := filepath.Abs(cfg.Cloud)
	if err != nil {
		return nil, fmt.Errorf("cloud path %s: %w", cfg.Cloud, err)
	}
	cfg.Cloud = path

	// Its own migrations go through the sim provider itself, in this
	// process: the same rules as escalator's (destination up, room,
	// anti-affinity), the same lock, a step id and an event-log line.
	p := sim.New()
	var resp sdk.ConfigureResponse
	p.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{
		"cloud":      cty.StringVal(path),
		"create":     cty.False,
		"time_scale": cty.NumberFloatVal(cfg.TimeScale),
	})}, &resp)
	if resp.Diagnostics.HasErrors() {
		return nil, fmt.Errorf("open the sim cloud %s: %s", path, diagText(resp.Diagnostics))
	}
	m := &Manager{cfg: cfg, store: sim.OpenStore(path), sim: p, names: map[string]string{}}
	if err := m.pickPair(ctx); err != nil {
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// pickPair resolves the pair from the cloud.
func (m *Manager) pickPair(ctx context.Context) error {
	return m.store.View(ctx, func(c *sim.Cloud) error {
		ids := m.cfg.Pair
		if m.cfg.Group != "" {
			var g *sim.ServerGroup
			for _, sg := range c.ServerGroups {
				if sg.Name == m.cfg.Group || sg.ID == m.cfg.Group {
					g = sg
					break
				}
			}
			if g == nil {
				return fmt.Errorf("no server group named %q in the cloud %s", m.cfg.Group, m.cfg.Cloud)
			}
			members := append([]string(nil), g.Members...)
			sort.Slice(members, func(i, j int) bool {
				a, b := c.Instance(members[i]), c.Instance(members[j])
				if a != nil && b != nil && a.Name != b.Name {
					return a.Name < b.Name
				}
				return members[i] < members[j]
			})
			if len(members) < 2 {
				return fmt.Errorf("server group %q has %d members; an active/standby pair needs 2", m.cfg.Group, len(members))
			}
			ids = members[:2]
		}
		for _, id := range ids {
			in := c.Instance(id)
			if in == nil {
				return fmt.Errorf("instance %s is not in the cloud %s", id, m.cfg.Cloud)
			}
			m.names[id] = in.Name
		}
		m.active, m.standby = ids[0], ids[1]
		return nil
	})
}

// Roles returns the active and the standby instance, as the VNF manager
// has them now.
func (m *Manager) Roles() (active, standby string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active, m.standby
}

// Close stops what the Manager is doing in the background (held
// requests, pending replies, own moves) and waits for it.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// background runs f on its own goroutine, unless the Manager is closed.
func (m *Manager) background(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// decide answers an accepted maintenance notification: the switch-over
// and OWN_ACTION when the active instance is named, the standby's action.
// It changes the roles; the own moves are returned to start once the
// reply has gone out.
func (m *Manager) decide(n *wire.Notification, rec *Notification) (wire.Reply, []*OwnAction) {
	m.mu.Lock()
	defer m.mu.Unlock()
	reply := wire.Reply{ID: n.ID, State: "ACK_" + n.State}
	byID := map[string]wire.Instance{}
	for _, in := range n.Instances {
		byID[in.ID] = in
	}
	rec.ActiveBefore = m.active
	var own []*OwnAction
	actions := map[string]string{}
	standby := m.standby
	if in, named := byID[m.active]; named {
		// Switch over first: the standby serves while the old active
		// moves (an instance being migrated serves nobody well).
		old := m.active
		m.active, m.standby = m.standby, old
		rec.SwitchedOver = true
		if allows(in, wire.ActionOwn) {
			actions[old] = wire.ActionOwn
			own = append(own, &OwnAction{Instance: old, Notification: n.ID, Host: in.Host, Planned: in.Destination, Avoid: append([]string(nil), n.Hosts...)})
		}
	}
	if in, named := byID[standby]; named && m.cfg.StandbyAction != "" && allows(in, m.cfg.StandbyAction) {
		actions[standby] = m.cfg.StandbyAction
	}
	if len(actions) > 0 {
		reply.InstanceActions = actions
	}
	rec.ActiveAfter = m.active
	return reply, own
}

func allows(in wire.Instance, action string) bool {
	for _, a := range in.AllowedActions {
		if a == action {
			return true
		}
	}
	return false
}

func diagText(ds sdk.Diagnostics) string {
	var s string
	for _, d := range ds {
		if d.Severity != sdk.Error {
			continue
		}
		if s != "" {
			s += "; "
		}
		s += d.Summary
		if d.Detail != "" {
			s += ": " + d.Detail
		}
	}
	return s
}
