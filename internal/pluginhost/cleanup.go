package pluginhost

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/escalator-nfv/escalator/internal/logging"
)

// live holds every Provider started and not yet closed, so that
// CleanupClients can end them on any exit path.
var live = struct {
	sync.Mutex
	m map[*Provider]struct{}
}{m: map[*Provider]struct{}{}}

func track(p *Provider) {
	live.Lock()
	live.m[p] = struct{}{}
	live.Unlock()
}

func untrack(p *Provider) {
	live.Lock()
	delete(live.m, p)
	live.Unlock()
}

// Running returns how many providers are started and not yet closed.
func Running() int {
	live.Lock()
	defer live.Unlock()
	return len(live.m)
}

// CleanupClients closes every provider still running, in parallel, then
// runs go-plugin's own plugin.CleanupClients for anything started outside
// this package. The CLI defers it in Main, so no exit path leaves a plugin
// process behind; SignalContext runs it too. It is safe to call more than
// once and concurrently with Close.
func CleanupClients() {
	live.Lock()
	ps := make([]*Provider, 0, len(live.m))
	for p := range live.m {
		ps = append(ps, p)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Close()
		}()
	}
	wg.Wait()
	plugin.CleanupClients()
}

// exit is os.Exit, replaced in tests.
var exit = os.Exit

// SignalContext returns a context that is cancelled when the process
// receives SIGINT or SIGTERM, for a command to run under; stop releases the
// signal handler and must be called when the command returns.
//
// On the first signal the context is cancelled: calls in flight return
// "interrupted" and the command winds down, closing its providers (an
// action in flight is cancelled through its context, so the plugin can
// stop it cleanly). If the providers are still running grace later, they
// are killed (CleanupClients), which unblocks a command stuck in a call. A
// second signal kills them at once and exits with status 130, for an
// operator who has stopped waiting.
//
// A terminal's Ctrl-C also reaches the plugins, which belong to the same
// process group; go-plugin's Serve ignores SIGINT in the plugin, so that
// escalator decides when they end.
func SignalContext(parent context.Context, grace time.Duration) (context.Context, func()) {
	ctx, _, stop := signalStages(parent, grace, false)
	return ctx, stop
}

// SignalDrain is SignalContext with a gentler first stage, for commands
// that carry out steps (apply, rollback): the first signal closes drain —
// no new step starts, the running ones finish —, the second cancels the
// context (the running steps are cancelled and recorded so), and a third
// kills the providers and exits with status 130.
func SignalDrain(parent context.Context, grace time.Duration) (ctx context.Context, drain <-chan struct{}, stop func()) {
	return signalStages(parent, grace, true)
}

func signalStages(parent context.Context, grace time.Duration, withDrain bool) (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	drain := make(chan struct{})
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var timer <-chan time.Time
		count := 0
		if !withDrain {
			count = 1 // the first signal cancels at once
			close(drain)
		}
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				count++
				switch count {
				case 1:
					logging.Logger().Info("interrupted; no new step starts, the running ones finish (interrupt again to cancel them)", "signal", sig.String())
					close(drain)
				case 2:
					logging.Logger().Info("interrupted; stopping", "signal", sig.String())
					cancel(&interruptError{sig: sig})
					timer = time.After(grace)
				default:
					logging.Logger().Warn("interrupted again; killing the provider plugins and exiting", "signal", sig.String())
					CleanupClients()
					exit(130)
					return
				}
			case <-timer:
				timer = nil
				if Running() > 0 {
					logging.Logger().Warn("providers still running after the interrupt; killing them", "grace", grace)
					CleanupClients()
				}
			}
		}
	}()
	var once sync.Once
	return ctx, drain, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			wg.Wait()
			cancel(context.Canceled)
		})
	}
}

// interruptError is the cancellation cause of a SignalContext.
type interruptError struct{ sig os.Signal }

func (e *interruptError) Error() string { return "interrupted by " + e.sig.String() }
