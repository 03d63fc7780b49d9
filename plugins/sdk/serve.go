package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// Serve serves p as an escalator provider plugin over go-plugin and gRPC,
// and returns when escalator is done with it. It is meant to be the only
// statement of main:
//
//	func main() { sdk.Serve(&provider{}) }
//
// The plugin logs JSON to stderr, where escalator reads it into its own
// log; log/slog and the log package are routed there, so a provider logs
// with slog (slog.InfoContext(ctx, …) inside a method adds the call's step
// and host to the line). ESCALATOR_PLUGIN_LOG_LEVEL sets the level (trace,
// debug, info, warn, error; default info).
//
// Run by hand, outside escalator and without WithDebug, the plugin prints
// how to install it and exits with status 1.
func Serve(p Provider, opts ...ServeOption) {
	if p == nil {
		panic("sdk.Serve: the Provider is nil")
	}
	var cfg serveConfig
	for _, o := range opts {
		o.applyServeOption(&cfg)
	}
	meta := readMetadata(p)

	if cfg.debugCtx == nil && runByHand(os.Stderr, os.Getenv, meta, os.Args[0]) {
		os.Exit(1)
	}

	// Under a debugger the developer reads stderr in a terminal, so the
	// log is for humans; otherwise escalator parses it.
	logger := newLogger(meta.Name, cfg.debugCtx == nil, os.Stderr)
	restore := routeStdLogs(newSlogHandler(logger))
	defer restore()

	srv := newServer(p, logger)
	sc := &plugin.ServeConfig{
		HandshakeConfig:  pluginproto.Handshake,
		VersionedPlugins: versionedPlugins(srv),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           logger.Named("go-plugin"),
	}
	if cfg.debugCtx == nil {
		plugin.Serve(sc)
		return
	}
	serveDebug(sc, cfg, meta, os.Stdout)
}

// versionedPlugins maps every protocol version this SDK speaks to its
// plugin set. Version 1 is the only one so far; a v2 would add an entry
// with its own adapter, and go-plugin would pick the highest version
// escalator also speaks.
func versionedPlugins(srv *server) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {pluginproto.PluginName: &grpcPlugin{srv: srv}},
	}
}

// ServeOption changes how Serve runs; see WithDebug.
type ServeOption interface {
	applyServeOption(*serveConfig)
}

type serveConfig struct {
	debugCtx context.Context
	reattach chan<- ReattachConfig
}

type serveOptionFunc func(*serveConfig)

func (f serveOptionFunc) applyServeOption(c *serveConfig) { f(c) }

// WithDebug serves the plugin in debug mode, for running it under a
// debugger or inside a test: the plugin does not wait to be started by
// escalator, but listens at once and announces how to reach it; escalator
// then attaches to the running process instead of starting its own (see
// ESCALATOR_REATTACH_PROVIDERS in the author's guide). Serve returns when
// ctx is done.
//
// If reattach is nil, Serve prints the ESCALATOR_REATTACH_PROVIDERS line to
// set on stdout. Otherwise it sends the plugin's ReattachConfig on
// reattach, for a test to connect with, and prints nothing.
//
// Debug mode skips the handshake cookie check and serves the lowest
// protocol version the SDK supports, since there is no escalator to
// negotiate with.
func WithDebug(ctx context.Context, reattach chan<- ReattachConfig) ServeOption {
	return serveOptionFunc(func(c *serveConfig) {
		if ctx == nil {
			ctx = context.Background()
		}
		c.debugCtx = ctx
		c.reattach = reattach
	})
}

// ReattachConfig tells escalator how to reach a provider that is already
// running. Encoded as JSON, it is the value for one provider in the
// ESCALATOR_REATTACH_PROVIDERS map:
//
//	{"hello": {"Protocol": "grpc", "ProtocolVersion": 1, "Pid": 4242, "Test": true,
//	           "Addr": {"Network": "unix", "String": "/tmp/plugin123456"}}}
type ReattachConfig struct {
	// Protocol is the go-plugin transport: always "grpc".
	Protocol string
	// ProtocolVersion is the escalator plugin protocol version served.
	ProtocolVersion int
	// Pid is the plugin's process id.
	Pid int
	// Test is true: escalator must not kill a process it did not start.
	Test bool
	// Addr is where the plugin listens.
	Addr ReattachAddr
}

// ReattachAddr is a network address as go-plugin reports it.
type ReattachAddr struct {
	// Network is "unix" or "tcp".
	Network string
	// String is the socket path or host:port.
	String string
}

// serveDebug runs go-plugin in test mode until cfg.debugCtx is done.
func serveDebug(sc *plugin.ServeConfig, cfg serveConfig, meta MetadataResponse, stdout io.Writer) {
	rcCh := make(chan *plugin.ReattachConfig, 1)
	closeCh := make(chan struct{})
	sc.Test = &plugin.ServeTestConfig{
		Context:          cfg.debugCtx,
		ReattachConfigCh: rcCh,
		CloseCh:          closeCh,
	}
	go plugin.Serve(sc)

	select {
	case rc := <-rcCh:
		conf := ReattachConfig{
			Protocol:        string(rc.Protocol),
			ProtocolVersion: rc.ProtocolVersion,
			Pid:             rc.Pid,
			Test:            rc.Test,
			Addr:            ReattachAddr{Network: rc.Addr.Network(), String: rc.Addr.String()},
		}
		if cfg.reattach != nil {
			select {
			case cfg.reattach <- conf:
			case <-cfg.debugCtx.Done():
			}
		} else {
			printReattach(stdout, meta, conf)
		}
	case <-closeCh:
		// go-plugin failed to start and logged why.
		return
	}
	<-closeCh
}

func printReattach(w io.Writer, meta MetadataResponse, conf ReattachConfig) {
	name := meta.Name
	if name == "" {
		name = "provider"
	}
	b, err := json.Marshal(map[string]ReattachConfig{name: conf})
	if err != nil {
		// Only strings and ints: can't happen.
		panic(fmt.Sprintf("encoding reattach config: %v", err))
	}
	fmt.Fprintf(w, "Provider %q %s is running in debug mode (pid %d).\n"+
		"To have escalator use this process instead of starting its own, set in escalator's environment:\n\n"+
		"\tESCALATOR_REATTACH_PROVIDERS='%s'\n\n", name, meta.Version, conf.Pid, b)
}

// runByHand reports whether the plugin was started by something other
// than escalator (no handshake cookie), and if so explains on w what the
// program is and how to install it. go-plugin has its own message for this
// case, but it cannot say which plugin this is or where escalator looks.
func runByHand(w io.Writer, getenv func(string) string, meta MetadataResponse, exe string) bool {
	if getenv(pluginproto.Handshake.MagicCookieKey) == pluginproto.Handshake.MagicCookieValue {
		return false
	}
	what := "an escalator provider plugin"
	if meta.Name != "" {
		what = fmt.Sprintf("the escalator provider plugin %q %s", meta.Name, meta.Version)
	}
	file := filepath.Base(exe)
	if meta.Name != "" {
		file = "escalator-provider-" + meta.Name
	}
	fmt.Fprintf(w, `This program is %s.
It is not meant to be run by hand: escalator starts it when a campaign
requires the provider.

To install it, name the executable %s and put it in one of
  .escalator/plugins/   in the campaign directory,
  the directory that holds the escalator binary,
  a directory listed in ESCALATOR_PLUGIN_PATH,
then run "escalator init" in the campaign directory.

To run it under a debugger, serve it with sdk.WithDebug and set
ESCALATOR_REATTACH_PROVIDERS (see the plugin author's guide).
`, what, file)
	return true
}

// readMetadata calls p.Metadata for the SDK's own use (names in messages
// and logs), surviving a panic: a broken Metadata is reported to escalator
// by GetMetadata, not here.
func readMetadata(p Provider) (meta MetadataResponse) {
	defer func() {
		if recover() != nil {
			meta = MetadataResponse{}
		}
	}()
	p.Metadata(context.Background(), MetadataRequest{}, &meta)
	meta.Name = strings.TrimSpace(meta.Name)
	return meta
}

// routeStdLogs sends log/slog and log output to h and returns a function
// that undoes it (Serve returns in debug mode and in tests; the process's
// loggers should be as they were).
func routeStdLogs(h slog.Handler) (restore func()) {
	prevSlog := slog.Default()
	prevOut, prevFlags, prevPrefix := log.Writer(), log.Flags(), log.Prefix()
	slog.SetDefault(slog.New(h))
	return func() {
		slog.SetDefault(prevSlog)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
		log.SetPrefix(prevPrefix)
	}
}

// grpcPlugin is the go-plugin face of the server.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

// GRPCServer implements plugin.GRPCPlugin.
func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterProviderServer(s, p.srv)
	return nil
}

// GRPCClient implements plugin.GRPCPlugin. The SDK only serves; the raw
// client is returned for the SDK's own tests.
func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginv1.NewProviderClient(c), nil
}

// sdkModule is the module the SDK ships in; its version, as the plugin was
// built with it, is reported in GetMetadata so that escalator can name it
// when something about the protocol goes wrong.
const sdkModule = "github.com/escalator-nfv/escalator"

var sdkVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if bi.Main.Path == sdkModule {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == sdkModule {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "unknown"
})
