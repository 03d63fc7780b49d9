package sim

import (
	"errors"
	"os"
	execpkg "os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
)

func faults(fs ...cty.Value) map[string]cty.Value {
	return map[string]cty.Value{"fault": cty.TupleVal(fs)}
}

func TestFaultFailTimesPersist(t *testing.T) {
	path := writeCloud(t, testCloud())
	cfg := faults(fault(map[string]cty.Value{
		"action": cty.StringVal("migrate"), "host": cty.StringVal("h1"), "mode": cty.StringVal("fail"), "times": cty.NumberIntVal(2),
	}))
	p := configure(t, path, cfg)
	for i := 0; i < 2; i++ {
		resp := exec(t, p, migrate("m", "loner", "h3", true))
		if got := errorText(resp.Diagnostics); !strings.Contains(got, "Injected fault (mode fail, at start)") {
			t.Fatalf("call %d: error %q", i, got)
		}
		if readCloud(t, path).Instance("loner").Host != "h1" {
			t.Fatal("a failed (injected) migration moved the instance")
		}
	}
	// Other hosts are not affected.
	mustOK(t, p, migrate("m-other", "s2", "h4", true))
	// times = 2 holds across runs: a new provider does not fail again.
	p2 := configure(t, path, cfg)
	mustOK(t, p2, migrate("m", "loner", "h3", true))
	evs := events(t, path)
	var results []string
	for _, e := range evs {
		results = append(results, e.Result+"/"+e.Fault)
	}
	if got := strings.Join(results, " "); got != "injected_fault/fail injected_fault/fail ok/ ok/" {
		t.Errorf("events %s", got)
	}
	if n := readCloud(t, path).Faults; len(n) != 1 {
		t.Errorf("fault counters %v", n)
	} else {
		for _, c := range n {
			if c.Injected != 2 || c.Matched != 2 {
				t.Errorf("counter %+v", c)
			}
		}
	}
}

func TestFaultAlwaysAndFilters(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, faults(
		fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "instance": cty.StringVal("a1"), "mode": cty.StringVal("fail"), "times": cty.NumberIntVal(0)}),
		fault(map[string]cty.Value{"action": cty.StringVal("*"), "host": cty.StringVal("h4"), "mode": cty.StringVal("fail"), "times": cty.NumberIntVal(0)}),
	))
	for i := 0; i < 3; i++ {
		if resp := exec(t, p, migrate("m", "a1", "h3", true)); !resp.Diagnostics.HasErrors() {
			t.Fatalf("call %d: times = 0 should fail every time", i)
		}
	}
	mustOK(t, p, migrate("m2", "loner", "h3", true))
	if resp := exec(t, p, sdk.ExecuteActionRequest{ID: "e", Kind: sdk.ActionEnterMaintenance, Host: "h4", Reason: "r"}); !resp.Diagnostics.HasErrors() {
		t.Error("action \"*\" on h4 did not fail")
	}
	if resp := exec(t, p, sdk.ExecuteActionRequest{ID: "p", Kind: sdk.ActionProbe, Host: "h4", Probe: ProbeComputeServiceUp}); !resp.Diagnostics.HasErrors() {
		t.Error("a probe on h4 did not fail")
	}
	mustOK(t, p, sdk.ExecuteActionRequest{ID: "e2", Kind: sdk.ActionEnterMaintenance, Host: "h2", Reason: "r"})
}

func TestFaultHangUntilDeadline(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, faults(fault(map[string]cty.Value{"action": cty.StringVal("upgrade"), "mode": cty.StringVal("hang")})))
	start := time.Now()
	resp := execCtx(withTimeout(t, 100*time.Millisecond), p, sdk.ExecuteActionRequest{ID: "u", Kind: sdk.ActionUpgrade, Host: "h1", Component: "nova_compute", FromVersion: "26.2.0", ToVersion: "27.1.0"})
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "hung") || !strings.Contains(got, "deadline exceeded") {
		t.Errorf("error %q", got)
	}
	if v := readCloud(t, path).Host("h1").Versions["nova_compute"]; v != "26.2.0" {
		t.Errorf("a hung upgrade changed the version to %s", v)
	}
	// times defaults to 1: the retry goes through.
	mustOK(t, p, sdk.ExecuteActionRequest{ID: "u", Kind: sdk.ActionUpgrade, Host: "h1", Component: "nova_compute", FromVersion: "26.2.0", ToVersion: "27.1.0"})
}

func TestFaultCrashInProcess(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, faults(fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("crash")})))
	code := make(chan int, 1)
	p.exit = func(c int) {
		code <- c
		runtime.Goexit() // as the process would: no return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		exec(t, p, migrate("m", "loner", "h3", true))
	}()
	<-done
	select {
	case c := <-code:
		if c != CrashExitCode {
			t.Errorf("exit code %d", c)
		}
	default:
		t.Fatal("the crash fault did not exit")
	}
	evs := events(t, path)
	if len(evs) != 1 || evs[0].Result != ResultInjectedFault || evs[0].Fault != FaultCrash {
		t.Errorf("events %+v", evs)
	}
	if readCloud(t, path).Instance("loner").Host != "h1" {
		t.Error("the crashed migration moved the instance")
	}
}

// TestFaultCrashProcess checks a crash fault ends a real process with
// status 3 (the plugin process, once sdk.Serve runs it).
func TestFaultCrashProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := writeCloud(t, testCloud())
	cmd := execpkg.Command(os.Args[0], "-test.run=^TestHelperCrash$")
	cmd.Env = append(os.Environ(), "SIM_HELPER_CLOUD="+path)
	out, err := cmd.CombinedOutput()
	var ee *execpkg.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != CrashExitCode {
		t.Fatalf("helper ended with %v, want exit status %d; output:\n%s", err, CrashExitCode, out)
	}
	if !strings.Contains(string(out), "Injected fault (mode crash, at start)") {
		t.Errorf("the plugin did not say why it exits:\n%s", out)
	}
	if evs := events(t, path); len(evs) != 1 || evs[0].Fault != FaultCrash {
		t.Errorf("events %+v", evs)
	}
	// The next run finds the fault spent and the cloud intact.
	p := configure(t, path, faults(fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("crash")})))
	mustOK(t, p, migrate("m", "loner", "h3", true))
}

func TestHelperCrash(t *testing.T) {
	path := os.Getenv("SIM_HELPER_CLOUD")
	if path == "" {
		t.Skip("helper process for TestFaultCrashProcess")
	}
	p := configure(t, path, faults(fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("crash")})))
	exec(t, p, migrate("m", "loner", "h3", true))
	t.Fatal("still running after a crash fault")
}

// TestFaultAtEnd: the change is made and recorded, then the caller sees a
// failure; sending the step again confirms it without redoing it.
func TestFaultAtEnd(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, faults(fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("fail"), "at": cty.StringVal("end")})))
	resp := exec(t, p, migrate("m", "loner", "h3", true))
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "at end") {
		t.Fatalf("error %q", got)
	}
	if readCloud(t, path).Instance("loner").Host != "h3" {
		t.Fatal("the migration was not made before the fault")
	}
	out := mustOK(t, p, migrate("m", "loner", "h3", true))
	if out["from"] != "h1" || out["to"] != "h3" {
		t.Errorf("outputs %v", out)
	}
	var results []string
	for _, e := range events(t, path) {
		results = append(results, e.Result)
	}
	if got := strings.Join(results, " "); got != "ok injected_fault" {
		t.Errorf("events %s", got)
	}
}

// TestFaultRateDeterministic: a fault with a rate fires on the same calls
// for the same seed, even when the calls are split between runs.
func TestFaultRateDeterministic(t *testing.T) {
	pattern := func(seed int64, split int) string {
		path := writeCloud(t, testCloud())
		cfg := faults(fault(map[string]cty.Value{"action": cty.StringVal("probe"), "mode": cty.StringVal("fail"), "times": cty.NumberIntVal(0), "rate": cty.NumberFloatVal(0.3)}))
		cfg["seed"] = cty.NumberIntVal(seed)
		p := configure(t, path, cfg)
		var b strings.Builder
		for i := 0; i < 40; i++ {
			if i == split {
				p = configure(t, path, cfg) // another run carries on
			}
			resp := exec(t, p, sdk.ExecuteActionRequest{Kind: sdk.ActionProbe, Host: "h1", Probe: ProbeComputeServiceUp})
			if resp.Diagnostics.HasErrors() {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a := pattern(7, -1)
	if b := pattern(7, 17); a != b {
		t.Errorf("seed 7 gave %s, then across two runs %s", a, b)
	}
	if c := pattern(8, -1); a == c {
		t.Errorf("seeds 7 and 8 gave the same pattern %s", a)
	}
	if n := strings.Count(a, "x"); n < 4 || n > 22 {
		t.Errorf("rate 0.3 fired %d times in 40: %s", n, a)
	}
}
