package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"7.1.0", "7.1.0", 0},
		{"7.1.0", "7.2.0", -1},
		{"7.10.0", "7.9.0", 1},
		{"27.1.0", "26.2.0", 1},
		{"7.1", "7.1.0", -1},
		{"7.2.0-rc1", "7.2.0", -1},
		{"7.2.0~beta1", "7.2.0", -1},
		{"7.2.0-1ubuntu1", "7.2.0", 1},
		{"7.2.0-1ubuntu2", "7.2.0-1ubuntu10", -1},
		{"1:6.2.0", "7.1.0", 1},
		{"2023.1", "2024.1", -1},
		{"7.2.1", "7.2.rc", 1},
		{"007.1", "7.1", 0},
		{"99999999999999999999.0", "99999999999999999998.0", 1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
	for v, want := range map[string]int{"7.1.0": 7, "27.1.0": 27, "1:6.2": 6, "rc1": -1} {
		got, ok := MajorVersion(v)
		if (want < 0) == ok || (ok && got != want) {
			t.Errorf("MajorVersion(%q) = %d, %v", v, got, ok)
		}
	}
}

func TestPlanComponent(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, map[string]cty.Value{"time_scale": cty.NumberFloatVal(0.5)})
	settings := func(m map[string]cty.Value) cty.Value { return conform(t, componentSchema(), m) }
	tests := []struct {
		name       string
		req        sdk.PlanComponentRequest
		refused    string
		disruption sdk.Disruption
		duration   time.Duration
		warn, err  string
	}{
		{name: "service upgrade", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "h1", FromVersion: "26.2.0", ToVersion: "27.1.0"},
			disruption: sdk.DisruptionService, duration: 62500 * time.Millisecond}, // (120s + 5s) * 0.5
		{name: "qemu disrupts the host", req: sdk.PlanComponentRequest{Component: "qemu", Host: "h1", FromVersion: "7.1.0", ToVersion: "7.2.0"},
			disruption: sdk.DisruptionHost, duration: 62500 * time.Millisecond},
		{name: "disruption from settings", req: sdk.PlanComponentRequest{Component: "qemu", Host: "h1", FromVersion: "7.1.0", ToVersion: "7.2.0",
			Settings: settings(map[string]cty.Value{"disruption": cty.StringVal("none")})},
			disruption: sdk.DisruptionNone, duration: 62500 * time.Millisecond},
		{name: "no change", req: sdk.PlanComponentRequest{Component: "qemu", Host: "h1", FromVersion: "7.1.0", ToVersion: "7.1.0"},
			disruption: sdk.DisruptionNone},
		{name: "downgrade", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "h1", FromVersion: "26.2.0", ToVersion: "25.0.0"},
			refused: "nova_compute 26.2.0 -> 25.0.0 is a downgrade"},
		{name: "major jump", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "h1", FromVersion: "26.2.0", ToVersion: "28.0.0"},
			refused: "jumps 2 major versions, more than the 1"},
		{name: "major jump allowed", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "h1", FromVersion: "26.2.0", ToVersion: "28.0.0",
			Settings: settings(map[string]cty.Value{"max_major_jump": cty.NumberIntVal(2)})},
			disruption: sdk.DisruptionService, duration: 62500 * time.Millisecond},
		{name: "first install", req: sdk.PlanComponentRequest{Component: "kernel", Host: "h1", ToVersion: "6.1.0"},
			disruption: sdk.DisruptionHost, duration: 62500 * time.Millisecond},
		{name: "stale from version", req: sdk.PlanComponentRequest{Component: "qemu", Host: "h1", FromVersion: "7.0.0", ToVersion: "7.2.0"},
			disruption: sdk.DisruptionHost, duration: 62500 * time.Millisecond, warn: "has qemu \"7.1.0\" installed, not \"7.0.0\""},
		{name: "unknown host", req: sdk.PlanComponentRequest{Component: "qemu", Host: "h9", FromVersion: "7.1.0", ToVersion: "7.2.0"},
			err: "host \"h9\" is not in the cloud"},
		{name: "bad settings", req: sdk.PlanComponentRequest{Component: "qemu", Host: "h1", FromVersion: "7.1.0", ToVersion: "7.2.0",
			Settings: settings(map[string]cty.Value{"disruption": cty.StringVal("total")})},
			err: "\"total\": use \"none\", \"service\" or \"host\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp sdk.PlanComponentResponse
			p.PlanComponent(context.Background(), tt.req, &resp)
			if tt.err != "" {
				if got := errorText(resp.Diagnostics); !strings.Contains(got, tt.err) {
					t.Fatalf("error %q, want %q", got, tt.err)
				}
				return
			}
			if resp.Diagnostics.HasErrors() {
				t.Fatal(diagText(resp.Diagnostics))
			}
			if got := warningText(resp.Diagnostics); !strings.Contains(got, tt.warn) || (tt.warn == "" && got != "") {
				t.Errorf("warnings %q, want %q", got, tt.warn)
			}
			if tt.refused != "" {
				if !resp.Refused || !strings.Contains(resp.RefusalReason, tt.refused) {
					t.Fatalf("refused %v %q, want %q", resp.Refused, resp.RefusalReason, tt.refused)
				}
				return
			}
			if resp.Refused {
				t.Fatalf("refused: %s", resp.RefusalReason)
			}
			if resp.Disruption != tt.disruption || resp.ExpectedDuration != tt.duration {
				t.Errorf("disruption %d, duration %s; want %d, %s", resp.Disruption, resp.ExpectedDuration, tt.disruption, tt.duration)
			}
		})
	}
}

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]cty.Value
		path   cty.Path
		err    string
	}{
		{name: "defaults"},
		{name: "everything", config: map[string]cty.Value{
			"cloud": cty.StringVal("c.json"), "create": cty.False, "time_scale": cty.NumberFloatVal(0.01), "seed": cty.NumberIntVal(3),
			"lock_timeout": cty.StringVal("10s"),
			"durations":    cty.MapVal(map[string]cty.Value{"migrate_live": cty.StringVal("45s"), "upgrade": cty.StringVal("10m")}),
			"fault": cty.TupleVal([]cty.Value{fault(map[string]cty.Value{
				"action": cty.StringVal("migrate"), "host": cty.StringVal("cmp-a1"), "mode": cty.StringVal("crash"),
				"times": cty.NumberIntVal(0), "rate": cty.NumberFloatVal(0.25), "at": cty.StringVal("end"),
			})}),
		}},
		{name: "negative time_scale", config: map[string]cty.Value{"time_scale": cty.NumberIntVal(-1)},
			path: cty.GetAttrPath("time_scale"), err: "time_scale must be 0"},
		{name: "unknown duration key", config: map[string]cty.Value{"durations": cty.MapVal(map[string]cty.Value{"reboot": cty.StringVal("1m")})},
			path: cty.GetAttrPath("durations").Index(cty.StringVal("reboot")), err: "\"reboot\" is not an action kind"},
		{name: "bad duration", config: map[string]cty.Value{"durations": cty.MapVal(map[string]cty.Value{"backup": cty.StringVal("ten seconds")})},
			path: cty.GetAttrPath("durations").Index(cty.StringVal("backup")), err: "is not a duration"},
		{name: "bad lock timeout", config: map[string]cty.Value{"lock_timeout": cty.StringVal("soon")},
			path: cty.GetAttrPath("lock_timeout"), err: "is not a duration"},
		{name: "fractional seed", config: map[string]cty.Value{"seed": cty.NumberFloatVal(1.5)},
			path: cty.GetAttrPath("seed"), err: "whole number"},
		{name: "bad fault mode", config: faults(fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("explode")})),
			path: cty.GetAttrPath("fault").IndexInt(0).GetAttr("mode"), err: "\"explode\" is not a fault mode"},
		{name: "bad fault action", config: faults(
			fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("fail")}),
			fault(map[string]cty.Value{"action": cty.StringVal("reboot"), "mode": cty.StringVal("fail")})),
			path: cty.GetAttrPath("fault").IndexInt(1).GetAttr("action"), err: "\"reboot\" is not an action"},
		{name: "bad rate", config: faults(fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("fail"), "rate": cty.NumberFloatVal(1.5)})),
			path: cty.GetAttrPath("fault").IndexInt(0).GetAttr("rate"), err: "between 0 and 1"},
		{name: "bad at", config: faults(fault(map[string]cty.Value{"action": cty.StringVal("migrate"), "mode": cty.StringVal("fail"), "at": cty.StringVal("middle")})),
			path: cty.GetAttrPath("fault").IndexInt(0).GetAttr("at"), err: "\"middle\""},
		{name: "unknown values are not errors", config: map[string]cty.Value{"time_scale": cty.UnknownVal(cty.Number), "cloud": cty.UnknownVal(cty.String)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp sdk.ValidateConfigResponse
			New().ValidateConfig(context.Background(), sdk.ValidateConfigRequest{Config: conform(t, providerSchema(), tt.config)}, &resp)
			if tt.err == "" {
				if resp.Diagnostics.HasErrors() {
					t.Fatal(diagText(resp.Diagnostics))
				}
				return
			}
			if len(resp.Diagnostics) != 1 {
				t.Fatalf("diagnostics %s", diagText(resp.Diagnostics))
			}
			d := resp.Diagnostics[0]
			if !strings.Contains(d.Detail, tt.err) || !d.Attribute.Equals(tt.path) {
				t.Errorf("got %q at %#v, want %q at %#v", d.Detail, d.Attribute, tt.err, tt.path)
			}
		})
	}
	// The decoded defaults.
	cfg, _ := DecodeConfig(conform(t, providerSchema(), nil))
	if cfg.Cloud != DefaultCloudFile || !cfg.Create || cfg.TimeScale != DefaultTimeScale || cfg.LockTimeout != DefaultLockTimeout || cfg.Durations[DurMigrateCold] != time.Minute {
		t.Errorf("defaults %+v", cfg)
	}
}

func TestSchema(t *testing.T) {
	var resp sdk.SchemaResponse
	New().Schema(context.Background(), sdk.SchemaRequest{}, &resp)
	if len(resp.Actions) != 9 {
		t.Errorf("%d actions, want 9", len(resp.Actions))
	}
	if len(resp.Probes) != 1 || resp.Probes[0].Name != ProbeComputeServiceUp {
		t.Errorf("probes %+v", resp.Probes)
	}
	names := func(b sdk.Block) string {
		var s []string
		for _, a := range b.Attributes {
			s = append(s, a.Name)
			if a.Description == "" {
				t.Errorf("attribute %s has no description", a.Name)
			}
		}
		for _, nb := range b.Blocks {
			s = append(s, nb.TypeName+"{}")
		}
		return strings.Join(s, " ")
	}
	if got := names(resp.Provider); got != "cloud create time_scale durations seed lock_timeout fault{}" {
		t.Errorf("provider block: %s", got)
	}
	if got := names(resp.Component); got != "disruption requires_empty_host max_major_jump packages" {
		t.Errorf("component settings: %s", got)
	}
	var m sdk.MetadataResponse
	New().Metadata(context.Background(), sdk.MetadataRequest{}, &m)
	if m.Name != "sim" || m.Version != Version {
		t.Errorf("metadata %+v", m)
	}
}

func TestReadInventory(t *testing.T) {
	c := testCloud()
	c.Host("h2").State, c.Host("h2").StateReason = StateMaintenance, "run 9"
	c.Host("h3").State = StateDown
	c.Instance("loner").LiveMigratable = false
	path := writeCloud(t, c)
	p := configure(t, path, nil)
	var resp sdk.ReadInventoryResponse
	p.ReadInventory(context.Background(), sdk.ReadInventoryRequest{}, &resp)
	if resp.Diagnostics.HasErrors() {
		t.Fatal(diagText(resp.Diagnostics))
	}
	if len(resp.Hosts) != 4 || len(resp.Instances) != 7 || len(resp.ServerGroups) != 3 || len(resp.VNFManagers) != 1 {
		t.Fatalf("inventory sizes %d %d %d %d", len(resp.Hosts), len(resp.Instances), len(resp.ServerGroups), len(resp.VNFManagers))
	}
	h2 := resp.Hosts[1]
	if h2.Name != "h2" || h2.State != sdk.HostMaintenance || h2.StateReason != "run 9" || h2.AvailabilityZone != "az1" ||
		h2.Capacity.VCPUs != 16 || h2.Versions["qemu"] != "7.1.0" || h2.Attributes["rack"] != "az1-r1" {
		t.Errorf("h2 %+v", h2)
	}
	if resp.Hosts[2].State != sdk.HostDown || resp.Hosts[0].State != sdk.HostUp {
		t.Errorf("states %v %v", resp.Hosts[2].State, resp.Hosts[0].State)
	}
	loner := resp.Instances[6]
	if loner.ID != "loner" || loner.LiveMigratable || loner.Resources.VCPUs != 4 || loner.Host != "h1" || loner.Status != StatusActive {
		t.Errorf("loner %+v", loner)
	}
	if g := resp.ServerGroups[0]; g.Policy != PolicyAntiAffinity || strings.Join(g.Members, ",") != "a1,a2" {
		t.Errorf("group %+v", g)
	}
	// The response is a copy: changing it does not touch the cache.
	resp.Hosts[0].Versions["qemu"] = "0"
	var again sdk.ReadInventoryResponse
	p.ReadInventory(context.Background(), sdk.ReadInventoryRequest{}, &again)
	if again.Hosts[0].Versions["qemu"] != "7.1.0" {
		t.Error("ReadInventory shares maps with its cache")
	}
}

func TestNotConfigured(t *testing.T) {
	var resp sdk.ReadInventoryResponse
	New().ReadInventory(context.Background(), sdk.ReadInventoryRequest{}, &resp)
	if !strings.Contains(errorText(resp.Diagnostics), "before Configure") {
		t.Errorf("diagnostics %s", diagText(resp.Diagnostics))
	}
}

// TestLiveMigratableDefault: a hand-written instance without
// live_migratable can be live-migrated.
func TestLiveMigratableDefault(t *testing.T) {
	c, err := DecodeCloud([]byte(`{"format_version": 1,
		"hosts": [{"name": "a", "role": "compute", "availability_zone": "z", "capacity": {"vcpus": 4, "memory_mb": 4096, "disk_gb": 0}, "versions": {}, "state": "up"}],
		"instances": [{"id": "i", "name": "i", "flavor": {"vcpus": 1, "memory_mb": 512, "disk_gb": 0}, "host": "a", "status": "ACTIVE", "project": "p"},
		              {"id": "j", "name": "j", "flavor": {"vcpus": 1, "memory_mb": 512, "disk_gb": 0}, "host": "a", "project": "p", "live_migratable": false}],
		"server_groups": [], "vnf_managers": []}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Instance("i").LiveMigratable || c.Instance("j").LiveMigratable || c.Instance("j").Status != StatusActive {
		t.Errorf("instances %+v %+v", c.Instance("i"), c.Instance("j"))
	}
}
