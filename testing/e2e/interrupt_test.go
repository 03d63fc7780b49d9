//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/state"
)

// applyInterrupt runs escalator apply -auto-approve -json and sends it
// SIGINT `times` times (100 ms apart) right after the after-th step
// started. It returns apply's exit code and its JSON events.
func (c *campaign) applyInterrupt(after, times int) (int, []state.Event) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := c.command(ctx, "apply", "-auto-approve", "-json")
	var stderr bytes.Buffer
	var mu sync.Mutex
	started, sent := 0, false
	lw := &lineWriter{fn: func(line []byte) {
		mu.Lock()
		defer mu.Unlock()
		var e state.Event
		if json.Unmarshal(line, &e) != nil || e.Kind != state.KindStepStarted || sent {
			return
		}
		if started++; started == after {
			sent = true
			go func() {
				for i := 0; i < times; i++ {
					_ = cmd.Process.Signal(syscall.SIGINT)
					time.Sleep(100 * time.Millisecond)
				}
			}()
		}
	}}
	cmd.Stdout, cmd.Stderr = lw, &stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		c.t.Fatalf("apply did not end within %s: %s", cmdTimeout, stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	evs, _ := jsonEvents(lw.all.String())
	if !sent {
		c.t.Fatalf("the run ended before step %d started", after)
	}
	return code, evs
}

// TestInterruptOnceDrains: the first Ctrl-C lets the running steps finish
// and starts none; the run halts (E_INTERRUPTED) and apply continues it.
func TestInterruptOnceDrains(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	code, evs := c.applyInterrupt(60, 1)
	if code == 0 {
		t.Fatalf("interrupted apply exited 0")
	}
	open := map[string]bool{}
	var halted *state.Event
	for i, e := range evs {
		switch e.Kind {
		case state.KindStepStarted:
			open[e.StepID] = true
		case state.KindStepFinished:
			delete(open, e.StepID)
			if e.Status != string(state.StepOK) {
				t.Errorf("step %s ended %s after one Ctrl-C: running steps must finish", e.StepID, e.Status)
			}
		case state.KindRunHalted:
			halted = &evs[i]
		}
	}
	if len(open) > 0 {
		t.Errorf("steps left running: %v", open)
	}
	if halted == nil || halted.Code != state.CodeInterrupted {
		t.Fatalf("run end %+v, want run_halted with %s", halted, state.CodeInterrupted)
	}
	if r := c.run("apply", "-auto-approve"); r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	c.assertUpgraded()
	c.check()
}

// TestInterruptTwiceCancels: the second Ctrl-C cancels the running steps,
// which are recorded as cancelled; apply continues the run and finishes.
func TestInterruptTwiceCancels(t *testing.T) {
	t.Parallel()
	c := newCampaign(t, spec{})
	code, evs := c.applyInterrupt(60, 2)
	if code == 0 {
		t.Fatalf("interrupted apply exited 0")
	}
	if n := countKind(evs, state.KindRunHalted); n != 1 {
		t.Errorf("%d run_halted events, want 1", n)
	}
	if r := c.run("apply", "-auto-approve"); r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	c.assertUpgraded()
	c.check()
}
