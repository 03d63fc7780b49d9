//go:build e2e_hosts && linux

package hostos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/testing/clitest"
	"github.com/escalator-nfv/escalator/testing/hosts"
)

// campaignHCL is a rolling upgrade of the agent, one host at a time: the
// sim provider evacuates and holds the hosts' maintenance, hostos backs up
// the agent's config and changes its package.
func campaignHCL(env *hosts.Env, version string) string {
	return fmt.Sprintf(`escalator {
  required_providers {
    sim    = { version = ">= 0.1.0" }
    hostos = { version = ">= 0.1.0" }
  }
  state "local" {
    path = ".escalator/state.json"
  }
}

provider "sim" {
  cloud      = "cloud.json"
  time_scale = 0
}

provider "hostos" {
%s
  components = {
    agent = [%q]
  }
}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
}

component "agent" {
  hosts      = hosts.compute
  provider   = provider.hostos
  version    = %q
  disruption = "host"
  settings = {
    services = [%q]
  }
}

backup "agent_config" {
  components = [component.agent]
  settings = {
    paths = ["/etc/escalator-test-agent"]
  }
}

rollout "compute" {
  components      = [component.agent]
  max_unavailable = 1

  evacuate {
    mode = "live"
  }

  on_failure {
    action = "rollback_host"
  }
}
`, env.SSHProviderHCL(), agent, version, agentd)
}

// TestCampaign runs the real escalator binary with the sim provider
// (evacuation, maintenance) and hostos (the agent package) on 4 real
// hosts: a rolling upgrade 1.0 -> 1.1 with max_unavailable 1 in which
// host3's postinst fails, so rollback_host puts it back on 1.0 with its
// edited config and the run stops; escalator rollback then reverses the
// run, and, the fault gone, a new plan and apply upgrade every host.
func TestCampaign(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env := startHosts(t, ctx)
	dir := t.TempDir()
	escalator, plugins := clitest.Build(t, ctx, dir, "sim", "hostos")
	hostosBin := plugins["hostos"]
	if err := os.WriteFile(filepath.Join(dir, "cloud.json"), []byte(clitest.FourHostCloud("hostos-e2e")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(campaignHCL(env, "1.1")), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &clitest.CLI{T: t, Bin: escalator, Dir: dir}
	c.Run(ctx, true, "init")
	c.Run(ctx, true, "validate")

	const failing = 2 // host3
	const edited = "listen = 10.0.0.3:7070\n"
	if err := env.WriteFile(failing, hosts.AgentConfig, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := env.FailPostinst(failing, agent, "1.1"); err != nil {
		t.Fatal(err)
	}

	plan := c.Run(ctx, true, "plan", "-out=first.plan")
	for _, h := range env.Hosts() {
		if !strings.Contains(plan, h.Name) {
			t.Errorf("the plan does not mention %s:\n%s", h.Name, plan)
		}
	}
	t.Logf("plan:\n%s", plan)

	stop := make(chan struct{})
	peak := clitest.PeakRSS(hostosBin, stop)
	t0 := time.Now()
	out := c.Run(ctx, false, "apply", "-auto-approve", "first.plan")
	first := time.Since(t0)
	close(stop)
	t.Logf("first apply (fails on host3, which is rolled back) in %s:\n%s", first.Round(time.Millisecond), out)
	if !strings.Contains(out, "postinst fails (injected") {
		t.Errorf("the apply's output does not say why host3 failed")
	}
	states := map[int]string{}
	for i := range env.N() {
		states[i] = agentState(t, ctx, env, i)
	}
	if states[failing] != "1.0 ii" {
		t.Errorf("host3 after its rollback: %s, want 1.0 installed", states[failing])
	}
	if b, _ := env.ReadFile(failing, hosts.AgentConfig); string(b) != edited {
		t.Errorf("host3's config after its rollback: %q", b)
	}
	upgraded := 0
	for i, s := range states {
		switch {
		case i == failing:
		case s == "1.1 ii":
			upgraded++
		case s != "1.0 ii":
			t.Errorf("host%d: %s", i+1, s)
		}
	}
	t.Logf("after the first apply: %v (%d hosts upgraded before host3 failed)", states, upgraded)

	// escalator rollback reverses the halted run, newest host first:
	// hostos reinstalls the versions it recorded (host3 is at them
	// already), sim brings the hosts back into service.
	t0 = time.Now()
	out = c.Run(ctx, true, "rollback", "-auto-approve")
	t.Logf("rollback of the run in %s:\n%s", time.Since(t0).Round(time.Millisecond), out)
	for i := range env.N() {
		if got := agentState(t, ctx, env, i); got != "1.0 ii" {
			t.Errorf("host%d after escalator rollback: %s", i+1, got)
		}
	}
	if b, _ := env.ReadFile(failing, hosts.AgentConfig); string(b) != edited {
		t.Errorf("host3's config after escalator rollback: %q", b)
	}

	// The fault gone, a new plan upgrades every host.
	if err := env.FailPostinst(failing, agent); err != nil {
		t.Fatal(err)
	}
	c.Run(ctx, true, "plan", "-out=second.plan")
	stop2 := make(chan struct{})
	peak2 := clitest.PeakRSS(hostosBin, stop2)
	t0 = time.Now()
	out = c.Run(ctx, true, "apply", "-auto-approve", "second.plan")
	second := time.Since(t0)
	close(stop2)
	t.Logf("second apply in %s:\n%s", second.Round(time.Millisecond), out)
	for i := range env.N() {
		if got := agentState(t, ctx, env, i); got != "1.1 ii" {
			t.Errorf("host%d after the second apply: %s", i+1, got)
		}
	}
	if b, _ := env.ReadFile(failing, hosts.AgentConfig); string(b) != edited {
		t.Errorf("host3's config after its upgrade: %q", b)
	}
	t.Logf("FIGURE campaign: first apply %s (%d hosts upgraded, host3 failed and rolled back); second apply %s for 4 hosts one at a time (%s per host: maintenance, evacuation, backup, upgrade, verify)",
		first.Round(time.Millisecond), upgraded, second.Round(time.Millisecond), (second / 4).Round(time.Millisecond))
	t.Logf("FIGURE escalator-provider-hostos peak RSS: %.1f MB (first apply), %.1f MB (second)", float64(peak())/(1<<20), float64(peak2())/(1<<20))
	c.Run(ctx, true, "status")
}
