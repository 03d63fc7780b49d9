package command

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
	"github.com/escalator-nfv/escalator/internal/session"
	"github.com/escalator-nfv/escalator/internal/state"
)

// RollbackCommand is "escalator rollback".
type RollbackCommand struct {
	Meta
}

var (
	_ cli.Command             = (*RollbackCommand)(nil)
	_ cli.CommandAutocomplete = (*RollbackCommand)(nil)
)

func (c *RollbackCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseRollback(rawArgs)
	view := views.NewRollback(args.ViewType, c.newView(args.NoColor))
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt()
		return ExitError
	}
	// Ctrl-C once: no new step starts, the running ones finish; twice:
	// they are cancelled (and recorded so); three times: exit at once.
	ctx, drain, stop := pluginhost.SignalDrain(context.Background(), interruptGrace)
	defer stop()

	w, ok := openLocked(ctx, view, "rollback", args.Vars, args.Parallelism)
	if !ok {
		return ExitError
	}
	defer w.close()
	s, backend, lock, st := w.s, w.backend, w.lock, w.st
	run, err := session.RollbackTarget(st)
	if err != nil {
		view.Errors([]error{err})
		return ExitError
	}
	if !args.AutoApprove {
		fmt.Fprint(c.Streams.Stdout, rollbackSummary(st, run, args.Restore))
		fmt.Fprint(c.Streams.Stdout, "\nDo you want to roll the run back? Only 'yes' will be accepted: ")
		line, _ := bufio.NewReader(c.Streams.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(c.Streams.Stdout, "Rollback cancelled: nothing was changed.")
			return ExitError
		}
	}
	res, ds := s.Rollback(ctx, backend, lock, session.RollbackOptions{Restore: args.Restore, AllowCold: args.AllowCold, Drain: drain, Parallelism: args.Parallelism, Start: view.Start, Observe: view.Event})
	if res != nil && res.Outcome != nil {
		view.Outcome(res.RunID, true, res.Outcome.Status, res.Outcome.Message, res.Outcome.Failed)
	}
	if len(ds) > 0 {
		view.Diagnostics(ds, s.Files())
	}
	if ds.HasErrors() || res == nil || res.Outcome == nil || res.Outcome.Status != state.RunRolledBack {
		return ExitError
	}
	return ExitOK
}

// rollbackSummary says what a rollback will do, for the confirmation.
func rollbackSummary(st *state.State, run *state.Run, restore bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s (%s, started %s) will be reversed.\n", run.ID, run.Status, run.StartedAt.UTC().Format("2006-01-02 15:04:05Z"))
	var hosts []string
	for name, h := range st.Hosts {
		if h.Run == run.ID && h.Status != state.HostPending && h.Status != state.HostRolledBack {
			hosts = append(hosts, name)
		}
	}
	sort.Strings(hosts)
	how := "downgraded to the versions they had before the run"
	if restore {
		how = "restored from the backups taken during the run (downgraded where there is none)"
	}
	fmt.Fprintf(&b, "%d hosts it changed will, newest first, be taken out of service again (their instances moved off where the change needs an empty host), %s, and put back in service:\n", len(hosts), how)
	for _, name := range hosts {
		h := st.Hosts[name]
		var vs []string
		for comp, orig := range h.Original {
			if cur := h.Versions[comp]; cur != orig {
				vs = append(vs, fmt.Sprintf("%s %s -> %s", comp, cur, orig))
			}
		}
		sort.Strings(vs)
		fmt.Fprintf(&b, "  %-28s %-15s %s\n", name, h.Status, strings.Join(vs, ", "))
	}
	return b.String()
}

func (c *RollbackCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] rollback [options]

  Reverses the campaign's last run (finished, halted or interrupted): every
  host it touched, newest first, is taken out of service again, emptied
  when its change needs an empty host (destinations picked from the live
  cloud, away from the hosts still to be rolled back), downgraded to the
  versions it had before the run, and put back in service.

  A rollback is journaled like an apply: if it stops, "escalator rollback"
  again goes on where it stopped. From its first step on, the run is only
  ever rolled back: "escalator apply" refuses to continue it.

Options:

  -restore          Restore components from the backups taken during the
                    run instead of downgrading them (downgrade where no
                    backup was taken, with an alert).

  -allow-cold       Move an instance cold (stopped and restarted on its
                    destination) when no destination can take it live. A
                    guest that runs on the new hypervisor cannot move live
                    to a host already rolled back to the old one, so the
                    last hosts of a hypervisor rollback usually need this
                    (or evacuate { fallback_to_cold = true }).

  -auto-approve     Do not ask for confirmation.

  -json             Print every journal event as a JSON line (needs
                    -auto-approve).

  -no-color         Print without color.

  -var, -var-file   Variable values, as for the run.
`)
}

func (c *RollbackCommand) Synopsis() string { return "Reverse the last run, newest host first" }

func (c *RollbackCommand) AutocompleteArgs() complete.Predictor { return complete.PredictNothing }

func (c *RollbackCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{"-restore": complete.PredictNothing, "-allow-cold": complete.PredictNothing, "-auto-approve": complete.PredictNothing,
		"-json": complete.PredictNothing, "-no-color": complete.PredictNothing,
		"-var": complete.PredictAnything, "-var-file": complete.PredictFiles("*.hclvars")}
}

// ForceUnlockCommand is "escalator force-unlock".
type ForceUnlockCommand struct {
	Meta
}

var (
	_ cli.Command             = (*ForceUnlockCommand)(nil)
	_ cli.CommandAutocomplete = (*ForceUnlockCommand)(nil)
)

func (c *ForceUnlockCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseForceUnlock(rawArgs)
	view := views.NewStatus(arguments.ViewHuman, c.newView(false))
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
	if !args.Force {
		fmt.Fprintf(c.Streams.Stdout, "Remove lock %s of this campaign's state? Only do this when its holder is gone for good:\n"+
			"a second escalator working on the same cloud can leave hosts in maintenance and instances half moved.\n"+
			"Only 'yes' will be accepted: ", args.LockID)
		line, _ := bufio.NewReader(c.Streams.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(c.Streams.Stdout, "Force-unlock cancelled: nothing was changed.")
			return ExitError
		}
	}
	if err := b.ForceUnlock(pluginlessContext(), args.LockID); err != nil {
		view.Errors([]error{err})
		return ExitError
	}
	fmt.Fprintf(c.Streams.Stdout, "Lock %s removed. escalator apply continues the unfinished run, if there is one.\n", args.LockID)
	return ExitOK
}

func (c *ForceUnlockCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] force-unlock [-force] LOCK_ID

  Removes the lock of the campaign's state whose ID is LOCK_ID, as a
  refused apply or rollback printed it, for when its holder is gone for
  good and the backend cannot tell. The local backend's lock (flock) is
  released by the kernel when its holder exits, so force-unlock only clears
  the record a crashed holder left; it refuses to touch a lock held by a
  running process, and a lock ID that is not the current one.

Options:

  -force   Do not ask for confirmation.
`)
}

func (c *ForceUnlockCommand) Synopsis() string { return "Remove a lock left by a holder that is gone" }

func (c *ForceUnlockCommand) AutocompleteArgs() complete.Predictor { return complete.PredictNothing }

func (c *ForceUnlockCommand) AutocompleteFlags() complete.Flags {
	return complete.Flags{"-force": complete.PredictNothing}
}
