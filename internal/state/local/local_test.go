package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/state/statetest"
)

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) func() state.Backend {
		path := filepath.Join(t.TempDir(), ".escalator", "state.json")
		return func() state.Backend { return mustNew(t, path) }
	})
}

func mustNew(t testing.TB, path string) *Backend {
	t.Helper()
	b, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewPaths(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want Paths
	}{
		{".escalator/state.json", Paths{Dir: ".escalator", State: ".escalator/state.json", Lock: ".escalator/state.lock", Journal: ".escalator/state.journal"}},
		{"state.json", Paths{Dir: ".", State: "state.json", Lock: "state.lock", Journal: "state.journal"}},
		{"/srv/sites/site-a.json", Paths{Dir: "/srv/sites", State: "/srv/sites/site-a.json", Lock: "/srv/sites/site-a.lock", Journal: "/srv/sites/site-a.journal"}},
		{"/srv/sites/site-b", Paths{Dir: "/srv/sites", State: "/srv/sites/site-b", Lock: "/srv/sites/site-b.lock", Journal: "/srv/sites/site-b.journal"}},
		{"/srv/new-dir/", Paths{Dir: "/srv/new-dir", State: "/srv/new-dir/state.json", Lock: "/srv/new-dir/state.lock", Journal: "/srv/new-dir/state.journal"}},
		{existing, Paths{Dir: existing, State: existing + "/state.json", Lock: existing + "/state.lock", Journal: existing + "/state.journal"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, mustNew(t, tc.path).Paths()); diff != "" {
				t.Errorf("New(%q).Paths() (-want +got):\n%s", tc.path, diff)
			}
		})
	}
	if _, err := New(" "); err == nil {
		t.Error("New with an empty path succeeded")
	}
}

func TestFilesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".escalator")
	b := mustNew(t, filepath.Join(dir, "state.json"))
	l := statetest.MustLock(t, b, "r")
	statetest.MustAppend(t, b, l, statetest.Started("r"))
	if err := b.WriteState(t.Context(), l, statetest.SampleState()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, b.paths.Journal, b.paths.State, b.paths.Lock, b.journalPath("r")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v; want %v", p, fi.Mode().Perm(), want)
		}
	}
	rec, err := os.ReadFile(b.paths.Lock)
	if err != nil || !bytes.Contains(rec, []byte(`"id":"`+l.ID()+`"`)) || !bytes.Contains(rec, []byte(`"format_version":1`)) {
		t.Errorf("lock file holds %q (%v); want the holder's JSON", rec, err)
	}
	if err := l.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rec, _ := os.ReadFile(b.paths.Lock); len(rec) != 0 {
		t.Errorf("after Unlock the lock file holds %q; want it empty", rec)
	}
}

func TestReadStateRefuses(t *testing.T) {
	valid, err := state.EncodeState(statetest.SampleState())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
		version bool // a *VersionError rather than a *CorruptError
		want    string
	}{
		{"empty file", "", false, "not valid JSON"},
		{"not JSON", "hello", false, "not valid JSON"},
		{"truncated", string(valid[:len(valid)/2]), false, "not valid JSON"},
		{"no format_version", `{"hosts": {}}`, false, "no format_version"},
		{"newer format", `{"format_version": 2, "hosts": {}, "something_new": true}`, true, "format_version 2"},
		{"format zero", `{"format_version": 0, "hosts": {}}`, false, "format_version 0"},
		{"unknown field", `{"format_version": 1, "hosts": {}, "hsots": {}}`, false, `unknown field "hsots"`},
		{"unknown host status", `{"format_version": 1, "hosts": {"c1": {"status": "on_fire", "run": "r", "updated_at": "2026-01-01T00:00:00Z"}}}`, false, `unknown status "on_fire"`},
		{"unknown run status", `{"format_version": 1, "run": {"id": "r", "status": "paused"}, "hosts": {}}`, false, `unknown status "paused"`},
		{"wrong type", `{"format_version": 1, "serial": "one", "hosts": {}}`, false, "cannot unmarshal"},
		{"trailing data", string(valid) + "}", false, "after top-level value"},
		{"two documents", string(valid) + string(valid), false, "after top-level value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			b := mustNew(t, path)
			_, err := b.ReadState(t.Context())
			checkRefusal(t, err, tc.version, tc.want, path)

			// Load refuses too, and WriteState will not replace it.
			_, err = state.Load(t.Context(), b)
			checkRefusal(t, err, tc.version, tc.want, path)
			l := statetest.MustLock(t, b, "r")
			err = b.WriteState(t.Context(), l, statetest.SampleState())
			checkRefusal(t, err, tc.version, tc.want, path)
			if err := l.Unlock(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); string(got) != tc.content {
				t.Errorf("the refused state file changed:\n%q\nwas\n%q", got, tc.content)
			}
		})
	}
}

func checkRefusal(t *testing.T, err error, version bool, want, path string) {
	t.Helper()
	var ce *state.CorruptError
	var ve *state.VersionError
	switch {
	case version && !errors.As(err, &ve):
		t.Errorf("error %v; want a *VersionError", err)
	case !version && !errors.As(err, &ce):
		t.Errorf("error %v; want a *CorruptError", err)
	case !version && !strings.Contains(err.Error(), "mv "+path):
		t.Errorf("error %q does not say how to move the file aside", err)
	case !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path):
		t.Errorf("error %q does not mention %q and the path", err, want)
	}
}

// crash is what the beforeRename hook panics with to stop WriteState at the
// worst moment.
type crash struct{}

func TestWriteStateCrashBeforeRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	b := mustNew(t, path)
	l := statetest.MustLock(t, b, "r")
	old := statetest.SampleState()
	if err := b.WriteState(t.Context(), l, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	b.beforeRename = func(string) { panic(crash{}) }
	func() {
		defer func() {
			if r := recover(); r != (crash{}) {
				t.Fatalf("recovered %v", r)
			}
		}()
		s := statetest.SampleState()
		s.Hosts["c2"].Status = state.HostRolledBack
		b.WriteState(t.Context(), l, s)
	}()
	b.beforeRename = nil

	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("state file changed by an interrupted write:\n%s\nwas\n%s", after, before)
	}
	got, err := mustNew(t, path).ReadState(t.Context())
	if err != nil || got.Hosts["c2"].Status != state.HostUpgraded {
		t.Fatalf("after an interrupted write ReadState = %v, %v; want the old state", got, err)
	}
	temps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".state.json.tmp-*"))
	if len(temps) != 1 {
		t.Fatalf("temporary files after the crash: %v; want the one it left", temps)
	}
	// The same lock can still write (the crash left no mutex held), and the
	// next holder removes the leftover.
	if err := b.WriteState(t.Context(), l, old); err != nil {
		t.Fatalf("WriteState after the interrupted one: %v", err)
	}
	if err := l.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	statetest.MustLock(t, mustNew(t, path), "r2")
	if temps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".state.json.tmp-*")); len(temps) != 0 {
		t.Errorf("temporary files left after the next Lock: %v", temps)
	}
}

// journalLines returns n valid journal lines of run r: run_started and
// steps.
func journalLines(t *testing.T, run string, n int) []string {
	t.Helper()
	var lines []string
	for i := 1; i <= n; i++ {
		e := statetest.Started(run)
		if i > 1 {
			e, _ = statetest.Step(run, fmt.Sprintf("s%d", i), "c1", state.StepOK)
		}
		e.Seq, e.FormatVersion = int64(i), state.EventFormatVersion
		b, err := state.EncodeEvent(&e)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b)+"\n")
	}
	return lines
}

func TestJournalTornAndCorrupt(t *testing.T) {
	const run = "r1"
	l := journalLines(t, run, 4)
	valid := strings.Join(l, "")
	half := l[3][:len(l[3])/2]
	other := journalLines(t, "r2", 2)
	tests := []struct {
		name    string
		content string
		events  int // events read; -1: refused
		torn    int // line of the torn tail, 0 for none
		version bool
		want    string // in the refusal
	}{
		{"clean", valid, 4, 0, false, ""},
		{"empty file", "", 0, 0, false, ""},
		{"half a line", valid + half, 4, 5, false, ""},
		{"a whole record without its newline", valid + strings.TrimSuffix(l[3], "\n"), 4, 5, false, ""},
		{"garbage last line with newline", valid + "{\"seq\":5,\"ki\n", 4, 5, false, ""},
		{"zero bytes at the end", valid + "\x00\x00\x00\x00", 4, 5, false, ""},
		{"extra blank line at the end", valid + "\n", 4, 5, false, ""},
		{"garbage in the middle", l[0] + l[1] + "garbage\n" + l[2] + l[3], -1, 0, false, "line 3"},
		{"half a line in the middle", l[0] + l[1] + half + "\n" + l[2], -1, 0, false, "line 3"},
		{"zero bytes in the middle", l[0] + "\x00\x00\n" + l[1], -1, 0, false, "line 2"},
		{"blank line in the middle", l[0] + "\n" + l[1], -1, 0, false, "line 2"},
		{"missing event", l[0] + l[1] + l[3], -1, 0, false, "event 4 where event 3 belongs"},
		{"repeated event", l[0] + l[1] + l[1] + l[2], -1, 0, false, "event 2 where event 3 belongs"},
		{"another run's event", l[0] + other[1], -1, 0, false, `run "r2"`},
		{"no run_started", l[1], -1, 0, false, "event 2 where event 1 belongs"},
		{"unknown field", l[0] + strings.Replace(l[1], `"seq"`, `"colour":"red","seq"`, 1), -1, 0, false, `unknown field "colour"`},
		{"invalid event", l[0] + strings.Replace(l[1], `"step_id":"s2",`, "", 1), -1, 0, false, "without step_id"},
		{"newer format", l[0] + strings.Replace(l[1], `"format_version":1`, `"format_version":2`, 1), -1, 0, true, "format_version 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, filepath.Join(t.TempDir(), "state.json"))
			if err := os.MkdirAll(b.paths.Journal, 0o700); err != nil {
				t.Fatal(err)
			}
			path := b.journalPath(run)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			j, err := b.ReadJournal(t.Context(), run)
			if tc.events < 0 {
				var ce *state.CorruptError
				var ve *state.VersionError
				switch {
				case tc.version && !errors.As(err, &ve):
					t.Fatalf("ReadJournal: %v; want a *VersionError", err)
				case !tc.version && !errors.As(err, &ce):
					t.Fatalf("ReadJournal: %v; want a *CorruptError", err)
				case !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path):
					t.Errorf("ReadJournal: %q does not mention %q and the file", err, tc.want)
				}
				// Neither is it appended to, nor listed as if fine.
				lk := statetest.MustLock(t, b, run)
				s, _ := statetest.Step(run, "s9", "c1", state.StepOK)
				if _, err := b.AppendJournal(t.Context(), lk, s); err == nil {
					t.Error("AppendJournal to a corrupt journal succeeded")
				}
				if _, err := b.Runs(t.Context()); err == nil {
					t.Error("Runs with a corrupt journal succeeded")
				}
				if got, _ := os.ReadFile(path); string(got) != tc.content {
					t.Errorf("the refused journal changed:\n%q\nwas\n%q", got, tc.content)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadJournal: %v", err)
			}
			if len(j.Events) != tc.events {
				t.Errorf("%d events; want %d", len(j.Events), tc.events)
			}
			switch {
			case tc.torn == 0 && j.Torn != nil:
				t.Errorf("torn tail reported: %v", j.Torn)
			case tc.torn != 0 && (j.Torn == nil || j.Torn.Line != tc.torn || j.Torn.Offset != int64(len(valid))):
				t.Errorf("torn tail %+v; want line %d at byte %d", j.Torn, tc.torn, len(valid))
			}
			if tc.torn == 0 || tc.events == 0 {
				return
			}
			// Appending cuts the torn tail off and goes on with the
			// next sequence number; the file then reads cleanly.
			lk := statetest.MustLock(t, b, run)
			s, _ := statetest.Step(run, "s5", "c1", state.StepOK)
			rec := statetest.MustAppend(t, b, lk, s)
			if rec[0].Seq != int64(tc.events)+1 {
				t.Errorf("append after a torn tail got seq %d; want %d", rec[0].Seq, tc.events+1)
			}
			j, err = b.ReadJournal(t.Context(), run)
			if err != nil || j.Torn != nil || len(j.Events) != tc.events+1 {
				t.Errorf("after appending: %v events, torn %v, %v; want %d clean events", len(j.Events), j.Torn, err, tc.events+1)
			}
		})
	}
}

func TestRunsSkipsOtherFiles(t *testing.T) {
	b := mustNew(t, filepath.Join(t.TempDir(), "state.json"))
	l := statetest.MustLock(t, b, "r1")
	statetest.MustAppend(t, b, l, statetest.Started("r1"))
	for _, name := range []string{"r0.jsonl.corrupt", ".r2.jsonl", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(b.paths.Journal, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(b.paths.Journal, "r3.jsonl"), 0o700); err != nil {
		t.Fatal(err)
	}
	runs, err := b.Runs(t.Context())
	if err != nil || len(runs) != 1 || runs[0].ID != "r1" {
		t.Errorf("Runs = %+v, %v; want r1 alone", runs, err)
	}
}

func TestAppendFailureIsSticky(t *testing.T) {
	b := mustNew(t, filepath.Join(t.TempDir(), "state.json"))
	l := statetest.MustLock(t, b, "r1")
	statetest.MustAppend(t, b, l, statetest.Started("r1"))
	h := l.(*lockHandle)
	w := h.journals["r1"]
	w.f.Close() // every later write fails, as on a dead disk
	s, f := statetest.Step("r1", "s1", "c1", state.StepOK)
	if _, err := b.AppendJournal(t.Context(), l, s); err == nil {
		t.Fatal("append to a closed file succeeded")
	}
	_, err := b.AppendJournal(t.Context(), l, f)
	if err == nil || !strings.Contains(err.Error(), "resume from what is on disk") {
		t.Errorf("append after a failed one: %v; want a refusal that says what to do", err)
	}
}
