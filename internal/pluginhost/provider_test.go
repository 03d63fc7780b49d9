package pluginhost

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// startTest starts the test plugin under name (see testdata/testplugin)
// and closes it when the test ends.
func startTest(t *testing.T, name string, opts Options) *Provider {
	t.Helper()
	path := installPlugin(t, t.TempDir(), name)
	p, err := Start(context.Background(), Spec{Name: name, Path: path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// configure configures p with the attributes given, failing the test on
// error diagnostics.
func configure(t *testing.T, p *Provider, attrs map[string]cty.Value) {
	t.Helper()
	if ds := p.Configure(context.Background(), cty.ObjectVal(attrs), nil); ds.HasErrors() {
		t.Fatal(ds.Err())
	}
}

func TestProviderCalls(t *testing.T) {
	t.Parallel()
	opts, log := testOptions(t)
	p := startTest(t, "test", opts)
	ctx := context.Background()

	if p.Name() != "test" || p.Protocol() != 1 || p.Pid() <= 0 || p.Reattached() || p.Path() == "" {
		t.Errorf("name %q protocol %d pid %d reattached %v path %q", p.Name(), p.Protocol(), p.Pid(), p.Reattached(), p.Path())
	}

	t.Run("Metadata", func(t *testing.T) {
		meta, ds := p.Metadata(ctx)
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		if meta.Name != "test" || meta.Version != "1.2.3" {
			t.Errorf("got %+v", meta)
		}
	})

	t.Run("Schema", func(t *testing.T) {
		s, ds := p.Schema(ctx)
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		want := &sdk.SchemaResponse{
			Provider: sdk.Block{
				Description: "A test provider.",
				Attributes: []sdk.Attribute{
					{Name: "crash_in", Type: cty.String, Description: "A call to crash in."},
					{Name: "hang_in", Type: cty.String, Description: "A call to hang in."},
					{Name: "zones", Type: cty.List(cty.String), Description: "Zones; each must start with az."},
					{Name: "token", Type: cty.String, Sensitive: true},
				},
				Blocks: []sdk.NestedBlock{{
					TypeName: "limits",
					Nesting:  sdk.NestingSingle,
					Block:    sdk.Block{Attributes: []sdk.Attribute{{Name: "vcpus", Type: cty.Number, Required: true}}},
				}},
			},
			Component:      sdk.Block{Attributes: []sdk.Attribute{{Name: "packages", Type: cty.List(cty.String)}}},
			HostAttributes: []sdk.HostAttribute{{Name: "kernel", Description: "Running kernel."}},
			Actions:        []sdk.ActionKind{sdk.ActionEnterMaintenance, sdk.ActionUpgrade, sdk.ActionProbe},
			Probes:         []sdk.Probe{{Name: "ping", Description: "Pings the host."}},
		}
		if diff := cmp.Diff(want, s, cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) })); diff != "" {
			t.Errorf("schema (-want +got):\n%s", diff)
		}
	})

	t.Run("ValidateConfig locates schema errors", func(t *testing.T) {
		src := "provider \"test\" {\n  zones = \"az1\"\n  limits {\n  }\n}\n"
		body, block := parseBlock(t, src)
		ds := p.ValidateConfig(ctx, cty.ObjectVal(map[string]cty.Value{
			"zones":  cty.StringVal("az1"),
			"limits": cty.EmptyObjectVal,
		}), InBody(body, block))
		if !ds.HasErrors() {
			t.Fatal("no error")
		}
		lines := map[string]int{}
		for _, d := range ds {
			if d.Subject != nil {
				lines[d.Summary] = d.Subject.Start.Line
			}
		}
		want := map[string]int{"Incorrect attribute value type": 2, "Missing required argument": 3}
		if diff := cmp.Diff(want, lines); diff != "" {
			t.Errorf("diagnostic lines (-want +got):\n%s\n%v", diff, ds.Err())
		}
	})

	t.Run("Configure maps attribute paths to ranges", func(t *testing.T) {
		src := "provider \"test\" {\n  zones = [\n    \"az1\",\n    \"zone2\",\n  ]\n}\n"
		body, block := parseBlock(t, src)
		ds := p.Configure(ctx, cty.ObjectVal(map[string]cty.Value{
			"zones": cty.ListVal([]cty.Value{cty.StringVal("az1"), cty.StringVal("zone2")}),
		}), InBody(body, block))
		if len(ds) != 1 || ds[0].Summary != "Invalid zone" || ds[0].Subject == nil {
			t.Fatalf("got %#v", ds)
		}
		if r := ds[0].Subject; r.Start.Line != 4 || r.Start.Column != 5 || src[r.Start.Byte:r.End.Byte] != `"zone2"` {
			t.Errorf("subject %v", r)
		}

		// Without a locator, the path is named in the detail.
		ds = p.Configure(ctx, cty.ObjectVal(map[string]cty.Value{
			"zones": cty.ListVal([]cty.Value{cty.StringVal("zone2")}),
		}), nil)
		if len(ds) != 1 || ds[0].Subject != nil || !strings.Contains(ds[0].Detail, "zones[0]") || !strings.Contains(ds[0].Detail, `provider "test"`) {
			t.Errorf("got %#v", ds)
		}
	})

	t.Run("Configure", func(t *testing.T) {
		configure(t, p, map[string]cty.Value{"token": cty.StringVal("secret").Mark("sensitive")})
		if diff := cmp.Diff([]string{"test-capability"}, p.Capabilities()); diff != "" {
			t.Errorf("capabilities (-want +got):\n%s", diff)
		}
	})

	t.Run("ReadInventory", func(t *testing.T) {
		inv, ds := p.ReadInventory(ctx)
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		if len(ds) != 1 || ds[0].Severity != diags.Warning || ds[0].Summary != "Host c3 skipped" {
			t.Errorf("diagnostics %#v", ds)
		}
		want := &sdk.ReadInventoryResponse{
			Hosts: []sdk.Host{
				{Name: "c1", Role: "compute", AvailabilityZone: "az1", State: sdk.HostUp,
					Capacity: sdk.Resources{VCPUs: 8, MemoryMB: 16384}, Versions: map[string]string{"nova": "26.0.0"}},
				{Name: "c2", Role: "compute", AvailabilityZone: "az2", State: sdk.HostMaintenance, StateReason: "run 7"},
			},
			Instances:    []sdk.Instance{{ID: "i-1", Name: "vm1", Host: "c1", Status: "ACTIVE", ServerGroup: "g-1", LiveMigratable: true}},
			ServerGroups: []sdk.ServerGroup{{ID: "g-1", Name: "g", Policy: "anti-affinity", Members: []string{"i-1"}}},
			VNFManagers:  []sdk.VNFManager{{Name: "vnfm", Project: "p", URL: "http://vnfm"}},
		}
		if diff := cmp.Diff(want, inv, cmp.Comparer(func(a, b map[string]string) bool {
			return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b))
		})); diff != "" {
			t.Errorf("inventory (-want +got):\n%s", diff)
		}
	})

	t.Run("PlanComponent", func(t *testing.T) {
		resp, ds := p.PlanComponent(ctx, sdk.PlanComponentRequest{
			Component: "nova", Host: "c1", FromVersion: "26.0.0", ToVersion: "27.1.0",
			Settings: cty.ObjectVal(map[string]cty.Value{"packages": cty.ListVal([]cty.Value{cty.StringVal("nova-compute")})}),
		}, nil)
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		if resp.Refused || resp.Disruption != sdk.DisruptionHost || resp.ExpectedDuration != 90*time.Second {
			t.Errorf("got %+v", resp)
		}
		resp, ds = p.PlanComponent(ctx, sdk.PlanComponentRequest{Component: "nova", Host: "c1", FromVersion: "27", ToVersion: "26"}, nil)
		if ds.HasErrors() || !resp.Refused || resp.RefusalReason != "downgrade" {
			t.Errorf("got %+v %v", resp, ds.Err())
		}
	})

	t.Run("PlanComponent locates settings diagnostics", func(t *testing.T) {
		src := "settings = {\n  packages = [\"nova-compute\", \"\"]\n}\n"
		f, hds := hclsyntax.ParseConfig([]byte(src), "c.hcl", hcl.InitialPos)
		if hds.HasErrors() {
			t.Fatal(hds)
		}
		expr := f.Body.(*hclsyntax.Body).Attributes["settings"].Expr
		_, ds := p.PlanComponent(ctx, sdk.PlanComponentRequest{
			Component: "nova", Host: "c1", FromVersion: "1", ToVersion: "2",
			Settings: cty.ObjectVal(map[string]cty.Value{"packages": cty.ListVal([]cty.Value{cty.StringVal("nova-compute"), cty.StringVal("")})}),
		}, InExpr(expr))
		if len(ds) != 1 || ds[0].Subject == nil || src[ds[0].Subject.Start.Byte:ds[0].Subject.End.Byte] != `""` {
			t.Errorf("got %#v", ds)
		}
	})

	t.Run("PlanComponent refuses unknown settings", func(t *testing.T) {
		_, ds := p.PlanComponent(ctx, sdk.PlanComponentRequest{Settings: cty.UnknownVal(cty.String)}, nil)
		if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "bug in escalator") {
			t.Errorf("got %v", ds.Err())
		}
	})

	t.Run("ExecuteAction", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var progress []string
		resp, ds := p.ExecuteAction(ctx, sdk.ExecuteActionRequest{ID: "s1", Kind: sdk.ActionUpgrade, Host: "c1"},
			func(msg string, f float64) { progress = append(progress, msg) }, nil)
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		if diff := cmp.Diff(map[string]string{"host": "c1", "kind": "upgrade"}, resp.Outputs); diff != "" {
			t.Errorf("outputs (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"half way", "done"}, progress); diff != "" {
			t.Errorf("progress (-want +got):\n%s", diff)
		}
		// A nil onProgress is fine.
		if _, ds := p.ExecuteAction(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "c1"}, nil, nil); ds.HasErrors() {
			t.Error(ds.Err())
		}
	})

	t.Run("ExecuteAction failure", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, ds := p.ExecuteAction(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "fail"}, nil, nil)
		if resp != nil || !ds.HasErrors() || ds[0].Summary != "Upgrade failed" {
			t.Errorf("got %v %v", resp, ds.Err())
		}
	})

	t.Run("ExecuteAction refuses a context without a deadline", func(t *testing.T) {
		_, ds := p.ExecuteAction(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "c1"}, nil, nil)
		if !ds.HasErrors() || !strings.Contains(ds[0].Summary, "without a deadline") {
			t.Errorf("got %v", ds.Err())
		}
	})

	t.Run("ExecuteAction past its deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, ds := p.ExecuteAction(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "slow"}, nil, nil)
		// gRPC carries the deadline to the plugin, so either side may
		// notice first: the SDK reports it, or escalator does.
		if !ds.HasErrors() || ds[0].Summary != `Provider "test" did not finish ExecuteAction before its deadline` &&
			ds[0].Summary != "Action deadline exceeded" {
			t.Errorf("got %v", ds.Err())
		}
	})

	t.Run("ExecuteAction interrupted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		started := make(chan struct{})
		var once sync.Once
		go func() {
			<-started
			cancel()
		}()
		_, ds := p.ExecuteAction(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "slow"},
			func(string, float64) { once.Do(func() { close(started) }) }, nil)
		if !ds.HasErrors() || ds[0].Summary != `ExecuteAction of provider "test" was interrupted` {
			t.Errorf("got %v", ds.Err())
		}
	})

	t.Run("Stop", func(t *testing.T) {
		if ds := p.Stop(ctx); ds.HasErrors() {
			t.Error(ds.Err())
		}
	})

	t.Run("plugin log lines fold into the log under provider.NAME", func(t *testing.T) {
		// The SDK logs every action at debug level as JSON on stderr.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(log.String(), "provider.test: action returned") {
			if time.Now().After(deadline) {
				t.Fatalf("no plugin log line under provider.test:\n%s", log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	p.Close()
	if !waitGone(p.Pid(), 5*time.Second) {
		t.Errorf("plugin pid %d still running after Close", p.Pid())
	}
	p.Close() // idempotent
	_, ds := p.Metadata(ctx)
	if !ds.HasErrors() || !strings.Contains(ds[0].Summary, "is closed") {
		t.Errorf("call after Close: %v", ds.Err())
	}
}

// parseBlock parses src, which holds one block, and returns its body and
// definition range.
func parseBlock(t *testing.T, src string) (hcl.Body, hcl.Range) {
	t.Helper()
	f, ds := hclsyntax.ParseConfig([]byte(src), "main.hcl", hcl.InitialPos)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	b := f.Body.(*hclsyntax.Body).Blocks[0]
	return b.Body, b.DefRange()
}

func TestHashMismatchRefused(t *testing.T) {
	t.Parallel()
	opts, log := testOptions(t)
	path := copyPlugin(t, t.TempDir(), "test")
	sum, err := HashFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// The locked hash starts it.
	p, err := Start(context.Background(), Spec{Name: "test", Path: path, SHA256: sum}, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()

	// Flip one byte.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	started := strings.Count(log.String(), "starting plugin")
	_, err = Start(context.Background(), Spec{Name: "test", Path: path, SHA256: sum}, opts)
	var hm *HashMismatchError
	if !errors.As(err, &hm) {
		t.Fatalf("want a *HashMismatchError, got %v", err)
	}
	for _, want := range []string{`provider "test"`, path, sum, hm.Actual, `run "escalator init -upgrade" if you changed the plugin on purpose`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	if strings.Count(log.String(), "starting plugin") != started {
		t.Errorf("a refused plugin was started:\n%s", log.String())
	}
	d := StartDiagnostic("test", err, nil)
	if d.Summary != `Provider "test": the plugin changed since it was locked` {
		t.Errorf("summary %q", d.Summary)
	}
}

func TestNoCommonProtocolVersion(t *testing.T) {
	t.Parallel()
	opts, _ := testOptions(t)
	path := installPlugin(t, t.TempDir(), "future")
	_, err := Start(context.Background(), Spec{Name: "future", Path: path}, opts)
	if !errors.Is(err, ErrNoCommonVersion) {
		t.Fatalf("want ErrNoCommonVersion, got %v", err)
	}
	want := "plugin speaks protocol versions [2], this escalator speaks [1]: upgrade escalator or use a plugin release for protocol 1"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `provider "future"`) {
		t.Errorf("error:\n%v\nwant it to name the provider and contain:\n%s", err, want)
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	opts, _ := testOptions(t)
	opts.StartTimeout = 500 * time.Millisecond
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, ExecutableName(name))
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := map[string]struct {
		path string
		want []string
	}{
		"exits at once": {
			path: script("dies", "echo 'cannot read config' >&2\nexit 3\n"),
			want: []string{`provider "dies"`, "exited while starting (exit status 3)", "cannot read config"},
		},
		"never completes the handshake": {
			path: script("mute", "echo 'waiting forever' >&2\nexec sleep 60\n"),
			want: []string{`provider "mute"`, "did not start within 500ms", "waiting forever"},
		},
		"not a plugin": {
			path: script("garbage", "echo hello\nsleep 1\n"),
			want: []string{`provider "garbage"`, "did not start", "hello"},
		},
		"missing file": {
			path: filepath.Join(dir, "nope"),
			want: []string{`provider "missing file"`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			pname := strings.TrimPrefix(filepath.Base(tt.path), ExecutablePrefix)
			if name == "missing file" {
				pname = "missing"
				tt.want = []string{`provider "missing"`}
			}
			start := time.Now()
			p, err := Start(context.Background(), Spec{Name: pname, Path: tt.path}, opts)
			if err == nil {
				p.Close()
				t.Fatal("started")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}

func TestStartInterrupted(t *testing.T) {
	t.Parallel()
	opts, _ := testOptions(t)
	dir := t.TempDir()
	path := filepath.Join(dir, ExecutableName("mute"))
	pidFile := filepath.Join(dir, "pid")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := Start(ctx, Spec{Name: "mute", Path: path}, opts)
	if err == nil || !strings.Contains(err.Error(), `starting provider "mute" was interrupted`) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start returned after %s; the handshake timeout is %s", d, DefaultStartTimeout)
	}
}

func TestCrashDuringCall(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		call func(t *testing.T, p *Provider) diags.Diagnostics
		name string
		line string
	}{
		"ReadInventory": {
			call: func(t *testing.T, p *Provider) diags.Diagnostics {
				configure(t, p, map[string]cty.Value{"crash_in": cty.StringVal("ReadInventory")})
				_, ds := p.ReadInventory(context.Background())
				return ds
			},
			name: "ReadInventory", line: "testplugin: crashing in ReadInventory on purpose",
		},
		"PlanComponent": {
			call: func(t *testing.T, p *Provider) diags.Diagnostics {
				configure(t, p, map[string]cty.Value{"crash_in": cty.StringVal("PlanComponent")})
				_, ds := p.PlanComponent(context.Background(), sdk.PlanComponentRequest{FromVersion: "1", ToVersion: "2"}, nil)
				return ds
			},
			name: "PlanComponent", line: "testplugin: crashing in PlanComponent on purpose",
		},
		"Configure": {
			call: func(t *testing.T, p *Provider) diags.Diagnostics {
				return p.Configure(context.Background(), cty.ObjectVal(map[string]cty.Value{"crash_in": cty.StringVal("Configure")}), nil)
			},
			name: "Configure", line: "testplugin: crashing in Configure on purpose",
		},
		"ExecuteAction": {
			call: func(t *testing.T, p *Provider) diags.Diagnostics {
				configure(t, p, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, ds := p.ExecuteAction(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "crash"}, nil, nil)
				return ds
			},
			name: "ExecuteAction", line: "testplugin: crashing in ExecuteAction on purpose",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts, _ := testOptions(t)
			p := startTest(t, "test", opts)
			start := time.Now()
			ds := tt.call(t, p)
			if time.Since(start) > 5*time.Second {
				t.Errorf("the crash took %s to report", time.Since(start))
			}
			if len(ds) != 1 {
				t.Fatalf("got %d diagnostics: %v", len(ds), ds.Err())
			}
			d := ds[0]
			if want := `Provider "test" crashed during ` + tt.name; d.Summary != want {
				t.Errorf("summary %q, want %q", d.Summary, want)
			}
			for _, w := range []string{"exit status 2", "Its last log lines:", tt.line, p.Path()} {
				if !strings.Contains(d.Detail, w) {
					t.Errorf("detail does not contain %q:\n%s", w, d.Detail)
				}
			}

			// Later calls say the plugin is gone, at once.
			_, ds = p.Metadata(context.Background())
			if !ds.HasErrors() || ds[0].Summary != `Provider "test" is not running` || !strings.Contains(ds[0].Detail, "exit status 2") {
				t.Errorf("call after the crash: %v", ds.Err())
			}
		})
	}
}

func TestHangDuringCall(t *testing.T) {
	t.Parallel()
	opts, _ := testOptions(t)
	opts.Timeouts = Timeouts{Inventory: 300 * time.Millisecond, Plan: 300 * time.Millisecond}
	p := startTest(t, "test", opts)
	configure(t, p, map[string]cty.Value{"hang_in": cty.StringVal("ReadInventory")})

	start := time.Now()
	_, ds := p.ReadInventory(context.Background())
	elapsed := time.Since(start)
	if !ds.HasErrors() || ds[0].Summary != `Provider "test" did not answer ReadInventory within 300ms` {
		t.Fatalf("got %v", ds.Err())
	}
	if elapsed < 300*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("returned after %s, want about 300ms", elapsed)
	}
	if !strings.Contains(ds[0].Detail, "hanging in ReadInventory on purpose") {
		t.Errorf("detail lacks the plugin's last log line:\n%s", ds[0].Detail)
	}

	// A hung call does not make the plugin unusable.
	if _, ds := p.PlanComponent(context.Background(), sdk.PlanComponentRequest{FromVersion: "1", ToVersion: "2"}, nil); ds.HasErrors() {
		t.Errorf("call after the hang: %v", ds.Err())
	}

	// ExecuteAction: the caller's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, ds = p.ExecuteAction(ctx, sdk.ExecuteActionRequest{Kind: sdk.ActionUpgrade, Host: "hang"}, nil, nil)
	if !ds.HasErrors() || !strings.Contains(ds[0].Summary, "did not finish ExecuteAction before its deadline") {
		t.Errorf("got %v", ds.Err())
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("returned after %s", time.Since(start))
	}

	// Close kills a plugin with hung calls.
	pid := p.Pid()
	start = time.Now()
	p.Close()
	if !waitGone(pid, 5*time.Second) {
		t.Errorf("pid %d still running", pid)
	}
	if time.Since(start) > 8*time.Second {
		t.Errorf("Close took %s", time.Since(start))
	}
}

func TestCloseDuringCall(t *testing.T) {
	t.Parallel()
	opts, _ := testOptions(t)
	p := startTest(t, "test", opts)
	configure(t, p, map[string]cty.Value{"hang_in": cty.StringVal("ReadInventory")})
	go func() {
		time.Sleep(300 * time.Millisecond)
		p.Close()
	}()
	_, ds := p.ReadInventory(context.Background())
	if !ds.HasErrors() || ds[0].Summary != `Provider "test" was stopped during ReadInventory` {
		t.Errorf("got %v", ds.Err())
	}
}

func TestTimeoutsDefaults(t *testing.T) {
	got := Timeouts{Plan: time.Second}.withDefaults()
	want := DefaultTimeouts
	want.Plan = time.Second
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if DefaultTimeouts.Metadata != 30*time.Second || DefaultTimeouts.Schema != 30*time.Second ||
		DefaultTimeouts.Configure != 2*time.Minute || DefaultTimeouts.Inventory != 10*time.Minute || DefaultTimeouts.Plan != time.Minute {
		t.Errorf("defaults changed: %+v", DefaultTimeouts)
	}
}
