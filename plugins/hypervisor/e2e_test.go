//go:build e2e_hosts && linux

package hypervisor_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/hypervisor"
	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
	"github.com/escalator-nfv/escalator/testing/hosts"
)

// The suite's own prefix and subnet, so it can run beside the others.
const e2ePrefix = "eshyp"

var e2eSubnet = netip.MustParsePrefix("10.77.6.0/24")

// libvirtPackages are the installed libvirt packages the component
// upgrades together (they depend on each other at exact versions).
var libvirtPackages = []string{"libvirt0", "libvirt-daemon-driver-qemu", "libvirt-daemon", "libvirt-clients"}

// startHosts starts n hosts running libvirtd, and stops them when the test
// ends.
func startHosts(t *testing.T, ctx context.Context, n int) *hosts.Env {
	t.Helper()
	env := hosts.StartForTest(t, ctx, hosts.Options{Hosts: n, Prefix: e2ePrefix, Subnet: e2eSubnet, Libvirt: true})
	t.Logf("FIGURE start of %d hosts with libvirtd: %s (libvirt %s, image cached %v)", n,
		env.Timings.Total.Round(time.Millisecond), env.Timings.Libvirt.Round(time.Millisecond), env.Timings.ImageCached)
	return env
}

// rebuiltLibvirt adds to env's repository the installed libvirt packages
// and copies of them one version newer (see hosts.Repo.AddRebuilt); it
// returns the installed version and the new one.
func rebuiltLibvirt(t *testing.T, ctx context.Context, env *hosts.Env) (from, to string) {
	t.Helper()
	var specs []string
	for _, p := range libvirtPackages {
		v := pkgVersion(t, ctx, env, 0, p)
		if from == "" {
			from = v
		} else if v != from {
			t.Fatalf("the image's libvirt packages are at different versions (%s %s, not %s): the component upgrades them together", p, v, from)
		}
		specs = append(specs, p+"="+v)
	}
	t0 := time.Now()
	rb, err := env.Repo.AddRebuilt(ctx, "+esc1", specs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE libvirt packages downloaded and rebuilt as %s in %s", rb["libvirt-daemon"].Version, time.Since(t0).Round(time.Millisecond))
	return from, rb["libvirt-daemon"].Version
}

// pkgVersion is a package's installed version in host i ("" if not
// installed), read from inside the host.
func pkgVersion(t *testing.T, ctx context.Context, env *hosts.Env, i int, pkg string) string {
	t.Helper()
	out, err := env.Exec(ctx, i, "dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", pkg)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[1] != "ii" {
		t.Fatalf("%s in host %d: %q", pkg, i, out)
	}
	return f[0]
}

// libvirtdPID is the pid of libvirtd inside host i.
func libvirtdPID(t *testing.T, ctx context.Context, env *hosts.Env, i int) string {
	t.Helper()
	out, err := env.Exec(ctx, i, "pidof", "libvirtd")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// providerConfig is the provider block for env.
func providerConfig(env *hosts.Env) cty.Value {
	hostMap := map[string]cty.Value{}
	for _, h := range env.Hosts() {
		hostMap[h.Name] = cty.MapVal(map[string]cty.Value{"address": cty.StringVal(h.Addr.String())})
	}
	pk := make([]cty.Value, len(libvirtPackages))
	for i, p := range libvirtPackages {
		pk[i] = cty.StringVal(p)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"hosts":            cty.MapVal(hostMap),
		"identity_file":    cty.StringVal(env.ClientKeyFile),
		"known_hosts_file": cty.StringVal(env.KnownHostsFile),
		"use_agent":        cty.False,
		"connect_timeout":  cty.StringVal("3s"),
		"components":       cty.MapVal(map[string]cty.Value{"libvirt": cty.ListVal(pk)}),
	})
}

func errorText(diags sdk.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Severity == sdk.Error {
			b.WriteString(d.Summary + ": " + d.Detail + "\n")
		}
	}
	return b.String()
}

// TestProvider runs the provider on 2 real hosts with libvirtd and a real
// libvirt package upgrade: the inventory reports the daemon's versions
// and domains; an upgrade on a host running a domain is refused, naming
// it, with nothing changed; once the domain is gone the upgrade replaces
// the packages, restarts libvirtd and verifies that it answers; a
// rollback returns to the Debian packages.
func TestProvider(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := startHosts(t, ctx, 2)
	from, to := rebuiltLibvirt(t, ctx, env)
	c := sdktest.Start(t, hypervisor.New())
	if _, diags := c.Configure(ctx, providerConfig(env)); diags.HasErrors() {
		t.Fatal(diags)
	}
	const guest = "vnf-left-behind"
	if err := env.StartDomain(ctx, 0, guest); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	inv, diags := c.ReadInventory(ctx)
	if diags.HasErrors() || inv == nil {
		t.Fatal(diags)
	}
	t.Logf("FIGURE inventory of 2 hosts (packages, libvirtd, domains): %s", time.Since(t0).Round(time.Millisecond))
	byName := map[string]sdk.Host{}
	for _, h := range inv.Hosts {
		byName[h.Name] = h
	}
	h1, h2 := env.Host(0).Name, env.Host(1).Name
	for name, want := range map[string]struct{ domains, count string }{h1: {guest, "1"}, h2: {"", "0"}} {
		h := byName[name]
		a := h.Attributes
		if h.Versions["libvirt"] != from || a[hypervisor.AttrLibvirtVersion] != hypervisor.Upstream(from) ||
			!strings.HasPrefix(a[hypervisor.AttrHypervisor], "QEMU 7.") || a[hypervisor.AttrDomains] != want.domains || a[hypervisor.AttrDomainCount] != want.count {
			t.Errorf("%s: versions %v, attributes %v", name, h.Versions, a)
		}
	}

	upgrade := func(host string) (*sdk.ExecuteActionResponse, sdk.Diagnostics, time.Duration) {
		t0 := time.Now()
		resp, diags := c.Execute(ctx, sdk.ExecuteActionRequest{
			ID: "run1/upgrade-" + host, Kind: sdk.ActionUpgrade, Host: host, Component: "libvirt",
			FromVersion: from, ToVersion: to, Settings: cty.EmptyObjectVal,
		}, func(m string, _ float64) { t.Logf("%s: %s", host, m) })
		return resp, diags, time.Since(t0)
	}
	_, diags, _ = upgrade(h1)
	msg := errorText(diags)
	if !strings.Contains(msg, h1+" still runs 1 domain ("+guest+")") || !strings.Contains(msg, "refused") {
		t.Errorf("upgrade of %s with a running domain: %q", h1, msg)
	}
	if got := pkgVersion(t, ctx, env, 0, "libvirt-daemon"); got != from {
		t.Errorf("refused upgrade changed libvirt-daemon to %s", got)
	}
	if d, err := env.Domains(ctx, 0); err != nil || len(d) != 1 {
		t.Errorf("domains after the refusal: %v %v", d, err)
	}

	// host2 has no guest: the upgrade goes through.
	pid := libvirtdPID(t, ctx, env, 1)
	_, diags, took := upgrade(h2)
	if diags.HasErrors() {
		t.Fatal(errorText(diags))
	}
	t.Logf("FIGURE hypervisor upgrade of one host (4 libvirt packages, libvirtd restart): %s", took.Round(time.Millisecond))
	for _, p := range libvirtPackages {
		if got := pkgVersion(t, ctx, env, 1, p); got != to {
			t.Errorf("%s after the upgrade: %s, want %s", p, got, to)
		}
	}
	if now := libvirtdPID(t, ctx, env, 1); now == pid {
		t.Errorf("libvirtd was not restarted (pid %s)", pid)
	}
	verify := func(host, version string) sdk.Diagnostics {
		_, diags := c.Execute(ctx, sdk.ExecuteActionRequest{ID: "run1/verify-" + host + version, Kind: sdk.ActionVerify, Host: host, Component: "libvirt", ToVersion: version, Settings: cty.EmptyObjectVal}, nil)
		return diags
	}
	if diags := verify(h2, to); diags.HasErrors() {
		t.Errorf("verify after the upgrade: %s", errorText(diags))
	}
	if err := env.StartDomain(ctx, 1, "after-upgrade"); err != nil {
		t.Errorf("a domain does not start on the upgraded libvirt: %v", err)
	} else if err := env.DestroyDomain(ctx, 1, "after-upgrade"); err != nil {
		t.Error(err)
	}

	// Verify fails when the packages are not at the version asked.
	if diags := verify(h2, from); !strings.Contains(errorText(diags), "not "+from) {
		t.Errorf("verify against the wrong version: %q", errorText(diags))
	}

	// The guest gone, host1 upgrades too.
	if err := env.DestroyDomain(ctx, 0, guest); err != nil {
		t.Fatal(err)
	}
	if _, diags, _ := upgrade(h1); diags.HasErrors() {
		t.Fatalf("upgrade of %s after its domain left: %s", h1, errorText(diags))
	}

	// Rollback of host2 to Debian's packages; a domain on it is refused
	// first.
	rollback := func() sdk.Diagnostics {
		_, diags := c.Execute(ctx, sdk.ExecuteActionRequest{ID: "run1/rollback-" + h2, Kind: sdk.ActionRollback, Host: h2, Component: "libvirt",
			FromVersion: from, ToVersion: to, Settings: cty.EmptyObjectVal}, nil)
		return diags
	}
	if err := env.StartDomain(ctx, 1, "blocks-rollback"); err != nil {
		t.Fatal(err)
	}
	if msg := errorText(rollback()); !strings.Contains(msg, "blocks-rollback") || !strings.Contains(msg, "rollback of libvirt is refused") {
		t.Errorf("rollback with a running domain: %q", msg)
	}
	if err := env.DestroyDomain(ctx, 1, "blocks-rollback"); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if diags := rollback(); diags.HasErrors() {
		t.Fatal(errorText(diags))
	}
	t.Logf("FIGURE hypervisor rollback of one host: %s", time.Since(t0).Round(time.Millisecond))
	if got := pkgVersion(t, ctx, env, 1, "libvirt-daemon"); got != from {
		t.Errorf("libvirt-daemon after the rollback: %s, want %s", got, from)
	}
	if diags := verify(h2, from); diags.HasErrors() {
		t.Errorf("verify after the rollback: %s", errorText(diags))
	}
}
