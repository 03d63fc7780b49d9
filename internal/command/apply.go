package command

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
	"github.com/escalator-nfv/escalator/internal/report"
	"github.com/escalator-nfv/escalator/internal/session"
	"github.com/escalator-nfv/escalator/internal/state"
)

// ApplyCommand is "escalator apply".
type ApplyCommand struct {
	Meta
}

var (
	_ cli.Command             = (*ApplyCommand)(nil)
	_ cli.CommandAutocomplete = (*ApplyCommand)(nil)
)

func (c *ApplyCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseApply(rawArgs)
	view := views.NewApply(args.ViewType, c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}
	// Ctrl-C once: no new step starts, the running ones finish; twice:
	// they are cancelled (and recorded so); three times: exit at once.
	ctx, drain, stop := pluginhost.SignalDrain(context.Background(), interruptGrace)
	defer stop()

	w, ok := openLocked(ctx, view, "apply", args.Vars, args.Parallelism)
	if !ok {
		return ExitError
	}
	defer w.close()
	s, backend, lock, st := w.s, w.backend, w.lock, w.st
	opts := session.ApplyOptions{PlanPath: args.PlanFile, Parallelism: args.Parallelism, Start: view.Start, Observe: view.Event, Drain: drain}
	if args.Listen.Listen != "" {
		a, err := startAPI(s.Config, backend, args.Listen)
		if err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		defer a.Shutdown()
		fmt.Fprintf(c.Streams.Stderr, "Serving the API and dashboard on %s during the apply.\n", a.URL())
		// With an API to approve it, a canary pause waits in this
		// process instead of ending it.
		opts.WaitCanary = true
		opts.ReplyBase = a.URL()
	}
	pending := session.PendingRun(st)
	switch {
	case args.PlanFile != "":
		f, err := plans.Read(args.PlanFile)
		if err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		// A plan already being carried out is resumed, not re-checked: the
		// run itself changed the inventory it was made from.
		if pending == nil || pending.PlanDigest != session.PlanDigest(f) {
			cur, ds := s.CurrentPlanFacts(ctx)
			if ds.HasErrors() {
				view.Diagnostics(ds, s.Files())
				return ExitError
			}
			if err := f.CheckStale(cur); err != nil {
				view.Errors([]error{err})
				return ExitError
			}
			if !f.Plan.HasChanges() {
				// As without a plan file: nothing to do starts no run.
				views.RenderPlan(c.Streams.Stdout, f.Plan, false)
				return ExitOK
			}
		}
		opts.Plan = f
	case pending != nil:
		// escalator apply with no plan continues the unfinished run.
	default:
		f, _, ds := s.Plan(ctx)
		if ds.HasErrors() {
			view.Diagnostics(ds, s.Files())
			return ExitError
		}
		if !f.Plan.HasChanges() {
			views.RenderPlan(c.Streams.Stdout, f.Plan, false)
			return ExitOK
		}
		if !args.AutoApprove {
			views.RenderPlan(c.Streams.Stdout, f.Plan, c.Streams.Color && !args.NoColor)
			fmt.Fprint(c.Streams.Stdout, "\nDo you want to carry out this plan? Only 'yes' will be accepted: ")
			line, _ := bufio.NewReader(c.Streams.Stdin).ReadString('\n')
			if strings.TrimSpace(line) != "yes" {
				fmt.Fprintln(c.Streams.Stdout, "Apply cancelled: nothing was changed.")
				return ExitError
			}
		}
		opts.Plan = f
	}
	res, ds := s.Apply(ctx, backend, lock, opts)
	if res != nil && res.Outcome != nil {
		view.Outcome(res.RunID, res.Resumed, res.Outcome.Status, res.Outcome.Message, res.Outcome.Failed)
	}
	if len(ds) > 0 {
		view.Diagnostics(ds, s.Files())
	}
	if ds.HasErrors() || res == nil || res.Outcome == nil || (res.Outcome.Status != state.RunFinished && !res.Outcome.Paused) {
		return ExitError
	}
	return ExitOK
}

func (c *ApplyCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] apply [options] [FILE]

  Carries out a plan on the campaign in the current directory (use -chdir
  for another): wave after wave, host by host, enter maintenance, tell
  the VNF managers, evacuate, back up, upgrade, verify, leave maintenance.
  Every step is journaled in the state; after a crash, Ctrl-C or a halt,
  "escalator apply" again continues the run without redoing finished
  steps.

  With FILE, a plan saved by "escalator plan -out=FILE" is carried out,
  unless it is stale (the campaign, the lock file or the inventory changed
  since): then it is refused, saying what changed. Without FILE, an
  unfinished run is continued, or else a plan is made, shown and carried out
  once you answer "yes".

  Only one apply runs on a state at a time; a second one is refused with
  the holder's name.

Options:

  -auto-approve     Do not ask for confirmation.

  -parallelism=N    Hosts of one wave worked on at once (default 10).

  -json             Print every journal event as a JSON line.

  -no-color         Print without color.

  -var, -var-file   Variable values when no plan file is given.

  -listen=HOST:PORT Serve the HTTP API and the dashboard during the apply
                    (as escalator serve; with -tls-cert, -tls-key,
                    -tokens, -allow-insecure-listen, -keystone-url,
                    -keystone-roles, -keystone-project, -keystone-ca,
                    -keystone-cache, -keystone-recheck). A canary that pauses
                    then waits for an approval through the API instead of
                    ending the apply.
`)
}

func (c *ApplyCommand) Synopsis() string { return "Carry out a plan, resumably" }

func (c *ApplyCommand) AutocompleteArgs() complete.Predictor { return complete.PredictFiles("*") }

func (c *ApplyCommand) AutocompleteFlags() complete.Flags {
	flags := complete.Flags{"-auto-approve": complete.PredictNothing, "-parallelism": complete.PredictAnything,
		"-json": complete.PredictNothing, "-no-color": complete.PredictNothing,
		"-var": complete.PredictAnything, "-var-file": complete.PredictFiles("*.hclvars"),
	}
	for k, v := range listenFlags() {
		flags[k] = v
	}
	return flags
}

// StatusCommand is "escalator status".
type StatusCommand struct {
	Meta
}

var (
	_ cli.Command             = (*StatusCommand)(nil)
	_ cli.CommandAutocomplete = (*StatusCommand)(nil)
)

func (c *StatusCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseStatus(rawArgs)
	view := views.NewStatus(args.ViewType, c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}
	cfg, ds := loadCampaign(".")
	if ds.HasErrors() {
		view.Errors([]error{ds.Err()})
		return ExitError
	}
	b, err := session.OpenBackend(cfg)
	if err != nil {
		view.Errors([]error{err})
		return ExitError
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var plan *plans.File
	for {
		// A status read needs no lock: the summary is replaced atomically
		// and the journal is append-only, so Load sees a consistent prefix.
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		st, err := state.Load(rctx, b)
		var rep *report.Report
		if err == nil && st != nil && st.Run != nil {
			if plan == nil || plan.Plan == nil {
				// The plan copy may be missing (an older run); the report
				// then shows what the state knows.
				plan, _ = session.RunPlan(cfg, st.Run.ID)
			}
			j, _ := b.ReadJournal(rctx, st.Run.ID)
			var p *plans.Plan
			if plan != nil {
				p = plan.Plan
			}
			rep = report.Build(st, p, j, time.Now())
		}
		cancel()
		if err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		view.Status(st, rep, args.Watch)
		if !args.Watch || st == nil || st.Run == nil || st.Run.Status != state.RunRunning {
			return ExitOK
		}
		select {
		case <-ctx.Done():
			return ExitOK
		case <-time.After(args.Interval):
		}
	}
}

func (c *StatusCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] status [-json] [-no-color] [-watch] [-interval=D]

  Shows the last run of the campaign in the current directory: its totals,
  a table per availability zone and per component, and a row per host of
  its plan (zone, wave, status, versions now and target, elapsed against
  expected time, the running step or the last error), then its latest
  alerts. The state is brought up to date from the journal first, so
  status is exact even while an apply runs or after a crash.

Options:

  -json        Print the state document, with the run's report under
               "report".

  -watch       Redraw every interval until the run stops running (or
               Ctrl-C). With -json, one document per line.

  -interval=D  The -watch interval (default 2s).

  -no-color    Print without color.
`)
}

func (c *StatusCommand) Synopsis() string { return "Show the run and the hosts it touched" }

func (c *StatusCommand) AutocompleteArgs() complete.Predictor { return complete.PredictNothing }

func (c *StatusCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{"-json": complete.PredictNothing, "-no-color": complete.PredictNothing,
		"-watch": complete.PredictNothing, "-interval": complete.PredictAnything}
}

// locked is a campaign opened for a command that changes it: the session
// with its providers running, the state backend, the lock, and the state.
type locked struct {
	s       *session.Session
	backend state.Backend
	lock    state.Lock
	st      *state.State
	closers []func()
}

func (l *locked) close() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
}

// openLocked opens the campaign in the current directory and takes the
// state's lock for op before anything else (a second apply is refused
// before it plans), then loads the state. On failure it reports to view
// and has released what it took.
func openLocked(ctx context.Context, view interface {
	Diagnostics(diags.Diagnostics, diags.Files)
	Errors([]error)
}, op string, vars []arguments.VarArg, parallelism int) (*locked, bool) {
	l := &locked{}
	fail := func(errs ...error) (*locked, bool) {
		if len(errs) > 0 {
			view.Errors(errs)
		}
		l.close()
		return nil, false
	}
	s, ds := session.Open(ctx, session.Options{Dir: ".", Vars: configVars(vars), Parallelism: parallelism})
	l.s = s
	l.closers = append(l.closers, s.Close)
	if ds.HasErrors() {
		view.Diagnostics(ds, s.Files())
		return fail()
	}
	b, err := session.OpenBackend(s.Config)
	if err != nil {
		return fail(err)
	}
	l.backend = b
	l.closers = append(l.closers, func() { b.Close() })
	// A *state.LockedError names the holder and its lock ID, and says
	// what to do for this backend.
	lock, err := b.Lock(ctx, state.NewHolder(op))
	if err != nil {
		return fail(err)
	}
	l.lock = lock
	// Unlocked even after Ctrl-C cancelled ctx.
	l.closers = append(l.closers, func() { lock.Unlock(context.WithoutCancel(ctx)) })
	if l.st, err = state.Load(ctx, b); err != nil {
		return fail(err)
	}
	return l, true
}
