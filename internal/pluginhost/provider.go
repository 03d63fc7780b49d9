package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/escalator-nfv/escalator/internal/logging"
	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// Spec says which plugin to start.
type Spec struct {
	// Name is the provider's name, as in required_providers.
	Name string
	// Path is the plugin executable (from Find).
	Path string
	// SHA256 is the hex hash the lock file recorded. The plugin is refused
	// when its file no longer has this hash: first by a check of our own
	// that explains what to do, then by go-plugin itself right before it
	// executes the file. Empty means not checked, for escalator init,
	// which is what computes it.
	SHA256 string
}

// Provider is a running provider plugin and the client to call it. Its
// methods speak escalator's terms: sdk types for the data, diags
// diagnostics for every problem, including the plugin crashing or hanging.
// A Provider is safe for concurrent use. Close it when done.
type Provider struct {
	name string
	// path is the executable; empty when attached (reattach, in-process).
	path string
	// reattached is set for plugins attached through EnvReattach.
	reattached bool

	// client is go-plugin's client; nil for an in-process provider
	// (sdktest), which has no process to watch.
	client *plugin.Client
	// cmd is the plugin's process, for its exit status; nil unless
	// escalator started it.
	cmd *exec.Cmd
	// procCancel kills the process through exec.CommandContext: the kill
	// of last resort, which works even while go-plugin is stuck in a
	// handshake and holds its own lock.
	procCancel context.CancelFunc
	// closeConn releases an in-process connection.
	closeConn func()

	rpc      pluginv1.ProviderClient
	protocol int
	timeouts Timeouts
	locate   Locator
	log      hclog.Logger
	tail     *lineTail

	closeOnce    sync.Once
	closing      atomic.Bool
	exitWait     time.Duration
	startTimeout time.Duration

	mu   sync.Mutex
	caps []string
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.name }

// Path returns the plugin executable, or "" for an attached plugin.
func (p *Provider) Path() string { return p.path }

// Protocol returns the negotiated protocol version.
func (p *Provider) Protocol() int { return p.protocol }

// Reattached reports whether the plugin was attached through
// ESCALATOR_REATTACH_PROVIDERS rather than started.
func (p *Provider) Reattached() bool { return p.reattached }

// Pid returns the plugin's process id, or 0 when unknown (in-process).
func (p *Provider) Pid() int {
	if p.client == nil {
		return 0
	}
	if rc := p.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Capabilities returns the features the plugin announced in its last
// successful Configure.
func (p *Provider) Capabilities() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.caps...)
}

// hostPlugin is escalator's half of the go-plugin plugin: it only makes
// clients. The serving half is in plugins/sdk.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("escalator does not serve providers")
}

func (hostPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return pluginv1.NewProviderClient(conn), nil
}

// versionedPlugins maps every protocol version this build speaks to its
// client. go-plugin announces them to the plugin, which picks the highest
// it also speaks.
func versionedPlugins() map[int]plugin.PluginSet {
	out := map[int]plugin.PluginSet{}
	for _, v := range pluginproto.SupportedVersions {
		switch v {
		case 1:
			out[v] = plugin.PluginSet{pluginproto.PluginName: hostPlugin{}}
		default:
			panic(fmt.Sprintf("pluginhost: no client for protocol version %d", v))
		}
	}
	return out
}

func supportedVersion(v int) bool {
	for _, s := range pluginproto.SupportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// ErrNoCommonVersion is wrapped by the error Start returns for a plugin
// that speaks no protocol version this escalator speaks.
var ErrNoCommonVersion = errors.New("no common protocol version")

func noCommonVersion(pluginVersions ...int) error {
	return fmt.Errorf("%w: the plugin speaks protocol versions %v, this escalator speaks %v: "+
		"upgrade escalator or use a plugin release for protocol %s",
		ErrNoCommonVersion, pluginVersions, pluginproto.SupportedVersions, versionList(pluginproto.SupportedVersions))
}

func versionList(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, " or ")
}

// parentLogger returns the logger plugins' loggers descend from.
func (o Options) parentLogger() hclog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return logging.Logger()
}

// Start starts the plugin of spec and connects to it, or attaches to it
// when ESCALATOR_REATTACH_PROVIDERS names spec.Name. It returns when the
// plugin is ready for calls, ctx is done (the process is then killed) or
// the handshake timed out. Errors name the plugin and say what to do;
// a changed executable is a *HashMismatchError, a plugin without a common
// protocol version wraps ErrNoCommonVersion.
func Start(ctx context.Context, spec Spec, opts Options) (*Provider, error) {
	if err := checkName(spec.Name); err != nil {
		return nil, err
	}
	log := opts.parentLogger().Named(logging.ProviderName(spec.Name))
	reattach, err := reattachConfigs(opts)
	if err != nil {
		return nil, err
	}
	if rc, ok := reattach[spec.Name]; ok {
		return attach(ctx, spec.Name, rc, opts, log)
	}
	if spec.Path == "" {
		return nil, fmt.Errorf("provider %q: no plugin executable given", spec.Name)
	}

	cfg := &plugin.ClientConfig{
		HandshakeConfig:  pluginproto.Handshake,
		VersionedPlugins: versionedPlugins(),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     opts.startTimeout(),
		// Managed, so that plugin.CleanupClients also finds it: the
		// safety net does not depend on our own bookkeeping.
		Managed: true,
	}
	if spec.SHA256 != "" {
		// Our own check first, for a message that says what to do;
		// go-plugin's SecureConfig repeats it just before executing the
		// file, which narrows the window for swapping it in between.
		if err := CheckHash(spec.Name, spec.Path, spec.SHA256); err != nil {
			return nil, err
		}
		sum, err := hex.DecodeString(spec.SHA256)
		if err != nil {
			return nil, fmt.Errorf("provider %q: the lock file's sha256 %q is not hexadecimal", spec.Name, spec.SHA256)
		}
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}

	procCtx, procCancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(procCtx, spec.Path)
	// The plugin logs at escalator's level, so that lines escalator would
	// drop are not even written. go-plugin appends escalator's own
	// environment after this, so an explicit setting still wins.
	cmd.Env = []string{pluginLogLevelEnv + "=" + pluginLogLevel(log)}
	cmd.Dir = opts.WorkDir
	setParentDeathSignal(cmd)
	cfg.Cmd = cmd

	tail := newLineTail(tailLines)
	// Stderr gets what the process writes to its real standard error:
	// hclog's lines (go-plugin folds them into the log itself) and a Go
	// panic's trace. SyncStdout/SyncStderr get what plugin code writes to
	// os.Stdout/os.Stderr, which go-plugin's Serve redirects into a gRPC
	// stream; without them those lines would be lost.
	cfg.Stderr = tail
	cfg.SyncStdout = &lineLogger{log: log, tail: tail, stream: "stdout"}
	cfg.SyncStderr = &lineLogger{log: log, tail: tail, stream: "stderr"}
	cfg.Logger = clientLogger{log}

	p := &Provider{
		name:       spec.Name,
		path:       spec.Path,
		client:     plugin.NewClient(cfg),
		cmd:        cmd,
		procCancel: procCancel,
		timeouts:   opts.Timeouts.withDefaults(),
		locate:     opts.Locate,
		log:        log,
		tail:       tail,
		exitWait:   2 * time.Second,
		// Kept for messages; go-plugin has its own copy.
		startTimeout: cfg.StartTimeout,
	}
	track(p)
	if err := p.connect(ctx, spec); err != nil {
		p.Close()
		return nil, err
	}
	log.Debug("plugin started", "path", spec.Path, "pid", p.Pid(), "protocol", p.protocol)
	return p, nil
}

// pluginLogLevelEnv sets an SDK plugin's log level; plugins/sdk reads it.
const pluginLogLevelEnv = "ESCALATOR_PLUGIN_LOG_LEVEL"

// pluginLogLevel is the level name to pass to an SDK plugin.
func pluginLogLevel(l hclog.Logger) string {
	lvl := l.GetLevel()
	if lvl == hclog.Off || lvl == hclog.NoLevel {
		return "error"
	}
	return lvl.String()
}

// attach connects to a plugin that is already running.
func attach(ctx context.Context, name string, rc *plugin.ReattachConfig, opts Options, log hclog.Logger) (*Provider, error) {
	log.Info("attaching to a running plugin instead of starting one", "env", EnvReattach, "pid", rc.Pid, "addr", rc.Addr.String())
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginproto.Handshake,
		VersionedPlugins: versionedPlugins(),
		// Plugins too: go-plugin negotiates nothing when it reattaches,
		// so it takes the set to dispense from here.
		Plugins:          versionedPlugins()[rc.ProtocolVersion],
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Reattach:         rc,
		Logger:           clientLogger{log},
		Managed:          true,
	})
	p := &Provider{
		name:       name,
		reattached: true,
		client:     client,
		procCancel: func() {},
		timeouts:   opts.Timeouts.withDefaults(),
		locate:     opts.Locate,
		log:        log,
		tail:       newLineTail(tailLines),
		exitWait:   2 * time.Second,
	}
	track(p)
	if err := p.connect(ctx, Spec{Name: name}); err != nil {
		p.Close()
		return nil, fmt.Errorf("provider %q: can't attach to the plugin named by %s (pid %d, %s): %v. "+
			"Check that it is still running, or unset %s to start the plugin normally",
			name, EnvReattach, rc.Pid, rc.Addr, err, EnvReattach)
	}
	if p.protocol == 0 {
		p.protocol = rc.ProtocolVersion
	}
	return p, nil
}

// Connect returns a Provider over an existing gRPC connection to a plugin
// server, such as one served in-process by go-plugin's test helpers
// (plugins/sdk/sdktest). There is no process: Close calls closeConn (which
// may be nil) and nothing else.
func Connect(name string, conn grpc.ClientConnInterface, protocol int, closeConn func(), opts Options) *Provider {
	return &Provider{
		name:       name,
		rpc:        pluginv1.NewProviderClient(conn),
		protocol:   protocol,
		closeConn:  closeConn,
		procCancel: func() {},
		timeouts:   opts.Timeouts.withDefaults(),
		locate:     opts.Locate,
		log:        opts.parentLogger().Named(logging.ProviderName(name)),
		tail:       newLineTail(tailLines),
	}
}

// connect performs the handshake and dispenses the client, giving up when
// ctx is done.
func (p *Provider) connect(ctx context.Context, spec Spec) error {
	type result struct {
		rpc pluginv1.ProviderClient
		err error
	}
	done := make(chan result, 1)
	go func() {
		cp, err := p.client.Client()
		if err != nil {
			done <- result{err: err}
			return
		}
		raw, err := cp.Dispense(pluginproto.PluginName)
		if err != nil {
			done <- result{err: err}
			return
		}
		rpc, ok := raw.(pluginv1.ProviderClient)
		if !ok {
			done <- result{err: fmt.Errorf("unexpected client type %T", raw)}
			return
		}
		done <- result{rpc: rpc}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// go-plugin's handshake can't be cancelled; killing the process
		// ends it at once.
		p.procCancel()
		<-done
		return fmt.Errorf("starting provider %q was interrupted: %w", p.name, context.Cause(ctx))
	}
	if r.err != nil {
		return p.startError(spec, r.err)
	}
	p.rpc = r.rpc
	p.protocol = p.client.NegotiatedVersion()
	return nil
}

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// startError explains why a plugin did not start.
func (p *Provider) startError(spec Spec, err error) error {
	msg := err.Error()
	what := fmt.Sprintf("provider %q (%s)", p.name, spec.Path)
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		// The file changed between our check and go-plugin's.
		actual, herr := HashFile(spec.Path)
		if herr != nil {
			return herr
		}
		return &HashMismatchError{Name: p.name, Path: spec.Path, Expected: spec.SHA256, Actual: actual}
	case strings.Contains(msg, "incompatible API version"):
		if m := pluginVersionRE.FindStringSubmatch(msg); m != nil {
			v, _ := strconv.Atoi(m[1])
			return fmt.Errorf("%s can't be used: %w", what, noCommonVersion(v))
		}
		return fmt.Errorf("%s can't be used: %w: %v", what, ErrNoCommonVersion, err)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("%s did not start within %s: it never completed the plugin handshake.%s",
			what, p.startTimeout, p.lastLines())
	case strings.Contains(msg, "plugin exited before we could connect"),
		strings.Contains(msg, "Failed to read any lines from plugin's stdout"):
		// It ended on its own before the handshake: its stderr says why
		// better than go-plugin's generic notes.
		p.waitExited(p.exitWait)
		return fmt.Errorf("%s exited while starting (%s), before the plugin handshake. "+
			"Is it an escalator provider plugin built with plugins/sdk?%s", what, p.exitStatus(), p.lastLines())
	}
	return fmt.Errorf("%s did not start: %v%s", what, err, p.lastLines())
}

// lastLines formats the plugin's last stderr lines for a message, or "".
func (p *Provider) lastLines() string {
	if p.tail == nil {
		return ""
	}
	lines := p.tail.Lines()
	if len(lines) == 0 {
		return " It wrote nothing to its standard error."
	}
	return "\n\nIts last log lines:\n  " + strings.Join(lines, "\n  ")
}

// exited reports whether the plugin process is known to have exited.
func (p *Provider) exited() bool {
	return p.client != nil && p.client.Exited()
}

// waitExited waits up to d for go-plugin to notice the process exit that a
// broken connection suggests.
func (p *Provider) waitExited(d time.Duration) bool {
	if p.client == nil {
		return false
	}
	deadline := time.Now().Add(d)
	for {
		if p.client.Exited() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exitStatus describes how the process ended, such as "exit status 2" or
// "signal: killed".
func (p *Provider) exitStatus() string {
	// ProcessState is written by cmd.Wait before go-plugin marks the
	// client exited under its lock, and Exited takes that lock: reading
	// it after Exited returned true is safe.
	if p.cmd != nil && p.exited() && p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.String()
	}
	return "exited"
}

// Close ends the plugin: go-plugin's Kill, which asks the plugin to shut
// down and kills it after two seconds, and the kill of last resort if even
// that does not return. Calls in flight fail. Close is idempotent and safe
// to call concurrently with calls and with CleanupClients.
func (p *Provider) Close() {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		if p.client != nil {
			done := make(chan struct{})
			go func() {
				p.client.Kill()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(killGrace):
				p.log.Debug("plugin did not stop in time; killing its process")
				p.procCancel()
				<-done
			}
		}
		p.procCancel()
		if p.closeConn != nil {
			p.closeConn()
		}
		untrack(p)
	})
}

// killGrace bounds go-plugin's Kill before the process is killed outright.
// Kill itself waits two seconds for a graceful exit; it only takes longer
// when the handshake is still running.
const killGrace = 5 * time.Second
