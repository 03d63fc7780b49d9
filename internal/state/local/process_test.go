//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/state/statetest"
)

// The tests here re-execute the test binary as a second escalator process
// (TestHelperProcess), because what they check — flock between processes,
// what the kernel does when a holder is killed — cannot be shown with
// goroutines.

const (
	envHelper = "ESCALATOR_STATE_HELPER"
	envPath   = "ESCALATOR_STATE_HELPER_PATH"
)

// TestHelperProcess is the second process. It is not a test: it does what
// envHelper says and exits.
//
//	hold:         lock, print "locked ID", hold the lock until stdin closes, unlock, exit 0
//	crash-write:  lock, write a state, print "locked ID", then write another
//	              and SIGKILL itself between the temporary file and the rename
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process for the multi-process tests")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	b, err := New(os.Getenv(envPath))
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	l, err := b.Lock(ctx, state.Holder{Operation: "apply", RunID: "helper-run"})
	if err != nil {
		fail(err)
	}
	switch mode {
	case "hold":
		fmt.Printf("locked %s\n", l.ID())
		io.Copy(io.Discard, os.Stdin)
		if err := l.Unlock(ctx); err != nil {
			fail(err)
		}
		os.Exit(0)
	case "crash-write":
		s := statetest.SampleState()
		if err := b.WriteState(ctx, l, s); err != nil {
			fail(err)
		}
		fmt.Printf("locked %s\n", l.ID())
		b.beforeRename = func(string) { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
		s.Hosts["c2"].Status = state.HostRolledBack
		b.WriteState(ctx, l, s)
		fail(errors.New("still alive after SIGKILL"))
	}
	fail(fmt.Errorf("unknown mode %q", mode))
}

// helper is a running second process.
type helper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lockID string
}

// startHelper starts the second process in mode and waits until it holds
// the lock.
func startHelper(t *testing.T, mode, path string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "locked ")
	if err != nil || !ok {
		t.Fatalf("helper process said %q (%v); want \"locked ID\"", line, err)
	}
	h.lockID = id
	return h
}

// kill SIGKILLs the helper and waits for it to be gone.
func (h *helper) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.wait(t)
}

func (h *helper) wait(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("helper process did not exit")
	}
}

func TestLockBetweenProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".escalator", "state.json")
	h := startHelper(t, "hold", path)
	b := mustNew(t, path)
	ctx := t.Context()

	_, err := b.Lock(ctx, state.NewHolder("apply"))
	var le *state.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("Lock while another process holds it: %v; want a *LockedError", err)
	}
	if le.Holder.PID != h.cmd.Process.Pid || le.Holder.ID != h.lockID || le.Holder.RunID != "helper-run" {
		t.Errorf("LockedError names %+v; want pid %d, lock %s", le.Holder, h.cmd.Process.Pid, h.lockID)
	}
	for _, want := range []string{fmt.Sprintf("pid %d", h.cmd.Process.Pid), "kill ", "released when it exits"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("LockedError %q does not say %q", err, want)
		}
	}
	// A live holder's lock cannot be forced, even with the right ID.
	err = b.ForceUnlock(ctx, h.lockID)
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "cannot force-unlock") {
		t.Errorf("ForceUnlock of a live holder's lock: %v; want a refusal naming it", err)
	}
	// A clean exit releases the lock and leaves no record behind.
	h.stdin.Close()
	h.wait(t)
	if !h.cmd.ProcessState.Success() {
		t.Fatalf("helper exited with %v", h.cmd.ProcessState)
	}
	l := statetest.MustLock(t, b, "r")
	if l.Previous() != nil {
		t.Errorf("after a clean unlock, Previous = %+v; want nil", l.Previous())
	}
}

func TestKilledHolderReleasesTheLock(t *testing.T) {
	tests := []struct {
		name string
		// forceID returns the ID to force-unlock with after the kill,
		// "" for none.
		forceID func(h *helper) string
		// forceErr is the error wanted from ForceUnlock.
		forceErr error
		// previous: whether the next Lock reports the killed holder.
		previous bool
	}{
		{"take over", nil, nil, true},
		{"force-unlock with the ID", func(h *helper) string { return h.lockID }, nil, false},
		{"force-unlock with another ID", func(*helper) string { return state.NewLockID() }, state.ErrLockMismatch, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			h := startHelper(t, "hold", path)
			b := mustNew(t, path)
			h.kill(t)
			// The record outlives the process, for the next holder to read.
			if rec, _ := os.ReadFile(b.paths.Lock); !strings.Contains(string(rec), h.lockID) {
				t.Errorf("after the kill the lock file holds %q; want the killed holder's record", rec)
			}
			if tc.forceID != nil {
				if err := b.ForceUnlock(t.Context(), tc.forceID(h)); !errors.Is(err, tc.forceErr) {
					t.Errorf("ForceUnlock: %v; want %v", err, tc.forceErr)
				}
			}
			l, err := b.Lock(t.Context(), state.NewHolder("apply"))
			if err != nil {
				t.Fatalf("Lock after the holder was killed: %v", err)
			}
			defer l.Unlock(t.Context())
			p := l.Previous()
			switch {
			case tc.previous && (p == nil || p.PID != h.cmd.Process.Pid || p.ID != h.lockID || p.RunID != "helper-run"):
				t.Errorf("Previous = %+v; want the killed holder (pid %d, lock %s)", p, h.cmd.Process.Pid, h.lockID)
			case !tc.previous && p != nil:
				t.Errorf("Previous = %+v after force-unlock; want nil", p)
			}
		})
	}
}

func TestKilledDuringWriteState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	h := startHelper(t, "crash-write", path)
	h.wait(t)
	if ws, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v; want killed by SIGKILL", h.cmd.ProcessState)
	}
	b := mustNew(t, path)
	got, err := b.ReadState(t.Context())
	if err != nil {
		t.Fatalf("ReadState after a crash mid-write: %v", err)
	}
	if got.Serial != 1 || got.Hosts["c2"].Status != state.HostUpgraded {
		t.Errorf("after a crash mid-write the state is serial %d with c2 %s; want the first write (1, upgraded)", got.Serial, got.Hosts["c2"].Status)
	}
	temps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".state.json.tmp-*"))
	if len(temps) != 1 {
		t.Errorf("temporary files after the crash: %v; want the one it left", temps)
	}
	l := statetest.MustLock(t, b, "r")
	if p := l.Previous(); p == nil || p.ID != h.lockID {
		t.Errorf("Previous = %+v; want the crashed writer %s", p, h.lockID)
	}
	if temps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".state.json.tmp-*")); len(temps) != 0 {
		t.Errorf("temporary files left after the next Lock: %v", temps)
	}
}
