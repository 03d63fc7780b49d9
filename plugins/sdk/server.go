package sdk

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// server adapts a Provider to the generated pluginv1.ProviderServer: it
// translates messages, and it enforces the protocol's rules once for every
// provider, so that authors don't have to (and can't get them wrong):
//
//   - only GetMetadata, GetSchema, ValidateConfig, Configure and Stop are
//     served before a successful Configure;
//   - configurations are checked against the provider's schema before the
//     provider sees them;
//   - a panic in a provider method becomes an error diagnostic, and the
//     plugin keeps serving;
//   - every call's context is cancelled by Stop;
//   - an action that returns after its context ended without saying so is
//     reported as cancelled, never as done.
type server struct {
	pluginv1.UnimplementedProviderServer

	p      Provider
	logger hclog.Logger

	// configured is set by a successful Configure.
	configured atomic.Bool
	// batches is set when the host announced at Configure that it reads
	// inventory items in batches (pluginproto.CapInventoryBatches).
	batches atomic.Bool

	mu sync.Mutex
	// stopCtx is the parent of every call's context; Stop cancels it
	// and installs a fresh one, so that calls made after a Stop (a host
	// that stops an action and then asks for the inventory) still work.
	stopCtx context.Context
	stop    context.CancelCauseFunc
	// schema caches the provider's schema once it has been read without
	// errors: Configure needs it on every call and it must not change
	// during the life of the process.
	schema *SchemaResponse
	// name is the provider's name for messages, read lazily.
	name string
}

// errStopped is the cancellation cause of calls interrupted by Stop.
var errStopped = errors.New("escalator stopped the provider")

func newServer(p Provider, logger hclog.Logger) *server {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &server{p: p, logger: logger}
	s.stopCtx, s.stop = context.WithCancelCause(context.Background())
	return s
}

// callCtx derives the context a provider method runs under: cancelled when
// the gRPC call ends (client cancellation, deadline) or Stop is called. It
// also carries log attributes, so slog.InfoContext(ctx, …) inside a
// provider method names the call it belongs to.
func (s *server) callCtx(parent context.Context, rpc string, attrs ...any) (context.Context, context.CancelFunc) {
	s.mu.Lock()
	stopCtx := s.stopCtx
	s.mu.Unlock()

	ctx, cancel := context.WithCancelCause(parent)
	unhook := context.AfterFunc(stopCtx, func() { cancel(context.Cause(stopCtx)) })
	ctx = withLogAttrs(ctx, append([]any{"rpc", rpc}, attrs...)...)
	return ctx, func() {
		unhook()
		cancel(context.Canceled)
	}
}

// safeCall runs fn, a call into the provider, and turns a panic into an
// error diagnostic naming the method. The stack goes to the log, where the
// provider's author needs it, rather than into the operator's diagnostic.
func (s *server) safeCall(method string, fn func()) (d *Diagnostic) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("provider panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			d = &Diagnostic{
				Severity: Error,
				Summary:  fmt.Sprintf("provider panicked in %s: %s", method, truncate(fmt.Sprint(r), 200)),
				Detail: fmt.Sprintf("This is a bug in the provider %s; it keeps running, but the call failed. "+
					"The stack trace is in escalator's log (the plugin's log lines); please report it to the provider's author.", s.providerName()),
			}
		}
	}()
	fn()
	return nil
}

// providerName returns "name version" for messages, or "plugin" if the
// provider can't say.
func (s *server) providerName() string {
	s.mu.Lock()
	name := s.name
	s.mu.Unlock()
	if name != "" {
		return name
	}
	name = "plugin"
	func() {
		defer func() { _ = recover() }()
		var resp MetadataResponse
		s.p.Metadata(context.Background(), MetadataRequest{}, &resp)
		if resp.Name != "" {
			name = fmt.Sprintf("%q %s", resp.Name, resp.Version)
		}
	}()
	s.mu.Lock()
	s.name = name
	s.mu.Unlock()
	return name
}

func notConfigured(rpc string) Diagnostic {
	return Diagnostic{
		Severity: Error,
		Summary:  "provider not configured",
		Detail: fmt.Sprintf("%s was called before a successful Configure. "+
			"This is a bug in the program driving the plugin: Configure must succeed before any call that touches the cloud.", rpc),
	}
}

// GetMetadata implements pluginv1.ProviderServer.
func (s *server) GetMetadata(ctx context.Context, _ *pluginv1.GetMetadata_Request) (*pluginv1.GetMetadata_Response, error) {
	ctx, cancel := s.callCtx(ctx, "GetMetadata")
	defer cancel()
	var resp MetadataResponse
	if d := s.safeCall("Metadata", func() { s.p.Metadata(ctx, MetadataRequest{}, &resp) }); d != nil {
		// The response has no diagnostics: a gRPC error is the only way.
		return nil, status.Error(codes.Internal, d.Summary)
	}
	return &pluginv1.GetMetadata_Response{Name: resp.Name, Version: resp.Version, SdkVersion: sdkVersion()}, nil
}

// getSchema returns the provider's schema, checked, from the cache after
// the first good read. A nil schema comes with error diagnostics.
func (s *server) getSchema(ctx context.Context) (*SchemaResponse, Diagnostics) {
	s.mu.Lock()
	cached := s.schema
	s.mu.Unlock()
	if cached != nil {
		return cached, nil
	}

	resp := new(SchemaResponse)
	if d := s.safeCall("Schema", func() { s.p.Schema(ctx, SchemaRequest{}, resp) }); d != nil {
		return nil, Diagnostics{*d}
	}
	diags := append(resp.Diagnostics[:len(resp.Diagnostics):len(resp.Diagnostics)], checkSchema(resp)...)
	if diags.HasErrors() {
		return nil, diags
	}
	s.mu.Lock()
	s.schema = resp
	s.mu.Unlock()
	return resp, nil
}

// GetSchema implements pluginv1.ProviderServer.
func (s *server) GetSchema(ctx context.Context, _ *pluginv1.GetSchema_Request) (*pluginv1.GetSchema_Response, error) {
	ctx, cancel := s.callCtx(ctx, "GetSchema")
	defer cancel()
	schema, diags := s.getSchema(ctx)
	if schema == nil {
		return &pluginv1.GetSchema_Response{Diagnostics: diagsToProto(diags)}, nil
	}
	out, err := schemaToProto(schema)
	if err != nil {
		// checkSchema should have caught it; still a diagnostic, not a
		// broken stream.
		return &pluginv1.GetSchema_Response{Diagnostics: diagsToProto(Diagnostics{{
			Severity: Error, Summary: "Invalid provider schema", Detail: err.Error(),
		}})}, nil
	}
	return out, nil
}

// decodeConfig decodes a provider configuration and conforms it to the
// provider block of the schema.
func (s *server) decodeConfig(ctx context.Context, dv *pluginv1.DynamicValue) (cty.Value, Diagnostics) {
	schema, diags := s.getSchema(ctx)
	if schema == nil {
		return cty.NilVal, diags
	}
	v, err := pluginproto.DecodeValue(dv)
	if err != nil {
		return cty.NilVal, Diagnostics{{Severity: Error, Summary: "Invalid provider configuration", Detail: err.Error()}}
	}
	return conformBlock(schema.Provider, v, nil)
}

// ValidateConfig implements pluginv1.ProviderServer. Schema checks apply
// whether or not the provider implements ProviderWithValidateConfig, so
// escalator validate catches a misspelt argument without touching a cloud.
func (s *server) ValidateConfig(ctx context.Context, req *pluginv1.ValidateConfig_Request) (*pluginv1.ValidateConfig_Response, error) {
	ctx, cancel := s.callCtx(ctx, "ValidateConfig")
	defer cancel()
	cfg, diags := s.decodeConfig(ctx, req.GetConfig())
	if !diags.HasErrors() {
		if pv, ok := s.p.(ProviderWithValidateConfig); ok {
			var resp ValidateConfigResponse
			if d := s.safeCall("ValidateConfig", func() { pv.ValidateConfig(ctx, ValidateConfigRequest{Config: cfg}, &resp) }); d != nil {
				resp.Diagnostics = Diagnostics{*d}
			}
			diags = append(diags, resp.Diagnostics...)
		}
	}
	return &pluginv1.ValidateConfig_Response{Diagnostics: diagsToProto(diags)}, nil
}

// Configure implements pluginv1.ProviderServer.
func (s *server) Configure(ctx context.Context, req *pluginv1.Configure_Request) (*pluginv1.Configure_Response, error) {
	ctx, cancel := s.callCtx(ctx, "Configure")
	defer cancel()
	cfg, diags := s.decodeConfig(ctx, req.GetConfig())
	if diags.HasErrors() {
		s.configured.Store(false)
		return &pluginv1.Configure_Response{Diagnostics: diagsToProto(diags)}, nil
	}
	s.batches.Store(slices.Contains(req.GetCapabilities().GetFeatures(), pluginproto.CapInventoryBatches))
	var resp ConfigureResponse
	creq := ConfigureRequest{
		Config:           cfg,
		EscalatorVersion: req.GetEscalatorVersion(),
		Capabilities:     req.GetCapabilities().GetFeatures(),
	}
	if d := s.safeCall("Configure", func() { s.p.Configure(ctx, creq, &resp) }); d != nil {
		resp = ConfigureResponse{Diagnostics: Diagnostics{*d}}
	}
	diags = append(diags, resp.Diagnostics...)
	// A failed re-Configure leaves the provider in an unknown state:
	// refuse further calls until one succeeds.
	s.configured.Store(!diags.HasErrors())
	out := &pluginv1.Configure_Response{Diagnostics: diagsToProto(diags)}
	if len(resp.Capabilities) > 0 {
		out.Capabilities = &pluginv1.Capabilities{Features: resp.Capabilities}
	}
	return out, nil
}

// ReadInventory implements pluginv1.ProviderServer. The provider builds the
// whole inventory in memory (simple for authors); the SDK streams it in
// messages of a bounded size, so that no message nears gRPC's size limit
// however big the cloud: one item per message, or, to a host that
// announced pluginproto.CapInventoryBatches, batches of items (a
// 200,000-instance cloud is then a few hundred messages instead of
// 250,000: about half a second less on two cores).
func (s *server) ReadInventory(_ *pluginv1.ReadInventory_Request, stream grpc.ServerStreamingServer[pluginv1.ReadInventory_Item]) error {
	if !s.configured.Load() {
		return stream.Send(&pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Diagnostic{Diagnostic: diagToProto(notConfigured("ReadInventory"))}})
	}
	ctx, cancel := s.callCtx(stream.Context(), "ReadInventory")
	defer cancel()

	started := time.Now()
	var resp ReadInventoryResponse
	if d := s.safeCall("ReadInventory", func() { s.p.ReadInventory(ctx, ReadInventoryRequest{}, &resp) }); d != nil {
		// What a panicking provider left in resp is not an inventory.
		resp = ReadInventoryResponse{Diagnostics: Diagnostics{*d}}
	}
	s.logger.Debug("inventory read", "hosts", len(resp.Hosts), "instances", len(resp.Instances),
		"server_groups", len(resp.ServerGroups), "vnf_managers", len(resp.VNFManagers), "duration", time.Since(started).Round(time.Millisecond).String())

	w := &inventoryWriter{stream: stream, ctx: ctx}
	if s.batches.Load() {
		w.batch = &pluginv1.ReadInventory_Batch{}
		w.batchItem.Item = &pluginv1.ReadInventory_Item_Batch{Batch: w.batch}
	}
	for i := range resp.Hosts {
		if err := w.host(&resp.Hosts[i]); err != nil {
			return err
		}
	}
	for i := range resp.Instances {
		if err := w.instance(&resp.Instances[i]); err != nil {
			return err
		}
	}
	for i := range resp.ServerGroups {
		if err := w.serverGroup(&resp.ServerGroups[i]); err != nil {
			return err
		}
	}
	// VNF managers and diagnostics are few: new messages each.
	for i := range resp.VNFManagers {
		m := &resp.VNFManagers[i]
		size := 16 + len(m.Name) + len(m.Project) + len(m.URL)
		if err := w.makeRoom(size); err != nil {
			return err
		}
		if err := w.add(&pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_VnfManager{VnfManager: vnfManagerToProto(m)}}, size); err != nil {
			return err
		}
	}
	for _, d := range resp.Diagnostics {
		size := 64 + len(d.Summary) + len(d.Detail) + 32*len(d.Attribute)
		if err := w.makeRoom(size); err != nil {
			return err
		}
		if err := w.add(&pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Diagnostic{Diagnostic: diagToProto(d)}}, size); err != nil {
			return err
		}
	}
	return w.flush()
}

// Bounds of one batch of inventory items: far below gRPC's 4 MiB default
// message limit, large enough that gRPC's cost per message vanishes.
const (
	batchMaxItems = 1024
	batchMaxBytes = 512 << 10
)

// inventoryWriter sends a ReadInventory stream, item by item or in
// batches.
//
// It fills the same messages again and again: a large cloud is hundreds
// of thousands of items, and allocating four or five messages for each
// (item, oneof wrapper, entity, resources) is a million allocations for
// nothing. Reuse is safe because Send has encoded the
// message when it returns, and this server installs no stats handler that
// could look at a sent message later (the reason gRPC's documentation
// gives for not modifying one).
type inventoryWriter struct {
	stream grpc.ServerStreamingServer[pluginv1.ReadInventory_Item]
	ctx    context.Context

	// batch is nil when the host reads one item per message.
	batch     *pluginv1.ReadInventory_Batch
	batchItem pluginv1.ReadInventory_Item
	bytes     int

	// Reusable messages of each kind, one per position in a batch (one
	// in all without batches); n* count those in use.
	hosts                   []*hostMsg
	insts                   []*instanceMsg
	groups                  []*groupMsg
	nHosts, nInsts, nGroups int
}

type hostMsg struct {
	item           pluginv1.ReadInventory_Item
	wrap           pluginv1.ReadInventory_Item_Host
	host           pluginv1.Host
	capacity, used pluginv1.Resources
}

type instanceMsg struct {
	item pluginv1.ReadInventory_Item
	wrap pluginv1.ReadInventory_Item_Instance
	inst pluginv1.Instance
	res  pluginv1.Resources
}

type groupMsg struct {
	item  pluginv1.ReadInventory_Item
	wrap  pluginv1.ReadInventory_Item_ServerGroup
	group pluginv1.ServerGroup
}

func (w *inventoryWriter) host(h *Host) error {
	size := 96 + len(h.Name) + len(h.Role) + len(h.AvailabilityZone) + len(h.StateReason)
	for _, a := range h.Aggregates {
		size += 2 + len(a)
	}
	for k, v := range h.Versions {
		size += 6 + len(k) + len(v)
	}
	for k, v := range h.Attributes {
		size += 6 + len(k) + len(v)
	}
	if err := w.makeRoom(size); err != nil {
		return err
	}
	if w.nHosts == len(w.hosts) {
		m := &hostMsg{}
		m.wrap.Host = &m.host
		m.item.Item = &m.wrap
		w.hosts = append(w.hosts, m)
	}
	m := w.hosts[w.nHosts]
	w.nHosts++
	fillHostProto(&m.host, h, &m.capacity, &m.used)
	return w.add(&m.item, size)
}

func (w *inventoryWriter) instance(in *Instance) error {
	size := 64 + len(in.ID) + len(in.Name) + len(in.Host) + len(in.Status) + len(in.Project) + len(in.ServerGroup)
	if err := w.makeRoom(size); err != nil {
		return err
	}
	if w.nInsts == len(w.insts) {
		m := &instanceMsg{}
		m.wrap.Instance = &m.inst
		m.item.Item = &m.wrap
		w.insts = append(w.insts, m)
	}
	m := w.insts[w.nInsts]
	w.nInsts++
	fillInstanceProto(&m.inst, in, &m.res)
	return w.add(&m.item, size)
}

func (w *inventoryWriter) serverGroup(g *ServerGroup) error {
	size := 32 + len(g.ID) + len(g.Name) + len(g.Policy) + len(g.Project)
	for _, id := range g.Members {
		size += 2 + len(id)
	}
	if err := w.makeRoom(size); err != nil {
		return err
	}
	if w.nGroups == len(w.groups) {
		m := &groupMsg{}
		m.wrap.ServerGroup = &m.group
		m.item.Item = &m.wrap
		w.groups = append(w.groups, m)
	}
	m := w.groups[w.nGroups]
	w.nGroups++
	fillServerGroupProto(&m.group, g)
	return w.add(&m.item, size)
}

// makeRoom sends the batch if an item of about size bytes would not fit
// in it. It comes before the item takes a reusable message, since sending
// the batch frees them all.
func (w *inventoryWriter) makeRoom(size int) error {
	if w.batch != nil && len(w.batch.Items) > 0 && (len(w.batch.Items) >= batchMaxItems || w.bytes+size > batchMaxBytes) {
		return w.flush()
	}
	return nil
}

// add sends item, or adds it to the batch, which makeRoom made room in;
// size is about its encoded size, an overestimate.
func (w *inventoryWriter) add(item *pluginv1.ReadInventory_Item, size int) error {
	if w.batch == nil {
		err := w.send(item)
		w.nHosts, w.nInsts, w.nGroups = 0, 0, 0
		return err
	}
	w.batch.Items = append(w.batch.Items, item)
	w.bytes += size
	return nil
}

// flush sends the batch, if any.
func (w *inventoryWriter) flush() error {
	if w.batch == nil || len(w.batch.Items) == 0 {
		return nil
	}
	err := w.send(&w.batchItem)
	clear(w.batch.Items) // the VNF managers and diagnostics are not reused
	w.batch.Items = w.batch.Items[:0]
	w.bytes, w.nHosts, w.nInsts, w.nGroups = 0, 0, 0, 0
	return err
}

func (w *inventoryWriter) send(item *pluginv1.ReadInventory_Item) error {
	if err := w.ctx.Err(); err != nil {
		if errors.Is(context.Cause(w.ctx), errStopped) {
			return status.Error(codes.Canceled, "reading the inventory: "+errStopped.Error())
		}
		return status.FromContextError(err).Err()
	}
	if err := w.stream.Send(item); err != nil {
		return fmt.Errorf("sending inventory: %w", err)
	}
	return nil
}

// PlanComponent implements pluginv1.ProviderServer. A provider without
// ProviderWithPlanComponent answers with an empty response: disruption
// unspecified, no duration, no refusal, and escalator falls back to the
// component's configured disruption.
func (s *server) PlanComponent(ctx context.Context, req *pluginv1.PlanComponent_Request) (*pluginv1.PlanComponent_Response, error) {
	if !s.configured.Load() {
		return &pluginv1.PlanComponent_Response{Diagnostics: diagsToProto(Diagnostics{notConfigured("PlanComponent")})}, nil
	}
	pp, ok := s.p.(ProviderWithPlanComponent)
	if !ok {
		return &pluginv1.PlanComponent_Response{}, nil
	}
	ctx, cancel := s.callCtx(ctx, "PlanComponent", "component", req.GetComponent(), "host", req.GetHost())
	defer cancel()
	settings, err := pluginproto.DecodeValue(req.GetSettings())
	if err != nil {
		return &pluginv1.PlanComponent_Response{Diagnostics: diagsToProto(Diagnostics{{
			Severity: Error, Summary: "Invalid component settings", Detail: err.Error(),
		}})}, nil
	}
	preq := PlanComponentRequest{
		Component:   req.GetComponent(),
		Host:        req.GetHost(),
		FromVersion: req.GetFromVersion(),
		ToVersion:   req.GetToVersion(),
		Settings:    settings,
	}
	var resp PlanComponentResponse
	if d := s.safeCall("PlanComponent", func() { pp.PlanComponent(ctx, preq, &resp) }); d != nil {
		resp = PlanComponentResponse{Diagnostics: Diagnostics{*d}}
	}
	return &pluginv1.PlanComponent_Response{
		Refused:            resp.Refused,
		RefusalReason:      resp.RefusalReason,
		Disruption:         pluginv1.Disruption(resp.Disruption),
		ExpectedDurationMs: resp.ExpectedDuration.Milliseconds(),
		Diagnostics:        diagsToProto(resp.Diagnostics),
	}, nil
}

// eventSender serialises sends on an ExecuteAction stream: a gRPC stream
// must not be written from two goroutines at once, and providers may report
// progress from several. Once the action has returned, late progress (from
// a goroutine the provider left behind) is dropped.
type eventSender struct {
	mu     sync.Mutex
	stream grpc.ServerStreamingServer[pluginv1.ExecuteAction_Event]
	closed bool
	err    error
	late   bool
}

var errActionReturned = errors.New("action already returned")

func (e *eventSender) sendLocked(ev *pluginv1.ExecuteAction_Event) error {
	if e.err != nil {
		return e.err
	}
	ev.TimeUnixMs = time.Now().UnixMilli()
	if err := e.stream.Send(ev); err != nil {
		e.err = fmt.Errorf("sending action event: %w", err)
	}
	return e.err
}

func (e *eventSender) progress(msg string, fraction float64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errActionReturned
	}
	return e.sendLocked(&pluginv1.ExecuteAction_Event{Event: &pluginv1.ExecuteAction_Event_Progress{
		Progress: &pluginv1.ExecuteAction_Progress{Message: msg, Fraction: clampFraction(fraction)},
	}})
}

// finish closes the sender to progress and sends the outcome: the
// diagnostics, then Completed if there is no error.
func (e *eventSender) finish(resp *ExecuteActionResponse) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, d := range resp.Diagnostics {
		if err := e.sendLocked(&pluginv1.ExecuteAction_Event{Event: &pluginv1.ExecuteAction_Event_Diagnostic{Diagnostic: diagToProto(d)}}); err != nil {
			return err
		}
	}
	if resp.Diagnostics.HasErrors() {
		return nil
	}
	return e.sendLocked(&pluginv1.ExecuteAction_Event{Event: &pluginv1.ExecuteAction_Event_Completed{
		Completed: &pluginv1.ExecuteAction_Completed{Outputs: resp.Outputs},
	}})
}

// ExecuteAction implements pluginv1.ProviderServer. The stream carries
// Progress events as the provider reports them, then its diagnostics, then
// Completed (with outputs) if and only if the action succeeded.
func (s *server) ExecuteAction(req *pluginv1.ExecuteAction_Request, stream grpc.ServerStreamingServer[pluginv1.ExecuteAction_Event]) error {
	snd := &eventSender{stream: stream}
	if !s.configured.Load() {
		return snd.finish(&ExecuteActionResponse{Diagnostics: Diagnostics{notConfigured("ExecuteAction")}})
	}
	areq := actionRequestFromProto(req)
	ctx, cancel := s.callCtx(stream.Context(), "ExecuteAction",
		"step", areq.ID, "action", areq.Kind.String(), "host", areq.Host, "component", areq.Component)
	defer cancel()

	if d := s.checkAction(ctx, areq); d != nil {
		return snd.finish(&ExecuteActionResponse{Diagnostics: Diagnostics{*d}})
	}
	settings, err := pluginproto.DecodeValue(req.GetSettings())
	if err != nil {
		return snd.finish(&ExecuteActionResponse{Diagnostics: Diagnostics{{
			Severity: Error, Summary: "Invalid action settings", Detail: err.Error(),
		}}})
	}
	areq.Settings = settings

	resp := &ExecuteActionResponse{}
	resp.progress = func(msg string, fraction float64) {
		if err := snd.progress(msg, fraction); errors.Is(err, errActionReturned) {
			snd.mu.Lock()
			first := !snd.late
			snd.late = true
			snd.mu.Unlock()
			if first {
				s.logger.Warn("progress reported after ExecuteAction returned; dropped (a goroutine of the provider outlived the action)",
					"step", areq.ID, "message", msg)
			}
		}
	}
	started := time.Now()
	if d := s.safeCall("ExecuteAction", func() { s.p.ExecuteAction(ctx, areq, resp) }); d != nil {
		resp.Diagnostics = append(resp.Diagnostics, *d)
	}
	if ctx.Err() != nil && !resp.Diagnostics.HasErrors() {
		resp.Diagnostics = append(resp.Diagnostics, cancelledDiag(ctx, areq))
	}
	s.logger.Debug("action returned", "step", areq.ID, "action", areq.Kind.String(), "host", areq.Host,
		"duration", time.Since(started).Round(time.Millisecond).String(), "failed", resp.Diagnostics.HasErrors())
	return snd.finish(resp)
}

// checkAction refuses actions the provider did not declare in its schema,
// so that a provider's ExecuteAction only ever sees kinds it asked for.
func (s *server) checkAction(ctx context.Context, req ExecuteActionRequest) *Diagnostic {
	schema, diags := s.getSchema(ctx)
	if schema == nil {
		if len(diags) > 0 {
			return &diags[0]
		}
		return &Diagnostic{Severity: Error, Summary: "Invalid provider schema"}
	}
	supported := false
	for _, k := range schema.Actions {
		if k == req.Kind {
			supported = true
			break
		}
	}
	if !supported {
		return &Diagnostic{
			Severity: Error,
			Summary:  "Unsupported action",
			Detail:   fmt.Sprintf("The provider %s does not support the action %s (kind %d).", s.providerName(), req.Kind, int(req.Kind)),
		}
	}
	if req.Kind == ActionProbe {
		for _, p := range schema.Probes {
			if p.Name == req.Probe {
				return nil
			}
		}
		return &Diagnostic{
			Severity: Error,
			Summary:  "Unknown probe",
			Detail:   fmt.Sprintf("The provider %s has no probe named %q.", s.providerName(), req.Probe),
		}
	}
	return nil
}

// cancelledDiag is appended when an action returns after its context ended
// without reporting an error: escalator must not record as done an action
// that may have been cut short.
func cancelledDiag(ctx context.Context, req ExecuteActionRequest) Diagnostic {
	what := fmt.Sprintf("The action %s", req.Kind)
	if req.Host != "" {
		what += " on host " + req.Host
	}
	if req.ID != "" {
		what += fmt.Sprintf(" (step %s)", req.ID)
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Diagnostic{Severity: Error, Summary: "Action deadline exceeded",
			Detail: what + " ran past its deadline; it may be partly done. Retrying the same step is safe: actions are idempotent by step id."}
	case errors.Is(cause, errStopped):
		return Diagnostic{Severity: Error, Summary: "Action cancelled: " + errStopped.Error(),
			Detail: what + " was cancelled because escalator stopped the provider; it may be partly done."}
	default:
		return Diagnostic{Severity: Error, Summary: "Action cancelled",
			Detail: what + " was cancelled before it reported completion; it may be partly done."}
	}
}

// Stop implements pluginv1.ProviderServer: it cancels every call in flight,
// then lets the provider release what it holds.
func (s *server) Stop(ctx context.Context, _ *pluginv1.Stop_Request) (*pluginv1.Stop_Response, error) {
	s.mu.Lock()
	stop := s.stop
	s.stopCtx, s.stop = context.WithCancelCause(context.Background())
	s.mu.Unlock()
	stop(errStopped)
	s.logger.Debug("stop requested; calls in flight cancelled")

	ps, ok := s.p.(ProviderWithStop)
	if !ok {
		return &pluginv1.Stop_Response{}, nil
	}
	var err error
	if d := s.safeCall("Stop", func() { err = ps.Stop(ctx) }); d != nil {
		return &pluginv1.Stop_Response{Error: d.Summary}, nil
	}
	if err != nil {
		return &pluginv1.Stop_Response{Error: err.Error()}, nil
	}
	return &pluginv1.Stop_Response{}, nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
