// Package sdk is the public Go API for writing escalator provider plugins.
//
// A provider is how escalator touches a cloud: it reports the live inventory
// (hosts, instances, server groups, installed versions), says what upgrading
// a component on a host involves, and carries out actions (maintenance,
// migration, backup, upgrade, verification, rollback, restore). A plugin is
// a small Go program: implement Provider and call Serve from main.
//
//	func main() {
//		sdk.Serve(&myProvider{})
//	}
//
// Every method follows one shape, (ctx, Request, *Response): read the
// request, fill the response, report problems as Diagnostics on the
// response. The context carries escalator's deadline and cancellation:
// return promptly when it is done. Optional behaviour is opted into by
// implementing the extension interfaces (ProviderWithValidateConfig,
// ProviderWithPlanComponent, ProviderWithStop).
//
// The gRPC protocol underneath is versioned and hidden; this package is the
// stable surface. See website/docs/plugins for the author's guide.
package sdk

import "context"

// Provider is what every plugin implements.
type Provider interface {
	// Metadata names the provider and its version. It is called before
	// Configure, by escalator init and on every start.
	Metadata(ctx context.Context, req MetadataRequest, resp *MetadataResponse)
	// Schema describes the provider's configuration, the settings its
	// components take, the host attributes it reports and the actions it
	// supports. Called before Configure; must not contact the cloud.
	Schema(ctx context.Context, req SchemaRequest, resp *SchemaResponse)
	// Configure receives the provider block's values, already checked
	// against Schema. Every call below comes after a successful Configure.
	Configure(ctx context.Context, req ConfigureRequest, resp *ConfigureResponse)
	// ReadInventory reports the live inventory.
	ReadInventory(ctx context.Context, req ReadInventoryRequest, resp *ReadInventoryResponse)
	// ExecuteAction performs one action. Report progress with
	// resp.Progress while it runs; return when it is done, failed (an
	// error diagnostic) or ctx is done.
	ExecuteAction(ctx context.Context, req ExecuteActionRequest, resp *ExecuteActionResponse)
}

// ProviderWithValidateConfig is implemented by providers that check their
// configuration beyond its schema (a URL's form, a file's existence)
// without using it. escalator validate calls it.
type ProviderWithValidateConfig interface {
	Provider
	ValidateConfig(ctx context.Context, req ValidateConfigRequest, resp *ValidateConfigResponse)
}

// ProviderWithPlanComponent is implemented by providers that know what a
// version change involves. Without it, escalator plans every change as the
// component's configured disruption with no duration estimate, and refuses
// only what it can see itself (a downgrade by plain version comparison).
type ProviderWithPlanComponent interface {
	Provider
	PlanComponent(ctx context.Context, req PlanComponentRequest, resp *PlanComponentResponse)
}

// ProviderWithStop is implemented by providers that hold resources worth
// releasing when escalator stops them (connections, child processes).
// Calls in flight are cancelled through their contexts in any case.
type ProviderWithStop interface {
	Provider
	Stop(ctx context.Context) error
}
