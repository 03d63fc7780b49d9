package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
	"github.com/escalator-nfv/escalator/internal/version"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Call names, as they appear in diagnostics ("crashed during
// ReadInventory").
const (
	CallMetadata       = "GetMetadata"
	CallSchema         = "GetSchema"
	CallValidateConfig = "ValidateConfig"
	CallConfigure      = "Configure"
	CallReadInventory  = "ReadInventory"
	CallPlanComponent  = "PlanComponent"
	CallExecuteAction  = "ExecuteAction"
	CallStop           = "Stop"
)

// Capabilities escalator announces to plugins at Configure, so that
// protocol version 1 can grow without a new version.
var hostCapabilities = []string{
	// ReadInventory may send its items in batches.
	pluginproto.CapInventoryBatches,
}

// A Locator maps a path into a value escalator sent to a plugin (the
// provider configuration, a component's settings) to the range of
// configuration that set that value, so that a plugin's complaint about
// packages[2] is shown at the offending element. Build one with InBody or
// InExpr; a nil Locator leaves diagnostics without a range and names the
// path in their detail instead.
type Locator func(cty.Path) *hcl.Range

// InBody locates paths in a block body, such as a provider block's: see
// diags.RangeForPath. Diagnostics about the whole value (an empty path)
// point at block, the block's definition range.
func InBody(body hcl.Body, block hcl.Range) Locator {
	return func(p cty.Path) *hcl.Range {
		if len(p) == 0 {
			return block.Ptr()
		}
		if r := diags.RangeForPath(body, p); r != nil {
			return r
		}
		return block.Ptr()
	}
}

// InExpr locates paths in an expression, such as a component's
// `settings = { … }`: see diags.RangeForExprPath.
func InExpr(expr hcl.Expression) Locator {
	return func(p cty.Path) *hcl.Range {
		return diags.RangeForExprPath(expr, p)
	}
}

// AtRange puts every diagnostic at r, for values whose syntax escalator
// no longer has (a component block's definition, say).
func AtRange(r hcl.Range) Locator {
	return func(cty.Path) *hcl.Range { return r.Ptr() }
}

// begin starts a call: it refuses calls to a closed or dead plugin, and
// derives the call's context with its deadline (none when timeout is 0).
func (p *Provider) begin(ctx context.Context, call string, timeout time.Duration) (context.Context, context.CancelFunc, diags.Diagnostics) {
	if p.closing.Load() {
		return nil, nil, diags.Diagnostics{diags.Errorf(nil,
			fmt.Sprintf("Provider %q is closed", p.name),
			"escalator already stopped the plugin before calling %s. This is a bug in escalator; please report it.", call)}
	}
	if p.rpc == nil {
		return nil, nil, diags.Diagnostics{diags.Errorf(nil,
			fmt.Sprintf("Provider %q is not started", p.name),
			"%s was called before the plugin was started. This is a bug in escalator; please report it.", call)}
	}
	if p.exited() {
		return nil, nil, diags.Diagnostics{diags.Errorf(nil,
			fmt.Sprintf("Provider %q is not running", p.name),
			"The plugin %s exited earlier (%s), before escalator called %s.%s%s",
			p.describe(), p.exitStatus(), call, p.lastLines(), crashAdvice)}
	}
	if timeout <= 0 {
		c, cancel := context.WithCancel(ctx)
		return c, cancel, nil
	}
	c, cancel := context.WithTimeout(ctx, timeout)
	return c, cancel, nil
}

// describe names the plugin's executable and process for messages.
func (p *Provider) describe() string {
	var parts []string
	if p.path != "" {
		parts = append(parts, p.path)
	}
	if pid := p.Pid(); pid > 0 {
		parts = append(parts, fmt.Sprintf("pid %d", pid))
	}
	if p.reattached {
		parts = append(parts, "attached through "+EnvReattach)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("of provider %q", p.name)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

const crashAdvice = "\n\nThis is a bug in the provider or a problem where it runs; its log lines usually say which " +
	"(run with ESCALATOR_LOG=debug for all of them). Report it to the provider's author if the cause is not yours to fix."

// callError turns a failed call into a diagnostic that names the plugin and
// the call and says what happened: interrupted, timed out, crashed, or
// refused by the plugin.
func (p *Provider) callError(parent, callCtx context.Context, call string, timeout time.Duration, err error) diags.Diagnostic {
	st, _ := status.FromError(err)
	// gRPC may report a deadline from its own timer a moment before the
	// context says so; whose deadline it was follows from which is
	// earlier, the caller's or the call's own timeout.
	deadlineHit := errors.Is(callCtx.Err(), context.DeadlineExceeded) || st.Code() == codes.DeadlineExceeded
	parentDeadline, parentHasDeadline := parent.Deadline()
	callDeadline, _ := callCtx.Deadline()
	callersDeadline := errors.Is(parent.Err(), context.DeadlineExceeded) ||
		deadlineHit && parentHasDeadline && !parentDeadline.After(callDeadline)
	switch {
	case callersDeadline:
		return diags.Errorf(nil,
			fmt.Sprintf("Provider %q did not finish %s before its deadline", p.name, call),
			"escalator gave up waiting at %s, the deadline of the operation. The action may be partly done; the plugin was asked to stop it.%s",
			parentDeadline.Format(time.RFC3339), p.lastLines())
	case parent.Err() != nil:
		return diags.Errorf(nil,
			fmt.Sprintf("%s of provider %q was interrupted", call, p.name),
			"escalator was interrupted (Ctrl-C, SIGTERM) or the operation was cancelled while the plugin was working on %s.", call)
	case deadlineHit && timeout > 0:
		return diags.Errorf(nil,
			fmt.Sprintf("Provider %q did not answer %s within %s", p.name, call, timeout),
			"The plugin %s is still running but did not answer in time, so escalator stopped waiting. "+
				"A plugin should return when escalator's deadline passes; one that does not is hung, "+
				"or the cloud it talks to is not answering.%s",
			p.describe(), p.lastLines())
	case p.closing.Load():
		return diags.Errorf(nil,
			fmt.Sprintf("Provider %q was stopped during %s", p.name, call),
			"escalator stopped the plugin while it was working on %s, because escalator is shutting down.", call)
	}
	if p.waitExited(p.exitWait) {
		return diags.Errorf(nil,
			fmt.Sprintf("Provider %q crashed during %s", p.name, call),
			"The plugin %s exited (%s) while escalator waited for %s: %s.%s%s",
			p.describe(), p.exitStatus(), call, grpcMessage(err), p.lastLines(), crashAdvice)
	}
	detail := grpcMessage(err)
	switch st.Code() {
	case codes.Unimplemented:
		detail += fmt.Sprintf(". The plugin does not implement %s: it may be built with an SDK older than this escalator's protocol; upgrade the plugin.", call)
	case codes.Unavailable:
		detail += ". escalator lost its connection to the plugin, which is still running."
	default:
		detail += "."
	}
	return diags.Errorf(nil, fmt.Sprintf("Provider %q failed during %s", p.name, call), "%s%s", detail, p.lastLines())
}

// grpcMessage is the error's message without gRPC's "rpc error: code = …
// desc =" wrapping when it has one.
func grpcMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s (%s)", st.Message(), st.Code())
	}
	return err.Error()
}

// pluginDiags converts the plugin's diagnostics, locating those with a path
// through at.
func (p *Provider) pluginDiags(pds []*pluginv1.Diagnostic, at Locator, call string) diags.Diagnostics {
	var out diags.Diagnostics
	for _, pd := range pds {
		out = append(out, p.pluginDiag(pd, at, call))
	}
	return out
}

func (p *Provider) pluginDiag(pd *pluginv1.Diagnostic, at Locator, call string) diags.Diagnostic {
	d := diags.Diagnostic{Severity: diags.Error, Summary: pd.GetSummary(), Detail: pd.GetDetail()}
	if pd.GetSeverity() == pluginv1.Diagnostic_WARNING {
		d.Severity = diags.Warning
	}
	if d.Summary == "" {
		d.Summary = fmt.Sprintf("Provider %q reported a problem", p.name)
	}
	path := pluginproto.DecodePath(pd.GetAttribute())
	if at == nil {
		at = p.locate
	}
	if at != nil {
		d.Subject = at(path)
	}
	if d.Subject == nil {
		// Without a range, say who complained about what: several
		// providers may run in one command.
		var extra []string
		if len(path) > 0 {
			extra = append(extra, "It is about the value at "+pluginproto.FormatPath(path)+".")
		}
		extra = append(extra, fmt.Sprintf("Reported by provider %q (%s).", p.name, call))
		if d.Detail != "" {
			d.Detail += "\n\n"
		}
		d.Detail += strings.Join(extra, " ")
	}
	return d
}

// encodeValue encodes a value for a call, as a diagnostic on failure (an
// unknown value is a bug in the caller).
func (p *Provider) encodeValue(v cty.Value, what, call string) (*pluginv1.DynamicValue, diags.Diagnostics) {
	dv, err := pluginproto.EncodeValue(v)
	if err != nil {
		return nil, diags.Diagnostics{diags.Errorf(nil,
			fmt.Sprintf("Can't send the %s to provider %q", what, p.name),
			"%s: %v. This is a bug in escalator; please report it.", call, err)}
	}
	return dv, nil
}

// Metadata returns the plugin's name and version.
func (p *Provider) Metadata(ctx context.Context) (*sdk.MetadataResponse, diags.Diagnostics) {
	cctx, cancel, ds := p.begin(ctx, CallMetadata, p.timeouts.Metadata)
	if ds != nil {
		return nil, ds
	}
	defer cancel()
	resp, err := p.rpc.GetMetadata(cctx, &pluginv1.GetMetadata_Request{})
	if err != nil {
		return nil, diags.Diagnostics{p.callError(ctx, cctx, CallMetadata, p.timeouts.Metadata, err)}
	}
	p.log.Debug("metadata", "name", resp.GetName(), "version", resp.GetVersion(), "sdk_version", resp.GetSdkVersion())
	return &sdk.MetadataResponse{Name: resp.GetName(), Version: resp.GetVersion()}, nil
}

// Schema returns the plugin's schema. Its Diagnostics field is left empty:
// the plugin's diagnostics are returned as diags.Diagnostics.
func (p *Provider) Schema(ctx context.Context) (*sdk.SchemaResponse, diags.Diagnostics) {
	cctx, cancel, ds := p.begin(ctx, CallSchema, p.timeouts.Schema)
	if ds != nil {
		return nil, ds
	}
	defer cancel()
	resp, err := p.rpc.GetSchema(cctx, &pluginv1.GetSchema_Request{})
	if err != nil {
		return nil, diags.Diagnostics{p.callError(ctx, cctx, CallSchema, p.timeouts.Schema, err)}
	}
	ds = p.pluginDiags(resp.GetDiagnostics(), nil, CallSchema)
	if ds.HasErrors() {
		return nil, ds
	}
	schema, err := schemaFromProto(resp)
	if err != nil {
		return nil, append(ds, diags.Errorf(nil,
			fmt.Sprintf("Provider %q returned an invalid schema", p.name),
			"%v. This is a bug in the provider; report it to its author.", err))
	}
	return schema, ds
}

// ValidateConfig asks the plugin to check a provider configuration without
// using it. at locates the diagnostics (nil: none).
func (p *Provider) ValidateConfig(ctx context.Context, cfg cty.Value, at Locator) diags.Diagnostics {
	dv, ds := p.encodeValue(cfg, "configuration", CallValidateConfig)
	if ds != nil {
		return ds
	}
	cctx, cancel, ds := p.begin(ctx, CallValidateConfig, p.timeouts.Validate)
	if ds != nil {
		return ds
	}
	defer cancel()
	resp, err := p.rpc.ValidateConfig(cctx, &pluginv1.ValidateConfig_Request{Config: dv})
	if err != nil {
		return diags.Diagnostics{p.callError(ctx, cctx, CallValidateConfig, p.timeouts.Validate, err)}
	}
	return p.pluginDiags(resp.GetDiagnostics(), at, CallValidateConfig)
}

// Configure hands the plugin its configuration and exchanges
// capabilities (see Capabilities). at locates the diagnostics (nil: none).
func (p *Provider) Configure(ctx context.Context, cfg cty.Value, at Locator) diags.Diagnostics {
	dv, ds := p.encodeValue(cfg, "configuration", CallConfigure)
	if ds != nil {
		return ds
	}
	cctx, cancel, ds := p.begin(ctx, CallConfigure, p.timeouts.Configure)
	if ds != nil {
		return ds
	}
	defer cancel()
	resp, err := p.rpc.Configure(cctx, &pluginv1.Configure_Request{
		Config:           dv,
		EscalatorVersion: version.Number(),
		Capabilities:     &pluginv1.Capabilities{Features: hostCapabilities},
	})
	if err != nil {
		return diags.Diagnostics{p.callError(ctx, cctx, CallConfigure, p.timeouts.Configure, err)}
	}
	ds = p.pluginDiags(resp.GetDiagnostics(), at, CallConfigure)
	if !ds.HasErrors() {
		p.mu.Lock()
		p.caps = append([]string(nil), resp.GetCapabilities().GetFeatures()...)
		p.mu.Unlock()
	}
	return ds
}

// ReadInventory reads the live inventory, consuming the plugin's stream.
// Its Diagnostics field is left empty; the plugin's diagnostics are
// returned as diags.Diagnostics. On an error the inventory is nil: half an
// inventory must never be planned against.
func (p *Provider) ReadInventory(ctx context.Context) (*sdk.ReadInventoryResponse, diags.Diagnostics) {
	timeout := p.timeouts.Inventory
	cctx, cancel, ds := p.begin(ctx, CallReadInventory, timeout)
	if ds != nil {
		return nil, ds
	}
	defer cancel()
	// The items are decoded by inventoryDecoder, straight from the wire
	// into inv (see invstream.go).
	stream, err := p.rpc.ReadInventory(cctx, &pluginv1.ReadInventory_Request{}, grpc.ForceCodecV2(inventoryCodec{}))
	if err != nil {
		return nil, diags.Diagnostics{p.callError(ctx, cctx, CallReadInventory, timeout, err)}
	}
	inv := &sdk.ReadInventoryResponse{}
	dec := &inventoryDecoder{p: p, inv: inv, ds: ds}
	for {
		err := stream.RecvMsg(dec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, append(dec.ds, p.callError(ctx, cctx, CallReadInventory, timeout, err))
		}
	}
	dec.finish()
	ds = dec.ds
	if ds.HasErrors() {
		return nil, ds
	}
	p.log.Debug("inventory read", "hosts", len(inv.Hosts), "instances", len(inv.Instances),
		"server_groups", len(inv.ServerGroups), "vnf_managers", len(inv.VNFManagers))
	return inv, ds
}

// PlanComponent asks what changing one component on one host involves.
// at locates diagnostics about req.Settings (nil: none). The response's
// Diagnostics field is left empty.
func (p *Provider) PlanComponent(ctx context.Context, req sdk.PlanComponentRequest, at Locator) (*sdk.PlanComponentResponse, diags.Diagnostics) {
	dv, ds := p.encodeValue(req.Settings, "settings of component "+req.Component, CallPlanComponent)
	if ds != nil {
		return nil, ds
	}
	cctx, cancel, ds := p.begin(ctx, CallPlanComponent, p.timeouts.Plan)
	if ds != nil {
		return nil, ds
	}
	defer cancel()
	resp, err := p.rpc.PlanComponent(cctx, &pluginv1.PlanComponent_Request{
		Component:   req.Component,
		Host:        req.Host,
		FromVersion: req.FromVersion,
		ToVersion:   req.ToVersion,
		Settings:    dv,
	})
	if err != nil {
		return nil, diags.Diagnostics{p.callError(ctx, cctx, CallPlanComponent, p.timeouts.Plan, err)}
	}
	ds = p.pluginDiags(resp.GetDiagnostics(), at, CallPlanComponent)
	if ds.HasErrors() {
		return nil, ds
	}
	return &sdk.PlanComponentResponse{
		Refused:          resp.GetRefused(),
		RefusalReason:    resp.GetRefusalReason(),
		Disruption:       disruptionFromProto(resp.GetDisruption()),
		ExpectedDuration: time.Duration(resp.GetExpectedDurationMs()) * time.Millisecond,
	}, ds
}

// ExecuteAction performs one action, calling onProgress (which may be nil)
// for each progress report, from the calling goroutine. ctx must carry a
// deadline: only the caller knows how long the action may take, and an
// action without one could wait forever. at locates diagnostics about
// req.Settings (nil: none). The response holds the outputs; its
// Diagnostics field is left empty. An action succeeded if and only if the
// diagnostics have no error.
func (p *Provider) ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, onProgress func(msg string, fraction float64), at Locator) (*sdk.ExecuteActionResponse, diags.Diagnostics) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, diags.Diagnostics{diags.Errorf(nil,
			fmt.Sprintf("ExecuteAction of provider %q called without a deadline", p.name),
			"Every action needs a deadline so that a hung plugin can't stall escalator. This is a bug in escalator; please report it.")}
	}
	dv, ds := p.encodeValue(req.Settings, "action settings", CallExecuteAction)
	if ds != nil {
		return nil, ds
	}
	cctx, cancel, ds := p.begin(ctx, CallExecuteAction, 0)
	if ds != nil {
		return nil, ds
	}
	defer cancel()
	stream, err := p.rpc.ExecuteAction(cctx, &pluginv1.ExecuteAction_Request{
		Id:          req.ID,
		Kind:        actionKindToProto(req.Kind),
		Host:        req.Host,
		Component:   req.Component,
		FromVersion: req.FromVersion,
		ToVersion:   req.ToVersion,
		Settings:    dv,
		Reason:      req.Reason,
		Instance:    req.Instance,
		Destination: req.Destination,
		Live:        req.Live,
		BackupId:    req.BackupID,
		Probe:       req.Probe,
	})
	if err != nil {
		return nil, diags.Diagnostics{p.callError(ctx, cctx, CallExecuteAction, 0, err)}
	}
	var completed *pluginv1.ExecuteAction_Completed
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, append(ds, p.callError(ctx, cctx, CallExecuteAction, 0, err))
		}
		switch e := ev.GetEvent().(type) {
		case *pluginv1.ExecuteAction_Event_Progress:
			if onProgress != nil {
				onProgress(e.Progress.GetMessage(), e.Progress.GetFraction())
			}
		case *pluginv1.ExecuteAction_Event_Diagnostic:
			ds = append(ds, p.pluginDiag(e.Diagnostic, at, CallExecuteAction))
		case *pluginv1.ExecuteAction_Event_Completed:
			completed = e.Completed
		default:
			p.log.Debug("skipping an action event of an unknown kind")
		}
	}
	if ds.HasErrors() {
		return nil, ds
	}
	if completed == nil {
		// The stream ended cleanly but the plugin never said the action
		// was done: it must not be recorded as done.
		return nil, append(ds, diags.Errorf(nil,
			fmt.Sprintf("Provider %q ended %s without completing it", p.name, CallExecuteAction),
			"The plugin closed the action's stream without reporting success or an error, so escalator can't tell whether %s on %q happened. "+
				"This is a bug in the provider; report it to its author.", req.Kind, req.Host))
	}
	return &sdk.ExecuteActionResponse{Outputs: completed.GetOutputs()}, ds
}

// Stop asks the plugin to abandon every call in flight.
func (p *Provider) Stop(ctx context.Context) diags.Diagnostics {
	cctx, cancel, ds := p.begin(ctx, CallStop, p.timeouts.Stop)
	if ds != nil {
		return ds
	}
	defer cancel()
	resp, err := p.rpc.Stop(cctx, &pluginv1.Stop_Request{})
	if err != nil {
		return diags.Diagnostics{p.callError(ctx, cctx, CallStop, p.timeouts.Stop, err)}
	}
	if msg := resp.GetError(); msg != "" {
		return diags.Diagnostics{diags.Errorf(nil, fmt.Sprintf("Provider %q could not stop cleanly", p.name), "%s", msg)}
	}
	return nil
}
