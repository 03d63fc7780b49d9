package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sim"
)

// e2eCampaign is the benchmark's campaign: every compute host gets a
// disruptive upgrade, 5% at a time, one zone at a time, with at most one
// member of any anti-affinity group moved at once.
const e2eCampaign = `
escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {
  cloud      = "cloud.json"
  time_scale = 0
}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
}

component "nova_compute" {
  hosts      = hosts.compute
  version    = "27.1.0"
  disruption = "host"
}

rollout "compute" {
  components      = [component.nova_compute]
  max_unavailable = "5%"
  group_by        = host.availability_zone
}

guard "anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity", "soft-anti-affinity"]
  max_unavailable = 1
}
`

// TestPlanCheck1000Hosts runs the real escalator binary and sim plugin on
// a generated 1,000-host cloud and checks the saved plan: it must keep
// every rule. Instances moved twice are allowed (the scheduler moves an
// instance again only when no upgraded host has room) and logged.
func TestPlanCheck1000Hosts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds escalator and plans 1,000 hosts")
	}
	start := time.Now()
	dir := t.TempDir()
	campaign := filepath.Join(dir, "campaign")
	bin := filepath.Join(dir, "bin")
	plugins := filepath.Join(campaign, ".escalator", "plugins")
	for _, d := range []string{bin, plugins} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// One go build for both binaries, so they compile in parallel.
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator),
		"github.com/escalator-nfv/escalator", "github.com/escalator-nfv/escalator/plugins/sim/cmd/escalator-provider-sim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(bin, "escalator-provider-sim"), filepath.Join(plugins, "escalator-provider-sim")); err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %s", time.Since(start).Round(time.Millisecond))

	o := sim.DefaultGenOptions()
	o.Hosts, o.Zones, o.InstancesPerHost, o.GroupSize = 1000, 2, 20, 3
	cloud, err := sim.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sim.EncodeCloud(&buf, cloud); err != nil {
		t.Fatal(err)
	}
	cloudPath := filepath.Join(campaign, "cloud.json")
	if err := os.WriteFile(cloudPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(campaign, "main.hcl"), []byte(e2eCampaign), 0o644); err != nil {
		t.Fatal(err)
	}

	escalator := func(args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "escalator"), args...)
		cmd.Dir = campaign
		// The campaign's own plugin directory must be the one used.
		cmd.Env = append(os.Environ(), "ESCALATOR_PLUGIN_PATH=", "NO_COLOR=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("escalator %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
	}
	escalator("init")
	planStart := time.Now()
	escalator("plan", "-out=plan.json")
	t.Logf("planned in %s", time.Since(planStart).Round(time.Millisecond))

	var out, errs bytes.Buffer
	code := run([]string{
		"-cloud", cloudPath, "-plan", filepath.Join(campaign, "plan.json"),
		"-budget", "1", "-policies", "anti-affinity,soft-anti-affinity",
		"-max-unavailable", "5%", "-allow-double",
	}, &out, &errs)
	t.Logf("plancheck:\n%s%s", out.String(), errs.String())
	if code != exitOK {
		t.Fatalf("plancheck exit %d: the plan breaks a rule", code)
	}
	if !strings.HasPrefix(out.String(), "PLANCHECK hosts=1000 ") || !strings.Contains(out.String(), " violations=0 ") {
		t.Errorf("unexpected summary:\n%s", out.String())
	}
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}
