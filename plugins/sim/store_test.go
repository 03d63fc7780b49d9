package sim

import (
	"context"
	"fmt"
	"os"
	execpkg "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
)

// TestMain checks, after every change a test makes, that reading the files
// afresh gives the cloud the store holds (see verifyCommits).
func TestMain(m *testing.M) {
	verifyCommits = true
	os.Exit(m.Run())
}

// noVerify turns verifyCommits off for a benchmark.
func noVerify(b *testing.B) {
	verifyCommits = false
	b.Cleanup(func() { verifyCommits = true })
}

// increment adds one to host h1's "counter" attribute by read-modify-write,
// saying the whole cloud may have changed (tx.Changed).
func increment(ctx context.Context, s *Store) error { return incrementHow(ctx, s, false) }

// incrementHow is increment, saying only h1 changed when precise, so the
// host is rewritten in place.
func incrementHow(ctx context.Context, s *Store, precise bool) error {
	return s.Update(ctx, func(c *Cloud, tx *Tx) error {
		h := c.Host("h1")
		if h.Attributes == nil {
			h.Attributes = map[string]string{}
		}
		n, _ := strconv.Atoi(h.Attributes["counter"])
		h.Attributes["counter"] = strconv.Itoa(n + 1)
		if precise {
			tx.ChangedHost(h)
		} else {
			tx.Changed()
		}
		tx.Log(Event{Action: "increment", Host: "h1", Result: ResultOK})
		return nil
	})
}

func counter(t *testing.T, path string) int {
	t.Helper()
	n, _ := strconv.Atoi(readCloud(t, path).Host("h1").Attributes["counter"])
	return n
}

// checkSeq checks the event log numbers its events 1..n without gaps.
func checkSeq(t *testing.T, path string, n int) {
	t.Helper()
	evs := events(t, path)
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
}

func TestConcurrentUpdatesGoroutines(t *testing.T) {
	for _, precise := range []bool{false, true} {
		t.Run(fmt.Sprintf("precise=%v", precise), func(t *testing.T) {
			path := writeCloud(t, testCloud())
			const workers, each = 6, 15
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := 0; w < workers; w++ {
				// Separate stores, as separate providers would have: they
				// share nothing but the files.
				s := OpenStore(path)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						if err := incrementHow(context.Background(), s, precise); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if got := counter(t, path); got != workers*each {
				t.Errorf("counter %d, want %d: updates were lost", got, workers*each)
			}
			checkSeq(t, path, workers*each)
		})
	}
}

// TestConcurrentUpdatesProcesses runs the same read-modify-write from
// several processes (this test binary, re-executed), whole and in place.
func TestConcurrentUpdatesProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, precise := range []bool{false, true} {
		t.Run(fmt.Sprintf("precise=%v", precise), func(t *testing.T) {
			path := writeCloud(t, testCloud())
			const procs, each = 3, 20
			var cmds []*execpkg.Cmd
			for i := 0; i < procs; i++ {
				cmd := execpkg.Command(os.Args[0], "-test.run=^TestHelperIncrement$")
				cmd.Env = append(os.Environ(), "SIM_HELPER_CLOUD="+path, fmt.Sprintf("SIM_HELPER_N=%d", each), fmt.Sprintf("SIM_HELPER_PRECISE=%v", precise))
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, cmd)
			}
			// And this process joins in, reading the cloud in between.
			s := OpenStore(path)
			for i := 0; i < each; i++ {
				if err := incrementHow(context.Background(), s, precise); err != nil {
					t.Fatal(err)
				}
				if err := s.View(context.Background(), func(c *Cloud) error { return c.Index() }); err != nil {
					t.Fatal(err)
				}
			}
			for _, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("helper: %v", err)
				}
			}
			if got := counter(t, path); got != (procs+1)*each {
				t.Errorf("counter %d, want %d: updates were lost", got, (procs+1)*each)
			}
			if c := readCloudFile(t, path); c.Host("h1").Attributes["counter"] != strconv.Itoa((procs+1)*each) {
				t.Errorf("the cloud file alone has counter %s", c.Host("h1").Attributes["counter"])
			}
			checkSeq(t, path, (procs+1)*each)
		})
	}
}

func TestHelperIncrement(t *testing.T) {
	path := os.Getenv("SIM_HELPER_CLOUD")
	if path == "" {
		t.Skip("helper process for TestConcurrentUpdatesProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv("SIM_HELPER_N"))
	precise := os.Getenv("SIM_HELPER_PRECISE") == "true"
	s := OpenStore(path)
	for i := 0; i < n; i++ {
		if err := incrementHow(context.Background(), s, precise); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLockTimeout(t *testing.T) {
	path := writeCloud(t, testCloud())
	// A peer holding the lock: another open file description.
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	f.WriteString("pid 4242\n")
	s := OpenStore(path)
	s.SetLockTimeout(100 * time.Millisecond)
	start := time.Now()
	err = increment(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "locked by another process (pid 4242)") || !strings.Contains(err.Error(), "was not released within 100ms") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %s", d)
	}
	// Released, the same store goes on.
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := increment(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func TestAtomicWriteLeavesNoTemporaryFiles(t *testing.T) {
	path := writeCloud(t, testCloud())
	s := OpenStore(path)
	for i := 0; i < 3; i++ {
		if err := increment(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "cloud.json cloud.json.events.jsonl cloud.json.lock cloud.json.steps.jsonl"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("directory holds %s, want %s", got, want)
	}
}

func TestEventLogSequenceAcrossReopen(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	mustOK(t, p, sdk.ExecuteActionRequest{ID: "e1", Kind: sdk.ActionEnterMaintenance, Host: "h1", Reason: "run 1"})
	mustOK(t, p, migrate("m1", "loner", "h3", true))
	// A later run: a new provider and store.
	p2 := configure(t, path, nil)
	mustOK(t, p2, migrate("m2", "a1", "h4", false))
	mustOK(t, p2, sdk.ExecuteActionRequest{ID: "l1", Kind: sdk.ActionLeaveMaintenance, Host: "h1", Reason: "run 1"})
	checkSeq(t, path, 4)
	evs := events(t, path)
	if e := evs[2]; e.Action != "migrate" || e.StepID != "m2" || e.From != "h1" || e.To != "h4" || e.Live == nil || *e.Live || e.Result != ResultOK {
		t.Errorf("event 3: %+v", e)
	}
	if e := evs[0]; e.Action != "enter_maintenance" || e.Reason != "run 1" || e.Host != "h1" || e.Time.IsZero() {
		t.Errorf("event 1: %+v", e)
	}
	// The raw line starts with seq and has an RFC 3339 time.
	raw, _ := os.ReadFile(path + ".events.jsonl")
	first := strings.SplitN(string(raw), "\n", 2)[0]
	if !strings.HasPrefix(first, `{"seq":1,"time":"`) {
		t.Errorf("first line %s", first)
	}

	// A crash cut the last line short: the next event still gets the
	// next number, on a line of its own.
	f, _ := os.OpenFile(path+".events.jsonl", os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":5,"time":"2026-`)
	f.Close()
	mustOK(t, p2, sdk.ExecuteActionRequest{ID: "e2", Kind: sdk.ActionEnterMaintenance, Host: "h2", Reason: "run 2"})
	evs = events(t, path)
	if last := evs[len(evs)-1]; last.Seq != 5 || last.StepID != "e2" {
		t.Errorf("after a torn line: %+v", last)
	}
}

func TestFormatVersionAndCorruption(t *testing.T) {
	good := func() string {
		var b strings.Builder
		if err := EncodeCloud(&b, testCloud()); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}()
	tests := []struct {
		name, content, wantErr string
	}{
		{"newer format", strings.Replace(good, `"format_version": 2`, `"format_version": 3`, 1), "format_version 3 is not supported by this sim provider, which reads format_version 1 and 2"},
		{"no format", `{"hosts": []}`, "no format_version"},
		{"truncated", good[:len(good)/2], "invalid JSON"},
		{"syntax error", strings.Replace(good, `"role":"compute"`, `"role":compute"`, 1), "invalid JSON at line 5, column 26"},
		{"wrong type", strings.Replace(good, `"vcpus":16`, `"vcpus":"16"`, 1), "invalid JSON at line 5, column 85"},
		{"unknown field", strings.Replace(good, `"role":`, `"rolle":`, 1), `unknown field "rolle"`},
		{"bad state", strings.Replace(good, `"state":"up"`, `"state":"sleeping"`, 1), `host "h1" has state "sleeping"`},
		{"duplicate host", strings.Replace(good, `"name":"h2"`, `"name":"h1"`, 1), `host "h1" appears twice`},
		{"instance on unknown host", strings.Replace(good, `"host":"h4"`, `"host":"h9"`, 1), `is on unknown host "h9"`},
		{"membership disagrees", strings.Replace(good, `"members":["a1","a2"]`, `"members":["a1"]`, 1), `names server group "anti", which does not list it`},
		{"bad policy", strings.Replace(good, `"policy":"affinity"`, `"policy":"together"`, 1), `policy "together"`},
		{"empty", "", "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cloud.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			p := New()
			var resp sdk.ConfigureResponse
			p.Configure(context.Background(), sdk.ConfigureRequest{Config: conform(t, providerSchema(), map[string]cty.Value{"cloud": cty.StringVal(path)})}, &resp)
			got := errorText(resp.Diagnostics)
			if !strings.Contains(got, tt.wantErr) || !strings.Contains(got, "the file was left untouched") {
				t.Fatalf("error %q, want %q", got, tt.wantErr)
			}
			if len(resp.Diagnostics) != 1 || !resp.Diagnostics[0].Attribute.Equals(cty.GetAttrPath("cloud")) {
				t.Errorf("the diagnostic should point at the cloud attribute: %+v", resp.Diagnostics)
			}
			// A store on the broken file refuses to change it.
			if err := increment(context.Background(), OpenStore(path)); err == nil {
				t.Error("an update of a broken cloud succeeded")
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Error("the broken file was changed")
			}
		})
	}
}

// TestCorruptionAfterConfigure: a file broken while a provider uses it is
// noticed (the cache is keyed on the file) and left alone.
func TestCorruptionAfterConfigure(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	os.WriteFile(path, []byte(`{"format_version": 1, "hosts": [`), 0o644)
	resp := exec(t, p, migrate("m", "loner", "h3", true))
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "invalid JSON") {
		t.Errorf("error %q", got)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"format_version": 1, "hosts": [` {
		t.Error("the broken file was changed")
	}
}

func TestCreateDefaultCloud(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // relative paths are relative to the working directory
	p := New()
	var resp sdk.ConfigureResponse
	p.Configure(context.Background(), sdk.ConfigureRequest{Config: conform(t, providerSchema(), map[string]cty.Value{"cloud": cty.StringVal("sub/cloud.json")})}, &resp)
	if resp.Diagnostics.HasErrors() {
		t.Fatal(diagText(resp.Diagnostics))
	}
	path := filepath.Join(dir, "sub", "cloud.json")
	c := readCloud(t, path)
	if len(c.Hosts) != 8 || len(c.Instances) != 30 || len(c.VNFManagers) != 2 {
		t.Fatalf("default cloud: %d hosts, %d instances, %d VNF managers", len(c.Hosts), len(c.Instances), len(c.VNFManagers))
	}
	zones := map[string]int{}
	for _, h := range c.Hosts {
		zones[h.AvailabilityZone]++
		if h.Role != "compute" || h.Versions["qemu"] != "7.1.0" || h.Versions["nova_compute"] != "26.2.0" {
			t.Errorf("host %+v", h)
		}
	}
	if zones["az1"] != 4 || zones["az2"] != 4 {
		t.Errorf("zones %v", zones)
	}
	checkCloudSanity(t, c, 0.8)
	for _, g := range c.ServerGroups {
		if g.Policy != PolicyAntiAffinity || len(g.Members) != 3 || (g.Project != "ims" && g.Project != "epc") {
			t.Errorf("group %+v", g)
		}
	}
	for _, m := range c.VNFManagers {
		if m.URL != DefaultVNFMURL {
			t.Errorf("VNF manager %+v", m)
		}
	}
	// An existing file is never replaced.
	mustOK(t, p, migrate("m", c.Instances[0].ID, "cmp-b4", true))
	p2 := New()
	p2.Configure(context.Background(), sdk.ConfigureRequest{Config: conform(t, providerSchema(), map[string]cty.Value{"cloud": cty.StringVal("sub/cloud.json")})}, &resp)
	if readCloud(t, path).Instance(c.Instances[0].ID).Host != "cmp-b4" {
		t.Error("Configure replaced an existing cloud")
	}

	// create = false: a missing file is an error that says what to do.
	p3 := New()
	resp = sdk.ConfigureResponse{}
	p3.Configure(context.Background(), sdk.ConfigureRequest{Config: conform(t, providerSchema(), map[string]cty.Value{"cloud": cty.StringVal("missing.json"), "create": cty.False})}, &resp)
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "does not exist; set create = true") {
		t.Errorf("error %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("create = false created the file")
	}
}

// checkCloudSanity checks what every cloud the simulator ships must hold:
// no host beyond maxFill of its capacity, hard anti-affinity groups on
// distinct hosts.
func checkCloudSanity(t *testing.T, c *Cloud, maxFill float64) {
	t.Helper()
	used := c.UsedByHost()
	for _, h := range c.Hosts {
		u := used[h.Name]
		if float64(u.VCPUs) > maxFill*float64(h.Capacity.VCPUs) || float64(u.MemoryMB) > maxFill*float64(h.Capacity.MemoryMB) {
			t.Errorf("host %s uses %+v of %+v", h.Name, u, h.Capacity)
		}
	}
	for _, g := range c.ServerGroups {
		if g.Policy != PolicyAntiAffinity && g.Policy != PolicySoftAntiAffinity {
			continue
		}
		hosts := map[string]bool{}
		for _, m := range g.Members {
			h := c.Instance(m).Host
			if hosts[h] {
				t.Errorf("group %s has two members on %s", g.Name, h)
			}
			hosts[h] = true
		}
	}
}
