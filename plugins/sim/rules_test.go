package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
)

func TestMigrateRules(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(c *Cloud)
		req     sdk.ExecuteActionRequest
		wantErr string // substring of the refusal; "" for success
		warn    string // substring of a warning
	}{
		{name: "live ok", req: migrate("m", "loner", "h3", true)},
		{name: "cold ok", req: migrate("m", "loner", "h3", false)},
		{name: "expected source ok", req: sdk.ExecuteActionRequest{ID: "m", Kind: sdk.ActionMigrate, Host: "h1", Instance: "loner", Destination: "h2", Live: true}},
		{name: "same host", req: migrate("m", "loner", "h1", true), wantErr: "already on host \"h1\""},
		{name: "unknown instance", req: migrate("m", "nope", "h2", true), wantErr: "instance \"nope\" is not in the cloud"},
		{name: "unknown destination", req: migrate("m", "loner", "h9", true), wantErr: "destination host \"h9\" is not in the cloud"},
		{name: "no destination", req: migrate("m", "loner", "", true), wantErr: "no destination"},
		{name: "instance moved since the plan",
			req:     sdk.ExecuteActionRequest{ID: "m", Kind: sdk.ActionMigrate, Host: "h2", Instance: "loner", Destination: "h3", Live: true},
			wantErr: "not on \"h2\" as the plan expected"},
		{name: "destination in maintenance",
			setup:   func(c *Cloud) { c.Host("h3").State, c.Host("h3").StateReason = StateMaintenance, "run 1" },
			req:     migrate("m", "loner", "h3", true),
			wantErr: "is maintenance (reason \"run 1\")"},
		{name: "destination disabled",
			setup:   func(c *Cloud) { c.Host("h3").State = StateDisabled },
			req:     migrate("m", "loner", "h3", true),
			wantErr: "Nova schedules nothing onto a disabled compute service"},
		{name: "destination down",
			setup:   func(c *Cloud) { c.Host("h3").State = StateDown },
			req:     migrate("m", "loner", "h3", true),
			wantErr: "destination host \"h3\" is down"},
		{name: "source down",
			setup:   func(c *Cloud) { c.Host("h1").State = StateDown },
			req:     migrate("m", "loner", "h3", false),
			wantErr: "needs the source host up"},
		{name: "source in maintenance is fine",
			setup: func(c *Cloud) { c.Host("h1").State = StateMaintenance },
			req:   migrate("m", "loner", "h3", true)},
		{name: "no free vcpu",
			setup:   func(c *Cloud) { c.Host("h3").Capacity.VCPUs = 5 }, // s2 uses 2, loner needs 4
			req:     migrate("m", "loner", "h3", true),
			wantErr: "has 3 vCPU and 30720 MB free, instance \"loner\" needs 4 vCPU and 4096 MB"},
		{name: "no free memory",
			setup:   func(c *Cloud) { c.Host("h3").Capacity.MemoryMB = 6000 },
			req:     migrate("m", "loner", "h3", true),
			wantErr: "3952 MB free"},
		{name: "exactly full fits",
			setup: func(c *Cloud) { c.Host("h3").Capacity = Resources{VCPUs: 6, MemoryMB: 6144} },
			req:   migrate("m", "loner", "h3", true)},
		{name: "disk is not enforced (shared storage)",
			setup: func(c *Cloud) { c.Host("h3").Capacity.DiskGB = 0 },
			req:   migrate("m", "loner", "h3", true)},
		{name: "anti-affinity",
			req:     migrate("m", "a1", "h2", true),
			wantErr: "already holds [a2] of anti-affinity server group"},
		{name: "anti-affinity elsewhere ok", req: migrate("m", "a1", "h3", true)},
		{name: "anti-affinity counts a member migrating there",
			setup: func(c *Cloud) {
				c.Instance("a2").Migration = &Migration{To: "h3", Live: true, StepID: "other"}
			},
			req:     migrate("m", "a1", "h3", true),
			wantErr: "already holds [a2]"},
		{name: "soft-anti-affinity only warns",
			req:  migrate("m", "s1", "h3", true),
			warn: "shares host \"h3\" with [s2] of soft-anti-affinity group"},
		{name: "affinity moves as a whole",
			req:     migrate("m", "f1", "h3", true),
			wantErr: "an affinity group moves as a whole"},
		{name: "soft-affinity only warns",
			setup: func(c *Cloud) { c.ServerGroup("aff").Policy = PolicySoftAffinity },
			req:   migrate("m", "f1", "h3", true),
			warn:  "left the other members of soft-affinity group"},
		{name: "not live-migratable",
			setup:   func(c *Cloud) { c.Instance("loner").LiveMigratable = false },
			req:     migrate("m", "loner", "h3", true),
			wantErr: "cannot be live-migrated"},
		{name: "not live-migratable, cold ok",
			setup: func(c *Cloud) { c.Instance("loner").LiveMigratable = false },
			req:   migrate("m", "loner", "h3", false)},
		{name: "shutoff live",
			setup:   func(c *Cloud) { c.Instance("loner").Status = StatusShutoff },
			req:     migrate("m", "loner", "h3", true),
			wantErr: "live-migrates only ACTIVE or PAUSED"},
		{name: "shutoff cold ok",
			setup: func(c *Cloud) { c.Instance("loner").Status = StatusShutoff },
			req:   migrate("m", "loner", "h3", false)},
		{name: "error status",
			setup:   func(c *Cloud) { c.Instance("loner").Status = StatusError },
			req:     migrate("m", "loner", "h3", false),
			wantErr: "cold-migrates only ACTIVE or SHUTOFF"},
		{name: "live to an older hypervisor",
			setup:   func(c *Cloud) { c.Host("h1").Versions["qemu"] = "7.2.0" },
			req:     migrate("m", "loner", "h3", true),
			wantErr: "runs qemu 7.1.0, older than 7.2.0"},
		{name: "cold to an older hypervisor ok",
			setup: func(c *Cloud) { c.Host("h1").Versions["qemu"] = "7.2.0" },
			req:   migrate("m", "loner", "h3", false)},
		{name: "live to a newer hypervisor ok",
			setup: func(c *Cloud) { c.Host("h3").Versions["qemu"] = "7.10.0" },
			req:   migrate("m", "loner", "h3", true)},
		{name: "already migrating elsewhere",
			setup: func(c *Cloud) {
				c.Instance("loner").Migration = &Migration{To: "h2", Live: true, StepID: "other"}
			},
			req:     migrate("m", "loner", "h3", true),
			wantErr: "already migrating to \"h2\" (step \"other\")"},
		{name: "capacity counts claims of migrations in flight",
			setup: func(c *Cloud) {
				c.Host("h3").Capacity.VCPUs = 8 // s2 uses 2, a1's claim 2: 4 left
				c.Instance("a1").Migration = &Migration{To: "h3", Live: true, StepID: "other"}
				c.Instance("loner").Flavor.VCPUs = 5
			},
			req:     migrate("m", "loner", "h3", true),
			wantErr: "has 4 vCPU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCloud()
			if tt.setup != nil {
				tt.setup(c)
			}
			path := writeCloud(t, c)
			p := configure(t, path, nil)
			before := readCloud(t, path)
			resp := exec(t, p, tt.req)
			after := readCloud(t, path)
			in := before.Instance(tt.req.Instance)
			if tt.wantErr != "" {
				got := errorText(resp.Diagnostics)
				if !strings.Contains(got, tt.wantErr) {
					t.Fatalf("error %q, want it to contain %q", got, tt.wantErr)
				}
				if in != nil && after.Instance(in.ID).Host != in.Host {
					t.Errorf("refused migration moved the instance to %s", after.Instance(in.ID).Host)
				}
				evs := events(t, path)
				if len(evs) != 1 || evs[0].Result != ResultFailed || evs[0].Error == "" {
					t.Errorf("want one failed event, got %+v", evs)
				}
				return
			}
			if resp.Diagnostics.HasErrors() {
				t.Fatalf("unexpected failure: %s", diagText(resp.Diagnostics))
			}
			if got := warningText(resp.Diagnostics); !strings.Contains(got, tt.warn) || (tt.warn == "" && got != "") {
				t.Errorf("warnings %q, want %q", got, tt.warn)
			}
			moved := after.Instance(tt.req.Instance)
			if moved.Host != tt.req.Destination || moved.Migration != nil {
				t.Errorf("instance on %s (migration %+v), want on %s", moved.Host, moved.Migration, tt.req.Destination)
			}
			if resp.Outputs["from"] != in.Host || resp.Outputs["to"] != tt.req.Destination {
				t.Errorf("outputs %v", resp.Outputs)
			}
			evs := events(t, path)
			if len(evs) != 1 || evs[0].Result != ResultOK || evs[0].From != in.Host || evs[0].To != tt.req.Destination || evs[0].Instance != in.ID {
				t.Errorf("events %+v", evs)
			}
		})
	}
}

func TestHostActionRules(t *testing.T) {
	type step struct {
		req     sdk.ExecuteActionRequest
		wantErr string
		check   func(t *testing.T, c *Cloud, out map[string]string)
	}
	enter := func(id, host, reason string) sdk.ExecuteActionRequest {
		return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionEnterMaintenance, Host: host, Reason: reason}
	}
	leave := func(id, host, reason string) sdk.ExecuteActionRequest {
		return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionLeaveMaintenance, Host: host, Reason: reason}
	}
	upgrade := func(id, host, comp, from, to string, settings map[string]cty.Value) sdk.ExecuteActionRequest {
		s := cty.NullVal(cty.DynamicPseudoType)
		if settings != nil {
			s = conform(t, componentSchema(), settings)
		}
		return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionUpgrade, Host: host, Component: comp, FromVersion: from, ToVersion: to, Settings: s}
	}
	rollback := func(id, host, comp, from, to string) sdk.ExecuteActionRequest {
		return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionRollback, Host: host, Component: comp, FromVersion: from, ToVersion: to}
	}
	verify := func(id, host, comp, want string) sdk.ExecuteActionRequest {
		return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionVerify, Host: host, Component: comp, ToVersion: want}
	}
	probe := func(host, name string) sdk.ExecuteActionRequest {
		return sdk.ExecuteActionRequest{ID: "probe", Kind: sdk.ActionProbe, Host: host, Probe: name}
	}
	state := func(host, want, reason string) func(*testing.T, *Cloud, map[string]string) {
		return func(t *testing.T, c *Cloud, _ map[string]string) {
			if h := c.Host(host); h.State != want || h.StateReason != reason {
				t.Errorf("host %s is %s (%q), want %s (%q)", host, h.State, h.StateReason, want, reason)
			}
		}
	}
	version := func(host, comp, want string) func(*testing.T, *Cloud, map[string]string) {
		return func(t *testing.T, c *Cloud, _ map[string]string) {
			if got, ok := c.Host(host).Versions[comp]; got != want || (want == "" && ok) {
				t.Errorf("%s on %s is %q, want %q", comp, host, got, want)
			}
		}
	}
	emptyH3 := func(c *Cloud) { c.Instance("s2").Host = "h2" }

	tests := []struct {
		name  string
		setup func(c *Cloud)
		steps []step
	}{
		{name: "enter and leave maintenance", steps: []step{
			{req: enter("e", "h1", "run 1"), check: state("h1", StateMaintenance, "run 1")},
			{req: enter("e2", "h1", "run 1"), check: state("h1", StateMaintenance, "run 1")}, // idempotent, same reason
			{req: enter("e3", "h1", "run 2"), wantErr: "already in maintenance for \"run 1\", not for \"run 2\""},
			{req: leave("l0", "h1", "run 2"), wantErr: "in maintenance for \"run 1\", not for \"run 2\""},
			{req: leave("l", "h1", "run 1"), check: state("h1", StateUp, "")},
			{req: leave("l2", "h1", ""), check: state("h1", StateUp, "")}, // already up
		}},
		{name: "enter without reason names the step", steps: []step{
			{req: enter("step-7", "h1", ""), check: state("h1", StateMaintenance, "escalator step step-7")},
		}},
		{name: "operator-disabled host", setup: func(c *Cloud) { c.Host("h1").State, c.Host("h1").StateReason = StateDisabled, "bad DIMM" }, steps: []step{
			{req: enter("e", "h1", "run 1"), wantErr: "disabled by an operator (reason \"bad DIMM\")"},
			{req: leave("l", "h1", ""), wantErr: "disabled by an operator"},
		}},
		{name: "down host", setup: func(c *Cloud) { c.Host("h1").State = StateDown }, steps: []step{
			{req: enter("e", "h1", "run 1"), wantErr: "host \"h1\" is down"},
			{req: upgrade("u", "h1", "nova_compute", "26.2.0", "27.1.0", nil), wantErr: "is down"},
			{req: probe("h1", ProbeComputeServiceUp), wantErr: "compute service of host \"h1\" is down"},
		}},
		{name: "unknown host", steps: []step{
			{req: enter("e", "h9", "run 1"), wantErr: "host \"h9\" is not in the cloud"},
		}},
		{name: "probe", setup: func(c *Cloud) { c.Host("h2").State = StateMaintenance }, steps: []step{
			{req: probe("h1", ProbeComputeServiceUp), check: func(t *testing.T, _ *Cloud, out map[string]string) {
				if out["state"] != StateUp {
					t.Errorf("outputs %v", out)
				}
			}},
			{req: probe("h2", ProbeComputeServiceUp)},
			{req: probe("h1", "disk_full"), wantErr: "unknown probe \"disk_full\""},
		}},
		{name: "service upgrade with instances running", steps: []step{
			{req: upgrade("u", "h1", "nova_compute", "26.2.0", "27.1.0", nil), check: version("h1", "nova_compute", "27.1.0")},
			{req: verify("v", "h1", "nova_compute", "27.1.0")},
			{req: verify("v2", "h1", "nova_compute", "28.0.0"), wantErr: "verification failed: host \"h1\" has nova_compute \"27.1.0\" installed, expected \"28.0.0\""},
			{req: rollback("r", "h1", "nova_compute", "26.2.0", "27.1.0"), check: version("h1", "nova_compute", "26.2.0")},
			{req: rollback("r2", "h1", "nova_compute", "26.2.0", "27.1.0"), check: version("h1", "nova_compute", "26.2.0")}, // already back
		}},
		{name: "host-disruptive upgrade needs an empty host", steps: []step{
			{req: upgrade("u", "h1", "qemu", "7.1.0", "7.2.0", nil), wantErr: "host \"h1\" still runs 3 instance(s): [a1 loner s1]; upgrade of qemu requires an empty host"},
			{req: upgrade("u2", "h1", "nova_compute", "26.2.0", "27.1.0", map[string]cty.Value{"requires_empty_host": cty.True}), wantErr: "requires an empty host"},
			{req: upgrade("u3", "h1", "qemu", "7.1.0", "7.2.0", map[string]cty.Value{"requires_empty_host": cty.False}), check: version("h1", "qemu", "7.2.0")},
		}},
		{name: "shutoff instances do not block an upgrade", setup: func(c *Cloud) {
			c.Instance("s2").Status = StatusShutoff
		}, steps: []step{
			{req: upgrade("u", "h3", "qemu", "7.1.0", "7.2.0", nil), check: version("h3", "qemu", "7.2.0")},
		}},
		{name: "a migration in flight blocks an upgrade", setup: func(c *Cloud) {
			emptyH3(c)
			c.Instance("a1").Migration = &Migration{To: "h3", Live: true, StepID: "x"}
		}, steps: []step{
			{req: upgrade("u", "h3", "qemu", "7.1.0", "7.2.0", nil), wantErr: "a1 (migrating)"},
		}},
		{name: "empty host upgrade, rollback, restore", setup: emptyH3, steps: []step{
			{req: sdk.ExecuteActionRequest{ID: "b", Kind: sdk.ActionBackup, Host: "h3", Component: "qemu"}, check: func(t *testing.T, c *Cloud, out map[string]string) {
				if out["backup_id"] != "bk-000001" || out["version"] != "7.1.0" {
					t.Errorf("outputs %v", out)
				}
				if b := c.Backups["bk-000001"]; b == nil || b.Version != "7.1.0" || b.Host != "h3" {
					t.Errorf("backup %+v", b)
				}
			}},
			{req: upgrade("u", "h3", "qemu", "7.1.0", "7.2.0", nil), check: version("h3", "qemu", "7.2.0")},
			{req: upgrade("u2", "h3", "qemu", "7.1.0", "7.2.0", nil), check: version("h3", "qemu", "7.2.0")}, // already there
			{req: upgrade("u3", "h3", "qemu", "7.1.0", "8.0.0", nil), wantErr: "has qemu \"7.2.0\" installed, not \"7.1.0\" as the plan expected"},
			{req: upgrade("u4", "h3", "qemu", "7.2.0", "7.0.0", nil), wantErr: "would downgrade it"},
			{req: sdk.ExecuteActionRequest{ID: "res0", Kind: sdk.ActionRestore, BackupID: "bk-000009"}, wantErr: "backup \"bk-000009\" does not exist"},
			{req: sdk.ExecuteActionRequest{ID: "res1", Kind: sdk.ActionRestore, Host: "h1", BackupID: "bk-000001"}, wantErr: "taken on host \"h3\", not \"h1\""},
			{req: sdk.ExecuteActionRequest{ID: "res", Kind: sdk.ActionRestore, Host: "h3", BackupID: "bk-000001"}, check: version("h3", "qemu", "7.1.0")},
			{req: rollback("r", "h3", "qemu", "7.0.0", "7.9.9"), wantErr: "neither the upgrade's target \"7.9.9\" nor the rollback's \"7.0.0\""},
		}},
		{name: "install and roll back a new component", setup: emptyH3, steps: []step{
			{req: upgrade("u", "h3", "kernel", "", "6.1.0", nil), check: version("h3", "kernel", "6.1.0")},
			{req: rollback("r", "h3", "kernel", "", "6.1.0"), check: version("h3", "kernel", "")},
			{req: sdk.ExecuteActionRequest{ID: "b", Kind: sdk.ActionBackup, Host: "h3", Component: "kernel"}, wantErr: "not installed"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCloud()
			if tt.setup != nil {
				tt.setup(c)
			}
			path := writeCloud(t, c)
			p := configure(t, path, nil)
			for i, s := range tt.steps {
				before, _ := readFile(path)
				resp := exec(t, p, s.req)
				if s.wantErr != "" {
					if got := errorText(resp.Diagnostics); !strings.Contains(got, s.wantErr) {
						t.Fatalf("step %d (%s): error %q, want %q", i, s.req.Kind, got, s.wantErr)
					}
					if after, _ := readFile(path); after != before {
						t.Errorf("step %d: a refused action changed the cloud file", i)
					}
					continue
				}
				if resp.Diagnostics.HasErrors() {
					t.Fatalf("step %d (%s): %s", i, s.req.Kind, diagText(resp.Diagnostics))
				}
				if s.check != nil {
					s.check(t, readCloud(t, path), resp.Outputs)
				}
			}
		})
	}
}

func TestIdempotentStepIDs(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	out := mustOK(t, p, migrate("step-1", "loner", "h3", true))
	// The same step again: success, same outputs, nothing done.
	before, _ := readFile(path)
	again := mustOK(t, p, migrate("step-1", "loner", "h3", true))
	if again["from"] != "h1" || again["to"] != "h3" || len(again) != len(out) {
		t.Errorf("replayed outputs %v, want %v", again, out)
	}
	if after, _ := readFile(path); after != before {
		t.Error("a replayed step changed the cloud")
	}
	if n := len(events(t, path)); n != 1 {
		t.Errorf("%d events, want 1: a replayed step is not a new change", n)
	}
	// A new provider (another escalator run) sees the record too.
	p2 := configure(t, path, nil)
	mustOK(t, p2, migrate("step-1", "loner", "h3", true))

	b := mustOK(t, p, sdk.ExecuteActionRequest{ID: "bk", Kind: sdk.ActionBackup, Host: "h3", Component: "qemu"})
	b2 := mustOK(t, p2, sdk.ExecuteActionRequest{ID: "bk", Kind: sdk.ActionBackup, Host: "h3", Component: "qemu"})
	if b["backup_id"] != b2["backup_id"] {
		t.Errorf("a replayed backup returned %s, first %s", b2["backup_id"], b["backup_id"])
	}
	// The id of one action reused for another is refused.
	resp := exec(t, p, sdk.ExecuteActionRequest{ID: "step-1", Kind: sdk.ActionEnterMaintenance, Host: "h1", Reason: "r"})
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "step id \"step-1\" already completed as migrate") {
		t.Errorf("error %q", got)
	}
	// A failed step is not recorded: once the cause is gone, it runs.
	c := readCloud(t, path)
	c.Host("h2").State = StateMaintenance
	if err := WriteCloudFile(path, c); err != nil {
		t.Fatal(err)
	}
	if resp := exec(t, p, migrate("step-2", "a1", "h2", true)); !resp.Diagnostics.HasErrors() {
		t.Fatal("migration to a host in maintenance succeeded")
	}
	c = readCloud(t, path)
	c.Host("h2").State = StateUp
	c.Instance("a2").Host = "h4"
	if err := WriteCloudFile(path, c); err != nil {
		t.Fatal(err)
	}
	mustOK(t, p, migrate("step-2", "a1", "h2", true))
}

func TestCapacityAccounting(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	used := func() map[string]sdk.Resources {
		var resp sdk.ReadInventoryResponse
		p.ReadInventory(context.Background(), sdk.ReadInventoryRequest{}, &resp)
		if resp.Diagnostics.HasErrors() {
			t.Fatal(diagText(resp.Diagnostics))
		}
		m := map[string]sdk.Resources{}
		for _, h := range resp.Hosts {
			m[h.Name] = h.Used
		}
		return m
	}
	u := used()
	if u["h1"].VCPUs != 8 || u["h1"].MemoryMB != 8192 || u["h3"].VCPUs != 2 || u["h4"].VCPUs != 4 || u["h2"].VCPUs != 2 {
		t.Fatalf("used %v", u)
	}
	mustOK(t, p, migrate("m1", "loner", "h3", true))
	u = used()
	if u["h1"].VCPUs != 4 || u["h3"].VCPUs != 6 {
		t.Errorf("after migrating loner: used %v", u)
	}
	// Fill h3 up by migrations until the next one is refused for capacity.
	c := readCloud(t, path)
	c.Host("h3").Capacity = Resources{VCPUs: 8, MemoryMB: 65536}
	if err := WriteCloudFile(path, c); err != nil {
		t.Fatal(err)
	}
	mustOK(t, p, migrate("m2", "a1", "h3", true)) // 8 of 8
	resp := exec(t, p, migrate("m3", "f1", "h3", false))
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "has 0 vCPU") {
		t.Errorf("error %q, want a capacity refusal", got)
	}
}

// TestParallelMigrationsClaim checks that two migrations in flight towards
// the same host cannot overbook it: the first claims the room.
func TestParallelMigrationsClaim(t *testing.T) {
	c := testCloud()
	c.Host("h3").Capacity = Resources{VCPUs: 6, MemoryMB: 65536} // s2 2 + room for 4
	path := writeCloud(t, c)
	p := configure(t, path, map[string]cty.Value{
		"time_scale": cty.NumberIntVal(1),
		"durations":  cty.MapVal(map[string]cty.Value{"migrate_live": cty.StringVal("200ms")}),
	})
	type result struct{ resp *sdk.ExecuteActionResponse }
	first := make(chan result)
	go func() { first <- result{exec(t, p, migrate("m1", "loner", "h3", true))} }()
	// Wait until the first migration's claim is on disk.
	deadline := time.Now().Add(5 * time.Second)
	for readCloud(t, path).Instance("loner").Migration == nil {
		if time.Now().After(deadline) {
			t.Fatal("the first migration never claimed its destination")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var inv sdk.ReadInventoryResponse
	p.ReadInventory(context.Background(), sdk.ReadInventoryRequest{}, &inv)
	for _, h := range inv.Hosts {
		if h.Name == "h3" && h.Used.VCPUs != 6 {
			t.Errorf("h3 reports %d vCPU used during the migration, want 6 (the claim counts)", h.Used.VCPUs)
		}
	}
	resp := exec(t, p, migrate("m2", "a1", "h3", true))
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "has 0 vCPU") {
		t.Errorf("second migration: %q, want a capacity refusal", got)
	}
	if r := <-first; r.resp.Diagnostics.HasErrors() {
		t.Fatal(diagText(r.resp.Diagnostics))
	}
	if in := readCloud(t, path).Instance("loner"); in.Host != "h3" || in.Migration != nil {
		t.Errorf("loner on %s, migration %+v", in.Host, in.Migration)
	}
}

func TestCancelledActionChangesNothing(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, map[string]cty.Value{
		"time_scale": cty.NumberIntVal(1),
		"durations":  cty.MapVal(map[string]cty.Value{"migrate_live": cty.StringVal("1h"), "upgrade": cty.StringVal("1h")}),
	})
	resp := execCtx(withTimeout(t, 50*time.Millisecond), p, migrate("m", "loner", "h3", true))
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "nothing was changed") {
		t.Fatalf("error %q", got)
	}
	c := readCloud(t, path)
	if in := c.Instance("loner"); in.Host != "h1" || in.Migration != nil {
		t.Errorf("cancelled migration left loner on %s with claim %+v", in.Host, in.Migration)
	}
	if len(c.Steps) != 0 {
		t.Errorf("cancelled step recorded: %v", c.Steps)
	}
	evs := events(t, path)
	if len(evs) != 1 || evs[0].Result != ResultCancelled {
		t.Errorf("events %+v, want one cancelled", evs)
	}
	// Afterwards the same step id runs normally.
	p2 := configure(t, path, nil)
	mustOK(t, p2, migrate("m", "loner", "h3", true))
}

// TestResumeInterruptedMigration: a plugin that died mid-migration leaves
// its claim; the same step resumes it, another is refused.
func TestResumeInterruptedMigration(t *testing.T) {
	c := testCloud()
	c.Instance("loner").Migration = &Migration{To: "h3", Live: true, StepID: "m"}
	path := writeCloud(t, c)
	p := configure(t, path, nil)
	resp := exec(t, p, migrate("other", "loner", "h2", true))
	if got := errorText(resp.Diagnostics); !strings.Contains(got, "already migrating to \"h3\" (step \"m\")") {
		t.Errorf("error %q", got)
	}
	mustOK(t, p, migrate("m", "loner", "h3", true))
	if in := readCloud(t, path).Instance("loner"); in.Host != "h3" || in.Migration != nil {
		t.Errorf("loner on %s, migration %+v", in.Host, in.Migration)
	}
}
