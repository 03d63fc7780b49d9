package command

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/session"
	"github.com/escalator-nfv/escalator/internal/state"
)

// fastQuickstart is the quickstart with instant simulated actions and no
// soak, so a full apply takes a second.
func fastQuickstart(t *testing.T, edits ...[2]string) string {
	t.Helper()
	dir := quickstartCopy(t)
	edit := func(file, old, new string) {
		p := filepath.Join(dir, file)
		src, _ := os.ReadFile(p)
		if !bytes.Contains(src, []byte(old)) {
			t.Fatalf("%s lacks %q", file, old)
		}
		if err := os.WriteFile(p, bytes.Replace(src, []byte(old), []byte(new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("main.hcl", `cloud = "cloud.json"`, "cloud = \"cloud.json\"\n  time_scale = 0")
	edit("rollout.hcl", `soak  = "5s"`, `soak  = "0s"`)
	for _, e := range edits {
		edit("rollout.hcl", e[0], e[1])
	}
	return dir
}

// inDir runs f with the working directory set to dir (apply and status
// work on the current directory, as with -chdir).
func inDir(t *testing.T, dir string, f func()) {
	t.Helper()
	old, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	f()
}

func runApply(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&ApplyCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

func runStatus(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&StatusCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

func statusDoc(t *testing.T) *state.State {
	t.Helper()
	r := runStatus(t, "-json")
	var st state.State
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("status -json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return &st
}

func TestApplyQuickstart(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		r := runPlan(t, "-out=q.plan", ".")
		if r.code != ExitOK {
			t.Fatalf("plan: %s", r.stderr)
		}
		r = runApply(t, "-auto-approve", "q.plan")
		if r.code != ExitOK {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		st := statusDoc(t)
		if st.Run == nil || st.Run.Status != state.RunFinished || len(st.Hosts) != 8 {
			t.Fatalf("state after apply: %+v", st.Run)
		}
		for name, h := range st.Hosts {
			if h.Status != state.HostUpgraded || h.Versions["nova_compute"] != "27.1.0" || h.Versions["qemu"] != "7.2.0" {
				t.Errorf("host %s: %+v", name, h)
			}
		}
		// The saved plan is now stale: the cloud changed under it.
		r = runApply(t, "-auto-approve", "q.plan")
		if r.code != ExitError {
			t.Fatalf("stale plan applied: %s", r.stdout)
		}
		contains(t, "stderr", r.stderr, "plan is stale", "hosts changed since")
	})
}

func TestApplyRefusedWhileLocked(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		cfg, ds := config.Load(".", config.Options{})
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		b, err := session.OpenBackend(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		lock, err := b.Lock(context.Background(), state.NewHolder("apply"))
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Unlock(context.Background())
		r := runApply(t, "-auto-approve")
		if r.code != ExitError {
			t.Fatalf("second apply: exit %d", r.code)
		}
		contains(t, "stderr", r.stderr, "force-unlock", lock.Holder().User)
	})
}

func TestApplyRollbackHost(t *testing.T) {
	// nova_compute's upgrade fails once on the first host the plan visits:
	// with rollback_host the host goes back to its old versions and into
	// service, and the run halts.
	dir := fastQuickstart(t)
	main := filepath.Join(dir, "main.hcl")
	src, _ := os.ReadFile(main)
	src = bytes.Replace(src, []byte("time_scale = 0"), []byte("time_scale = 0\n  fault {\n    action = \"upgrade\"\n    host   = \"cmp-a4\"\n    mode   = \"fail\"\n    times  = 1\n  }"), 1)
	if err := os.WriteFile(main, src, 0o644); err != nil {
		t.Fatal(err)
	}
	inDir(t, dir, func() {
		r := runApply(t, "-auto-approve")
		if r.code != ExitError {
			t.Fatalf("apply with a failing upgrade: exit %d\n%s", r.code, r.stdout)
		}
		contains(t, "stdout", r.stdout, "rolled back")
		var cloud struct {
			Hosts []struct {
				Name     string            `json:"name"`
				State    string            `json:"state"`
				Versions map[string]string `json:"versions"`
			} `json:"hosts"`
		}
		b, _ := os.ReadFile("cloud.json")
		if err := json.Unmarshal(b, &cloud); err != nil {
			t.Fatal(err)
		}
		for _, h := range cloud.Hosts {
			if h.Name != "cmp-a4" {
				continue
			}
			if h.State != "up" || h.Versions["qemu"] != "7.1.0" || h.Versions["nova_compute"] != "26.2.0" {
				t.Errorf("cmp-a4 after rollback: %+v", h)
			}
		}
	})
}

// TestStatusTables: status shows the run's totals, a table per zone and
// per component and a row per planned host; -watch of a run that is not
// running prints once and returns; -json carries the report.
func TestStatusTables(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		r := runStatus(t)
		contains(t, "status before any run", r.stdout, "No run yet")
		if r := runApply(t, "-auto-approve"); r.code != ExitOK {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = runStatus(t)
		if r.code != ExitOK {
			t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
		}
		contains(t, "status", r.stdout, "finished", "hosts: 8 upgraded of 8; wave 8 of 8",
			"ZONE", "az1   4      4 upgraded", "COMPONENT", "qemu          7.1.0 -> 7.2.0    8      8          0",
			"HOST", "cmp-a4  az1   1     upgraded  qemu=7.2.0 nova_compute=27.1.0")
		r = runStatus(t, "-watch", "-interval=100ms")
		if r.code != ExitOK || strings.Count(r.stdout, "BY STATUS") != 1 {
			t.Fatalf("status -watch of a finished run: exit %d\n%s", r.code, r.stdout)
		}
		var doc struct {
			Run    *state.Run `json:"run"`
			Report struct {
				Totals struct {
					Hosts int `json:"hosts"`
					Waves int `json:"waves"`
				} `json:"totals"`
				Zones      []json.RawMessage `json:"zones"`
				Components []json.RawMessage `json:"components"`
			} `json:"report"`
		}
		r = runStatus(t, "-json")
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Run == nil || doc.Report.Totals.Hosts != 8 || doc.Report.Totals.Waves != 8 || len(doc.Report.Zones) != 2 || len(doc.Report.Components) != 2 {
			t.Errorf("status -json: %s", r.stdout)
		}
	})
}

// TestApplyLogCodes: with -log-level=info the log has a line per journal
// event with the run id, the object and the code.
func TestApplyLogCodes(t *testing.T) {
	t.Setenv("ESCALATOR_LOG", "")
	t.Setenv("ESCALATOR_LOG_FORMAT", "")
	dir := fastQuickstart(t)
	main := filepath.Join(dir, "main.hcl")
	src, _ := os.ReadFile(main)
	src = bytes.Replace(src, []byte("time_scale = 0"), []byte("time_scale = 0\n  fault {\n    action = \"upgrade\"\n    host   = \"cmp-a4\"\n    mode   = \"fail\"\n    times  = 1\n  }"), 1)
	if err := os.WriteFile(main, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	streams, stdout, stderr := testStreams("")
	if code := Main([]string{"-log-level=info", "-log-format=json", "apply", "-auto-approve"}, streams); code != ExitError {
		t.Fatalf("apply with a failing upgrade: exit %d\n%s", code, stdout)
	}
	var failed, halted bool
	for _, line := range strings.Split(stderr.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["@module"] != "run" {
			continue
		}
		if l["run"] == "" || l["seq"] == nil {
			t.Errorf("log line without run or seq: %s", line)
		}
		if l["event"] == "step_finished" && l["code"] == state.CodeStepFailed && l["host"] == "cmp-a4" && l["step"] != nil {
			failed = true
		}
		if l["event"] == "run_halted" && l["code"] == state.CodeHalted {
			halted = true
		}
	}
	if !failed || !halted {
		t.Errorf("log lacks the failed step or the halt with their codes:\n%s", stderr)
	}
}

// TestApplyEmptyPlanStartsNoRun: a saved plan with nothing to do is not a
// run: the last run stays the state's current one.
func TestApplyEmptyPlanStartsNoRun(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		if r := runApply(t, "-auto-approve"); r.code != ExitOK {
			t.Fatalf("apply: %s", r.stderr)
		}
		first := statusDoc(t).Run.ID
		if r := runPlan(t, "-out=again.plan", "."); r.code != ExitOK {
			t.Fatalf("plan: %s", r.stderr)
		}
		r := runApply(t, "-auto-approve", "again.plan")
		if r.code != ExitOK {
			t.Fatalf("apply of an empty plan: exit %d %s", r.code, r.stderr)
		}
		contains(t, "stdout", r.stdout, "No changes")
		if st := statusDoc(t); st.Run.ID != first {
			t.Errorf("an empty plan started run %s", st.Run.ID)
		}
	})
}
