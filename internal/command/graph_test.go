package command

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/plans"
)

func runGraph(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&GraphCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

// checkGolden compares got with testdata/graph/name, rewriting the file
// with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", "graph", name)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", golden, diff)
	}
}

// checkDOT feeds the output to Graphviz when it is installed, so that a
// quoting or syntax mistake does not hide behind a golden file that
// merely agrees with itself.
func checkDOT(t *testing.T, dot string) {
	t.Helper()
	path, err := exec.LookPath("dot")
	if err != nil {
		return
	}
	cmd := exec.Command(path, "-Tsvg", "-o", os.DevNull)
	cmd.Stdin = strings.NewReader(dot)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("dot rejects the output (%v):\n%s", err, out)
	}
}

// TestGraphComponentsGolden draws a campaign with a three-component chain
// in two rollouts, and one with a cycle, which fails like validate.
func TestGraphComponentsGolden(t *testing.T) {
	tests := []struct {
		dir  string
		code int
	}{
		{"components", ExitOK},
		{"cycle", ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			r := runGraph(t, filepath.Join("testdata", "graph", tt.dir))
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			checkGolden(t, tt.dir+".golden", "# stdout\n"+r.stdout+"# stderr\n"+r.stderr)
			if tt.code == ExitOK {
				checkDOT(t, r.stdout)
			} else if r.stdout != "" {
				t.Errorf("a failed graph printed on stdout:\n%s", r.stdout)
			}
		})
	}
}

// TestGraphComponentsDeterministic guards against map order leaking into
// the output.
func TestGraphComponentsDeterministic(t *testing.T) {
	dir := filepath.Join("testdata", "graph", "components")
	first := runGraph(t, dir)
	for i := 0; i < 10; i++ {
		if again := runGraph(t, "-type=components", dir); again.stdout != first.stdout {
			t.Fatalf("run %d differs:\n%s", i, cmp.Diff(first.stdout, again.stdout))
		}
	}
}

// smallPlan is a hand-built plan of two rollouts: a control plane visited
// without evacuation, then computes with a canary and two zones.
func smallPlan() *plans.File {
	change := func(c, from, to, disruption string) []plans.Change {
		return []plans.Change{{Component: c, Provider: "sim", From: from, To: to, Disruption: disruption}}
	}
	move := func(id, from, to string) plans.Move {
		return plans.Move{Instance: id, From: from, To: to, Live: true, VCPUs: 2, MemoryMB: 4096, ToUpgraded: true}
	}
	p := &plans.Plan{
		Rollouts: []*plans.Rollout{
			{
				Name: "control", Components: []string{"nova_api"}, MaxUnavailable: 1, FailurePolicy: "halt",
				Waves: []*plans.Wave{
					{Number: 1, Hosts: []*plans.HostVisit{{Host: "ctl-1", Changes: change("nova_api", "26.2.0", "27.1.0", "service")}}},
					{Number: 2, Hosts: []*plans.HostVisit{{Host: "ctl-2", Changes: change("nova_api", "26.2.0", "27.1.0", "service")}}},
				},
			},
			{
				Name: "compute", Components: []string{"nova_compute"}, MaxUnavailable: 2, FailurePolicy: "rollback_host",
				Waves: []*plans.Wave{
					{Number: 3, Canary: true, Group: "az1", Soak: 10 * time.Minute, Hosts: []*plans.HostVisit{
						{Host: "cmp-az1-1", AvailabilityZone: "az1", Changes: change("nova_compute", "26.2.0", "27.1.0", "host"), Evacuate: true,
							Moves: []plans.Move{move("i-1", "cmp-az1-1", "cmp-az1-2"), move("i-2", "cmp-az1-1", "cmp-az1-3")}},
					}},
					{Number: 4, Group: "az1", Hosts: []*plans.HostVisit{
						{Host: "cmp-az1-2", AvailabilityZone: "az1", Changes: change("nova_compute", "26.2.0", "27.1.0", "host"), Evacuate: true,
							Moves: []plans.Move{move("i-1", "cmp-az1-2", "cmp-az1-1"), move("i-3", "cmp-az1-2", "cmp-az1-1")}},
						{Host: "cmp-az1-3", AvailabilityZone: "az1", Changes: change("nova_compute", "26.2.0", "27.1.0", "host"), Evacuate: true},
					}},
					{Number: 5, Group: "az2", Hosts: []*plans.HostVisit{
						{Host: "cmp-az2-1", AvailabilityZone: "az2", Changes: change("nova_compute", "26.2.0", "27.1.0", "host"), Evacuate: true,
							Moves: []plans.Move{move("i-4", "cmp-az2-1", "cmp-az2-2")}},
					}},
				},
			},
		},
		Totals: plans.Totals{Hosts: 6, Waves: 5, Moves: 5, LowerBoundMoves: 4, InstancesMoved: 4},
	}
	return &plans.File{FormatVersion: plans.FormatVersion, EscalatorVersion: "test", Plan: p}
}

func writePlan(t *testing.T, f *plans.File) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := plans.Write(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGraphPlanGolden(t *testing.T) {
	r := runGraph(t, "-type=plan", "-plan="+writePlan(t, smallPlan()))
	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	checkGolden(t, "plan.dot.golden", r.stdout)
	checkDOT(t, r.stdout)
}

// TestGraphPlanLarge checks that a plan over views.PlanGraphMaxHosts is
// drawn with one node per wave, and one at the limit still per host.
func TestGraphPlanLarge(t *testing.T) {
	build := func(hosts ...int) *plans.File {
		r := &plans.Rollout{Name: "compute", Components: []string{"nova_compute"}, MaxUnavailable: 1000}
		total := 0
		for i, n := range hosts {
			w := &plans.Wave{Number: i + 1, Canary: i == 0, Group: fmt.Sprintf("az%d", i%2+1)}
			for h := 0; h < n; h++ {
				w.Hosts = append(w.Hosts, &plans.HostVisit{Host: fmt.Sprintf("cmp-%d-%04d", i+1, h), Evacuate: true,
					Moves: []plans.Move{{Instance: fmt.Sprintf("i-%d-%d", i, h), From: "x", To: "y"}}})
			}
			r.Waves = append(r.Waves, w)
			total += n
		}
		p := &plans.Plan{Rollouts: []*plans.Rollout{r}, Totals: plans.Totals{Hosts: total, Waves: len(hosts), Moves: total}}
		return &plans.File{FormatVersion: plans.FormatVersion, Plan: p}
	}

	r := runGraph(t, "-type=plan", "-plan="+writePlan(t, build(1, 1000, 1000)))
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkGolden(t, "plan-large.dot.golden", r.stdout)
	checkDOT(t, r.stdout)
	if strings.Contains(r.stdout, "cmp-") {
		t.Error("a plan over the limit lists hosts")
	}

	at := build(1, 1000, 999)
	if n := at.Plan.Totals.Hosts; n != views.PlanGraphMaxHosts {
		t.Fatalf("test plan has %d hosts, want the limit %d", n, views.PlanGraphMaxHosts)
	}
	r = runGraph(t, "-type=plan", "-plan="+writePlan(t, at))
	if r.code != ExitOK || !strings.Contains(r.stdout, `"wave 3/cmp-3-0998" [label = "cmp-3-0998\n1 move"];`) {
		t.Errorf("a plan at the limit is not drawn per host (exit %d)", r.code)
	}
}

func TestGraphPlanNoChanges(t *testing.T) {
	f := &plans.File{FormatVersion: plans.FormatVersion, Plan: &plans.Plan{Rollouts: []*plans.Rollout{{Name: "compute"}}}}
	r := runGraph(t, "-type=plan", "-plan="+writePlan(t, f))
	if r.code != ExitOK || !strings.Contains(r.stdout, `label = "No changes";`) || strings.Contains(r.stdout, "cluster") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkDOT(t, r.stdout)
}

func TestGraphErrors(t *testing.T) {
	notPlan := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(notPlan, []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want []string
	}{
		"bad type":        {[]string{"-type=waves"}, []string{`invalid -type="waves"`, "escalator graph -help"}},
		"plan needs file": {[]string{"-type=plan"}, []string{"-type=plan needs a saved plan"}},
		"missing plan":    {[]string{"-type=plan", "-plan=" + filepath.Join(t.TempDir(), "nope.json")}, []string{"read plan", "nope.json"}},
		"not a plan":      {[]string{"-type=plan", "-plan=" + notPlan}, []string{"is not an escalator plan file"}},
		"missing dir":     {[]string{filepath.Join(t.TempDir(), "nope")}, []string{"does not exist"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := runGraph(t, tt.args...)
			if r.code != ExitError || r.stdout != "" {
				t.Errorf("exit %d, stdout %q", r.code, r.stdout)
			}
			contains(t, "stderr", r.stderr, tt.want...)
		})
	}
}

// TestGraphRegistered runs graph through Main, as a user would.
func TestGraphRegistered(t *testing.T) {
	r := runMain(t, "graph", filepath.Join("testdata", "graph", "components"))
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "digraph components {") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
