// Package sdktest runs a provider in-process, over the real plugin
// protocol, for the provider author's unit tests:
//
//	func TestUpgrade(t *testing.T) {
//		c := sdktest.Start(t, &provider{})
//		if _, diags := c.Configure(t.Context(), cty.ObjectVal(map[string]cty.Value{
//			"cloud": cty.StringVal("cloud.json"),
//		})); diags.HasErrors() {
//			t.Fatal(diags)
//		}
//		resp, diags := c.Execute(t.Context(), sdk.ExecuteActionRequest{
//			ID: "s1", Kind: sdk.ActionUpgrade, Host: "c1", ToVersion: "2.0",
//		}, nil)
//		…
//	}
//
// The provider is served by sdk.Serve exactly as in a plugin binary (in its
// debug mode, which listens in-process rather than waiting for escalator to
// start it), and called through escalator's own client. So a test sees
// what escalator will see: the SDK checks configurations against the
// schema, values cross the wire as they will in production, and a missing
// required argument comes back as a diagnostic with its attribute path.
//
// Serving swaps log/slog's default logger for the plugin's while the
// client is open, as sdk.Serve does in a plugin: slog lines of the test
// itself go to the plugin's log (standard error) in that time.
package sdktest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// DefaultActionTimeout bounds Execute when its context has no deadline, so
// that an action that never returns fails the test instead of hanging it.
const DefaultActionTimeout = time.Minute

// Client calls one provider served in-process. Its methods mirror
// escalator's: each returns the provider's response in sdk types and the
// diagnostics, both the provider's own (with their Attribute paths) and
// those of the SDK and the protocol (a configuration that does not match
// the schema, an action the schema does not declare). Create it with
// Start; it is closed when the test ends.
type Client struct {
	name string
	p    *pluginhost.Provider

	// paths records the Attribute of every plugin diagnostic of a call
	// (see locate).
	mu    sync.Mutex
	paths map[string]cty.Path
	seq   int
}

// Start serves p in-process and returns a client for it. It fails t if p
// can't be served (Metadata must name the provider). The provider is
// stopped and the connection closed by t.Cleanup.
func Start(t testing.TB, p sdk.Provider) *Client {
	t.Helper()
	var meta sdk.MetadataResponse
	p.Metadata(context.Background(), sdk.MetadataRequest{}, &meta)
	if meta.Name == "" {
		t.Fatal("sdktest: the provider's Metadata returns no Name")
	}

	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan sdk.ReattachConfig, 1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		sdk.Serve(p, sdk.WithDebug(ctx, reattach))
	}()
	var rc sdk.ReattachConfig
	select {
	case rc = <-reattach:
	case <-served:
		cancel()
		t.Fatalf("sdktest: serving provider %q failed; its log (standard error) says why", meta.Name)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("sdktest: provider %q did not start serving within 30s", meta.Name)
	}

	target := rc.Addr.String
	if rc.Addr.Network == "unix" {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		<-served
		t.Fatalf("sdktest: connecting to provider %q: %v", meta.Name, err)
	}

	c := &Client{name: meta.Name, paths: map[string]cty.Path{}}
	closeConn := func() {
		_ = conn.Close()
		cancel()
		<-served
	}
	c.p = pluginhost.Connect(meta.Name, conn, rc.ProtocolVersion, closeConn, pluginhost.Options{
		Logger: hclog.NewNullLogger(),
		Locate: c.locate,
	})
	t.Cleanup(c.Close)
	return c
}

// Close stops serving the provider. Start registers it with t.Cleanup;
// calling it earlier is allowed, and calls after it fail.
func (c *Client) Close() {
	c.p.Close()
}

// tokenPrefix marks the pseudo file names locate hands out.
const tokenPrefix = "\x00sdktest-path-"

// locate is the client's pluginhost.Locator: instead of a source range, it
// returns a unique token that toSDK turns back into the plugin's path, so
// that diagnostics reach the test exactly as the provider made them.
func (c *Client) locate(p cty.Path) *hcl.Range {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	key := tokenPrefix + strconv.Itoa(c.seq)
	c.paths[key] = p.Copy()
	return &hcl.Range{Filename: key}
}

// toSDK converts escalator's diagnostics back into the SDK's.
func (c *Client) toSDK(ds diags.Diagnostics) sdk.Diagnostics {
	if len(ds) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(sdk.Diagnostics, 0, len(ds))
	for _, d := range ds {
		sd := sdk.Diagnostic{Severity: sdk.Error, Summary: d.Summary, Detail: d.Detail}
		if d.Severity == diags.Warning {
			sd.Severity = sdk.Warning
		}
		if d.Subject != nil && strings.HasPrefix(d.Subject.Filename, tokenPrefix) {
			sd.Attribute = c.paths[d.Subject.Filename]
			delete(c.paths, d.Subject.Filename)
		}
		out = append(out, sd)
	}
	return out
}

// Metadata calls the provider's Metadata through the protocol.
func (c *Client) Metadata(ctx context.Context) (*sdk.MetadataResponse, sdk.Diagnostics) {
	resp, ds := c.p.Metadata(ctx)
	return resp, c.toSDK(ds)
}

// Schema returns the provider's schema, as escalator reads it. Mistakes in
// the schema (a duplicate attribute, a nested block without nesting) are
// error diagnostics.
func (c *Client) Schema(ctx context.Context) (*sdk.SchemaResponse, sdk.Diagnostics) {
	resp, ds := c.p.Schema(ctx)
	return resp, c.toSDK(ds)
}

// ValidateConfig checks a provider configuration: first against the
// schema, then with the provider's ValidateConfig if it has one.
func (c *Client) ValidateConfig(ctx context.Context, cfg cty.Value) sdk.Diagnostics {
	return c.toSDK(c.p.ValidateConfig(ctx, cfg, nil))
}

// Configure configures the provider. cfg is the provider block as an
// object; attributes left out are null, as they are when escalator
// decodes a block that does not set them. The response carries the
// capabilities the provider announced.
func (c *Client) Configure(ctx context.Context, cfg cty.Value) (*sdk.ConfigureResponse, sdk.Diagnostics) {
	ds := c.p.Configure(ctx, cfg, nil)
	if ds.HasErrors() {
		return nil, c.toSDK(ds)
	}
	return &sdk.ConfigureResponse{Capabilities: c.p.Capabilities()}, c.toSDK(ds)
}

// ReadInventory reads the inventory, streamed item by item as escalator
// reads it. On an error diagnostic the response is nil.
func (c *Client) ReadInventory(ctx context.Context) (*sdk.ReadInventoryResponse, sdk.Diagnostics) {
	resp, ds := c.p.ReadInventory(ctx)
	return resp, c.toSDK(ds)
}

// PlanComponent asks what changing a component on a host involves. A
// provider without sdk.ProviderWithPlanComponent answers with a zero
// response.
func (c *Client) PlanComponent(ctx context.Context, req sdk.PlanComponentRequest) (*sdk.PlanComponentResponse, sdk.Diagnostics) {
	resp, ds := c.p.PlanComponent(ctx, req, nil)
	return resp, c.toSDK(ds)
}

// Execute runs an action, calling onProgress (which may be nil) for each
// progress report. Without a deadline on ctx, DefaultActionTimeout
// applies. The response is nil unless the action succeeded, which it did
// if and only if there is no error diagnostic.
func (c *Client) Execute(ctx context.Context, req sdk.ExecuteActionRequest, onProgress func(msg string, fraction float64)) (*sdk.ExecuteActionResponse, sdk.Diagnostics) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultActionTimeout)
		defer cancel()
	}
	resp, ds := c.p.ExecuteAction(ctx, req, onProgress, nil)
	return resp, c.toSDK(ds)
}

// Stop asks the provider to abandon every call in flight.
func (c *Client) Stop(ctx context.Context) sdk.Diagnostics {
	return c.toSDK(c.p.Stop(ctx))
}

// String names the provider, for test messages.
func (c *Client) String() string {
	return fmt.Sprintf("sdktest client of provider %q", c.name)
}
