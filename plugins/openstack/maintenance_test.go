package openstack

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func TestReasonRoundTrip(t *testing.T) {
	prev := "hardware repair"
	empty := ""
	long := strings.Repeat("x", 300)
	tests := []struct {
		runID, reason string
		prev          *string
		want          string
		whole         bool
		state         string
	}{
		{"R1", "escalator run R1, wave 3", nil, "escalator: R1, wave 3", true, "escalator run R1, wave 3"},
		{"R1", "", nil, "escalator: R1", true, "escalator run R1"},
		{"R1", "kernel upgrade", nil, "escalator: R1 kernel upgrade", true, "escalator run R1 kernel upgrade"},
		{"", "escalator run R7, wave 1", nil, "escalator: R7, wave 1", true, "escalator run R7, wave 1"},
		{"R1", "escalator run R1, wave 3", &prev, "escalator: R1, wave 3; was: hardware repair", true, "escalator run R1, wave 3; was: hardware repair"},
		{"R1", "escalator run R1, wave 3", &empty, "escalator: R1, wave 3; was: ", true, "escalator run R1, wave 3; was: "},
		{"R1", long, nil, ("escalator: R1 " + long)[:255], false, ""},
	}
	for _, tt := range tests {
		got, whole := encodeReason(tt.runID, tt.reason, tt.prev)
		if got != tt.want || whole != tt.whole {
			t.Errorf("encodeReason(%q, %q) = %q, %v; want %q, %v", tt.runID, tt.reason, got, whole, tt.want, tt.whole)
		}
		if len(got) > maxReason {
			t.Errorf("reason of %d characters, Nova keeps %d", len(got), maxReason)
		}
		m, ok := parseReason(got)
		if !ok {
			t.Errorf("parseReason(%q) is not ours", got)
			continue
		}
		if tt.state != "" && m.stateReason() != tt.state {
			t.Errorf("stateReason of %q = %q, want %q", got, m.stateReason(), tt.state)
		}
		if tt.prev != nil && (!m.hadPrevious || m.previous != *tt.prev) {
			t.Errorf("previous of %q = %v %q, want %q", got, m.hadPrevious, m.previous, *tt.prev)
		}
	}
	for _, s := range []string{"", "hardware repair", "AUTO: Connection to libvirt lost", "escalator"} {
		if _, ok := parseReason(s); ok {
			t.Errorf("parseReason(%q) took an operator's reason for escalator's", s)
		}
	}
	if got := runIDOf("20261122T073652Z-1a2b/w3/c1/enter_maintenance"); got != "20261122T073652Z-1a2b" {
		t.Errorf("runIDOf = %q", got)
	}
}

func TestMaintenance(t *testing.T) {
	const run = "RUN1"
	reason := "escalator run " + run + ", wave 2"
	ours := "escalator: " + run + ", wave 2"
	tests := []struct {
		name       string
		kind       sdk.ActionKind
		status     string // of the service before
		before     string // its reason
		takeOver   bool
		wantStatus string
		wantReason string
		wantPuts   int
		wantErr    string
		wantWarn   string
	}{
		{name: "enter disables with the run's reason", kind: sdk.ActionEnterMaintenance, status: "enabled",
			wantStatus: "disabled", wantReason: ours, wantPuts: 1},
		{name: "enter again is done", kind: sdk.ActionEnterMaintenance, status: "disabled", before: ours,
			wantStatus: "disabled", wantReason: ours},
		{name: "enter refuses an operator's disable", kind: sdk.ActionEnterMaintenance, status: "disabled", before: "hardware repair",
			wantStatus: "disabled", wantReason: "hardware repair", wantErr: "disabled for another reason (\"hardware repair\")"},
		{name: "enter refuses a disable without reason", kind: sdk.ActionEnterMaintenance, status: "disabled",
			wantStatus: "disabled", wantErr: "no reason given"},
		{name: "enter refuses another run's maintenance", kind: sdk.ActionEnterMaintenance, status: "disabled", before: "escalator: RUN0, wave 1",
			wantStatus: "disabled", wantReason: "escalator: RUN0, wave 1", wantErr: "another escalator run, RUN0"},
		{name: "enter takes over an operator's disable when allowed", kind: sdk.ActionEnterMaintenance, status: "disabled", before: "hardware repair", takeOver: true,
			wantStatus: "disabled", wantReason: ours + "; was: hardware repair", wantPuts: 1, wantWarn: "Disabled host taken over"},
		{name: "enter takes over another run's host, keeping what it found", kind: sdk.ActionEnterMaintenance, status: "disabled", before: "escalator: RUN0, wave 1; was: rack move", takeOver: true,
			wantStatus: "disabled", wantReason: ours + "; was: rack move", wantPuts: 1, wantWarn: "taken over from another run"},
		{name: "leave enables what the run disabled", kind: sdk.ActionLeaveMaintenance, status: "disabled", before: ours,
			wantStatus: "enabled", wantPuts: 1},
		{name: "leave again is done", kind: sdk.ActionLeaveMaintenance, status: "enabled",
			wantStatus: "enabled"},
		{name: "leave keeps an operator's disable", kind: sdk.ActionLeaveMaintenance, status: "disabled", before: "hardware repair",
			wantStatus: "disabled", wantReason: "hardware repair", wantWarn: "for another reason"},
		{name: "leave keeps another run's maintenance", kind: sdk.ActionLeaveMaintenance, status: "disabled", before: "escalator: RUN0, wave 1",
			wantStatus: "disabled", wantReason: "escalator: RUN0, wave 1", wantWarn: "by escalator run RUN0"},
		{name: "leave restores the reason of a host taken over", kind: sdk.ActionLeaveMaintenance, status: "disabled", before: ours + "; was: hardware repair",
			wantStatus: "disabled", wantReason: "hardware repair", wantPuts: 1, wantWarn: "stays disabled"},
		{name: "leave restores a disable without reason", kind: sdk.ActionLeaveMaintenance, status: "disabled", before: ours + "; was: ",
			wantStatus: "disabled", wantReason: "", wantPuts: 1, wantWarn: "stays disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCloud(t)
			f.addCompute("c1", "az1")
			s := f.service("c1")
			s.Status, s.Reason = tt.status, tt.before
			cl := f.mustProvider(t, map[string]cty.Value{"take_over_disabled": cty.BoolVal(tt.takeOver)})
			req := sdk.ExecuteActionRequest{ID: run + "/w2/c1/" + tt.kind.String(), Kind: tt.kind, Host: "c1"}
			if tt.kind == sdk.ActionEnterMaintenance {
				req.Reason = reason
			}
			_, diags, _ := exec(t, cl, req)
			if got := errorText(diags); (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("error %q, want %q", got, tt.wantErr)
			}
			if got := warningText(diags); (tt.wantWarn == "") != (got == "") || !strings.Contains(got, tt.wantWarn) {
				t.Errorf("warning %q, want %q", got, tt.wantWarn)
			}
			if s.Status != tt.wantStatus || s.Reason != tt.wantReason {
				t.Errorf("service after: %s %q, want %s %q", s.Status, s.Reason, tt.wantStatus, tt.wantReason)
			}
			if n := f.count("PUT /compute/v2.1/os-services/svc-c1"); n != tt.wantPuts {
				t.Errorf("%d updates of the service, want %d", n, tt.wantPuts)
			}
		})
	}
}

// TestMaintenanceRequestShape checks the body Nova gets at 2.53+: the
// service by UUID in the path, status and reason in the body.
func TestMaintenanceRequestShape(t *testing.T) {
	f := newFakeCloud(t)
	f.addCompute("c1", "az1")
	cl := f.mustProvider(t, nil)
	if _, diags, _ := exec(t, cl, sdk.ExecuteActionRequest{ID: "R/w1/c1/enter", Kind: sdk.ActionEnterMaintenance, Host: "c1", Reason: "escalator run R, wave 1"}); diags.HasErrors() {
		t.Fatal(diags)
	}
	if got, want := f.lastBody("PUT /compute/v2.1/os-services/svc-c1"), `{"disabled_reason":"escalator: R, wave 1","status":"disabled"}`; strings.TrimSpace(got) != want {
		t.Errorf("disable body %s, want %s", got, want)
	}
	if _, diags, _ := exec(t, cl, sdk.ExecuteActionRequest{ID: "R/w1/c1/leave", Kind: sdk.ActionLeaveMaintenance, Host: "c1"}); diags.HasErrors() {
		t.Fatal(diags)
	}
	if got, want := f.lastBody("PUT /compute/v2.1/os-services/svc-c1"), `{"status":"enabled"}`; strings.TrimSpace(got) != want {
		t.Errorf("enable body %s, want %s", got, want)
	}
	if !f.microversion["2.84"] {
		t.Errorf("microversions used: %v", f.microversion)
	}
}

func TestMaintenanceConflictIsRetried(t *testing.T) {
	f := newFakeCloud(t)
	f.addCompute("c1", "az1")
	f.faults["PUT /compute/v2.1/os-services/svc-c1"] = []int{409}
	cl := f.mustProvider(t, nil)
	if _, diags, _ := exec(t, cl, sdk.ExecuteActionRequest{ID: "R/w1/c1/enter", Kind: sdk.ActionEnterMaintenance, Host: "c1", Reason: "r"}); diags.HasErrors() {
		t.Fatalf("enter maintenance after a 409: %v", diags)
	}
	if n := f.count("PUT /compute/v2.1/os-services/svc-c1"); n != 2 || f.service("c1").Status != "disabled" {
		t.Errorf("%d PUTs, service %s; want 2 and disabled", n, f.service("c1").Status)
	}
}
