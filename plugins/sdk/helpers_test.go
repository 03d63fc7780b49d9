package sdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// raceEnabled is set by race_test.go when the race detector is on.
var raceEnabled bool

func TestMain(m *testing.M) {
	// go-plugin's test connection logs at debug level to hclog's default
	// output; keep test failures readable.
	hclog.DefaultOutput = io.Discard
	os.Exit(m.Run())
}

// testProvider is a Provider whose behaviour each test sets through
// function fields. It implements every extension interface; wrap it in
// plainProvider to hide them.
type testProvider struct {
	schema    func(*SchemaResponse)
	validate  func(context.Context, ValidateConfigRequest, *ValidateConfigResponse)
	configure func(context.Context, ConfigureRequest, *ConfigureResponse)
	inventory func(context.Context, ReadInventoryRequest, *ReadInventoryResponse)
	plan      func(context.Context, PlanComponentRequest, *PlanComponentResponse)
	execute   func(context.Context, ExecuteActionRequest, *ExecuteActionResponse)
	stop      func(context.Context) error
	metadata  func(*MetadataResponse)
}

func (p *testProvider) Metadata(_ context.Context, _ MetadataRequest, resp *MetadataResponse) {
	if p.metadata != nil {
		p.metadata(resp)
		return
	}
	resp.Name, resp.Version = "test", "1.2.3"
}

func (p *testProvider) Schema(_ context.Context, _ SchemaRequest, resp *SchemaResponse) {
	resp.Actions = []ActionKind{ActionEnterMaintenance, ActionUpgrade, ActionVerify, ActionProbe}
	resp.Probes = []Probe{{Name: "ping"}}
	if p.schema != nil {
		p.schema(resp)
	}
}

func (p *testProvider) ValidateConfig(ctx context.Context, req ValidateConfigRequest, resp *ValidateConfigResponse) {
	if p.validate != nil {
		p.validate(ctx, req, resp)
	}
}

func (p *testProvider) Configure(ctx context.Context, req ConfigureRequest, resp *ConfigureResponse) {
	if p.configure != nil {
		p.configure(ctx, req, resp)
	}
}

func (p *testProvider) ReadInventory(ctx context.Context, req ReadInventoryRequest, resp *ReadInventoryResponse) {
	if p.inventory != nil {
		p.inventory(ctx, req, resp)
	}
}

func (p *testProvider) PlanComponent(ctx context.Context, req PlanComponentRequest, resp *PlanComponentResponse) {
	if p.plan != nil {
		p.plan(ctx, req, resp)
	}
}

func (p *testProvider) ExecuteAction(ctx context.Context, req ExecuteActionRequest, resp *ExecuteActionResponse) {
	if p.execute != nil {
		p.execute(ctx, req, resp)
	}
}

func (p *testProvider) Stop(ctx context.Context) error {
	if p.stop != nil {
		return p.stop(ctx)
	}
	return nil
}

// plainProvider exposes only the Provider methods of what it wraps, to test
// the behaviour without extension interfaces.
type plainProvider struct{ Provider }

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// connect serves p in-process over real gRPC (go-plugin's test
// connection, a Unix socket) and returns a client of the generated API,
// as escalator would use it, and the server's log.
func connect(t *testing.T, p Provider) (pluginv1.ProviderClient, *server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace, JSONFormat: true})
	srv := newServer(p, logger)
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		pluginproto.PluginName: &grpcPlugin{srv: srv},
	})
	// Closing the client shuts the server down through go-plugin's
	// controller; stopping it here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(pluginproto.PluginName)
	if err != nil {
		t.Fatalf("dispensing the provider: %v", err)
	}
	return raw.(pluginv1.ProviderClient), srv, logs
}

func mustEncode(t *testing.T, v cty.Value) *pluginv1.DynamicValue {
	t.Helper()
	dv, err := pluginproto.EncodeValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return dv
}

// configure sends Configure with an empty configuration and fails the test
// on error diagnostics.
func configure(t *testing.T, c pluginv1.ProviderClient) {
	t.Helper()
	resp, err := c.Configure(context.Background(), &pluginv1.Configure_Request{Config: mustEncode(t, cty.EmptyObjectVal)})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	for _, d := range resp.GetDiagnostics() {
		if d.GetSeverity() == pluginv1.Diagnostic_ERROR {
			t.Fatalf("Configure: %s: %s", d.GetSummary(), d.GetDetail())
		}
	}
}

// actionResult is what an ExecuteAction stream carried.
type actionResult struct {
	progress  []*pluginv1.ExecuteAction_Progress
	diags     []*pluginv1.Diagnostic
	completed *pluginv1.ExecuteAction_Completed
	// order is "p", "d" or "c" per event, to check the sequence.
	order string
	err   error
}

func execute(ctx context.Context, t *testing.T, c pluginv1.ProviderClient, req *pluginv1.ExecuteAction_Request) actionResult {
	t.Helper()
	var res actionResult
	stream, err := c.ExecuteAction(ctx, req)
	if err != nil {
		res.err = err
		return res
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.err = err
			}
			return res
		}
		if ev.GetTimeUnixMs() == 0 {
			t.Errorf("event without a time: %v", ev)
		}
		switch e := ev.GetEvent().(type) {
		case *pluginv1.ExecuteAction_Event_Progress:
			res.progress = append(res.progress, e.Progress)
			res.order += "p"
		case *pluginv1.ExecuteAction_Event_Diagnostic:
			res.diags = append(res.diags, e.Diagnostic)
			res.order += "d"
		case *pluginv1.ExecuteAction_Event_Completed:
			res.completed = e.Completed
			res.order += "c"
		}
	}
}
