// Package pluginhost is escalator's side of the provider plugin protocol:
// it finds plugin executables (discovery), records and checks what was
// found (the lock file), starts them with hashicorp/go-plugin over gRPC,
// and calls them through Provider, a client in escalator's terms (sdk
// types in, sdk types and diags.Diagnostics out).
//
// How a command uses it (plan, apply):
//
//	ctx, stop := pluginhost.SignalContext(context.Background(), 10*time.Second)
//	defer stop()
//	lock, ds := pluginhost.ReadLockFile(pluginhost.LockFilePath(cfg.Dir))
//	set, ds := pluginhost.StartAll(ctx, cfg, lock, pluginhost.Options{})
//	defer set.Close()
//	p := set.Provider("sim")
//	schema, ds := p.Schema(ctx)
//	pb := cfg.Providers["sim"]
//	val, ds := pluginhost.DecodeConfig(pb.Body, schema.Provider, evalCtx)
//	ds = p.Configure(ctx, val, pluginhost.InBody(pb.Body, pb.DeclRange))
//	inv, ds := p.ReadInventory(ctx)
//	plan, ds := p.PlanComponent(ctx, sdk.PlanComponentRequest{…}, pluginhost.InExpr(settingsExpr))
//	out, ds := p.ExecuteAction(ctxWithDeadline, sdk.ExecuteActionRequest{…}, onProgress, nil)
//
// Diagnostics a plugin reports about part of a value it was given carry an
// attribute path; the Locator passed with the value (InBody, InExpr,
// AtRange) turns it into the source range of the HCL that set it.
//
// Failure handling is the package's main job. Every call has a deadline; a
// plugin that hangs, crashes, speaks another protocol version or was
// changed since `escalator init` locked it becomes an error diagnostic that
// names the plugin, the call and what to do, never a hang of escalator.
// Every process started here is killed by Provider.Close, by Set.Close and,
// as the last safety net on every exit path, by CleanupClients, which the
// CLI defers in Main and runs on SIGINT/SIGTERM (see SignalContext).
package pluginhost
