package command

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/escalator-nfv/escalator/internal/plans"
)

var (
	simOnce sync.Once
	simPath string
	simErr  error
)

// simPlugin builds the sim provider once per test binary.
func simPlugin(t *testing.T) string {
	t.Helper()
	simOnce.Do(func() {
		dir, err := os.MkdirTemp("", "escalator-sim")
		if err != nil {
			simErr = err
			return
		}
		simPath = filepath.Join(dir, "escalator-provider-sim")
		cmd := exec.Command("go", "build", "-o", simPath, "../../plugins/sim/cmd/escalator-provider-sim")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			simErr = err
			simPath = stderr.String()
		}
	})
	if simErr != nil {
		t.Fatalf("build sim: %v\n%s", simErr, simPath)
	}
	return simPath
}

// quickstartCopy copies the quickstart campaign into a temporary
// directory with the sim plugin installed, and locks it.
func quickstartCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"main.hcl", "components.hcl", "rollout.hcl"} {
		b, err := os.ReadFile(filepath.Join("../../examples/quickstart", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plugins := filepath.Join(dir, ".escalator", "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(simPlugin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "escalator-provider-sim"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := runInit(t, dir); r.code != ExitOK {
		t.Fatalf("init: %s", r.stderr)
	}
	return dir
}

func runPlan(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&PlanCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

func runShow(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&ShowCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

func TestPlanQuickstart(t *testing.T) {
	dir := quickstartCopy(t)
	out := filepath.Join(t.TempDir(), "plan.json")

	r := runPlan(t, "-out="+out, "-detailed-exitcode", dir)
	if r.code != ExitPlanChanges {
		t.Fatalf("plan: exit %d, want %d\n%s%s", r.code, ExitPlanChanges, r.stdout, r.stderr)
	}
	contains(t, "plan output", r.stdout, "escalator will upgrade 8 hosts", "Wave 1 · canary", "move ", "notify vnfm", "Saved the plan to")

	// -json parses and carries the figures.
	r = runPlan(t, "-json", dir)
	var f plans.File
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatalf("plan -json: %v\n%s", err, r.stdout)
	}
	if f.Plan.Totals.Hosts != 8 || f.Plan.Totals.Moves < f.Plan.Totals.LowerBoundMoves || f.Plan.Totals.LowerBoundMoves == 0 {
		t.Errorf("totals = %+v", f.Plan.Totals)
	}

	// show renders the saved plan exactly as plan printed it.
	planned := runPlan(t, dir)
	shown := runShow(t, out)
	if shown.code != ExitOK {
		t.Fatalf("show: %s", shown.stderr)
	}
	if !strings.HasPrefix(planned.stdout, strings.TrimSuffix(shown.stdout, "\n")) && shown.stdout != planned.stdout {
		t.Errorf("show differs from plan:\n--- plan\n%s\n--- show\n%s", planned.stdout, shown.stdout)
	}
	saved, err := plans.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if saved.InventoryDigest == "" || len(saved.HostDigests) != 8 || saved.ConfigDigest == "" || saved.LockDigest == "" {
		t.Errorf("saved plan lacks its digests: %+v", saved)
	}
}

func TestPlanInfeasible(t *testing.T) {
	dir := quickstartCopy(t)
	// A guard that keeps almost all capacity free leaves no room to
	// evacuate any host.
	src, _ := os.ReadFile(filepath.Join(dir, "rollout.hcl"))
	src = bytes.Replace(src, []byte(`min_free_vcpu = "10%"`), []byte(`min_free_vcpu = "50%"`), 1)
	if err := os.WriteFile(filepath.Join(dir, "rollout.hcl"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runPlan(t, dir)
	if r.code != ExitError {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stdout)
	}
	contains(t, "stderr", r.stderr, "No feasible wave", "Wave 1 of rollout \"compute\"", "vCPU", "spare_capacity")
}

func TestPlanNoChanges(t *testing.T) {
	dir := quickstartCopy(t)
	// Target the versions already installed: nothing to do, exit 0.
	for f, pairs := range map[string][][2]string{
		"components.hcl": {{`version    = "7.2.0"`, `version    = "7.1.0"`}},
		"main.hcl":       {{`default     = "27.1.0"`, `default     = "26.2.0"`}},
	} {
		src, _ := os.ReadFile(filepath.Join(dir, f))
		for _, p := range pairs {
			if !bytes.Contains(src, []byte(p[0])) {
				t.Fatalf("%s lacks %q", f, p[0])
			}
			src = bytes.Replace(src, []byte(p[0]), []byte(p[1]), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, f), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runPlan(t, "-detailed-exitcode", dir)
	if r.code != ExitOK {
		t.Fatalf("exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stdout", r.stdout, "No changes.")
}
