//go:build e2e_hosts && linux

package hostos_test

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/hostos"
	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
	"github.com/escalator-nfv/escalator/testing/hosts"
)

// The suite's own prefix and subnet, so it can run beside testing/hosts'.
const (
	e2ePrefix = "eshos"
	agent     = hosts.AgentPackage
	component = "agent"
	agentd    = "escalator-test-agentd"
)

var e2eSubnet = netip.MustParsePrefix("10.77.4.0/24")

// startHosts starts 4 hosts, each with a daemon agentd the component
// restarts, and stops them when the test ends.
func startHosts(t *testing.T, ctx context.Context) *hosts.Env {
	t.Helper()
	env := hosts.StartForTest(t, ctx, hosts.Options{Hosts: 4, Prefix: e2ePrefix, Subnet: e2eSubnet, RebootDelay: 500 * time.Millisecond})
	t.Logf("FIGURE start of 4 hosts: %s (image cached %v)", env.Timings.Total.Round(time.Millisecond), env.Timings.ImageCached)
	for i := range env.N() {
		if err := env.AddService(ctx, i, hosts.Service{Name: agentd, Exec: "/bin/sleep", Args: []string{"infinity"}}, true); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// providerConfig is the provider block for env, with extra attributes.
func providerConfig(env *hosts.Env, extra map[string]cty.Value) cty.Value {
	hostMap := map[string]cty.Value{}
	for _, h := range env.Hosts() {
		hostMap[h.Name] = cty.MapVal(map[string]cty.Value{"address": cty.StringVal(h.Addr.String())})
	}
	attrs := map[string]cty.Value{
		"hosts":            cty.MapVal(hostMap),
		"identity_file":    cty.StringVal(env.ClientKeyFile),
		"known_hosts_file": cty.StringVal(env.KnownHostsFile),
		"use_agent":        cty.False,
		"connect_timeout":  cty.StringVal("3s"),
		"reboot_timeout":   cty.StringVal("30s"),
		"components": cty.MapVal(map[string]cty.Value{
			component: cty.ListVal([]cty.Value{cty.StringVal(agent)}),
		}),
	}
	for k, v := range extra {
		attrs[k] = v
	}
	return cty.ObjectVal(attrs)
}

func configured(t *testing.T, ctx context.Context, cfg cty.Value) *sdktest.Client {
	t.Helper()
	c := sdktest.Start(t, hostos.New())
	if _, diags := c.Configure(ctx, cfg); diags.HasErrors() {
		t.Fatal(diags)
	}
	return c
}

func settings(kv map[string]cty.Value) cty.Value {
	if kv == nil {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(kv)
}

var services = cty.ListVal([]cty.Value{cty.StringVal(agentd)})

func inventory(t *testing.T, ctx context.Context, c *sdktest.Client) (map[string]sdk.Host, sdk.Diagnostics) {
	t.Helper()
	resp, diags := c.ReadInventory(ctx)
	if resp == nil {
		return nil, diags
	}
	out := map[string]sdk.Host{}
	for _, h := range resp.Hosts {
		out[h.Name] = h
	}
	return out, diags
}

func agentState(t *testing.T, ctx context.Context, env *hosts.Env, i int) string {
	t.Helper()
	// Not over SSH: the host key test changes the key under known_hosts.
	out, err := env.Exec(ctx, i, "dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", agent)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func execute(ctx context.Context, c *sdktest.Client, req sdk.ExecuteActionRequest) (*sdk.ExecuteActionResponse, sdk.Diagnostics, []string) {
	var progress []string
	resp, diags := c.Execute(ctx, req, func(msg string, _ float64) { progress = append(progress, msg) })
	return resp, diags, progress
}

// TestHostsProvider drives the provider through the SDK on 4 real hosts:
// inventory, an idempotent upgrade, a failing postinst rolled back and
// restored, a reboot, a host key mismatch, and a host that does not come
// back from its reboot. Subtests run in order; each leaves the hosts as
// the next expects.
func TestHostsProvider(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env := startHosts(t, ctx)
	c := configured(t, ctx, providerConfig(env, nil))
	const run = "20261122T080000Z-e2e1"

	t.Run("inventory shows 1.0", func(t *testing.T) {
		t0 := time.Now()
		inv, diags := inventory(t, ctx, c)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		t.Logf("FIGURE inventory of 4 hosts: %s", time.Since(t0).Round(time.Millisecond))
		if len(inv) != 4 {
			t.Fatalf("%d hosts, want 4", len(inv))
		}
		for _, h := range env.Hosts() {
			got := inv[h.Name]
			if got.Versions[component] != "1.0" || got.State != sdk.HostUp || got.Role != "compute" {
				t.Errorf("%s: versions %v state %s role %q, want agent 1.0, up, compute", h.Name, got.Versions, got.State, got.Role)
			}
			a := got.Attributes
			if a[hostos.AttrOSID] != "debian" || a[hostos.AttrOSVersion] != "12" || a[hostos.AttrKernel] == "" ||
				a[hostos.AttrBootID] != env.BootID(h.Index) || a[hostos.AttrRebootRequired] != "false" ||
				a[hostos.AttrPackageManager] != "apt" || a[hostos.AttrPackagePrefix+agent] != "1.0" {
				t.Errorf("%s: attributes %v", h.Name, a)
			}
		}
	})

	t.Run("plan", func(t *testing.T) {
		resp, diags := c.PlanComponent(ctx, sdk.PlanComponentRequest{Component: component, Host: "host1", FromVersion: "1.0", ToVersion: "1.1", Settings: settings(nil)})
		if diags.HasErrors() || resp.Refused || resp.Disruption != 0 {
			t.Errorf("plan without reboot: %+v %v", resp, diags)
		}
		resp, diags = c.PlanComponent(ctx, sdk.PlanComponentRequest{Component: component, Host: "host1", FromVersion: "1.0", ToVersion: "1.2",
			Settings: settings(map[string]cty.Value{"reboot": cty.StringVal("if_required")})})
		if diags.HasErrors() || resp.Disruption != sdk.DisruptionHost {
			t.Errorf("plan with reboot: %+v %v", resp, diags)
		}
		resp, _ = c.PlanComponent(ctx, sdk.PlanComponentRequest{Component: "kernel", Host: "host1", FromVersion: "", ToVersion: "6.1", Settings: settings(nil)})
		if resp == nil || !resp.Refused || !strings.Contains(resp.RefusalReason, "components") {
			t.Errorf("plan of an unknown component: %+v", resp)
		}
	})

	t.Run("upgrade 1.0 to 1.1 on one host, idempotent", func(t *testing.T) {
		pid := func() string {
			out, err := env.Run(ctx, 0, "cat /run/escalator-test/"+agentd+".pid")
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(out)
		}
		pidBefore := pid()
		req := sdk.ExecuteActionRequest{ID: run + "/w1/host1/upgrade/agent", Kind: sdk.ActionUpgrade, Host: "host1", Component: component,
			FromVersion: "1.0", ToVersion: "1.1", Settings: settings(map[string]cty.Value{"services": services})}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapBefore := ms.HeapAlloc
		t0 := time.Now()
		resp, diags, progress := execute(ctx, c, req)
		took := time.Since(t0)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		runtime.ReadMemStats(&ms)
		t.Logf("FIGURE upgrade 1.0 -> 1.1 on one host (apt-get update + install + service restart + checks): %s; %d progress events; test process heap %+.1f MB",
			took.Round(time.Millisecond), len(progress), (float64(ms.HeapAlloc)-float64(heapBefore))/(1<<20))
		if resp.Outputs["version"] != "1.1" || agentState(t, ctx, env, 0) != "1.1 ii" {
			t.Errorf("outputs %v, host1 has %s", resp.Outputs, agentState(t, ctx, env, 0))
		}
		if got := pid(); got == pidBefore {
			t.Errorf("%s was not restarted (pid %s)", agentd, got)
		}
		for i := 1; i < 4; i++ {
			if got := agentState(t, ctx, env, i); got != "1.0 ii" {
				t.Errorf("host%d changed too: %s", i+1, got)
			}
		}
		// The same step again (a resumed apply), and another step that
		// finds the target installed: both succeed without installing.
		history := func() string {
			b, err := env.ReadFile(0, hosts.AgentHistory)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		h0 := history()
		t0 = time.Now()
		if _, diags, _ := execute(ctx, c, req); diags.HasErrors() {
			t.Fatalf("same step again: %v", diags)
		}
		t.Logf("FIGURE the same upgrade step again (already done): %s", time.Since(t0).Round(time.Millisecond))
		req2 := req
		req2.ID = "20261122T090000Z-e2e2/w1/host1/upgrade/agent"
		if _, diags, _ := execute(ctx, c, req2); diags.HasErrors() {
			t.Fatalf("another run finding 1.1: %v", diags)
		}
		if h1 := history(); h1 != h0 {
			t.Errorf("maintainer scripts ran again:\n%s", strings.TrimPrefix(h1, h0))
		}
		// Verify: the planned version passes, another does not.
		if _, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/w1/host1/verify/agent", Kind: sdk.ActionVerify, Host: "host1",
			Component: component, ToVersion: "1.1", Settings: settings(map[string]cty.Value{"services": services})}); diags.HasErrors() {
			t.Errorf("verify 1.1: %v", diags)
		}
		_, diags, _ = execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/w1/host1/verify/agent2", Kind: sdk.ActionVerify, Host: "host1",
			Component: component, ToVersion: "1.2", Settings: settings(map[string]cty.Value{"services": cty.ListVal([]cty.Value{cty.StringVal("nosuchd")})})})
		if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "not 1.2") || !strings.Contains(diags[0].Detail, "nosuchd is not active") {
			t.Errorf("verify 1.2 with a missing service: %v", diags)
		}
		inv, _ := inventory(t, ctx, c)
		if inv["host1"].Versions[component] != "1.1" || inv["host2"].Versions[component] != "1.0" {
			t.Errorf("inventory after: host1 %v host2 %v", inv["host1"].Versions, inv["host2"].Versions)
		}
	})

	t.Run("failing postinst, rollback keeps the edited config, restore", func(t *testing.T) {
		const i = 1
		const edited = "listen = 10.0.0.1:7070\n"
		if err := env.WriteFile(i, hosts.AgentConfig, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := env.FailPostinst(i, agent, "1.1"); err != nil {
			t.Fatal(err)
		}
		base := run + "/w2/host2/"
		bresp, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: base + "backup/agent/config", Kind: sdk.ActionBackup, Host: "host2", Component: component,
			FromVersion: "1.0", ToVersion: "1.1", Settings: cty.ObjectVal(map[string]cty.Value{
				"paths": cty.ListVal([]cty.Value{cty.StringVal("/etc/escalator-test-agent"), cty.StringVal("/etc/no-such-dir")})})})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		backup := bresp.Outputs["backup_id"]
		if backup == "" || bresp.Outputs["versions"] != agent+"=1.0" || len(diags) != 1 || !strings.Contains(diags[0].Detail, "/etc/no-such-dir") {
			t.Errorf("backup: outputs %v, diagnostics %v", bresp.Outputs, diags)
		}
		// The same backup step again returns the same backup.
		again, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: base + "backup/agent/config", Kind: sdk.ActionBackup, Host: "host2", Component: component,
			Settings: cty.ObjectVal(map[string]cty.Value{"paths": cty.ListVal([]cty.Value{cty.StringVal("/etc/escalator-test-agent")})})})
		if diags.HasErrors() || again.Outputs["backup_id"] != backup {
			t.Errorf("backup again: %v %v", again, diags)
		}

		up := sdk.ExecuteActionRequest{ID: base + "upgrade/agent", Kind: sdk.ActionUpgrade, Host: "host2", Component: component,
			FromVersion: "1.0", ToVersion: "1.1", Settings: settings(map[string]cty.Value{"services": services})}
		_, diags, _ = execute(ctx, c, up)
		if !diags.HasErrors() || diags[0].Summary != "Upgrade failed" || !strings.Contains(diags[0].Detail, "postinst fails (injected") ||
			!strings.Contains(diags[0].Detail, "half-configured") {
			t.Fatalf("upgrade with a failing postinst: %v", diags)
		}
		t.Logf("the operator reads: %s: %s", diags[0].Summary, diags[0].Detail)
		if got := agentState(t, ctx, env, i); got != "1.1 iF" {
			t.Errorf("after the failure: %s, want 1.1 half-configured", got)
		}
		inv, _ := inventory(t, ctx, c)
		if v := inv["host2"].Versions[component]; v != "1.1 (half-configured)" {
			t.Errorf("inventory after the failure: %q", v)
		}

		rb := sdk.ExecuteActionRequest{ID: run + "/rollback/host2/agent", Kind: sdk.ActionRollback, Host: "host2", Component: component,
			FromVersion: "1.0", ToVersion: "1.1", Settings: settings(map[string]cty.Value{"services": services})}
		t0 := time.Now()
		if _, diags, _ := execute(ctx, c, rb); diags.HasErrors() {
			t.Fatal(diags)
		}
		t.Logf("FIGURE rollback 1.1 (half-configured) -> 1.0: %s", time.Since(t0).Round(time.Millisecond))
		if got := agentState(t, ctx, env, i); got != "1.0 ii" {
			t.Errorf("after the rollback: %s", got)
		}
		if b, _ := env.ReadFile(i, hosts.AgentConfig); string(b) != edited {
			t.Errorf("config after the rollback: %q", b)
		}
		if _, diags, _ := execute(ctx, c, rb); diags.HasErrors() {
			t.Errorf("rollback again: %v", diags)
		}

		// Restore: the config edited since goes back to the backup's.
		if err := env.WriteFile(i, hosts.AgentConfig, []byte("listen = broken\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/rollback/host2/restore/agent", Kind: sdk.ActionRestore, Host: "host2",
			Component: component, BackupID: backup, Settings: settings(map[string]cty.Value{"services": services})}); diags.HasErrors() {
			t.Fatal(diags)
		}
		if b, _ := env.ReadFile(i, hosts.AgentConfig); string(b) != edited {
			t.Errorf("config after the restore: %q", b)
		}
		_, diags, _ = execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/rollback/host2/restore/x", Kind: sdk.ActionRestore, Host: "host2",
			Component: component, BackupID: "nosuch-123", Settings: settings(nil)})
		if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "no complete backup nosuch-123") {
			t.Errorf("restore of a missing backup: %v", diags)
		}
		if err := env.FailPostinst(i, agent); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("upgrade with a reboot", func(t *testing.T) {
		const i = 2
		before := env.BootID(i)
		req := sdk.ExecuteActionRequest{ID: run + "/w3/host3/upgrade/agent", Kind: sdk.ActionUpgrade, Host: "host3", Component: component,
			FromVersion: "1.0", ToVersion: "1.2", Settings: settings(map[string]cty.Value{"services": services, "reboot": cty.StringVal("if_required")})}
		t0 := time.Now()
		_, diags, progress := execute(ctx, c, req)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		t.Logf("FIGURE upgrade 1.0 -> 1.2 with the reboot it asks for: %s", time.Since(t0).Round(time.Millisecond))
		after := env.BootID(i)
		if after == before {
			t.Errorf("host3 did not reboot (boot id %s); progress: %q", after, progress)
		}
		if got := agentState(t, ctx, env, i); got != "1.2 ii" {
			t.Errorf("after: %s", got)
		}
		if _, diags, _ := execute(ctx, c, req); diags.HasErrors() || env.BootID(i) != after {
			t.Errorf("the same step again rebooted or failed: %v", diags)
		}
		inv, _ := inventory(t, ctx, c)
		if a := inv["host3"].Attributes; a[hostos.AttrRebootRequired] != "false" || a[hostos.AttrBootID] != after {
			t.Errorf("inventory after the reboot: %v", a)
		}
	})

	t.Run("maintenance marker and probe", func(t *testing.T) {
		const reason = "escalator run " + run + ", wave 1"
		if _, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/w1/host1/enter_maintenance", Kind: sdk.ActionEnterMaintenance, Host: "host1", Reason: reason}); diags.HasErrors() {
			t.Fatal(diags)
		}
		inv, _ := inventory(t, ctx, c)
		if h := inv["host1"]; h.State != sdk.HostMaintenance || h.StateReason != reason {
			t.Errorf("host1 in maintenance: %s %q", h.State, h.StateReason)
		}
		if _, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/w1/host1/leave_maintenance", Kind: sdk.ActionLeaveMaintenance, Host: "host1"}); diags.HasErrors() {
			t.Fatal(diags)
		}
		if inv, _ := inventory(t, ctx, c); inv["host1"].State != sdk.HostUp {
			t.Errorf("host1 after leaving maintenance: %s", inv["host1"].State)
		}
		probe := func(svc, cmd string) sdk.Diagnostics {
			_, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/probe/x/host1", Kind: sdk.ActionProbe, Host: "host1", Probe: hostos.ProbeHost,
				Settings: cty.ObjectVal(map[string]cty.Value{"services": cty.ListVal([]cty.Value{cty.StringVal(svc)}), "commands": cty.ListVal([]cty.Value{cty.StringVal(cmd)})})})
			return diags
		}
		if diags := probe(agentd, "test -x /usr/bin/escalator-test-agent"); diags.HasErrors() {
			t.Errorf("healthy probe: %v", diags)
		}
		if diags := probe("nosuchd", "true"); !diags.HasErrors() || !strings.Contains(diags[0].Detail, "nosuchd") {
			t.Errorf("probe of a missing service: %v", diags)
		}
		if diags := probe(agentd, "exit 3"); !diags.HasErrors() || !strings.Contains(diags[0].Detail, "exit status 3") {
			t.Errorf("probe with a failing command: %v", diags)
		}
	})

	t.Run("cancelled midway, then resumed", func(t *testing.T) {
		const i = 3
		req := sdk.ExecuteActionRequest{ID: run + "/w4/host4/upgrade/agent", Kind: sdk.ActionUpgrade, Host: "host4", Component: component,
			FromVersion: "1.0", ToVersion: "1.1", Settings: settings(map[string]cty.Value{"pre_commands": cty.ListVal([]cty.Value{cty.StringVal("sleep 30")})})}
		cctx, ccancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		t0 := time.Now()
		_, diags, _ := execute(cctx, c, req)
		ccancel()
		if !diags.HasErrors() || time.Since(t0) > 10*time.Second {
			t.Fatalf("an upgrade cut short after 1.5s: %v after %s", diags, time.Since(t0))
		}
		t.Logf("the operator reads: %s: %s", diags[0].Summary, diags[0].Detail)
		if got := agentState(t, ctx, env, i); got != "1.0 ii" {
			t.Errorf("host4 changed by the cancelled step: %s", got)
		}
		// Sent again (the operator shortened the pre command), the step
		// runs the pre commands it had not finished, then installs.
		req.Settings = settings(map[string]cty.Value{"pre_commands": cty.ListVal([]cty.Value{cty.StringVal("touch /var/tmp/pre-ran")})})
		if _, diags, _ := execute(ctx, c, req); diags.HasErrors() {
			t.Fatal(diags)
		}
		if got := agentState(t, ctx, env, i); got != "1.1 ii" {
			t.Errorf("host4 after the resumed step: %s", got)
		}
		if _, err := env.ReadFile(i, "/var/tmp/pre-ran"); err != nil {
			t.Errorf("the pre command did not run: %v", err)
		}
	})

	t.Run("host key mismatch refuses to connect", func(t *testing.T) {
		const i = 3
		if _, err := env.RekeyHost(ctx, i); err != nil {
			t.Fatal(err)
		}
		fresh := configured(t, ctx, providerConfig(env, nil))
		_, diags := inventory(t, ctx, fresh)
		if !diags.HasErrors() || diags[0].Summary != "Host key not trusted" ||
			!strings.Contains(diags[0].Detail, "HOST KEY MISMATCH for host4") || !strings.Contains(diags[0].Detail, env.KnownHostsFile) {
			t.Fatalf("inventory with a changed host key: %v", diags)
		}
		t.Logf("the operator reads: %s: %s", diags[0].Summary, diags[0].Detail)
		_, diags, _ = execute(ctx, fresh, sdk.ExecuteActionRequest{ID: run + "/w5/host4/upgrade/agent", Kind: sdk.ActionUpgrade, Host: "host4",
			Component: component, FromVersion: "1.1", ToVersion: "1.2", Settings: settings(nil)})
		if !diags.HasErrors() || diags[0].Summary != "Host key not trusted" {
			t.Fatalf("upgrade with a changed host key: %v", diags)
		}
		if got := agentState(t, ctx, env, i); got != "1.1 ii" {
			t.Errorf("host4 changed: %s", got)
		}
		if err := env.WriteKnownHosts(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a host that does not come back fails with a timeout", func(t *testing.T) {
		const i = 3
		c := configured(t, ctx, providerConfig(env, map[string]cty.Value{"reboot_timeout": cty.StringVal("6s")}))
		env.DownOnReboot(i)
		t0 := time.Now()
		_, diags, _ := execute(ctx, c, sdk.ExecuteActionRequest{ID: run + "/w6/host4/upgrade/agent", Kind: sdk.ActionUpgrade, Host: "host4",
			Component: component, FromVersion: "1.1", ToVersion: "1.2", Settings: settings(map[string]cty.Value{"reboot": cty.StringVal("always")})})
		took := time.Since(t0)
		if !diags.HasErrors() || diags[0].Summary != "Host did not come back from its reboot" || !strings.Contains(diags[0].Detail, "reboot_timeout 6s") {
			t.Fatalf("upgrade with a reboot that never ends: %v", diags)
		}
		t.Logf("the operator reads (after %s): %s: %s", took.Round(time.Millisecond), diags[0].Summary, diags[0].Detail)
		if took > 20*time.Second {
			t.Errorf("the timeout took %s, want about 6s", took)
		}
		inv, diags := inventory(t, ctx, c)
		if diags.HasErrors() || inv["host4"].State != sdk.HostDown || len(diags) != 1 || diags[0].Summary != "Host unreachable" {
			t.Errorf("inventory with host4 down: %v %v", inv["host4"], diags)
		}
	})

	t.Run("memory", func(t *testing.T) {
		for i := range 3 {
			m, err := env.Memory(i)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("FIGURE host%d after its upgrade: %d processes, RSS %.1f MB, PSS %.1f MB", i+1, m.Procs, float64(m.RSS)/(1<<20), float64(m.PSS)/(1<<20))
		}
	})
}
