//go:build unix

package pluginhost

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"
)

// The orphan tests need a process that behaves like escalator: it starts a
// plugin, calls it, and gets interrupted. The test binary re-executes
// itself with hostModeEnv set (see TestMain) and runs hostMain, which
// reports on stdout what the test needs to know.

const (
	hostModeEnv   = "PLUGINHOST_TEST_HOST_MODE"
	hostPluginEnv = "PLUGINHOST_TEST_PLUGIN"
)

// Host modes.
const (
	// hostInterrupt: a command that passes its SignalContext to the call,
	// as commands should.
	hostInterrupt = "interrupt"
	// hostStuck: a command that ignores its context (calls with
	// context.Background()); the signal handler's grace kill must unblock
	// it.
	hostStuck = "stuck"
)

// hostMain is the main of the host process: it mirrors what
// internal/command does (SignalContext, CleanupClients deferred) and
// returns the exit status.
func hostMain(mode string) (code int) {
	pid := 0
	defer func() {
		// After the deferred cleanup, report whether the plugin is gone,
		// so the test sees the cleanup work without relying on the
		// parent-death signal that fires when this process exits. The
		// plugin was our child and go-plugin reaped it, so signal 0
		// fails once it is gone.
		alive := pid > 0 && syscall.Kill(pid, 0) == nil
		fmt.Printf("after cleanup: running=%d alive=%v\n", Running(), alive)
	}()
	defer CleanupClients()

	ctx, stop := SignalContext(context.Background(), 500*time.Millisecond)
	defer stop()
	none := ""
	p, err := Start(ctx, Spec{Name: "test", Path: os.Getenv(hostPluginEnv)}, Options{
		Logger:   hclog.NewNullLogger(),
		Reattach: &none,
	})
	if err != nil {
		fmt.Println("start:", err)
		return 3
	}
	pid = p.Pid()
	fmt.Printf("pid %d\n", pid)
	cfg := cty.ObjectVal(map[string]cty.Value{"hang_in": cty.StringVal("ReadInventory")})
	if ds := p.Configure(ctx, cfg, nil); ds.HasErrors() {
		fmt.Println("configure:", ds.Err())
		return 3
	}
	fmt.Println("ready")
	callCtx := ctx
	if mode == hostStuck {
		callCtx = context.Background()
	}
	_, ds := p.ReadInventory(callCtx)
	fmt.Printf("returned: %v\n", ds.Err())
	return 1
}
