package main

// Profiling harnesses for `escalator plan` on a generated cloud. They are
// benchmarks, skipped by `go test ./...` unless -bench selects them:
//
//	# every stage in one process (the sim provider served in-process over
//	# the real protocol by sdktest), with a time per stage:
//	go test ./testing/bench/plan -run '^$' -bench Pipeline -benchtime 1x \
//	    -plan.hosts 10000 -cpuprofile /tmp/cpu.out -memprofile /tmp/mem.out
//
//	# escalator's own process as the binary runs it (command.Main), the
//	# plugin a real child process built from this checkout:
//	go test ./testing/bench/plan -run '^$' -bench Command -benchtime 1x \
//	    -plan.hosts 10000 -cpuprofile /tmp/cpu.out
//
//	go tool pprof -top /tmp/cpu.out
//
// The figures that matter are the binary's, measured by `make bench-plan`;
// these only say where the time goes.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/command"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/inventory"
	"github.com/escalator-nfv/escalator/internal/planner"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
	"github.com/escalator-nfv/escalator/plugins/sim"
	"github.com/escalator-nfv/escalator/testing/bench/internal/benchbin"
)

var (
	benchHosts  = flag.Int("plan.hosts", 1000, "compute hosts of the generated cloud")
	benchPlugin = flag.String("plan.plugin", "", "sim plugin binary for BenchmarkCommand (default: build it from this checkout)")
)

// generatedDir is the campaign directory of this process's benchmarks,
// removed by TestMain.
var generatedDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if generatedDir != "" {
		os.RemoveAll(generatedDir)
	}
	os.Exit(code)
}

// campaignDir generates the benchmark's campaign for -plan.hosts hosts
// once per process and returns its directory.
var campaignDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "bench-plan-profile-")
	if err != nil {
		return "", err
	}
	generatedDir = dir
	g := sim.DefaultGenOptions()
	g.Hosts, g.InstancesPerHost, g.Zones, g.GroupSize, g.Seed, g.Controllers, g.SpareFraction = *benchHosts, 20, 2, 3, 1, 0, 0.05
	c, err := sim.Generate(g)
	if err != nil {
		return "", err
	}
	if err := sim.WriteCloudFile(filepath.Join(dir, "cloud.json"), c); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf(campaign, "5%")), 0o644); err != nil {
		return "", err
	}
	return dir, nil
})

func setup(b *testing.B) string {
	dir, err := campaignDir()
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkPipeline runs plan's stages in one process and reports each
// stage's time (ms/op per stage) besides the total.
func BenchmarkPipeline(b *testing.B) {
	dir := setup(b)
	cfg, ds := config.Load(dir, config.Options{})
	if ds.HasErrors() {
		b.Fatal(ds.Err())
	}
	stages := map[string]time.Duration{}
	stage := func(name string, start time.Time) time.Time {
		now := time.Now()
		stages[name] += now.Sub(start)
		return now
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		c := sdktest.Start(b, sim.New())
		if _, ds := c.Configure(ctx, cty.ObjectVal(map[string]cty.Value{
			"cloud":      cty.StringVal(filepath.Join(dir, "cloud.json")),
			"create":     cty.False,
			"time_scale": cty.NumberIntVal(0),
		})); ds.HasErrors() {
			b.Fatal(ds)
		}
		t = stage("1-configure", t)
		resp, ds := c.ReadInventory(ctx)
		if ds.HasErrors() {
			b.Fatal(ds)
		}
		t = stage("2-read-inventory", t)
		inv := inventory.FromSDK(resp)
		resp = nil
		t = stage("3-from-sdk", t)
		snap, err := inventory.NewSnapshot(time.Now(), map[string]*inventory.Inventory{"sim": inv})
		if err != nil {
			b.Fatal(err)
		}
		t = stage("4-snapshot", t)
		total, hosts := snap.Digest()
		t = stage("5-digest", t)
		plan, pds := planner.Plan(ctx, planner.Input{Config: cfg, Inventory: snap, HostDigests: hosts})
		if pds.HasErrors() {
			b.Fatal(pds.Err())
		}
		t = stage("6-planner", t)
		f := &plans.File{
			FormatVersion: plans.FormatVersion, CreatedAt: time.Now().UTC(),
			ConfigDigest: cfg.Digest(), InventoryDigest: total, InventoryTime: snap.Time.UTC(),
			HostDigests: hosts, Plan: plan,
		}
		if err := plans.Write(filepath.Join(b.TempDir(), "plan.json"), f); err != nil {
			b.Fatal(err)
		}
		stage("7-write-plan", t)
		c.Close()
	}
	b.StopTimer()
	for name, d := range stages {
		b.ReportMetric(float64(d.Milliseconds())/float64(b.N), name+"-ms/op")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys>>20), "sys-MB")
}

// BenchmarkCommand runs `escalator plan -out=…` through command.Main in
// this process, the plugin being a child process built from this checkout.
func BenchmarkCommand(b *testing.B) {
	dir := setup(b)
	pluginDir := filepath.Join(dir, ".escalator", "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		b.Fatal(err)
	}
	if *benchPlugin != "" {
		if err := benchbin.CopyFile(*benchPlugin, filepath.Join(pluginDir, pluginName)); err != nil {
			b.Fatal(err)
		}
	} else if out, err := exec.Command("go", "build", "-o", filepath.Join(pluginDir, pluginName), "github.com/escalator-nfv/escalator/plugins/sim/cmd/escalator-provider-sim").CombinedOutput(); err != nil {
		b.Fatalf("building the plugin: %v\n%s", err, out)
	}
	run := func(args ...string) {
		var out bytes.Buffer
		st := &views.Streams{Stdin: bytes.NewReader(nil), Stdout: &out, Stderr: &out}
		if code := command.Main(append([]string{"-chdir=" + dir}, args...), st); code != 0 {
			b.Fatalf("escalator %v: exit %d\n%s", args, code, out.Bytes())
		}
	}
	wd, _ := os.Getwd()
	b.Cleanup(func() { _ = os.Chdir(wd) }) // -chdir changes this process's directory
	run("init", "-upgrade")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run("plan", "-out="+filepath.Join(dir, "plan.json"))
	}
}

// BenchmarkStream is ReadInventory alone over the real protocol, the sim
// provider in-process with its cloud cached: the SDK's streaming and
// escalator's consumption of the stream.
func BenchmarkStream(b *testing.B) {
	dir := setup(b)
	ctx := context.Background()
	c := sdktest.Start(b, sim.New())
	if _, ds := c.Configure(ctx, cty.ObjectVal(map[string]cty.Value{
		"cloud":  cty.StringVal(filepath.Join(dir, "cloud.json")),
		"create": cty.False,
	})); ds.HasErrors() {
		b.Fatal(ds)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ds := c.ReadInventory(ctx); ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}

// TestStreamMatchesCloud reads a generated cloud through the whole path
// the benchmark measures (the cloud file's fast decoder, the SDK's
// batches of reused messages, escalator's consumption) and checks that
// escalator receives exactly the cloud's inventory.
func TestStreamMatchesCloud(t *testing.T) {
	g := sim.DefaultGenOptions()
	g.Hosts, g.Zones, g.ShutoffFraction, g.NonLiveFraction = 300, 3, 0.1, 0.1
	cloud, err := sim.Generate(g)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cloud.json")
	if err := sim.WriteCloudFile(path, cloud); err != nil {
		t.Fatal(err)
	}
	c := sdktest.Start(t, sim.New())
	if _, ds := c.Configure(t.Context(), cty.ObjectVal(map[string]cty.Value{"cloud": cty.StringVal(path), "create": cty.False})); ds.HasErrors() {
		t.Fatal(ds)
	}
	got, ds := c.ReadInventory(t.Context())
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	want := cloud.Inventory()
	if len(want.Instances) < 5000 {
		t.Fatalf("only %d instances: too few for several batches", len(want.Instances))
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("inventory received differs from the cloud's (-want +got):\n%s", diff)
	}
}
