package state

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 6, 12, 10, 0, 0, 0, time.UTC)

func TestNewRunID(t *testing.T) {
	// Start the process-wide clock guard afresh: other runs of this test
	// have moved it past the fixed time below.
	runIDClock.Lock()
	runIDClock.last = time.Time{}
	runIDClock.Unlock()
	now := time.Date(2020, 6, 12, 10, 15, 30, 123456789, time.UTC) // before the real clock
	var ids []string
	for range 5 {
		ids = append(ids, newRunID(now)) // same millisecond: still increasing
	}
	ids = append(ids, NewRunID(), NewRunID())
	if !sort.StringsAreSorted(ids) {
		t.Errorf("run IDs do not sort in creation order: %v", ids)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("duplicate run ID %s", id)
		}
		seen[id] = true
		if err := ValidateRunID(id); err != nil {
			t.Errorf("NewRunID made an invalid ID: %v", err)
		}
	}
	if !strings.HasPrefix(ids[0], "20200612T101530.123Z-") || len(ids[0]) != len("20200612T101530.123Z-")+8 {
		t.Errorf("run ID %q; want 20200612T101530.123Z-xxxxxxxx", ids[0])
	}
}

func TestValidateRunID(t *testing.T) {
	for id, ok := range map[string]bool{
		"20260612T101530.123Z-9f86d081": true, "r1": true, "site_a-run.2": true,
		"": false, ".hidden": false, "-flag": false, "a/b": false, "../x": false, `a\b`: false,
		"a b": false, "ü": false, strings.Repeat("a", 129): false, strings.Repeat("a", 128): true,
	} {
		if err := ValidateRunID(id); (err == nil) != ok {
			t.Errorf("ValidateRunID(%q) = %v; want ok=%v", id, err, ok)
		}
	}
}

// journal numbers events 1, 2, … of run r at one-minute intervals.
func journal(r string, events ...Event) []Event {
	for i := range events {
		events[i].RunID, events[i].Seq = r, int64(i+1)
		events[i].Time = t0.Add(time.Duration(i) * time.Minute)
	}
	return events
}

func ver(v string) map[string]string { return map[string]string{DataVersion: v} }

func TestApply(t *testing.T) {
	started := Event{Kind: KindRunStarted, Data: map[string]string{DataPlanDigest: "sha256:p", DataPlanPath: "plan.bin"}}
	tests := []struct {
		name   string
		prior  []Event // a previous run "r0", applied first
		events []Event // run "r1"
		want   func(s *State)
	}{{
		name: "a host upgraded",
		events: []Event{
			started,
			{Kind: KindHostStatus, Host: "c1", Status: string(HostInProgress)},
			{Kind: KindOriginalRecorded, Host: "c1", Component: "nova", Data: ver("26")},
			{Kind: KindStepStarted, StepID: "c1/backup", Host: "c1", Component: "nova"},
			{Kind: KindBackupRecorded, Host: "c1", Component: "nova", Data: map[string]string{DataBackupID: "bk-1", DataBackupName: "nova_db"}},
			{Kind: KindStepFinished, StepID: "c1/backup", Host: "c1", Status: string(StepOK)},
			{Kind: KindStepStarted, StepID: "c1/upgrade", Host: "c1", Component: "nova"},
			{Kind: KindVersionRecorded, Host: "c1", Component: "nova", Data: ver("27")},
			{Kind: KindStepFinished, StepID: "c1/upgrade", Host: "c1", Status: string(StepOK)},
			{Kind: KindHostStatus, Host: "c1", Status: string(HostUpgraded)},
			{Kind: KindNote, Message: "all good"},
			{Kind: KindRunFinished},
		},
		want: func(s *State) {
			s.Run = &Run{ID: "r1", Status: RunFinished, PlanDigest: "sha256:p", PlanPath: "plan.bin", StartedAt: t0,
				UpdatedAt: t0.Add(11 * time.Minute), EndedAt: t0.Add(11 * time.Minute), LastSeq: 12,
				Totals: Totals{Hosts: 1, HostsByStatus: map[HostStatus]int{HostUpgraded: 1}, StepsStarted: 2, StepsOK: 2}}
			s.Hosts["c1"] = &Host{Status: HostUpgraded, Versions: map[string]string{"nova": "27"}, Original: map[string]string{"nova": "26"},
				Backups: []Backup{{ID: "bk-1", Name: "nova_db", Component: "nova", Time: t0.Add(4 * time.Minute)}},
				Run:     "r1", UpdatedAt: t0.Add(9 * time.Minute)}
		},
	}, {
		name: "a run resumed to be rolled back stays reverting",
		events: []Event{
			started,
			{Kind: KindRunHalted, Error: "host c1 failed"},
			{Kind: KindRunResumed, Action: ActionRollback},
			{Kind: KindRunHalted, Error: "roll back host c1: refused"},
			{Kind: KindRunResumed},
			{Kind: KindRunRolledBack},
		},
		want: func(s *State) {
			s.Run = &Run{ID: "r1", Status: RunRolledBack, PlanDigest: "sha256:p", PlanPath: "plan.bin", StartedAt: t0, Reverting: true,
				UpdatedAt: t0.Add(5 * time.Minute), EndedAt: t0.Add(5 * time.Minute), LastSeq: 6}
		},
	}, {
		name: "a failure halts the run, the host left in maintenance mid-step",
		events: []Event{
			started,
			{Kind: KindHostStatus, Host: "c1", Status: string(HostInProgress)},
			{Kind: KindHostStatus, Host: "c2", Status: string(HostInProgress)},
			{Kind: KindStepStarted, StepID: "c1/upgrade", Host: "c1"},
			{Kind: KindStepStarted, StepID: "c2/upgrade", Host: "c2"},
			{Kind: KindStepFinished, StepID: "c1/upgrade", Host: "c1", Status: string(StepFailed), Error: "apt-get exited with status 100", Code: "E_UPGRADE"},
			{Kind: KindStepFinished, StepID: "c2/upgrade", Host: "c2", Status: string(StepCancelled)},
			{Kind: KindHostStatus, Host: "c1", Status: string(HostInMaintenance), Error: "upgrade failed; halted by policy", Code: "E_UPGRADE"},
			{Kind: KindRunHalted, Error: "host c1 failed", Code: "E_HALT"},
		},
		want: func(s *State) {
			s.Run = &Run{ID: "r1", Status: RunHalted, PlanDigest: "sha256:p", PlanPath: "plan.bin", StartedAt: t0,
				UpdatedAt: t0.Add(8 * time.Minute), EndedAt: t0.Add(8 * time.Minute), LastSeq: 9, Error: "host c1 failed", Code: "E_HALT",
				Totals: Totals{Hosts: 2, HostsByStatus: map[HostStatus]int{HostInMaintenance: 1, HostInProgress: 1}, StepsStarted: 2, StepsFailed: 1, StepsCancelled: 1}}
			s.Hosts["c1"] = &Host{Status: HostInMaintenance, Run: "r1", Error: "upgrade failed; halted by policy", Code: "E_UPGRADE", UpdatedAt: t0.Add(7 * time.Minute)}
			s.Hosts["c2"] = &Host{Status: HostInProgress, Run: "r1", UpdatedAt: t0.Add(6 * time.Minute)}
		},
	}, {
		name: "resumed after a halt",
		events: []Event{
			started,
			{Kind: KindRunHalted, Error: "canary pause", Code: "I_CANARY"},
			{Kind: KindRunResumed},
		},
		want: func(s *State) {
			s.Run = &Run{ID: "r1", Status: RunRunning, PlanDigest: "sha256:p", PlanPath: "plan.bin", StartedAt: t0,
				UpdatedAt: t0.Add(2 * time.Minute), LastSeq: 3}
		},
	}, {
		name: "a new run carries versions over and clears the old run's details",
		prior: []Event{
			started,
			{Kind: KindOriginalRecorded, Host: "c1", Component: "nova", Data: ver("25")},
			{Kind: KindStepStarted, StepID: "c1/upgrade", Host: "c1"},
			{Kind: KindVersionRecorded, Host: "c1", Component: "nova", Data: ver("26")},
			{Kind: KindHostStatus, Host: "c1", Status: string(HostFailed), Error: "verify failed", Code: "E_VERIFY"},
			{Kind: KindRunFailed, Error: "1 host failed", Code: "E_FAILED"},
		},
		events: []Event{
			started,
			{Kind: KindStepStarted, StepID: "c1/precheck", Host: "c1"},
		},
		want: func(s *State) {
			s.Run = &Run{ID: "r1", Status: RunRunning, PlanDigest: "sha256:p", PlanPath: "plan.bin", StartedAt: t0,
				UpdatedAt: t0.Add(time.Minute), LastSeq: 2,
				Totals: Totals{Hosts: 1, HostsByStatus: map[HostStatus]int{HostFailed: 1}, StepsStarted: 1}}
			s.Hosts["c1"] = &Host{Status: HostFailed, Versions: map[string]string{"nova": "26"}, Step: "c1/precheck", Run: "r1", UpdatedAt: t0.Add(time.Minute)}
		},
	}, {
		name: "unknown kinds are kept but change nothing",
		events: []Event{
			started,
			{Kind: "wave_started", Data: map[string]string{"wave": "1"}},
		},
		want: func(s *State) {
			s.Run = &Run{ID: "r1", Status: RunRunning, PlanDigest: "sha256:p", PlanPath: "plan.bin", StartedAt: t0, UpdatedAt: t0.Add(time.Minute), LastSeq: 2}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			for _, e := range journal("r0", tc.prior...) {
				if err := s.Apply(e); err != nil {
					t.Fatalf("prior run: Apply(%s): %v", e.Kind, err)
				}
			}
			for _, e := range journal("r1", tc.events...) {
				if err := s.Apply(e); err != nil {
					t.Fatalf("Apply(%d %s): %v", e.Seq, e.Kind, err)
				}
			}
			want := New()
			tc.want(want)
			if diff := cmp.Diff(want, s); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("the result does not validate: %v", err)
			}
			// The clone is deep: changing it leaves s alone.
			c := s.Clone()
			for _, h := range c.Hosts {
				h.Status = HostRolledBack
				if h.Versions != nil {
					h.Versions["nova"] = "x"
				}
			}
			if c.Run != nil {
				c.Run.Totals.HostsByStatus = nil
			}
			if diff := cmp.Diff(want, s); diff != "" {
				t.Errorf("changing a clone changed the state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	base := func() *State {
		s := New()
		for _, e := range journal("r1", Event{Kind: KindRunStarted}, Event{Kind: KindNote}) {
			if err := s.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	tests := map[string]struct {
		e    Event
		want string
	}{
		"no run yet":            {Event{RunID: "r0", Seq: 3, Kind: KindNote}, "belongs to run r0"},
		"another run":           {Event{RunID: "r2", Seq: 3, Kind: KindNote}, "belongs to run r2"},
		"gap":                   {Event{RunID: "r1", Seq: 4, Kind: KindNote}, "out of order"},
		"again":                 {Event{RunID: "r1", Seq: 2, Kind: KindNote}, "out of order"},
		"started twice":         {Event{RunID: "r1", Seq: 1, Kind: KindRunStarted}, "cannot start twice"},
		"run_started not first": {Event{RunID: "r2", Seq: 2, Kind: KindRunStarted}, "seq 2"},
		"invalid":               {Event{RunID: "r1", Seq: 3, Kind: KindHostStatus, Host: "c1", Status: "gone"}, `status "gone"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := base()
			before := s.Clone()
			err := s.Apply(tc.e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply: %v; want an error with %q", err, tc.want)
			}
			if diff := cmp.Diff(before, s); diff != "" {
				t.Errorf("a refused event changed the state:\n%s", diff)
			}
		})
	}
	if err := New().Apply(Event{RunID: "r1", Seq: 1, Kind: KindNote}); err == nil || !strings.Contains(err.Error(), "no run") {
		t.Errorf("Apply to an empty state: %v", err)
	}
}

func TestCatchUp(t *testing.T) {
	j := &Journal{RunID: "r1", Events: journal("r1",
		Event{Kind: KindRunStarted},
		Event{Kind: KindHostStatus, Host: "c1", Status: string(HostInProgress)},
		Event{Kind: KindHostStatus, Host: "c1", Status: string(HostUpgraded)})}
	s := New()
	if n, err := s.CatchUp(&Journal{RunID: "r1", Events: j.Events[:2]}); n != 2 || err != nil {
		t.Fatalf("CatchUp = %d, %v", n, err)
	}
	if n, err := s.CatchUp(j); n != 1 || err != nil || s.Hosts["c1"].Status != HostUpgraded {
		t.Errorf("second CatchUp = %d, %v, c1 %s; want the one new event applied", n, err, s.Hosts["c1"].Status)
	}
	if n, err := s.CatchUp(j); n != 0 || err != nil {
		t.Errorf("CatchUp when up to date = %d, %v", n, err)
	}
	if _, err := s.CatchUp(&Journal{RunID: "r1", Events: j.Events[:1]}); err == nil || !strings.Contains(err.Error(), "journal ends at event 1") {
		t.Errorf("CatchUp with a journal shorter than the state: %v", err)
	}
	if _, err := s.CatchUp(&Journal{RunID: "r0", Events: journal("r0", Event{Kind: KindRunStarted})}); err == nil {
		t.Error("CatchUp with an older run succeeded")
	}
}

func TestSummarize(t *testing.T) {
	j := &Journal{RunID: "r1", Torn: &TornTail{Line: 5}, Events: journal("r1",
		Event{Kind: KindRunStarted, Data: map[string]string{DataPlanDigest: "d", DataPlanPath: "p"}},
		Event{Kind: KindRunHalted, Error: "paused", Code: "I_CANARY"},
		Event{Kind: KindRunResumed},
		Event{Kind: KindNote})}
	want := RunSummary{ID: "r1", Status: RunRunning, PlanDigest: "d", PlanPath: "p", StartedAt: t0, UpdatedAt: t0.Add(3 * time.Minute), Events: 4, LastSeq: 4, Torn: true}
	if diff := cmp.Diff(want, Summarize(j)); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}

func TestDecodeEvent(t *testing.T) {
	e := Event{FormatVersion: 1, Seq: 1, Time: t0, RunID: "r1", Kind: KindRunStarted, Data: map[string]string{"k": "line\nbreak"}}
	b, err := EncodeEvent(&e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\n") {
		t.Errorf("an encoded event spans lines: %s", b)
	}
	got, err := DecodeEvent(b)
	if err != nil || !cmp.Equal(e, got) {
		t.Errorf("DecodeEvent = %+v, %v; want %+v", got, err, e)
	}
	var ve *VersionError
	if _, err := DecodeEvent([]byte(`{"format_version":2,"seq":1,"new_field":true}`)); !errors.As(err, &ve) || ve.Found != 2 {
		t.Errorf("DecodeEvent of a newer format: %v; want a *VersionError", err)
	}
	for _, bad := range []string{`{"seq":1}`, `{"format_version":1,"x":1}`, `{"format_version":1}{}`, `nope`} {
		if _, err := DecodeEvent([]byte(bad)); err == nil || errors.As(err, &ve) {
			t.Errorf("DecodeEvent(%s) = %v; want a plain error", bad, err)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	h := Holder{ID: "8e1f2a9c-5b0d-4c8e-9f00-7a1b2c3d4e5f", Operation: "apply", RunID: "r1", User: "alice", Host: "jump1", PID: 4242, Since: t0, Version: "0.3.0"}
	le := &LockedError{Holder: h, HolderKnown: true, Where: "lock file .escalator/state.lock", Hint: "Wait for it.", Now: t0.Add(90 * time.Second)}
	want := "the state is locked by apply of run r1 by alice@jump1 (pid 4242) since 2026-06-12T10:00:00Z, escalator 0.3.0 (lock ID 8e1f2a9c-5b0d-4c8e-9f00-7a1b2c3d4e5f), 1m30s ago (lock file .escalator/state.lock). Wait for it."
	if got := le.Error(); got != want {
		t.Errorf("LockedError:\n got %s\nwant %s", got, want)
	}
	le.HolderKnown = false
	if got := le.Error(); !strings.Contains(got, "has not recorded who it is") {
		t.Errorf("LockedError without a holder: %s", got)
	}
	ve := &VersionError{Path: "s.json", What: "state", Found: 3, Supported: 1}
	if got := ve.Error(); !strings.Contains(got, "newer escalator") || !strings.Contains(got, "nothing was changed") {
		t.Errorf("VersionError: %s", got)
	}
	ce := &CorruptError{Path: "j.jsonl", Line: 3, Offset: 120, Err: errors.New("bad"), Hint: "Fix it."}
	if got, want := ce.Error(), "j.jsonl line 3 (byte 120) is corrupt: bad. Fix it."; got != want {
		t.Errorf("CorruptError: %q; want %q", got, want)
	}
	if id := NewLockID(); len(id) != 36 || id[14] != '4' {
		t.Errorf("NewLockID = %q; want a version-4 UUID", id)
	}
	nh := NewHolder("apply")
	if nh.User == "" || nh.Host == "" || nh.PID == 0 || nh.Since.IsZero() || nh.ID != "" {
		t.Errorf("NewHolder = %+v", nh)
	}
}
