package control

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestPathFor(t *testing.T) {
	if got := PathFor(".escalator/state.json"); got != ".escalator/state.control.json" {
		t.Errorf("PathFor = %s", got)
	}
}

func TestUpdateAndRead(t *testing.T) {
	f := Open(filepath.Join(t.TempDir(), "sub", "state.control.json"))
	if r, err := f.Read("r1"); err != nil || r.Paused || r.RunID != "r1" {
		t.Fatalf("no file: %+v %v", r, err)
	}
	if _, err := f.Update("r1", "alice", func(r *Request) { r.Paused = true }); err != nil {
		t.Fatal(err)
	}
	r, err := f.Read("r1")
	if err != nil || !r.Paused || r.UpdatedBy != "alice" {
		t.Fatalf("after pause: %+v %v", r, err)
	}
	// Another run's requests do not apply.
	if r, _ := f.Read("r2"); r.Paused {
		t.Errorf("run r2 sees r1's pause")
	}
	// A second File (another process) sees the change.
	if r, _ := Open(f.Path()).Read("r1"); !r.Paused {
		t.Errorf("another reader does not see the pause")
	}
	if _, err := f.Update("r1", "bob", func(r *Request) { r.ApprovedWaves = append(r.ApprovedWaves, 1) }); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.Read("r1"); !r.Paused || len(r.ApprovedWaves) != 1 || r.UpdatedBy != "bob" {
		t.Errorf("after approval: %+v", r)
	}
}

func TestGate(t *testing.T) {
	f := Open(filepath.Join(t.TempDir(), "c.json"))
	f.poll = 10 * time.Millisecond
	ctx := context.Background()
	if err := f.Gate(ctx, "r1", nil); err != nil {
		t.Fatalf("open gate: %v", err)
	}
	f.Update("r1", "op", func(r *Request) { r.Paused = true })
	done := make(chan error, 1)
	paused := make(chan Request, 1)
	go func() { done <- f.Gate(ctx, "r1", func(r Request) { paused <- r }) }()
	select {
	case r := <-paused:
		if r.UpdatedBy != "op" {
			t.Errorf("onPause got %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Gate did not report the pause")
	}
	select {
	case err := <-done:
		t.Fatalf("Gate returned while paused: %v", err)
	default:
	}
	f.Update("r1", "op", func(r *Request) { r.Paused = false })
	if err := <-done; err != nil {
		t.Fatalf("Gate after resume: %v", err)
	}
	f.Update("r1", "op", func(r *Request) { r.Aborted = true })
	if err := f.Gate(ctx, "r1", nil); !errors.Is(err, ErrAborted) {
		t.Errorf("Gate after abort: %v", err)
	}
	if err := f.WaitApproval(ctx, "r1", 1); !errors.Is(err, ErrAborted) {
		t.Errorf("WaitApproval after abort: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := f.WaitApproval(cctx, "r2", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitApproval without approval: %v", err)
	}
	f.Update("r2", "op", func(r *Request) { r.ApprovedWaves = []int{1} })
	if err := f.WaitApproval(ctx, "r2", 1); err != nil {
		t.Errorf("WaitApproval after approval: %v", err)
	}
}
