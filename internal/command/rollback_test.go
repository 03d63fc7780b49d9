package command

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/escalator-nfv/escalator/internal/state"
)

func runRollback(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams(stdin)
	code := (&RollbackCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

type simCloud struct {
	Hosts []struct {
		Name     string            `json:"name"`
		State    string            `json:"state"`
		Versions map[string]string `json:"versions"`
	} `json:"hosts"`
	Instances []struct {
		ID     string `json:"id"`
		Host   string `json:"host"`
		Status string `json:"status"`
	} `json:"instances"`
}

func readCloud(t *testing.T) *simCloud {
	t.Helper()
	b, err := os.ReadFile("cloud.json")
	if err != nil {
		t.Fatal(err)
	}
	var c simCloud
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// simActions counts the sim's logged actions by kind ("restore", …) that
// succeeded.
func simActions(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open("cloud.json.events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct{ Action, Result string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Result == "ok" {
			out[e.Action]++
		}
	}
	return out
}

// checkRolledBack: every host back on its old versions and in service,
// every instance still there and running.
func checkRolledBack(t *testing.T, instances int) {
	t.Helper()
	c := readCloud(t)
	for _, h := range c.Hosts {
		if !strings.HasPrefix(h.Name, "cmp-") {
			continue
		}
		if h.State != "up" || h.Versions["qemu"] != "7.1.0" || h.Versions["nova_compute"] != "26.2.0" {
			t.Errorf("host %s after rollback: %+v", h.Name, h)
		}
	}
	if len(c.Instances) != instances {
		t.Errorf("%d instances after rollback, want %d", len(c.Instances), instances)
	}
	for _, in := range c.Instances {
		if in.Status != "ACTIVE" || in.Host == "" {
			t.Errorf("instance %s after rollback: %+v", in.ID, in)
		}
	}
	st := statusDoc(t)
	if st.Run.Status != state.RunRolledBack || !st.Run.Reverting {
		t.Errorf("run after rollback: %+v", st.Run)
	}
	for name, h := range st.Hosts {
		if h.Status != state.HostRolledBack || h.Versions["qemu"] != "7.1.0" {
			t.Errorf("state of %s after rollback: %+v", name, h)
		}
	}
}

// TestRollbackFinishedRun: a finished run is reversed. qemu needs an
// empty host, so every host is emptied again before its downgrade.
func TestRollbackFinishedRun(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		if r := runApply(t, "-auto-approve"); r.code != ExitOK {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		instances := len(readCloud(t).Instances)
		before := simActions(t)

		// Asked, and declined: nothing happens.
		r := runRollback(t, "no\n")
		if r.code != ExitError {
			t.Fatalf("declined rollback: exit %d", r.code)
		}
		contains(t, "stdout", r.stdout, "8 hosts it changed", "qemu 7.2.0 -> 7.1.0", "Rollback cancelled")

		// The last hosts' guests run on the new qemu and cannot move live to
		// hosts already back on the old one: the rollback halts saying so.
		r = runRollback(t, "yes\n")
		if r.code != ExitError {
			t.Fatalf("rollback without -allow-cold: exit %d\n%s", r.code, r.stdout)
		}
		contains(t, "stdout", r.stdout, "Rollback stopped.", "runs an older qemu", "-allow-cold")
		r = runRollback(t, "yes\n", "-allow-cold")
		if r.code != ExitOK {
			t.Fatalf("rollback: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		contains(t, "stdout", r.stdout, "Rollback complete!", "hosts rolled back")
		checkRolledBack(t, instances)
		after := simActions(t)
		if after["migrate"] <= before["migrate"] || after["rollback"]-before["rollback"] != 16 || after["enter_maintenance"]-before["enter_maintenance"] != 8 {
			t.Errorf("sim actions before %v, after %v: want migrations and 16 rollbacks", before, after)
		}

		// Nothing left to roll back; a new plan applies again.
		r = runRollback(t, "", "-auto-approve")
		if r.code != ExitError {
			t.Fatalf("second rollback: exit %d", r.code)
		}
		contains(t, "stderr", r.stderr, "already rolled back")
		if r := runApply(t, "-auto-approve"); r.code != ExitOK {
			t.Fatalf("apply after rollback: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestRollbackRestoreAndResume: a rollback that fails on one host halts;
// apply then refuses to continue the run, and rollback -restore goes on,
// restoring nova_compute from its backups.
func TestRollbackRestoreAndResume(t *testing.T) {
	dir := fastQuickstart(t)
	main := filepath.Join(dir, "main.hcl")
	src, _ := os.ReadFile(main)
	src = bytes.Replace(src, []byte("time_scale = 0"), []byte("time_scale = 0\n  fault {\n    action = \"restore\"\n    host   = \"cmp-b1\"\n    mode   = \"fail\"\n    times  = 1\n  }"), 1)
	if err := os.WriteFile(main, src, 0o644); err != nil {
		t.Fatal(err)
	}
	inDir(t, dir, func() {
		if r := runApply(t, "-auto-approve"); r.code != ExitOK {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		instances := len(readCloud(t).Instances)
		r := runRollback(t, "", "-auto-approve", "-restore", "-allow-cold")
		if r.code != ExitError {
			t.Fatalf("rollback with a failing restore: exit %d\n%s", r.code, r.stdout)
		}
		contains(t, "stdout", r.stdout, "cmp-b1", "escalator rollback again")
		if st := statusDoc(t); st.Run.Status != state.RunHalted || !st.Run.Reverting {
			t.Fatalf("run after a failed rollback: %+v", st.Run)
		}
		r = runApply(t, "-auto-approve")
		if r.code != ExitError {
			t.Fatalf("apply of a run being rolled back: exit %d", r.code)
		}
		contains(t, "stderr", r.stderr, "being rolled back", "escalator rollback")

		r = runRollback(t, "", "-auto-approve", "-restore", "-allow-cold")
		if r.code != ExitOK {
			t.Fatalf("resumed rollback: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		checkRolledBack(t, instances)
		if n := simActions(t)["restore"]; n != 8 {
			t.Errorf("%d restores, want one per host (nova_compute has a backup)", n)
		}
	})
}

func TestForceUnlock(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		run := func(stdin string, args ...string) result {
			streams, stdout, stderr := testStreams(stdin)
			code := (&ForceUnlockCommand{Meta: Meta{Streams: streams}}).Run(args)
			return result{code, stdout.String(), stderr.String()}
		}
		r := run("")
		if r.code != ExitError {
			t.Fatalf("force-unlock without an ID: exit %d", r.code)
		}
		contains(t, "stderr", r.stderr, "needs the lock ID")
		r = run("", "-force", "abc")
		if r.code != ExitError {
			t.Fatalf("force-unlock with nothing locked: exit %d", r.code)
		}
		// A holder that crashed leaves its record (the flock is gone).
		if err := os.MkdirAll(".escalator", 0o700); err != nil {
			t.Fatal(err)
		}
		rec := `{"id":"11111111-2222-4333-8444-555555555555","operation":"apply","user":"op","host":"elsewhere","pid":999999,"since":"2026-11-22T07:00:00Z"}`
		if err := os.WriteFile(filepath.Join(".escalator", "state.lock"), []byte(rec), 0o600); err != nil {
			t.Fatal(err)
		}
		r = run("", "-force", "22222222-2222-4333-8444-555555555555")
		if r.code != ExitError {
			t.Fatalf("force-unlock with another ID: exit %d", r.code)
		}
		contains(t, "stderr", r.stderr, "11111111-2222-4333-8444-555555555555")
		if r := run("no\n", "11111111-2222-4333-8444-555555555555"); r.code != ExitError {
			t.Fatalf("declined force-unlock: exit %d", r.code)
		}
		r = run("yes\n", "11111111-2222-4333-8444-555555555555")
		if r.code != ExitOK {
			t.Fatalf("force-unlock: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(".escalator", "state.lock")); len(bytes.TrimSpace(b)) != 0 {
			t.Errorf("lock record after force-unlock: %s", b)
		}
	})
}
