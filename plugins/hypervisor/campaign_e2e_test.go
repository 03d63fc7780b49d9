//go:build e2e_hosts && linux

package hypervisor_test

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

// campaignHCL upgrades, one host at a time, the test agent (hostos) and
// libvirt (hypervisor) while sim evacuates the hosts.
func campaignHCL(env *hosts.Env, agentVersion, libvirtVersion string) string {
	ssh := env.SSHProviderHCL()
	return fmt.Sprintf(`escalator {
  required_providers {
    sim        = { version = ">= 0.1.0" }
    hostos     = { version = ">= 0.1.0" }
    hypervisor = { version = ">= 0.1.0" }
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

provider "hypervisor" {
%s
  components = {
    libvirt = [%s]
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
}

component "libvirt" {
  hosts      = hosts.compute
  provider   = provider.hypervisor
  version    = %q
  disruption = "host"
  depends_on = [component.agent]
}

rollout "compute" {
  components      = [component.agent, component.libvirt]
  max_unavailable = 1

  evacuate {
    mode = "live"
  }

  on_failure {
    action = "rollback_host"
  }
}
`, ssh, hosts.AgentPackage, ssh, `"`+strings.Join(libvirtPackages, `", "`)+`"`, agentVersion, libvirtVersion)
}

// TestCampaign runs the real escalator binary with sim (evacuation,
// maintenance), hostos (the agent package) and hypervisor (libvirt, a
// real package upgrade) on 4 real hosts running libvirtd, one host at a
// time. sim's instances are not libvirt domains; the domain the test
// starts on host3 is a guest the cloud does not know of (left behind by a
// failed operation): host3's hypervisor upgrade is refused with its name, rollback_host puts its agent
// back on 1.0 and returns it to service, and the run stops. With the
// guest gone, the resumed run upgrades host3 too.
func TestCampaign(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env := startHosts(t, ctx, 4)
	from, to := rebuiltLibvirt(t, ctx, env)
	dir := t.TempDir()
	escalator, plugins := clitest.Build(t, ctx, dir, "sim", "hostos", "hypervisor")
	if err := os.WriteFile(filepath.Join(dir, "cloud.json"), []byte(clitest.FourHostCloud("hypervisor-e2e")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(campaignHCL(env, "1.1", to)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &clitest.CLI{T: t, Bin: escalator, Dir: dir}
	c.Run(ctx, true, "init")
	c.Run(ctx, true, "validate")

	const guestHost, guest = 2, "orphan-guest" // host3
	if err := env.StartDomain(ctx, guestHost, guest); err != nil {
		t.Fatal(err)
	}
	plan := c.Run(ctx, true, "plan", "-out=first.plan")
	t.Logf("plan:\n%s", plan)
	if !strings.Contains(plan, to) {
		t.Errorf("the plan does not upgrade libvirt to %s", to)
	}

	out := c.Run(ctx, false, "apply", "-auto-approve", "first.plan")
	t.Logf("first apply:\n%s", out)
	if !strings.Contains(out, "host3 still runs 1 domain (orphan-guest)") {
		t.Errorf("the apply's output does not name the guest that blocks host3")
	}
	agentState := func(i int) string { return pkgVersion(t, ctx, env, i, hosts.AgentPackage) }
	if a, l := agentState(guestHost), pkgVersion(t, ctx, env, guestHost, "libvirt-daemon"); a != "1.0" || l != from {
		t.Errorf("host3 after its rollback: agent %s, libvirt %s; want 1.0, %s", a, l, from)
	}
	if d, err := env.Domains(ctx, guestHost); err != nil || len(d) != 1 || d[0] != guest {
		t.Errorf("host3's guest after the run: %v %v", d, err)
	}
	status := c.Run(ctx, true, "status")
	t.Logf("status after the first apply:\n%s", status)
	upgraded := 0
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "host") {
			continue
		}
		switch {
		case f[0] == "host3" && f[3] != "rolled_back":
			t.Errorf("host3 after the first apply: %s, want rolled_back (back in service)", line)
		case f[0] != "host3" && f[3] == "upgraded":
			upgraded++
		}
	}
	if upgraded != 3 {
		t.Errorf("%d hosts upgraded by the first apply, want the 3 others", upgraded)
	}

	// The guest gone, resuming the halted run upgrades host3 too.
	if err := env.DestroyDomain(ctx, guestHost, guest); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	peak := clitest.PeakRSS(plugins["hypervisor"], stop)
	t0 := time.Now()
	out = c.Run(ctx, true, "apply", "-auto-approve")
	took := time.Since(t0)
	close(stop)
	t.Logf("resumed apply in %s:\n%s", took.Round(time.Millisecond), out)
	for i := range env.N() {
		if a, l := agentState(i), pkgVersion(t, ctx, env, i, "libvirt-daemon"); a != "1.1" || l != to {
			t.Errorf("host%d after the resumed apply: agent %s, libvirt %s", i+1, a, l)
		}
		if err := env.WaitLibvirt(ctx, i); err != nil {
			t.Error(err)
		}
	}
	t.Logf("FIGURE campaign: resumed apply upgraded host3 in %s (maintenance, evacuation, agent and libvirt upgrades, verify); per host in the first apply: see the status table's ELAPSED", took.Round(time.Millisecond))
	t.Logf("FIGURE escalator-provider-hypervisor peak RSS: %.1f MB", float64(peak())/(1<<20))
	t.Logf("status:\n%s", c.Run(ctx, true, "status"))
}
