//go:build e2e_openstack && linux

package openstack

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/migrations"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
)

// testLog sends the harness's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// stateDir is on tmpfs when there is one: the database migrations of the
// start-up write a lot, and on this kind of virtual disk the block layer
// then eats a core (control plane ≈22 s on /dev/shm against ≈50 s).
// It is kept, with its logs, when the test fails.
func stateDir(t *testing.T) string {
	base := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "osenv-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("state directory kept for inspection: %s (logs in %s/log; remove it when done)", dir, dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// TestEnvironment starts 6 fake computes in 2 zones and checks the cloud
// through its real APIs: services and zones, 12 servers with two
// anti-affinity groups, a live migration to a named host read from its
// migration record, disable/enable of a compute service, a compute stopped
// and started, then a stop that leaves no process behind.
func TestEnvironment(t *testing.T) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := stateDir(t)
	env, err := Start(ctx, Options{Dir: dir, Computes: 6, Zones: 2, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer scancel()
			if err := env.Stop(sctx); err != nil {
				t.Error(err)
			}
		}
	})
	rssCP, rssComputes := env.RSS()

	p, err := env.Provider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gos.NewComputeV2(p, gophercloud.EndpointOpts{Region: env.Region})
	if err != nil {
		t.Fatal(err)
	}
	// 2.80: server group policy (2.64), "none" networks (2.37), service
	// UUIDs (2.53), migration uuids and owners; below 2.88, whose
	// hypervisor details call every compute.
	c.Microversion = "2.80"

	checkServices(ctx, t, c, env)

	tBoot := time.Now()
	groups, all := bootServers(ctx, t, c, env)
	bootTime := time.Since(tBoot)
	hosts := serverHosts(ctx, t, c, all)
	for name, members := range groups {
		seen := map[string]string{}
		for _, id := range members {
			h := hosts[id]
			if other, dup := seen[h]; dup {
				t.Errorf("anti-affinity group %s: servers %s and %s both on %s", name, other, id, h)
			}
			seen[h] = id
		}
	}

	tMig := time.Now()
	liveMigrate(ctx, t, c, env, groups["aa-1"], hosts)
	migTime := time.Since(tMig)

	disableEnable(ctx, t, c, "compute2")

	tCycle := time.Now()
	if err := env.StopCompute(ctx, "compute6"); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitComputeState(ctx, "compute6", "down"); err != nil {
		t.Fatal(err)
	}
	if err := env.StartCompute(ctx, "compute6"); err != nil {
		t.Fatal(err)
	}
	cycleTime := time.Since(tCycle)

	tStop := time.Now()
	stopped = true
	if err := env.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopTime := time.Since(tStop)
	if left := env.Leftovers(); len(left) > 0 {
		t.Errorf("left running after Stop: %s", strings.Join(left, "; "))
	}
	if err := env.Stop(ctx); err != nil {
		t.Errorf("a second Stop: %v", err)
	}

	// Figures, for the record (never asserted).
	fmt.Printf("OSENV computes=6 zones=2 control_plane=%.1fs computes_up=%.1fs start_total=%.1fs rss_control_plane=%dMB rss_computes=%dMB (%dMB each) boot12=%.1fs live_migration=%.1fs compute_stop_down_start=%.1fs stop=%.1fs test_total=%.1fs\n",
		env.Timings.ControlPlane.Seconds(), env.Timings.Computes.Seconds(), env.Timings.Total.Seconds(),
		rssCP>>20, rssComputes>>20, rssComputes>>20/int64(len(env.Computes)),
		bootTime.Seconds(), migTime.Seconds(), cycleTime.Seconds(), stopTime.Seconds(), time.Since(t0).Seconds())
}

func checkServices(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, env *Env) {
	t.Helper()
	pages, err := services.List(c, services.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := services.ExtractServices(pages)
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string][]string{}
	for _, s := range svcs {
		if s.State != "up" || s.Status != "enabled" {
			t.Errorf("nova-compute on %s: %s/%s, want up/enabled", s.Host, s.State, s.Status)
		}
		zones[s.Zone] = append(zones[s.Zone], s.Host)
	}
	want := map[string][]string{}
	for _, cp := range env.Computes {
		want[cp.Zone] = append(want[cp.Zone], cp.Name)
	}
	for z := range zones {
		sort.Strings(zones[z])
	}
	if fmt.Sprint(zones) != fmt.Sprint(want) {
		t.Fatalf("compute services by zone: got %v, want %v", zones, want)
	}
	if len(svcs) != 6 || len(zones) != 2 {
		t.Fatalf("got %d compute services in %d zones, want 6 in 2", len(svcs), len(zones))
	}
}

// bootServers boots 12 servers without a network: two anti-affinity
// groups of 3 and 6 more, all at once, and waits for them ACTIVE.
//
// Each group is booted as one multi-create request (min_count = max_count
// = 3): the scheduler then places the members one after the other within
// that request and sees each placement.
// Members booted as separate requests in a burst race in real Nova: the
// scheduler weighs hosts from the compute node records and filters on the
// instances' hosts, both written only when a compute claims, so every
// request of the burst picks the same host and the same alternates, and
// the compute's late check (after the claim, so members sharing a host
// reject each other) reschedules them in lockstep until MaxRetriesExceeded.
func bootServers(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, env *Env) (map[string][]string, []string) {
	t.Helper()
	flavor, err := env.FlavorID("m1.tiny")
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	var all []string
	boot := func(name string, count int, hints servers.SchedulerHintOptsBuilder) {
		opts := servers.CreateOpts{Name: name, ImageRef: env.ImageID, FlavorRef: flavor, Networks: "none"}
		if count > 1 {
			opts.Min, opts.Max = count, count
		}
		s, err := servers.Create(ctx, c, opts, hints).Extract()
		if err != nil {
			t.Fatalf("boot %s (%d): %v", name, count, err)
		}
		if count == 1 {
			all = append(all, s.ID)
		}
	}
	for _, g := range []string{"aa-1", "aa-2"} {
		sg, err := servergroups.Create(ctx, c, servergroups.CreateOpts{Name: g, Policy: "anti-affinity"}).Extract()
		if err != nil {
			t.Fatalf("create server group %s: %v", g, err)
		}
		// Nova names the members aa-1-1 … aa-1-3.
		boot(g, 3, servers.SchedulerHintOpts{Group: sg.ID})
		members := groupMembers(ctx, t, c, sg.ID)
		if len(members) != 3 {
			t.Fatalf("server group %s has %d members after a boot of 3: %v", g, len(members), members)
		}
		groups[g] = members
		all = append(all, members...)
	}
	for i := 1; i <= 6; i++ {
		boot(fmt.Sprintf("free-%d", i), 1, nil)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for _, id := range all {
		for {
			s, err := servers.Get(ctx, c, id).Extract()
			if err != nil {
				t.Fatalf("server %s: %v", id, err)
			}
			if s.Status == "ACTIVE" {
				break
			}
			if s.Status == "ERROR" {
				t.Fatalf("server %s (%s) is ERROR: %v; see %s and the nova-compute logs", s.Name, id, s.Fault, env.LogFile("nova-conductor"))
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s (%s) still %s after 5 minutes", s.Name, id, s.Status)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return groups, all
}

// groupMembers returns the members of a server group ordered by name.
func groupMembers(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, groupID string) []string {
	t.Helper()
	sg, err := servergroups.Get(ctx, c, groupID).Extract()
	if err != nil {
		t.Fatalf("server group %s: %v", groupID, err)
	}
	names := map[string]string{}
	for _, id := range sg.Members {
		s, err := servers.Get(ctx, c, id).Extract()
		if err != nil {
			t.Fatalf("server %s of group %s: %v", id, sg.Name, err)
		}
		names[id] = s.Name
	}
	ids := append([]string(nil), sg.Members...)
	sort.Slice(ids, func(i, j int) bool { return names[ids[i]] < names[ids[j]] })
	return ids
}

func serverHosts(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, ids []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		s, err := servers.Get(ctx, c, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if s.Host == "" {
			t.Fatalf("server %s has no host", id)
		}
		out[id] = s.Host
	}
	return out
}

// liveMigrate moves the first member of group to a host no member uses,
// in its zone when possible, and waits on the migration record.
func liveMigrate(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, env *Env, group []string, hosts map[string]string) {
	t.Helper()
	id := group[0]
	src := hosts[id]
	used := map[string]bool{}
	for _, m := range group {
		used[hosts[m]] = true
	}
	zoneOf := map[string]string{}
	for _, cp := range env.Computes {
		zoneOf[cp.Name] = cp.Zone
	}
	dest := ""
	for _, cp := range env.Computes {
		if !used[cp.Name] && (dest == "" || cp.Zone == zoneOf[src] && zoneOf[dest] != zoneOf[src]) {
			dest = cp.Name
		}
	}
	if dest == "" {
		t.Fatalf("no free host for a member of %v", group)
	}
	// block_migration "auto" (2.25+), which gophercloud's LiveMigrateOpts
	// cannot express.
	body := map[string]any{"os-migrateLive": map[string]any{"host": dest, "block_migration": "auto"}}
	if _, err := c.Post(ctx, c.ServiceURL("servers", id, "action"), body, nil, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		t.Fatalf("live-migrate %s from %s to %s: %v", id, src, dest, err)
	}
	typ := "live-migration"
	deadline := time.Now().Add(3 * time.Minute)
	var m migrations.Migration
	for {
		pages, err := migrations.List(c, migrations.ListOpts{InstanceID: &id, MigrationType: &typ}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := migrations.ExtractMigrations(pages)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 1 {
			m = ms[0]
			if m.Status == "completed" {
				break
			}
			if m.Status == "error" || m.Status == "failed" || m.Status == "cancelled" {
				t.Fatalf("live migration %s of %s to %s ended %s; see %s", m.UUID, id, dest, m.Status, env.LogFile(computeDaemon(src)))
			}
		} else if len(ms) > 1 {
			t.Fatalf("%d live migrations of %s, want 1: %+v", len(ms), id, ms)
		}
		if time.Now().After(deadline) {
			t.Fatalf("live migration of %s to %s not completed after 3 minutes (last: %+v)", id, dest, m)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if m.SourceCompute != src || m.DestCompute != dest {
		t.Errorf("migration record %s: %s -> %s, want %s -> %s", m.UUID, m.SourceCompute, m.DestCompute, src, dest)
	}
	// The record completes a moment before the instance's host is saved.
	for {
		s, err := servers.Get(ctx, c, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if s.Host == dest && s.Status == "ACTIVE" && s.TaskState == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s after its completed migration: host %s status %s task %q, want %s ACTIVE", id, s.Host, s.Status, s.TaskState, dest)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func disableEnable(ctx context.Context, t *testing.T, c *gophercloud.ServiceClient, host string) {
	t.Helper()
	pages, err := services.List(c, services.ListOpts{Binary: "nova-compute", Host: host}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := services.ExtractServices(pages)
	if err != nil || len(svcs) != 1 {
		t.Fatalf("nova-compute on %s: %v %v", host, svcs, err)
	}
	const reason = "escalator: e2e test maintenance"
	s, err := services.Update(ctx, c, svcs[0].ID, services.UpdateOpts{Status: services.ServiceDisabled, DisabledReason: reason}).Extract()
	if err != nil {
		t.Fatalf("disable %s: %v", host, err)
	}
	if s.Status != "disabled" || s.DisabledReason != reason {
		t.Errorf("after disable: %s %q, want disabled %q", s.Status, s.DisabledReason, reason)
	}
	s, err = services.Update(ctx, c, svcs[0].ID, services.UpdateOpts{Status: services.ServiceEnabled}).Extract()
	if err != nil {
		t.Fatalf("enable %s: %v", host, err)
	}
	if s.Status != "enabled" || s.DisabledReason != "" {
		t.Errorf("after enable: %s %q, want enabled without a reason", s.Status, s.DisabledReason)
	}
}
