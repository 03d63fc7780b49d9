package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// TestServeWithDebug serves a provider in debug mode and attaches to it
// the way escalator does with ESCALATOR_REATTACH_PROVIDERS: a go-plugin
// client with a reattach config, through its JSON form.
func TestServeWithDebug(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan ReattachConfig)
	served := make(chan struct{})
	go func() {
		defer close(served)
		Serve(&testProvider{}, WithDebug(ctx, reattach))
	}()
	// Serve swaps the process's default loggers until it returns: wait
	// for it even when the test fails, or it would disturb later tests.
	t.Cleanup(func() {
		cancel()
		<-served
	})

	var conf ReattachConfig
	select {
	case conf = <-reattach:
	case <-time.After(5 * time.Second):
		t.Fatal("no reattach config")
	}
	if conf.Protocol != "grpc" || conf.ProtocolVersion != 1 || !conf.Test || conf.Pid == 0 || conf.Addr.String == "" {
		t.Fatalf("reattach config = %+v", conf)
	}

	// Through JSON, as the environment variable carries it.
	b, err := json.Marshal(map[string]ReattachConfig{"test": conf})
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]struct {
		Protocol        string
		ProtocolVersion int
		Pid             int
		Test            bool
		Addr            struct{ Network, String string }
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	rc := env["test"]
	var addr net.Addr
	switch rc.Addr.Network {
	case "unix":
		addr, err = net.ResolveUnixAddr("unix", rc.Addr.String)
	default:
		addr, err = net.ResolveTCPAddr(rc.Addr.Network, rc.Addr.String)
	}
	if err != nil {
		t.Fatal(err)
	}

	versions := map[int]plugin.PluginSet{1: {pluginproto.PluginName: &grpcPlugin{}}}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginproto.Handshake,
		VersionedPlugins: versions,
		// go-plugin does not negotiate when reattaching: the client must
		// pick the plugin set of the version the plugin announced.
		Plugins:          versions[rc.ProtocolVersion],
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Reattach: &plugin.ReattachConfig{
			Protocol:        plugin.Protocol(rc.Protocol),
			ProtocolVersion: rc.ProtocolVersion,
			Pid:             rc.Pid,
			Test:            rc.Test,
			Addr:            addr,
		},
		Logger: hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(pluginproto.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := raw.(pluginv1.ProviderClient).GetMetadata(context.Background(), &pluginv1.GetMetadata_Request{})
	if err != nil {
		t.Fatal(err)
	}
	if meta.GetName() != "test" {
		t.Fatalf("metadata = %v", meta)
	}

	cancel()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its debug context ended")
	}
}

func TestPrintReattach(t *testing.T) {
	var buf bytes.Buffer
	printReattach(&buf, MetadataResponse{Name: "hello", Version: "0.1.0"}, ReattachConfig{
		Protocol: "grpc", ProtocolVersion: 1, Pid: 4242, Test: true,
		Addr: ReattachAddr{Network: "unix", String: "/tmp/plugin1"},
	})
	want := `	ESCALATOR_REATTACH_PROVIDERS='{"hello":{"Protocol":"grpc","ProtocolVersion":1,"Pid":4242,"Test":true,"Addr":{"Network":"unix","String":"/tmp/plugin1"}}}'`
	if !strings.Contains(buf.String(), want+"\n") {
		t.Fatalf("output:\n%s\nwant a line\n%s", buf.String(), want)
	}
	if !strings.Contains(buf.String(), `"hello" 0.1.0`) || !strings.Contains(buf.String(), "pid 4242") {
		t.Fatalf("output does not name the provider and pid:\n%s", buf.String())
	}
}

func TestRunByHand(t *testing.T) {
	cookie := func(v string) func(string) string {
		return func(k string) string {
			if k == pluginproto.Handshake.MagicCookieKey {
				return v
			}
			return ""
		}
	}
	var buf bytes.Buffer
	if runByHand(&buf, cookie(pluginproto.Handshake.MagicCookieValue), MetadataResponse{Name: "hello"}, "x") {
		t.Fatal("started by escalator, but runByHand said otherwise")
	}
	if buf.Len() != 0 {
		t.Fatalf("printed %q when started by escalator", buf.String())
	}
	for _, env := range []string{"", "wrong"} {
		buf.Reset()
		if !runByHand(&buf, cookie(env), MetadataResponse{Name: "hello", Version: "0.1.0"}, "/tmp/a.out") {
			t.Fatalf("cookie %q: not detected as run by hand", env)
		}
		for _, want := range []string{`"hello" 0.1.0`, "escalator-provider-hello", ".escalator/plugins/", "ESCALATOR_PLUGIN_PATH", "escalator init", "ESCALATOR_REATTACH_PROVIDERS"} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("message does not mention %q:\n%s", want, buf.String())
			}
		}
	}
	buf.Reset()
	runByHand(&buf, cookie(""), MetadataResponse{}, "/usr/local/bin/escalator-provider-x")
	if !strings.Contains(buf.String(), "an escalator provider plugin") || !strings.Contains(buf.String(), "escalator-provider-x") {
		t.Errorf("message without metadata:\n%s", buf.String())
	}
}

func TestSlogRouting(t *testing.T) {
	var buf syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug, JSONFormat: true})
	restore := routeStdLogs(newSlogHandler(logger))

	ctx := withLogAttrs(context.Background(), "rpc", "ExecuteAction", "step", "s-1")
	slog.InfoContext(ctx, "upgrading", "host", "c1")
	slog.Debug("details", slog.Group("req", slog.String("id", "r1")))
	slog.Log(context.Background(), slog.LevelDebug-4, "too fine") // trace: below the level
	slog.With("component", "nova").Warn("slow")
	slog.Default().WithGroup("g").Error("bad", "code", 7)
	log.Print("from the log package")
	restore()
	if _, ours := slog.Default().Handler().(*slogHandler); ours {
		t.Error("the default slog handler was not restored")
	}

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	want := []map[string]any{
		{"@level": "info", "@message": "upgrading", "rpc": "ExecuteAction", "step": "s-1", "host": "c1"},
		{"@level": "debug", "@message": "details", "req.id": "r1"},
		{"@level": "warn", "@message": "slow", "component": "nova"},
		{"@level": "error", "@message": "bad", "g.code": float64(7)},
		{"@level": "info", "@message": "from the log package"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, lines[i][k], v, lines[i])
			}
		}
	}
}

func TestNewLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	t.Setenv(logLevelEnv, "debug")
	if l := newLogger("x", true, &buf); !l.IsDebug() || l.IsTrace() {
		t.Errorf("level debug: got %v", l.GetLevel())
	}
	t.Setenv(logLevelEnv, "")
	if l := newLogger("x", true, &buf); l.GetLevel() != hclog.Info {
		t.Errorf("default level: got %v", l.GetLevel())
	}
	t.Setenv(logLevelEnv, "loud")
	if l := newLogger("x", true, &buf); l.GetLevel() != hclog.Info {
		t.Errorf("invalid level: got %v", l.GetLevel())
	}
	if !strings.Contains(buf.String(), `"value":"loud"`) {
		t.Errorf("no warning about the invalid level: %s", buf.String())
	}
}
