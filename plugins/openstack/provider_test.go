package openstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func TestSchemaIsValid(t *testing.T) {
	f := newFakeCloud(t)
	cl := f.mustProvider(t, nil)
	s, diags := cl.Schema(context.Background())
	if diags.HasErrors() {
		t.Fatalf("schema: %v", diags)
	}
	sensitive := map[string]bool{}
	for _, a := range s.Provider.Attributes {
		sensitive[a.Name] = a.Sensitive
	}
	for _, name := range []string{"password", "application_credential_secret", "token"} {
		if !sensitive[name] {
			t.Errorf("attribute %s is not marked sensitive", name)
		}
	}
	if len(s.Probes) != 1 || s.Probes[0].Name != ProbeComputeServiceUp {
		t.Errorf("probes: %+v", s.Probes)
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeCloud)
		extra   map[string]cty.Value
		wantErr []string // substrings of the error
		notIn   []string // must not appear anywhere in the diagnostics
		wantMV  string
	}{
		{name: "negotiates 2.84 on Zed", wantMV: "2.84"},
		{name: "uses the server's maximum below 2.84", setup: func(f *fakeCloud) { f.computeMax = "2.72" }, wantMV: "2.72"},
		{name: "refuses a Nova older than Queens", setup: func(f *fakeCloud) { f.computeMax = "2.42" },
			wantErr: []string{"microversions up to 2.42", "needs 2.60"}},
		{name: "wrong password names the user and the source, never the secret",
			setup:   func(f *fakeCloud) { f.echoSecret = true },
			extra:   map[string]cty.Value{"password": cty.StringVal("wrong-Secret-9")},
			wantErr: []string{"401", "password credentials of user admin", "the provider block"},
			notIn:   []string{"wrong-Secret-9"}},
		{name: "no project", extra: map[string]cty.Value{"project_name": cty.NullVal(cty.String)},
			wantErr: []string{"no project"}},
		{name: "insecure warns", extra: map[string]cty.Value{"insecure": cty.True}, wantMV: "2.84"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCloud(t)
			f.addCompute("c1", "az1")
			if tt.setup != nil {
				tt.setup(f)
			}
			cl, diags := f.provider(t, tt.extra)
			all := errorText(diags) + warningText(diags)
			for _, s := range tt.notIn {
				if strings.Contains(all, s) {
					t.Errorf("diagnostics print %q: %s", s, all)
				}
			}
			if len(tt.wantErr) > 0 {
				for _, s := range tt.wantErr {
					if !strings.Contains(errorText(diags), s) {
						t.Errorf("error %q does not say %q", errorText(diags), s)
					}
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("configure: %v", diags)
			}
			if _, ok := tt.extra["insecure"]; ok && !strings.Contains(warningText(diags), "not verified") {
				t.Errorf("insecure = true without a warning: %v", diags)
			}
			// The microversion shows on the next compute request.
			if _, d := cl.ReadInventory(context.Background()); d.HasErrors() {
				t.Fatal(d)
			}
			if !f.microversion[tt.wantMV] || len(f.microversion) != 1 {
				t.Errorf("compute requests used microversions %v, want only %s", f.microversion, tt.wantMV)
			}
		})
	}
}

func TestPlanComponentRefuses(t *testing.T) {
	f := newFakeCloud(t)
	cl := f.mustProvider(t, nil)
	resp, diags := cl.PlanComponent(context.Background(), sdk.PlanComponentRequest{Component: "nova", Host: "c1", FromVersion: "26.0", ToVersion: "27.0"})
	if diags.HasErrors() || !resp.Refused || !strings.Contains(resp.RefusalReason, "host provider") {
		t.Fatalf("plan component: %+v %v", resp, diags)
	}
}

func TestInventory(t *testing.T) {
	f := newFakeCloud(t)
	f.addCompute("c1", "az1")
	f.addCompute("c2", "az1")
	f.addCompute("c3", "az2")
	f.addCompute("c4", "az2")
	f.service("c2").Status, f.service("c2").Reason = "disabled", "escalator: RUN1, wave 2"
	f.service("c3").Status, f.service("c3").Reason = "disabled", "hardware repair"
	f.service("c4").State = "down"
	f.services = append(f.services,
		&fakeService{ID: "svc-cond", Binary: "nova-conductor", Host: "ctl1", Zone: "internal", State: "up", Status: "enabled"},
		&fakeService{ID: "svc-sched", Binary: "nova-scheduler", Host: "ctl1", Zone: "internal", State: "up", Status: "enabled"})
	// c3 has no resource provider: its capacity comes from the hypervisor.
	delete(f.inventories, "rp-c3")
	f.hypervisors[2].Used = [3]int{2, 1024, 10}
	f.aggregates = []map[string]any{{"id": 1, "name": "az1", "availability_zone": "az1", "hosts": []string{"c1", "c2"}}, {"id": 2, "name": "ssd", "hosts": []string{"c1"}}}
	f.addServer("vm1", "c1", [3]int{2, 2048, 20})
	f.addServer("vm2", "c1", [3]int{1, 512, 1})
	f.addServer("vm3", "c2", [3]int{1, 512, 1}).Status = "SHUTOFF"
	f.addServer("vm4", "c3", [3]int{1, 512, 1}).Task = "migrating"
	policy := "anti-affinity"
	f.groups = []map[string]any{
		{"id": "g1", "name": "web", "policy": policy, "rules": map[string]any{}, "members": []string{"vm1", "vm3"}, "project_id": fakeProject, "user_id": "u"},
		{"id": "g2", "name": "db", "policies": []string{"soft-affinity"}, "members": []string{"vm2"}, "project_id": fakeProject, "user_id": "u"},
		{"id": "g3", "name": "empty", "policy": "affinity", "members": []string{}, "project_id": "other", "user_id": "u"},
	}
	cl := f.mustProvider(t, nil)
	inv, diags := cl.ReadInventory(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags)
	}

	hosts := map[string]sdk.Host{}
	for _, h := range inv.Hosts {
		h.Attributes = map[string]string{"capacity_source": h.Attributes["capacity_source"], "status": h.Attributes["status"]}
		hosts[h.Name] = h
	}
	placement := sdk.Resources{VCPUs: 32, MemoryMB: 23808, DiskGB: 100} // (total−reserved)×ratio
	want := map[string]sdk.Host{
		"c1": {Name: "c1", Role: "compute", AvailabilityZone: "az1", Aggregates: []string{"az1", "ssd"}, Capacity: placement,
			Used: sdk.Resources{VCPUs: 3, MemoryMB: 2560, DiskGB: 21}, State: sdk.HostUp,
			Versions: map[string]string{"hypervisor": "7.2.0"}, Attributes: map[string]string{"capacity_source": "placement", "status": "enabled"}},
		"c2": {Name: "c2", Role: "compute", AvailabilityZone: "az1", Aggregates: []string{"az1"}, Capacity: placement,
			Used: sdk.Resources{VCPUs: 1, MemoryMB: 512, DiskGB: 1}, State: sdk.HostMaintenance, StateReason: "escalator run RUN1, wave 2",
			Versions: map[string]string{"hypervisor": "7.2.0"}, Attributes: map[string]string{"capacity_source": "placement", "status": "disabled"}},
		"c3": {Name: "c3", Role: "compute", AvailabilityZone: "az2", Capacity: sdk.Resources{VCPUs: 8, MemoryMB: 16384, DiskGB: 100},
			Used: sdk.Resources{VCPUs: 2, MemoryMB: 1024, DiskGB: 10}, State: sdk.HostDisabled, StateReason: "hardware repair",
			Versions: map[string]string{"hypervisor": "7.2.0"}, Attributes: map[string]string{"capacity_source": "hypervisor", "status": "disabled"}},
		"c4": {Name: "c4", Role: "compute", AvailabilityZone: "az2", Capacity: placement, State: sdk.HostDown, StateReason: "nova-compute is down",
			Versions: map[string]string{"hypervisor": "7.2.0"}, Attributes: map[string]string{"capacity_source": "placement", "status": "enabled"}},
		"ctl1": {Name: "ctl1", Role: "controller", AvailabilityZone: "internal", State: sdk.HostUp,
			Versions:   map[string]string{"compute_api": "2.93", "placement_api": "1.39", "identity_api": "3.14"},
			Attributes: map[string]string{"capacity_source": "", "status": ""}},
	}
	if d := cmp.Diff(want, hosts); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}

	insts := map[string]sdk.Instance{}
	for _, in := range inv.Instances {
		insts[in.ID] = in
	}
	wantInsts := map[string]sdk.Instance{
		"vm1": {ID: "vm1", Name: "vm-vm1", Host: "c1", Resources: sdk.Resources{VCPUs: 2, MemoryMB: 2048, DiskGB: 20}, Status: "ACTIVE", Project: fakeProject, ServerGroup: "g1", LiveMigratable: true},
		"vm2": {ID: "vm2", Name: "vm-vm2", Host: "c1", Resources: sdk.Resources{VCPUs: 1, MemoryMB: 512, DiskGB: 1}, Status: "ACTIVE", Project: fakeProject, ServerGroup: "g2", LiveMigratable: true},
		"vm3": {ID: "vm3", Name: "vm-vm3", Host: "c2", Resources: sdk.Resources{VCPUs: 1, MemoryMB: 512, DiskGB: 1}, Status: "SHUTOFF", Project: fakeProject, ServerGroup: "g1"},
		"vm4": {ID: "vm4", Name: "vm-vm4", Host: "c3", Resources: sdk.Resources{VCPUs: 1, MemoryMB: 512, DiskGB: 1}, Status: "ACTIVE", Project: fakeProject, LiveMigratable: true},
	}
	if d := cmp.Diff(wantInsts, insts); d != "" {
		t.Errorf("instances (-want +got):\n%s", d)
	}
	wantGroups := []sdk.ServerGroup{
		{ID: "g1", Name: "web", Policy: "anti-affinity", Project: fakeProject, Members: []string{"vm1", "vm3"}},
		{ID: "g2", Name: "db", Policy: "soft-affinity", Project: fakeProject, Members: []string{"vm2"}},
		{ID: "g3", Name: "empty", Policy: "affinity", Project: "other"},
	}
	if d := cmp.Diff(wantGroups, inv.ServerGroups); d != "" {
		t.Errorf("server groups (-want +got):\n%s", d)
	}
	w := warningText(diags)
	for _, s := range []string{"vm4 (migrating)", "no resource provider for the compute node(s) c3"} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings do not mention %q:\n%s", s, w)
		}
	}
	// Server groups are read page by page (Nova's max_limit is 2 here).
	if n := f.count("GET /compute/v2.1/os-server-groups"); n != 3 {
		t.Errorf("%d server group requests, want 3 (2 + 1 + an empty page)", n)
	}
}

func TestInventoryForbiddenNamesThePolicy(t *testing.T) {
	f := newFakeCloud(t)
	f.addCompute("c1", "az1")
	f.forbidden["GET /compute/v2.1/os-hypervisors/detail"] = "os_compute_api:os-hypervisors:list-detail"
	cl := f.mustProvider(t, nil)
	_, diags := cl.ReadInventory(context.Background())
	got := errorText(diags)
	for _, s := range []string{"403", "policy os_compute_api:os-hypervisors:list-detail", "admin role", "user admin, project admin", "openstack role add"} {
		if !strings.Contains(got, s) {
			t.Errorf("403 error does not say %q:\n%s", s, got)
		}
	}
}

func TestInventoryWithoutPlacement(t *testing.T) {
	f := newFakeCloud(t)
	f.noPlacement = true
	f.addCompute("c1", "az1")
	f.addServer("vm1", "c1", [3]int{2, 2048, 20})
	cl, diags := f.provider(t, nil)
	if diags.HasErrors() || !strings.Contains(warningText(diags), "No placement endpoint") {
		t.Fatalf("configure without Placement: %v", diags)
	}
	inv, diags := cl.ReadInventory(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h := inv.Hosts[0]
	if h.Capacity != (sdk.Resources{VCPUs: 8, MemoryMB: 16384, DiskGB: 100}) || h.Attributes["capacity_source"] != "hypervisor" {
		t.Errorf("capacity without Placement: %+v from %s", h.Capacity, h.Attributes["capacity_source"])
	}
	if inv.Instances[0].Resources != (sdk.Resources{VCPUs: 2, MemoryMB: 2048, DiskGB: 20}) {
		t.Errorf("instance resources from the flavor: %+v", inv.Instances[0].Resources)
	}
	if n := f.count("GET /placement/resource_providers"); n != 0 {
		t.Errorf("%d Placement requests without Placement", n)
	}
}

func TestRetryOn503(t *testing.T) {
	f := newFakeCloud(t)
	f.addCompute("c1", "az1")
	f.faults["GET /compute/v2.1/os-services"] = []int{503, 502}
	cl := f.mustProvider(t, nil)
	if _, diags := cl.ReadInventory(context.Background()); diags.HasErrors() {
		t.Fatalf("inventory after two transient failures: %v", diags)
	}
	if n := f.count("GET /compute/v2.1/os-services"); n != 3 {
		t.Errorf("%d os-services requests, want 3", n)
	}

	// Past max_retries the error is reported.
	f.faults["GET /compute/v2.1/os-services"] = []int{503, 503, 503}
	cl = f.mustProvider(t, map[string]cty.Value{"max_retries": cty.NumberIntVal(2)})
	_, diags := cl.ReadInventory(context.Background())
	if !strings.Contains(errorText(diags), "answered 503") {
		t.Errorf("after max_retries: %v", diags)
	}
}

func TestProbe(t *testing.T) {
	f := newFakeCloud(t)
	f.addCompute("c1", "az1")
	f.addCompute("c2", "az1")
	f.service("c2").State = "down"
	cl := f.mustProvider(t, nil)
	for host, wantErr := range map[string]string{"c1": "", "c2": "nova-compute on c2 is down", "c9": "no nova-compute service"} {
		_, diags, _ := exec(t, cl, sdk.ExecuteActionRequest{Kind: sdk.ActionProbe, Host: host, Probe: ProbeComputeServiceUp})
		if got := errorText(diags); (wantErr == "") != (got == "") || !strings.Contains(got, wantErr) {
			t.Errorf("probe %s: %q, want %q", host, got, wantErr)
		}
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(s *fakeService)
		req     sdk.ExecuteActionRequest
		wantErr string
	}{
		{name: "up with a fresh heartbeat", setup: func(s *fakeService) { s.beat = true },
			req: sdk.ExecuteActionRequest{Component: "hypervisor", ToVersion: "7.2.0"}},
		{name: "wrong hypervisor version", setup: func(s *fakeService) { s.beat = true },
			req: sdk.ExecuteActionRequest{Component: "hypervisor", ToVersion: "8.0.0"}, wantErr: "reports version 7.2.0, expected 8.0.0"},
		{name: "no heartbeat until the deadline", setup: func(*fakeService) {},
			req: sdk.ExecuteActionRequest{Component: "nova"}, wantErr: "has not reported since"},
		{name: "down", setup: func(s *fakeService) { s.State = "down" }, wantErr: "is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCloud(t)
			f.addCompute("c1", "az1")
			tt.setup(f.service("c1"))
			p := New()
			p.getenv = func(string) string { return "" }
			cl := f.mustProviderWith(t, p)
			req := tt.req
			req.Kind, req.Host, req.ID = sdk.ActionVerify, "c1", "RUN/w1/c1/verify"
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			defer cancel()
			_, diags := cl.Execute(ctx, req, nil)
			if got := errorText(diags); (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("verify: %q, want %q", got, tt.wantErr)
			}
		})
	}
}
