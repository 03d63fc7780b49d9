//go:build e2e_openstack && linux

package openstack_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/migrations"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/openstack"
	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
	osenv "github.com/escalator-nfv/escalator/testing/openstack"
)

// The provider against a real OpenStack (testing/openstack: Debian's Zed,
// fake computes): one environment of 6 computes in 2 zones for the
// package's tests, started by the first test that needs it and stopped by
// TestMain. OSENV_DIR=<dir> uses an environment started with
// `osenv up -dir <dir> -computes 6 -zones 2` instead, and leaves it
// running, which makes iterating on the provider quicker. Each test
// starts by deleting every server and server group and enabling every
// compute, so the tests do not depend on each other's leftovers.

var shared struct {
	once sync.Once
	env  *osenv.Env
	dir  string
	err  error
	// started: this process started it (and stops it).
	started bool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.started {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := shared.env.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the OpenStack environment:", err)
			code = 1
		}
		cancel()
		if code == 0 {
			os.RemoveAll(shared.dir)
		} else {
			fmt.Fprintf(os.Stderr, "state directory kept for inspection: %s (logs in %s/log; remove it when done)\n", shared.dir, shared.dir)
		}
	}
	os.Exit(code)
}

// startEnv returns the package's environment: 6 computes in 2 zones in
// /dev/shm (the start-up's database migrations write a lot), or
// OSENV_DIR's.
func startEnv(ctx context.Context, t *testing.T) *osenv.Env {
	t.Helper()
	shared.once.Do(func() {
		if dir := os.Getenv("OSENV_DIR"); dir != "" {
			shared.env, shared.err = osenv.Load(dir)
			return
		}
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		}
		if shared.dir, shared.err = os.MkdirTemp(base, "osenv-provider-e2e-"); shared.err != nil {
			return
		}
		shared.env, shared.err = osenv.Start(ctx, osenv.Options{Dir: shared.dir, Computes: 6, Zones: 2, Log: os.Stderr})
		shared.started = shared.err == nil
	})
	if shared.err != nil {
		t.Fatalf("OpenStack environment: %v", shared.err)
	}
	return shared.env
}

// cleanCloud deletes every server and server group and enables every
// nova-compute service.
func cleanCloud(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient) {
	t.Helper()
	pages, err := servers.List(c, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if err := servers.Delete(ctx, c, s.ID).ExtractErr(); err != nil {
			t.Fatalf("delete server %s: %v", s.ID, err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, s := range all {
		for {
			_, err := servers.Get(ctx, c, s.ID).Extract()
			if gophercloud.ResponseCodeIs(err, 404) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s not deleted after 2 minutes (%v)", s.ID, err)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	gpages, err := servergroups.List(c, servergroups.ListOpts{AllProjects: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := servergroups.ExtractServerGroups(gpages)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := servergroups.Delete(ctx, c, g.ID).ExtractErr(); err != nil {
			t.Fatalf("delete server group %s: %v", g.ID, err)
		}
	}
	spages, err := services.List(c, services.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := services.ExtractServices(spages)
	for _, s := range svcs {
		if s.Status != "enabled" {
			if _, err := services.Update(ctx, c, s.ID, services.UpdateOpts{Status: services.ServiceEnabled}).Extract(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// nova is the test's own admin client, to check the provider against.
func nova(ctx context.Context, t *testing.T, env *osenv.Env) *gophercloud.ServiceClient {
	p, err := env.Provider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gos.NewComputeV2(p, gophercloud.EndpointOpts{Region: env.Region})
	if err != nil {
		t.Fatal(err)
	}
	c.Microversion = "2.80"
	return c
}

func placementClient(ctx context.Context, t *testing.T, env *osenv.Env) *gophercloud.ServiceClient {
	p, err := env.Provider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gos.NewPlacementV1(p, gophercloud.EndpointOpts{Region: env.Region})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bootServers boots two anti-affinity groups of 3 and 6 more servers,
// named with prefix, and waits for them ACTIVE.
func bootServers(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, env *osenv.Env, prefix string) (map[string][]string, []string) {
	t.Helper()
	flavor, err := env.FlavorID("m1.tiny")
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	var all []string
	boot := func(name, group string) {
		var hints servers.SchedulerHintOptsBuilder
		if group != "" {
			hints = servers.SchedulerHintOpts{Group: group}
		}
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: env.ImageID, FlavorRef: flavor, Networks: "none"}, hints).Extract()
		if err != nil {
			t.Fatalf("boot %s: %v", name, err)
		}
		all = append(all, s.ID)
	}
	deadline := time.Now().Add(5 * time.Minute)
	active := func(ids []string) {
		for _, id := range ids {
			for {
				s := server(ctx, t, c, id)
				if s.Status == "ACTIVE" {
					break
				}
				if s.Status == "ERROR" || time.Now().After(deadline) {
					t.Fatalf("server %s (%s) is %s: %v", s.Name, id, s.Status, s.Fault)
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
	}
	// Members of a group one after the other: booted at once, they race
	// in the scheduler, and the late anti-affinity check on the compute
	// reschedules them until they fail.
	for _, g := range []string{"aa-1", "aa-2"} {
		sg, err := servergroups.Create(ctx, c, servergroups.CreateOpts{Name: prefix + g, Policy: "anti-affinity"}).Extract()
		if err != nil {
			t.Fatalf("create server group %s: %v", g, err)
		}
		for i := 1; i <= 3; i++ {
			boot(fmt.Sprintf("%s%s-%d", prefix, g, i), sg.ID)
			groups[sg.ID] = append(groups[sg.ID], all[len(all)-1])
			active(all[len(all)-1:])
		}
	}
	for i := 1; i <= 6; i++ {
		boot(fmt.Sprintf("%sfree-%d", prefix, i), "")
	}
	active(all)
	return groups, all
}

func server(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, id string) *servers.Server {
	t.Helper()
	s, err := servers.Get(ctx, c, id).Extract()
	if err != nil {
		t.Fatalf("server %s: %v", id, err)
	}
	return s
}

func computeService(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, host string) services.Service {
	t.Helper()
	pages, err := services.List(c, services.ListOpts{Binary: "nova-compute", Host: host}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := services.ExtractServices(pages)
	if err != nil || len(svcs) != 1 {
		t.Fatalf("nova-compute on %s: %v %v", host, svcs, err)
	}
	return svcs[0]
}

func migrationRecords(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, id string) []migrations.Migration {
	t.Helper()
	pages, err := migrations.List(c, migrations.ListOpts{InstanceID: &id}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.ExtractMigrations(pages)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID > ms[j].ID })
	return ms
}

func configure(ctx context.Context, t *testing.T, env *osenv.Env, extra map[string]cty.Value) *sdktest.Client {
	t.Helper()
	cl := sdktest.Start(t, openstack.New())
	cfg := map[string]cty.Value{
		"cloud":         cty.StringVal(env.CloudName),
		"clouds_file":   cty.StringVal(env.CloudsYAML),
		"poll_interval": cty.StringVal("300ms"),
	}
	for k, v := range extra {
		cfg[k] = v
	}
	if _, diags := cl.Configure(ctx, cty.ObjectVal(cfg)); diags.HasErrors() {
		t.Fatalf("configure: %v", diags)
	}
	return cl
}

func execute(ctx context.Context, t *testing.T, cl *sdktest.Client, req sdk.ExecuteActionRequest) (time.Duration, sdk.Diagnostics) {
	t.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	_, diags := cl.Execute(ctx, req, func(msg string, _ float64) { t.Logf("  %s %s: %s", req.Kind, req.Host, msg) })
	return time.Since(t0), diags
}

// TestProviderOnRealOpenStack runs the provider through the plugin
// protocol against real Nova and Placement: the inventory matches what
// Nova says; entering maintenance, live-migrating a host's servers to
// planned hosts and leaving maintenance are real and idempotent; a host
// an operator disabled is refused; a migration Nova refuses (an
// anti-affinity member onto a host with another member) fails with
// Nova's reason; a migration past its time is aborted.
func TestProviderOnRealOpenStack(t *testing.T) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env := startEnv(ctx, t)
	tEnv := time.Since(t0)
	c := nova(ctx, t, env)
	cleanCloud(ctx, t, c)
	prefix := fmt.Sprintf("e2e%d-", time.Now().Unix()%100000)
	groups, ours := bootServers(ctx, t, c, env, prefix)
	zoneOf := map[string]string{}
	for _, cp := range env.Computes {
		zoneOf[cp.Name] = cp.Zone
	}

	cl := configure(ctx, t, env, nil)
	tInv := time.Now()
	inv, diags := cl.ReadInventory(ctx)
	invTime := time.Since(tInv)
	if diags.HasErrors() {
		t.Fatalf("inventory: %v", diags)
	}
	checkInventory(ctx, t, c, placementClient(ctx, t, env), env, inv, groups)

	// Maintenance on the host of the first member of the first group.
	var aa1 []string
	for _, g := range sortedKeys(groups) {
		aa1 = groups[g]
		break
	}
	host := server(ctx, t, c, aa1[0]).Host
	runID := fmt.Sprintf("%sRUN", prefix)
	reason := fmt.Sprintf("escalator run %s, wave 1", runID)
	enter := sdk.ExecuteActionRequest{ID: runID + "/w1/" + host + "/enter_maintenance", Kind: sdk.ActionEnterMaintenance, Host: host, Reason: reason}
	enterTime, diags := execute(ctx, t, cl, enter)
	if diags.HasErrors() {
		t.Fatalf("enter maintenance on %s: %v", host, diags)
	}
	svc := computeService(ctx, t, c, host)
	wantReason := fmt.Sprintf("escalator: %s, wave 1", runID)
	if svc.Status != "disabled" || svc.DisabledReason != wantReason {
		t.Fatalf("after enter_maintenance, nova-compute on %s is %s %q, want disabled %q", host, svc.Status, svc.DisabledReason, wantReason)
	}
	if _, diags := execute(ctx, t, cl, enter); diags.HasErrors() {
		t.Fatalf("enter maintenance again (resume): %v", diags)
	}
	if again := computeService(ctx, t, c, host); again.DisabledReason != wantReason || !again.UpdatedAt.Equal(svc.UpdatedAt) && again.Status != "disabled" {
		t.Errorf("enter_maintenance sent again changed the service: %s %q", again.Status, again.DisabledReason)
	}
	inv, diags = cl.ReadInventory(ctx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, h := range inv.Hosts {
		if h.Name == host && (h.State != sdk.HostMaintenance || h.StateReason != reason) {
			t.Errorf("inventory: %s is %s %q, want maintenance %q", host, h.State, h.StateReason, reason)
		}
	}

	// Evacuate it: each server to a host of its zone that holds no member
	// of its group, like a plan would.
	groupOf := map[string]string{}
	for g, ms := range groups {
		for _, m := range ms {
			groupOf[m] = g
		}
	}
	var onHost []string
	for _, in := range inv.Instances {
		if in.Host == host {
			onHost = append(onHost, in.ID)
		}
	}
	if len(onHost) == 0 {
		t.Fatalf("no server on %s", host)
	}
	var migTimes []time.Duration
	for _, id := range onHost {
		used := map[string]bool{host: true}
		if g := groupOf[id]; g != "" {
			for _, m := range groups[g] {
				used[server(ctx, t, c, m).Host] = true
			}
		}
		dest := ""
		for _, cp := range env.Computes {
			if !used[cp.Name] && (dest == "" || cp.Zone == zoneOf[host] && zoneOf[dest] != zoneOf[host]) {
				dest = cp.Name
			}
		}
		req := sdk.ExecuteActionRequest{ID: runID + "/w1/" + host + "/migrate/" + id, Kind: sdk.ActionMigrate, Host: host, Instance: id, Destination: dest, Live: true}
		d, diags := execute(ctx, t, cl, req)
		if diags.HasErrors() {
			t.Fatalf("migrate %s to %s: %v", id, dest, diags)
		}
		migTimes = append(migTimes, d)
		s := server(ctx, t, c, id)
		recs := migrationRecords(ctx, t, c, id)
		if s.Host != dest || s.Status != "ACTIVE" || len(recs) == 0 || recs[0].Status != "completed" || recs[0].DestCompute != dest || recs[0].SourceCompute != host {
			t.Fatalf("after migrate: %s on %s (%s), records %+v; want on %s with a completed record %s -> %s", id, s.Host, s.Status, recs, dest, host, dest)
		}
		if _, diags := execute(ctx, t, cl, req); diags.HasErrors() {
			t.Fatalf("migrate %s again (resume): %v", id, diags)
		}
		if again := migrationRecords(ctx, t, c, id); len(again) != len(recs) {
			t.Errorf("migrate sent again made %d new migration records", len(again)-len(recs))
		}
	}

	leave := sdk.ExecuteActionRequest{ID: runID + "/w1/" + host + "/leave_maintenance", Kind: sdk.ActionLeaveMaintenance, Host: host}
	leaveTime, diags := execute(ctx, t, cl, leave)
	if diags.HasErrors() {
		t.Fatalf("leave maintenance: %v", diags)
	}
	if s := computeService(ctx, t, c, host); s.Status != "enabled" || s.DisabledReason != "" {
		t.Fatalf("after leave_maintenance: %s %q, want enabled", s.Status, s.DisabledReason)
	}
	if _, diags := execute(ctx, t, cl, leave); diags.HasErrors() || len(diags) != 0 {
		t.Fatalf("leave maintenance again (resume): %v", diags)
	}

	verify := sdk.ExecuteActionRequest{ID: runID + "/w1/" + host + "/verify/hypervisor", Kind: sdk.ActionVerify, Host: host, Component: openstack.VersionHypervisor, ToVersion: "1.0"}
	verifyTime, diags := execute(ctx, t, cl, verify)
	if diags.HasErrors() {
		t.Fatalf("verify: %v", diags)
	}

	refusal(ctx, t, c, cl, env, runID)
	failedMigration(ctx, t, c, cl, groups, runID)
	abortedMigration(ctx, t, c, env, ours, groupOf, runID)

	mean := time.Duration(0)
	for _, d := range migTimes {
		mean += d
	}
	mean /= time.Duration(len(migTimes))
	fmt.Printf("OSPROVIDER env=%.1fs inventory=%.2fs hosts=%d instances=%d enter_maintenance=%.2fs live_migrations=%d mean_migration=%.1fs leave_maintenance=%.2fs verify=%.1fs total=%.1fs\n",
		tEnv.Seconds(), invTime.Seconds(), len(inv.Hosts), len(inv.Instances), enterTime.Seconds(), len(migTimes), mean.Seconds(), leaveTime.Seconds(), verifyTime.Seconds(), time.Since(t0).Seconds())
}

// checkInventory compares the provider's inventory with Nova and
// Placement read directly.
func checkInventory(ctx context.Context, t *testing.T, c, pl *gophercloud.ServiceClient, env *osenv.Env, inv *sdk.ReadInventoryResponse, groups map[string][]string) {
	t.Helper()
	hosts := map[string]sdk.Host{}
	for _, h := range inv.Hosts {
		hosts[h.Name] = h
	}
	rps := map[string]string{}
	pages, err := resourceproviders.List(pl, resourceproviders.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := resourceproviders.ExtractResourceProviders(pages)
	for _, rp := range list {
		rps[rp.Name] = rp.UUID
	}
	for _, cp := range env.Computes {
		h, ok := hosts[cp.Name]
		if !ok {
			t.Errorf("inventory lacks compute %s", cp.Name)
			continue
		}
		if h.Role != openstack.RoleCompute || h.AvailabilityZone != cp.Zone || h.State != sdk.HostUp {
			t.Errorf("host %s: role %s zone %s state %s, want compute %s up", h.Name, h.Role, h.AvailabilityZone, h.State, cp.Zone)
		}
		if len(h.Aggregates) != 1 || h.Aggregates[0] != cp.Zone {
			t.Errorf("host %s: aggregates %v, want [%s]", h.Name, h.Aggregates, cp.Zone)
		}
		invs, err := resourceproviders.GetInventories(ctx, pl, rps[cp.Name]).Extract()
		if err != nil {
			t.Fatal(err)
		}
		v := invs.Inventories["VCPU"]
		if want := int64(float64(v.Total-v.Reserved) * float64(v.AllocationRatio)); h.Capacity.VCPUs != want {
			t.Errorf("host %s: %d vCPUs, Placement says %d", h.Name, h.Capacity.VCPUs, want)
		}
		if h.Versions[openstack.VersionHypervisor] != "1.0" || h.Attributes["hypervisor_type"] != "fake" {
			t.Errorf("host %s: versions %v attributes %v, want the fake hypervisor 1.0", h.Name, h.Versions, h.Attributes)
		}
	}
	controllers := 0
	for _, h := range inv.Hosts {
		if h.Role == openstack.RoleController {
			controllers++
			if h.Versions[openstack.VersionComputeAPI] != "2.93" {
				t.Errorf("controller %s: versions %v, want compute_api 2.93 (Zed)", h.Name, h.Versions)
			}
		}
	}
	if controllers == 0 {
		t.Errorf("no controller host in the inventory (nova-conductor, nova-scheduler)")
	}

	pages, err = servers.List(c, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sdk.Instance{}
	used := map[string]sdk.Resources{}
	for _, in := range inv.Instances {
		got[in.ID] = in
		r := used[in.Host]
		used[in.Host] = sdk.Resources{VCPUs: r.VCPUs + in.Resources.VCPUs, MemoryMB: r.MemoryMB + in.Resources.MemoryMB, DiskGB: r.DiskGB + in.Resources.DiskGB}
	}
	if len(got) != len(all) {
		t.Errorf("inventory has %d instances, Nova %d servers", len(got), len(all))
	}
	for _, s := range all {
		in, ok := got[s.ID]
		if !ok {
			t.Errorf("inventory lacks server %s", s.ID)
			continue
		}
		if in.Host != s.Host || in.Status != s.Status || in.Project != s.TenantID || in.Resources != (sdk.Resources{VCPUs: 1, MemoryMB: 512, DiskGB: 1}) || !in.LiveMigratable {
			t.Errorf("instance %s: %+v; Nova: host %s status %s project %s (m1.tiny)", s.ID, in, s.Host, s.Status, s.TenantID)
		}
	}
	for name, h := range hosts {
		if h.Role == openstack.RoleCompute && h.Used != used[name] {
			t.Errorf("host %s: used %+v, its instances add up to %+v", name, h.Used, used[name])
		}
	}
	sgs := map[string]sdk.ServerGroup{}
	for _, g := range inv.ServerGroups {
		sgs[g.ID] = g
	}
	for id, members := range groups {
		g, ok := sgs[id]
		if !ok || g.Policy != "anti-affinity" || fmt.Sprint(sortedCopy(g.Members)) != fmt.Sprint(sortedCopy(members)) {
			t.Errorf("server group %s: %+v, want anti-affinity with %v", id, g, members)
		}
		for _, m := range members {
			if got[m].ServerGroup != id {
				t.Errorf("instance %s: server group %q, want %s", m, got[m].ServerGroup, id)
			}
		}
	}
}

// refusal: a host an operator disabled is not put in maintenance.
func refusal(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, cl *sdktest.Client, env *osenv.Env, runID string) {
	t.Helper()
	host := env.Computes[len(env.Computes)-1].Name
	svc := computeService(ctx, t, c, host)
	const why = "hardware repair, ticket 42"
	if _, err := services.Update(ctx, c, svc.ID, services.UpdateOpts{Status: services.ServiceDisabled, DisabledReason: why}).Extract(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := services.Update(ctx, c, svc.ID, services.UpdateOpts{Status: services.ServiceEnabled}).Extract(); err != nil {
			t.Error(err)
		}
	}()
	_, diags := execute(ctx, t, cl, sdk.ExecuteActionRequest{ID: runID + "/w2/" + host + "/enter_maintenance", Kind: sdk.ActionEnterMaintenance, Host: host, Reason: "escalator run " + runID + ", wave 2"})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "disabled for another reason") {
		t.Errorf("enter_maintenance on a host disabled by an operator: %v, want a refusal", diags)
	}
	if s := computeService(ctx, t, c, host); s.DisabledReason != why {
		t.Errorf("the refused enter_maintenance changed the reason to %q", s.DisabledReason)
	}
	// leave_maintenance must not enable it either.
	_, diags = execute(ctx, t, cl, sdk.ExecuteActionRequest{ID: runID + "/w2/" + host + "/leave_maintenance", Kind: sdk.ActionLeaveMaintenance, Host: host})
	if diags.HasErrors() || len(diags) != 1 || diags[0].Severity != sdk.Warning {
		t.Errorf("leave_maintenance on a host disabled by an operator: %v, want one warning", diags)
	}
	if s := computeService(ctx, t, c, host); s.Status != "disabled" || s.DisabledReason != why {
		t.Errorf("leave_maintenance changed an operator's disable: %s %q", s.Status, s.DisabledReason)
	}
}

// failedMigration: moving an anti-affinity member next to another member
// fails in Nova's scheduler; the action fails with the record's status
// and Nova's reason, and the server stays where it was.
func failedMigration(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, cl *sdktest.Client, groups map[string][]string, runID string) {
	t.Helper()
	var members []string
	for _, g := range sortedKeys(groups) {
		members = groups[g]
	}
	id, other := members[0], members[1]
	src, dest := server(ctx, t, c, id).Host, server(ctx, t, c, other).Host
	_, diags := execute(ctx, t, cl, sdk.ExecuteActionRequest{ID: runID + "/w3/" + src + "/migrate/" + id, Kind: sdk.ActionMigrate, Host: src, Instance: id, Destination: dest, Live: true})
	if !diags.HasErrors() {
		t.Fatalf("live-migrating anti-affinity member %s onto %s, which holds member %s, succeeded", id, dest, other)
	}
	t.Logf("refused as expected: %s", diags[0].Detail)
	if !strings.Contains(diags[0].Detail, `ended "error"`) {
		t.Errorf("error does not give the migration record's status: %s", diags[0].Detail)
	}
	if s := server(ctx, t, c, id); s.Host != src || s.Status != "ACTIVE" {
		t.Errorf("after the failed migration %s is on %s (%s), want ACTIVE on %s", id, s.Host, s.Status, src)
	}
}

// abortedMigration: with migration_timeout shorter than the fake driver's
// 5 s live migration, the migration is aborted and ends cancelled.
func abortedMigration(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, env *osenv.Env, ours []string, groupOf map[string]string, runID string) {
	t.Helper()
	cl := configure(ctx, t, env, map[string]cty.Value{"migration_timeout": cty.StringVal("1s")})
	var id string
	for _, s := range ours {
		if groupOf[s] == "" {
			id = s
			break
		}
	}
	src := server(ctx, t, c, id).Host
	dest := ""
	for _, cp := range env.Computes {
		if cp.Name != src && computeService(ctx, t, c, cp.Name).Status == "enabled" {
			dest = cp.Name
			break
		}
	}
	_, diags := execute(ctx, t, cl, sdk.ExecuteActionRequest{ID: runID + "/w4/" + src + "/migrate/" + id, Kind: sdk.ActionMigrate, Host: src, Instance: id, Destination: dest, Live: true})
	if !diags.HasErrors() {
		t.Fatalf("a live migration with migration_timeout 1s succeeded; the fake driver takes 5s")
	}
	t.Logf("aborted as expected: %s", diags[0].Detail)
	recs := migrationRecords(ctx, t, c, id)
	if len(recs) == 0 || recs[0].Status != "cancelled" {
		t.Errorf("after the abort, migration records %+v, want the newest cancelled", recs)
	}
	// The instance is back to rest on its source.
	deadline := time.Now().Add(time.Minute)
	for {
		s := server(ctx, t, c, id)
		if s.Host == src && s.Status == "ACTIVE" && s.TaskState == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the abort %s is on %s (%s, task %q), want ACTIVE on %s", id, s.Host, s.Status, s.TaskState, src)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
