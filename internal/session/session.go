// Package session opens a campaign for work against the live cloud: it
// loads the configuration with its variables, starts and configures the
// provider plugins, refreshes the inventory, and makes plans. plan, show
// and apply share it so that they see the campaign the same way.
package session

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/inventory"
	"github.com/escalator-nfv/escalator/internal/planner"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
	"github.com/escalator-nfv/escalator/internal/version"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Options are what a session is opened with.
type Options struct {
	Dir  string
	Vars []config.VarArg
	// Parallelism bounds concurrent provider calls while planning.
	Parallelism int
	// Plugins tunes how providers start (timeouts, logger).
	Plugins pluginhost.Options
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Session is an open campaign with running, configured providers.
type Session struct {
	Config     *config.Config
	Lock       *pluginhost.Lock
	LockDigest string
	Providers  *pluginhost.Set
	Schemas    map[string]*sdk.SchemaResponse
	opts       Options
}

// Files returns every parsed file (campaign and lock file) for rendering
// diagnostics; safe on a nil session.
func (s *Session) Files() diags.Files {
	if s == nil || s.Config == nil {
		return nil
	}
	return s.Config.Files
}

// Open loads the campaign and starts its providers. The returned session
// (non-nil even on error, for its Files) must be closed.
func Open(ctx context.Context, opts Options) (*Session, diags.Diagnostics) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Parallelism < 1 {
		opts.Parallelism = 1
	}
	s := &Session{opts: opts, Schemas: map[string]*sdk.SchemaResponse{}}
	cfg, ds := config.Load(opts.Dir, config.Options{Vars: opts.Vars, Environ: os.Environ()})
	s.Config = cfg
	if ds.HasErrors() {
		return s, ds
	}
	lockPath := pluginhost.LockFilePath(opts.Dir)
	lock, lds := pluginhost.ReadLockFile(lockPath)
	ds = ds.Append(lds)
	if lds.HasErrors() {
		return s, ds
	}
	s.Lock = lock
	s.LockDigest = lockDigest(lock)
	set, sds := pluginhost.StartAll(ctx, cfg, lock, opts.Plugins)
	ds = ds.Append(sds)
	if sds.HasErrors() {
		return s, ds
	}
	s.Providers = set
	ds = ds.Append(s.configure(ctx))
	return s, ds
}

// Close stops every provider.
func (s *Session) Close() {
	if s != nil && s.Providers != nil {
		s.Providers.Close()
	}
}

func lockDigest(l *pluginhost.Lock) string {
	if l == nil || !l.Exists {
		return ""
	}
	return digestBytes(l.Bytes())
}

// configure reads each provider's schema, decodes its block against it
// and configures it, concurrently.
func (s *Session) configure(ctx context.Context) diags.Diagnostics {
	var mu sync.Mutex
	var all diags.Diagnostics
	var wg sync.WaitGroup
	for _, name := range s.Providers.Names() {
		p := s.Providers.Provider(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds := s.configureOne(ctx, name, p)
			mu.Lock()
			all = all.Append(ds)
			mu.Unlock()
		}()
	}
	wg.Wait()
	all.Sort()
	return all
}

func (s *Session) configureOne(ctx context.Context, name string, p *pluginhost.Provider) diags.Diagnostics {
	schema, ds := p.Schema(ctx)
	if ds.HasErrors() {
		return ds
	}
	pc := s.Config.Providers[name]
	var val cty.Value
	var locate pluginhost.Locator
	if pc != nil {
		v, dds := pluginhost.DecodeConfig(pc.Body, schema.Provider, s.Config.EvalContext())
		ds = ds.Append(dds)
		if dds.HasErrors() {
			return ds
		}
		val, locate = v, pluginhost.InBody(pc.Body, pc.DeclRange)
	} else {
		// A required provider without a block gets an empty
		// configuration: every attribute null.
		v, dds := pluginhost.DecodeConfig(hcl.EmptyBody(), schema.Provider, s.Config.EvalContext())
		ds = ds.Append(dds)
		if dds.HasErrors() {
			return ds
		}
		val = v
	}
	ds = ds.Append(p.Configure(ctx, val, locate))
	if !ds.HasErrors() {
		s.Schemas[name] = schema
	}
	return ds
}

// Refresh reads the inventory of every provider.
func (s *Session) Refresh(ctx context.Context) (*inventory.Snapshot, diags.Diagnostics) {
	readers := map[string]inventory.Reader{}
	for _, name := range s.Providers.Names() {
		readers[name] = s.Providers.Provider(name)
	}
	return inventory.Refresh(ctx, readers, s.opts.Now)
}

// Plan refreshes the inventory and computes a plan, wrapped as a saved
// plan file (not written).
func (s *Session) Plan(ctx context.Context) (*plans.File, *inventory.Snapshot, diags.Diagnostics) {
	defer relaxGC()()
	snap, ds := s.Refresh(ctx)
	if ds.HasErrors() {
		return nil, nil, ds
	}
	// The digests (a hash of every host and instance) are computed while
	// the planner runs, on the other cores: the planner uses one, and
	// needs the digests only to label its host visits at the end.
	type digests struct {
		total string
		hosts map[string]string
	}
	digested := make(chan digests, 1)
	go func() {
		total, hosts := snap.DigestOn(max(1, runtime.GOMAXPROCS(0)-1))
		digested <- digests{total, hosts}
	}()
	var dg *digests
	wait := func() map[string]string {
		if dg == nil {
			d := <-digested
			dg = &d
		}
		return dg.hosts
	}
	plan, pds := planner.Plan(ctx, planner.Input{Config: s.Config, Inventory: snap, Advisor: &advisor{s: s}, Digests: wait})
	ds = ds.Append(pds)
	if pds.HasErrors() {
		return nil, snap, ds
	}
	hosts := wait()
	total := dg.total
	f := &plans.File{
		FormatVersion:    plans.FormatVersion,
		EscalatorVersion: version.Number(),
		CreatedAt:        s.opts.Now().UTC(),
		ConfigDigest:     s.Config.Digest(),
		LockDigest:       s.LockDigest,
		InventoryDigest:  total,
		InventoryTime:    snap.Time.UTC(),
		HostDigests:      hosts,
		Variables:        variableValues(s.Config),
		Plan:             plan,
	}
	return f, snap, ds
}

// planGCPercent is the garbage collector's target (GOGC) while a plan is
// made. Reading and planning a 10,000-host cloud allocates a few hundred
// megabytes that nearly all stay live until the plan is written: at the
// default of 100 the collector runs again and again over that growing
// heap for little it can free. At 400 it runs a few times: measured on
// the bench-plan cloud (10,000 hosts, 189,000 instances), plan takes
// about 0.2 s less and escalator's peak memory grows from about 220 to
// 300 MB.
const planGCPercent = 400

// relaxGC raises the collector's target for the making of a plan, unless
// the operator set GOGC, and returns what restores it: apply goes on for
// hours after planning, and should not keep a larger heap for it.
func relaxGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(planGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// advisor asks the providers about each distinct change once: the answer
// for (provider, component, from, to) does not depend on the host in any
// provider we know, and asking 10,000 times would dominate planning.
type advisor struct{ s *Session }

type adviceKey struct{ provider, component, from, to string }

func (a *advisor) Advise(ctx context.Context, reqs []planner.ChangeRequest) ([]planner.Advice, diags.Diagnostics) {
	uniq := map[adviceKey]int{}
	var order []int
	for i, r := range reqs {
		k := adviceKey{r.Provider, r.Component, r.From, r.To}
		if _, ok := uniq[k]; !ok {
			uniq[k] = i
			order = append(order, i)
		}
	}
	answers := make(map[int]planner.Advice, len(order))
	var mu sync.Mutex
	var all diags.Diagnostics
	sem := make(chan struct{}, a.s.opts.Parallelism)
	var wg sync.WaitGroup
	for _, i := range order {
		r := reqs[i]
		p := a.s.Providers.Provider(r.Provider)
		if p == nil {
			all = all.Append(fmt.Errorf("provider %q is not running; run escalator init", r.Provider))
			continue
		}
		var at pluginhost.Locator
		if c := a.s.Config.Components[r.Component]; c != nil && c.SettingsExpr != nil {
			at = pluginhost.InExpr(c.SettingsExpr)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, ds := p.PlanComponent(ctx, sdk.PlanComponentRequest{
				Component: r.Component, Host: r.Host, FromVersion: r.From, ToVersion: r.To, Settings: r.Settings,
			}, at)
			mu.Lock()
			defer mu.Unlock()
			all = all.Append(ds)
			if resp != nil && !ds.HasErrors() {
				answers[i] = planner.Advice{
					Refused: resp.Refused, Reason: resp.RefusalReason,
					Disruption: disruption(resp.Disruption), ExpectedDuration: resp.ExpectedDuration,
				}
			}
		}()
	}
	wg.Wait()
	if all.HasErrors() {
		return nil, all
	}
	out := make([]planner.Advice, len(reqs))
	for i, r := range reqs {
		out[i] = answers[uniq[adviceKey{r.Provider, r.Component, r.From, r.To}]]
	}
	return out, all
}

func disruption(d sdk.Disruption) config.Disruption {
	switch d {
	case sdk.DisruptionNone:
		return config.DisruptionNone
	case sdk.DisruptionService:
		return config.DisruptionService
	case sdk.DisruptionHost:
		return config.DisruptionHost
	}
	return ""
}
