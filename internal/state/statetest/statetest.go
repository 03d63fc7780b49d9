// Package statetest is the conformance suite for state backends: what every
// state.Backend must do, whatever it stores things in. A backend's tests
// call Run with a way to open it; its own tests then cover what only it can
// (crashes, files, connections).
package statetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/escalator-nfv/escalator/internal/state"
)

// Storage returns a function that opens a new backend instance on one
// fresh, empty storage each time it is called, as a new escalator process
// would. Run calls it once per test; the instances are closed by Run.
type Storage func(t *testing.T) (open func() state.Backend)

// Run runs the conformance suite.
func Run(t *testing.T, storage Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() state.Backend)
	}{
		{"Empty", testEmpty},
		{"LockExcludes", testLockExcludes},
		{"LockRace", testLockRace},
		{"WritesNeedTheLock", testWritesNeedTheLock},
		{"StateRoundTrip", testStateRoundTrip},
		{"JournalSeq", testJournalSeq},
		{"JournalRefuses", testJournalRefuses},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ForceUnlock", testForceUnlock},
		{"Runs", testRuns},
		{"LoadCatchesUp", testLoadCatchesUp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			open := storage(t)
			tc.fn(t, func() state.Backend {
				b := open()
				t.Cleanup(func() { b.Close() })
				return b
			})
		})
	}
}

// Time is a fixed event time: backends must keep the times they are given.
var Time = time.Date(2026, 6, 12, 10, 15, 30, 123456789, time.UTC)

// Started is a run_started event.
func Started(run string) state.Event {
	return state.Event{RunID: run, Kind: state.KindRunStarted, Time: Time,
		Data: map[string]string{state.DataPlanDigest: "sha256:plan-" + run, state.DataPlanPath: "plan.bin"}}
}

// Step returns the start and the end of a step on a host.
func Step(run, step, host string, status state.StepStatus) (state.Event, state.Event) {
	s := state.Event{RunID: run, Kind: state.KindStepStarted, Time: Time, StepID: step, Host: host, Component: "nova", Action: "upgrade"}
	f := s
	f.Kind, f.Status = state.KindStepFinished, string(status)
	if status == state.StepFailed {
		f.Error, f.Code = "apt-get exited with status 100", state.CodeStepFailed
	}
	return s, f
}

func ctx(t *testing.T) context.Context { return t.Context() }

// MustLock locks b for an apply of run.
func MustLock(t *testing.T, b state.Backend, run string) state.Lock {
	t.Helper()
	l, err := b.Lock(ctx(t), state.Holder{Operation: "apply", RunID: run, Version: "0.1.0-test"})
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	t.Cleanup(func() { l.Unlock(context.Background()) })
	return l
}

// MustAppend appends and returns the recorded events.
func MustAppend(t *testing.T, b state.Backend, l state.Lock, events ...state.Event) []state.Event {
	t.Helper()
	rec, err := b.AppendJournal(ctx(t), l, events...)
	if err != nil {
		t.Fatalf("AppendJournal: %v", err)
	}
	return rec
}

func testEmpty(t *testing.T, open func() state.Backend) {
	b := open()
	if s, err := b.ReadState(ctx(t)); s != nil || err != nil {
		t.Errorf("ReadState on empty storage = %v, %v; want nil, nil", s, err)
	}
	if runs, err := b.Runs(ctx(t)); len(runs) != 0 || err != nil {
		t.Errorf("Runs on empty storage = %v, %v; want none", runs, err)
	}
	if _, err := b.ReadJournal(ctx(t), "20260101T000000.000Z-00000000"); !errors.Is(err, state.ErrRunNotFound) {
		t.Errorf("ReadJournal of a missing run: %v; want ErrRunNotFound", err)
	}
	for _, bad := range []string{"../../etc/passwd", "", ".hidden", "a/b"} {
		if _, err := b.ReadJournal(ctx(t), bad); err == nil {
			t.Errorf("ReadJournal(%q) succeeded; an invalid run ID must be refused", bad)
		}
	}
	if s, err := state.Load(ctx(t), b); s != nil || err != nil {
		t.Errorf("Load on empty storage = %v, %v; want nil, nil", s, err)
	}
}

func testLockExcludes(t *testing.T, open func() state.Backend) {
	b1, b2 := open(), open()
	l1 := MustLock(t, b1, "run-1")
	if l1.ID() == "" || l1.Holder().ID != l1.ID() {
		t.Errorf("lock ID %q, holder ID %q; want the same, non-empty", l1.ID(), l1.Holder().ID)
	}
	if l1.Previous() != nil {
		t.Errorf("first lock reports a previous holder %v", l1.Previous())
	}
	for name, b := range map[string]state.Backend{"another instance": b2, "the same instance": b1} {
		_, err := b.Lock(ctx(t), state.NewHolder("apply"))
		var le *state.LockedError
		if !errors.As(err, &le) {
			t.Fatalf("second Lock from %s: %v; want a *LockedError", name, err)
		}
		h := le.Holder
		if !le.HolderKnown || h.ID != l1.ID() || h.Operation != "apply" || h.RunID != "run-1" || h.PID != os.Getpid() || h.Host == "" || h.User == "" || h.Since.IsZero() {
			t.Errorf("second Lock from %s names holder %+v (known %v); want the first lock's holder", name, h, le.HolderKnown)
		}
		msg := err.Error()
		for _, want := range []string{l1.ID(), "run-1", fmt.Sprintf("pid %d", os.Getpid())} {
			if !strings.Contains(msg, want) {
				t.Errorf("LockedError %q does not mention %q", msg, want)
			}
		}
	}
	if err := l1.Unlock(ctx(t)); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := l1.Unlock(ctx(t)); err != nil {
		t.Errorf("second Unlock: %v; want a no-op", err)
	}
	l2 := MustLock(t, b2, "run-2")
	if l2.Previous() != nil {
		t.Errorf("lock after a clean unlock reports a previous holder %v", l2.Previous())
	}
	if l2.ID() == l1.ID() {
		t.Errorf("two locks share ID %s", l1.ID())
	}
}

func testLockRace(t *testing.T, open func() state.Backend) {
	shared := open()
	for round := 0; round < 5; round++ {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			won    []state.Lock
			others int
		)
		start := make(chan struct{})
		for i := 0; i < 8; i++ {
			b := shared
			if i%2 == 0 {
				b = open()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				l, err := b.Lock(ctx(t), state.NewHolder(fmt.Sprintf("racer %d", i)))
				mu.Lock()
				defer mu.Unlock()
				var le *state.LockedError
				switch {
				case err == nil:
					won = append(won, l)
				case errors.As(err, &le):
					others++
				default:
					t.Errorf("Lock: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(won) != 1 || others != 7 {
			t.Fatalf("round %d: %d goroutines got the lock and %d were refused; want 1 and 7", round, len(won), others)
		}
		if err := won[0].Unlock(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func testWritesNeedTheLock(t *testing.T, open func() state.Backend) {
	b1, b2 := open(), open()
	l1 := MustLock(t, b1, "r")
	s := state.New()
	if err := b2.WriteState(ctx(t), l1, s); !errors.Is(err, state.ErrLockNotHeld) {
		t.Errorf("WriteState with another instance's lock: %v; want ErrLockNotHeld", err)
	}
	if _, err := b2.AppendJournal(ctx(t), l1, Started("r")); !errors.Is(err, state.ErrLockNotHeld) {
		t.Errorf("AppendJournal with another instance's lock: %v; want ErrLockNotHeld", err)
	}
	if err := l1.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := b1.WriteState(ctx(t), l1, s); !errors.Is(err, state.ErrLockNotHeld) {
		t.Errorf("WriteState after Unlock: %v; want ErrLockNotHeld", err)
	}
	if _, err := b1.AppendJournal(ctx(t), l1, Started("r")); !errors.Is(err, state.ErrLockNotHeld) {
		t.Errorf("AppendJournal after Unlock: %v; want ErrLockNotHeld", err)
	}
	if got, _ := b1.ReadState(ctx(t)); got != nil {
		t.Errorf("a refused WriteState stored %v", got)
	}
}

// SampleState is a state with one of everything.
func SampleState() *state.State {
	s := state.New()
	s.Run = &state.Run{ID: "20260612T101530.123Z-9f86d081", Status: state.RunHalted, PlanDigest: "sha256:p", PlanPath: "plan.bin",
		StartedAt: Time, UpdatedAt: Time.Add(time.Minute), EndedAt: Time.Add(time.Minute), LastSeq: 42, Error: "host c1 failed", Code: state.CodeHalted,
		Totals: state.Totals{Hosts: 2, HostsByStatus: map[state.HostStatus]int{state.HostUpgraded: 1, state.HostInMaintenance: 1}, StepsStarted: 5, StepsOK: 4, StepsFailed: 1}}
	s.Hosts["c1"] = &state.Host{Status: state.HostInMaintenance, Versions: map[string]string{"nova": "27.1"}, Original: map[string]string{"nova": "26.2"},
		Step: "compute/c1/upgrade/nova", Backups: []state.Backup{{ID: "bk-1", Name: "nova_db", Component: "nova", Time: Time}},
		Run: s.Run.ID, Error: "apt-get exited with status 100", Code: state.CodeStepFailed, UpdatedAt: Time}
	s.Hosts["c2"] = &state.Host{Status: state.HostUpgraded, Versions: map[string]string{"nova": "27.1"}, Run: s.Run.ID, UpdatedAt: Time}
	return s
}

func testStateRoundTrip(t *testing.T, open func() state.Backend) {
	b := open()
	l := MustLock(t, b, "r")
	s := SampleState()
	for i := int64(1); i <= 2; i++ {
		if err := b.WriteState(ctx(t), l, s); err != nil {
			t.Fatalf("WriteState: %v", err)
		}
		if s.Serial != i || s.FormatVersion != state.StateFormatVersion {
			t.Errorf("after write %d: serial %d, format %d; want %d, %d", i, s.Serial, s.FormatVersion, i, state.StateFormatVersion)
		}
	}
	got, err := open().ReadState(ctx(t))
	if err != nil {
		t.Fatalf("ReadState: %v", err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("state round trip (-wrote +read):\n%s", diff)
	}
	bad := SampleState()
	bad.Hosts["c3"] = &state.Host{Status: "on_fire"}
	if err := b.WriteState(ctx(t), l, bad); err == nil {
		t.Error("WriteState of a host with an unknown status succeeded")
	}
}

func testJournalSeq(t *testing.T, open func() state.Backend) {
	const run = "20260612T101530.123Z-0000aaaa"
	b := open()
	l := MustLock(t, b, run)
	s1, f1 := Step(run, "s1", "c1", state.StepOK)
	rec := MustAppend(t, b, l, Started(run), s1)
	rec = append(rec, MustAppend(t, b, l, f1)...)
	noTime := state.Event{RunID: run, Kind: state.KindNote, Message: "operator: looks good"}
	before := time.Now().Add(-time.Second)
	rec = append(rec, MustAppend(t, b, l, noTime)...)
	for i, e := range rec {
		if e.Seq != int64(i+1) || e.FormatVersion != state.EventFormatVersion {
			t.Errorf("event %d recorded with seq %d, format %d", i, e.Seq, e.FormatVersion)
		}
	}
	if last := rec[len(rec)-1]; last.Time.Before(before) || last.Time.Location() != time.UTC {
		t.Errorf("an event without a time was recorded at %v; want now, in UTC", last.Time)
	}
	if err := l.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}

	// A new instance and a new lock continue the numbering from storage.
	b2 := open()
	l2 := MustLock(t, b2, run)
	s2, f2 := Step(run, "s2", "c1", state.StepFailed)
	rec = append(rec, MustAppend(t, b2, l2, s2, f2)...)
	if got := rec[len(rec)-1].Seq; got != 6 {
		t.Errorf("after reopening, the last event has seq %d; want 6", got)
	}
	j, err := open().ReadJournal(ctx(t), run)
	if err != nil {
		t.Fatalf("ReadJournal: %v", err)
	}
	if j.RunID != run || j.Torn != nil {
		t.Errorf("journal run %q, torn %v", j.RunID, j.Torn)
	}
	if diff := cmp.Diff(rec, j.Events, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("journal read back (-recorded +read):\n%s", diff)
	}
}

func testJournalRefuses(t *testing.T, open func() state.Backend) {
	const run = "r1"
	b := open()
	l := MustLock(t, b, run)
	s1, _ := Step(run, "s1", "c1", state.StepOK)
	if _, err := b.AppendJournal(ctx(t), l, s1); !errors.Is(err, state.ErrRunNotFound) {
		t.Errorf("a new run's first event a step: %v; want ErrRunNotFound", err)
	}
	MustAppend(t, b, l, Started(run))
	cases := map[string][]state.Event{
		"started twice":        {Started(run)},
		"two runs in one call": {s1, {RunID: "r2", Kind: state.KindNote}},
		"unknown step status":  {{RunID: run, Kind: state.KindStepFinished, StepID: "s1", Status: "done"}},
		"unknown host status":  {{RunID: run, Kind: state.KindHostStatus, Host: "c1", Status: "on_fire"}},
		"step without an ID":   {{RunID: run, Kind: state.KindStepStarted}},
		"bad kind":             {{RunID: run, Kind: "Step Started"}},
		"bad run ID":           {{RunID: "../x", Kind: state.KindNote}},
		"version without data": {{RunID: run, Kind: state.KindVersionRecorded, Host: "c1", Component: "nova"}},
	}
	for name, evs := range cases {
		if _, err := b.AppendJournal(ctx(t), l, evs...); err == nil {
			t.Errorf("%s: AppendJournal succeeded", name)
		}
	}
	// Refused appends leave no trace and no gap.
	rec := MustAppend(t, b, l, s1)
	if rec[0].Seq != 2 {
		t.Errorf("after refused appends, the next event has seq %d; want 2", rec[0].Seq)
	}
	cctx, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := b.AppendJournal(cctx, l, s1); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendJournal with a cancelled context: %v", err)
	}
}

func testConcurrentAppends(t *testing.T, open func() state.Backend) {
	const run, workers, steps = "conc", 16, 20
	b := open()
	l := MustLock(t, b, run)
	MustAppend(t, b, l, Started(run))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := fmt.Sprintf("c%02d", w)
			for i := 0; i < steps; i++ {
				// A step's end and the next one's start, together.
				_, f := Step(run, fmt.Sprintf("%s/%d", host, i), host, state.StepOK)
				s, _ := Step(run, fmt.Sprintf("%s/%d", host, i+1), host, state.StepOK)
				rec, err := b.AppendJournal(ctx(t), l, f, s)
				if err != nil {
					t.Errorf("AppendJournal: %v", err)
					return
				}
				if rec[1].Seq != rec[0].Seq+1 {
					t.Errorf("a batch got seqs %d and %d; want adjacent", rec[0].Seq, rec[1].Seq)
				}
			}
		}()
	}
	wg.Wait()
	j, err := b.ReadJournal(ctx(t), run)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(j.Events), 1+workers*steps*2; got != want {
		t.Fatalf("%d events in the journal; want %d", got, want)
	}
	for i := 1; i < len(j.Events); i += 2 {
		f, s := j.Events[i], j.Events[i+1]
		if f.Kind != state.KindStepFinished || s.Kind != state.KindStepStarted || f.Host != s.Host {
			t.Fatalf("events %d and %d (%s %s, %s %s) are not one batch: batches must not interleave", f.Seq, s.Seq, f.Kind, f.Host, s.Kind, s.Host)
		}
	}
}

func testForceUnlock(t *testing.T, open func() state.Backend) {
	b1, b2 := open(), open()
	if err := b2.ForceUnlock(ctx(t), "8e1f2a9c-0000-4000-8000-000000000000"); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("ForceUnlock with nothing locked: %v; want ErrNotLocked", err)
	}
	l1 := MustLock(t, b1, "r")
	if err := b2.ForceUnlock(ctx(t), "8e1f2a9c-0000-4000-8000-000000000000"); err == nil {
		t.Error("ForceUnlock with a wrong ID succeeded")
	}
	if err := b2.ForceUnlock(ctx(t), ""); err == nil {
		t.Error("ForceUnlock without an ID succeeded")
	}
	if _, err := b2.Lock(ctx(t), state.NewHolder("apply")); err == nil {
		t.Fatal("after a refused ForceUnlock the lock is free")
	}
	if err := b1.WriteState(ctx(t), l1, state.New()); err != nil {
		t.Errorf("after a refused ForceUnlock the holder cannot write: %v", err)
	}
	if err := l1.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := b2.ForceUnlock(ctx(t), l1.ID()); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("ForceUnlock after a clean Unlock: %v; want ErrNotLocked", err)
	}
}

func testRuns(t *testing.T, open func() state.Backend) {
	b := open()
	l := MustLock(t, b, "")
	r1, r2 := state.NewRunID(), state.NewRunID()
	s1, f1 := Step(r1, "s1", "c1", state.StepOK)
	MustAppend(t, b, l, Started(r1), s1, f1)
	MustAppend(t, b, l, state.Event{RunID: r1, Kind: state.KindRunFinished, Time: Time.Add(time.Hour)})
	MustAppend(t, b, l, Started(r2))
	MustAppend(t, b, l, state.Event{RunID: r2, Kind: state.KindRunHalted, Time: Time.Add(2 * time.Hour), Error: "canary pause", Code: "I_CANARY"})
	MustAppend(t, b, l, state.Event{RunID: r2, Kind: state.KindNote, Time: Time.Add(3 * time.Hour), Message: "resuming tomorrow"})
	runs, err := open().Runs(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []state.RunSummary{
		{ID: r1, Status: state.RunFinished, PlanDigest: "sha256:plan-" + r1, PlanPath: "plan.bin", StartedAt: Time, UpdatedAt: Time.Add(time.Hour), EndedAt: Time.Add(time.Hour), Events: 4, LastSeq: 4},
		{ID: r2, Status: state.RunHalted, PlanDigest: "sha256:plan-" + r2, PlanPath: "plan.bin", StartedAt: Time, UpdatedAt: Time.Add(3 * time.Hour), EndedAt: Time.Add(2 * time.Hour), Events: 3, LastSeq: 3, Error: "canary pause", Code: "I_CANARY"},
	}
	if diff := cmp.Diff(want, runs); diff != "" {
		t.Errorf("Runs (-want +got):\n%s", diff)
	}
}

func testLoadCatchesUp(t *testing.T, open func() state.Backend) {
	b := open()
	l := MustLock(t, b, "")
	r1, r2 := "20260101T000000.000Z-00000001", "20260201T000000.000Z-00000002"
	ev := func(run string, k state.Kind, host, status string, data map[string]string) state.Event {
		return state.Event{RunID: run, Kind: k, Time: Time, Host: host, Component: "nova", Status: status, Data: data}
	}
	MustAppend(t, b, l, Started(r1),
		ev(r1, state.KindOriginalRecorded, "c1", "", map[string]string{state.DataVersion: "26"}),
		ev(r1, state.KindHostStatus, "c1", string(state.HostInProgress), nil))
	// The summary is written, then the apply goes on and crashes before
	// the next write: Load must see what the journal has since.
	s := state.New()
	j, _ := b.ReadJournal(ctx(t), r1)
	if _, err := s.CatchUp(j); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteState(ctx(t), l, s); err != nil {
		t.Fatal(err)
	}
	MustAppend(t, b, l,
		ev(r1, state.KindVersionRecorded, "c1", "", map[string]string{state.DataVersion: "27"}),
		ev(r1, state.KindHostStatus, "c1", string(state.HostUpgraded), nil),
		ev(r1, state.KindRunFinished, "", "", nil))
	MustAppend(t, b, l, Started(r2), ev(r2, state.KindHostStatus, "c2", string(state.HostInProgress), nil))

	loaded, err := state.Load(ctx(t), open())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if loaded.Run.ID != r2 || loaded.Run.LastSeq != 2 || loaded.Hosts["c1"].Status != state.HostUpgraded || loaded.Hosts["c1"].Versions["nova"] != "27" || loaded.Hosts["c2"] == nil {
		t.Errorf("Load did not catch up with the journals: run %+v, hosts %v", loaded.Run, loaded.Hosts)
	}
	rebuilt, err := state.Rebuild(ctx(t), open())
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	rebuilt.Serial = loaded.Serial
	if diff := cmp.Diff(rebuilt, loaded); diff != "" {
		t.Errorf("Load and Rebuild disagree (-rebuilt +loaded):\n%s", diff)
	}
}
