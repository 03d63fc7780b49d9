package openstack

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

const actionPath = "POST /compute/v2.1/servers/vm1/action"

func migrateReq(dest string, live bool) sdk.ExecuteActionRequest {
	return sdk.ExecuteActionRequest{ID: "RUN/w1/c1/migrate/vm1", Kind: sdk.ActionMigrate, Host: "c1", Instance: "vm1", Destination: dest, Live: live}
}

func twoHosts(t *testing.T) *fakeCloud {
	f := newFakeCloud(t)
	f.addCompute("c1", "az1")
	f.addCompute("c2", "az1")
	f.addServer("vm1", "c1", [3]int{1, 512, 1})
	return f
}

func TestLiveMigrate(t *testing.T) {
	f := twoHosts(t)
	cl := f.mustProvider(t, nil)
	_, diags, progress := exec(t, cl, migrateReq("c2", true))
	if diags.HasErrors() {
		t.Fatalf("migrate: %v", diags)
	}
	if got, want := strings.TrimSpace(f.lastBody(actionPath)), `{"os-migrateLive":{"block_migration":"auto","host":"c2"}}`; got != want {
		t.Errorf("request body %s, want %s", got, want)
	}
	if s := f.servers["vm1"]; s.Host != "c2" || s.Task != "" {
		t.Errorf("server after: %+v", s)
	}
	if !strings.Contains(strings.Join(progress, "\n"), "migration 1 of vm1 (live-migration to c2): running") {
		t.Errorf("progress does not follow the migration record:\n%s", strings.Join(progress, "\n"))
	}
	// Sent again (a resumed run): already there, nothing started.
	if _, diags, _ := exec(t, cl, migrateReq("c2", true)); diags.HasErrors() {
		t.Fatalf("migrate again: %v", diags)
	}
	if n := f.count(actionPath); n != 1 || len(f.migrations) != 1 {
		t.Errorf("%d migrate requests and %d migrations after a repeat, want 1 and 1", n, len(f.migrations))
	}
}

func TestLiveMigrateResumesOneInFlight(t *testing.T) {
	f := twoHosts(t)
	// A crash left migration 7 running: the step waits for it.
	f.servers["vm1"].Task = "migrating"
	f.migrations = []*fakeMigration{{ID: 7, Instance: "vm1", Type: typeLive, Status: "running", From: "c1", To: "c2", steps: []string{"running", "completed"}}}
	cl := f.mustProvider(t, nil)
	if _, diags, _ := exec(t, cl, migrateReq("c2", true)); diags.HasErrors() {
		t.Fatalf("migrate: %v", diags)
	}
	if n := f.count(actionPath); n != 0 {
		t.Errorf("%d migrations started while one was in flight", n)
	}
	if f.servers["vm1"].Host != "c2" {
		t.Errorf("server on %s", f.servers["vm1"].Host)
	}
}

func TestLiveMigrateFailure(t *testing.T) {
	f := twoHosts(t)
	f.failTo["c2"] = true
	cl := f.mustProvider(t, nil)
	_, diags, _ := exec(t, cl, migrateReq("c2", true))
	got := errorText(diags)
	for _, s := range []string{`ended "error"`, "No valid host was found", "stays on c1"} {
		if !strings.Contains(got, s) {
			t.Errorf("error does not say %q:\n%s", s, got)
		}
	}
	if f.servers["vm1"].Host != "c1" {
		t.Errorf("server moved to %s", f.servers["vm1"].Host)
	}
}

func TestLiveMigrateConflictIsRetried(t *testing.T) {
	f := twoHosts(t)
	f.faults[actionPath] = []int{409, 409}
	cl := f.mustProvider(t, nil)
	if _, diags, _ := exec(t, cl, migrateReq("c2", true)); diags.HasErrors() {
		t.Fatalf("migrate after two 409s: %v", diags)
	}
	if n := f.count(actionPath); n != 3 || f.servers["vm1"].Host != "c2" {
		t.Errorf("%d requests, server on %s; want 3 and c2", n, f.servers["vm1"].Host)
	}
}

func TestLiveMigrateRefusesAStoppedServer(t *testing.T) {
	f := twoHosts(t)
	f.servers["vm1"].Status = "SHUTOFF"
	cl := f.mustProvider(t, nil)
	_, diags, _ := exec(t, cl, migrateReq("c2", true))
	if !strings.Contains(errorText(diags), "only ACTIVE or PAUSED instances can be live-migrated") || f.count(actionPath) != 0 {
		t.Errorf("live migration of a SHUTOFF server: %v (%d requests)", diags, f.count(actionPath))
	}
}

func TestColdMigrateConfirms(t *testing.T) {
	f := twoHosts(t)
	f.servers["vm1"].Status = "SHUTOFF"
	cl := f.mustProvider(t, nil)
	if _, diags, _ := exec(t, cl, migrateReq("c2", false)); diags.HasErrors() {
		t.Fatalf("cold migrate: %v", diags)
	}
	if got, want := f.lastBody(actionPath), `{"confirmResize":null}`; strings.TrimSpace(got) != want {
		t.Errorf("last action %s, want %s", got, want)
	}
	bodies := f.bodies[actionPath]
	if len(bodies) != 2 || strings.TrimSpace(bodies[0]) != `{"migrate":{"host":"c2"}}` {
		t.Errorf("actions %v, want migrate to c2 then confirmResize", bodies)
	}
	if s := f.servers["vm1"]; s.Host != "c2" || f.migrations[0].Status != "confirmed" {
		t.Errorf("server on %s, migration %s", s.Host, f.migrations[0].Status)
	}
}

func TestColdMigrateConfirmsAPendingOne(t *testing.T) {
	f := twoHosts(t)
	s := f.servers["vm1"]
	s.Host, s.Status = "c2", "VERIFY_RESIZE"
	f.migrations = []*fakeMigration{{ID: 3, Instance: "vm1", Type: typeCold, Status: "finished", From: "c1", To: "c2"}}
	cl := f.mustProvider(t, nil)
	if _, diags, _ := exec(t, cl, migrateReq("c2", false)); diags.HasErrors() {
		t.Fatalf("cold migrate: %v", diags)
	}
	if bodies := f.bodies[actionPath]; len(bodies) != 1 || strings.TrimSpace(bodies[0]) != `{"confirmResize":null}` {
		t.Errorf("actions %v, want only the confirmation", bodies)
	}
	if s.Status != "ACTIVE" {
		t.Errorf("server %s", s.Status)
	}
}

func TestSchedulerPicked(t *testing.T) {
	f := twoHosts(t)
	cl := f.mustProvider(t, nil)
	// The fake sends it nowhere in particular: "host": null.
	f.liveSteps = []string{"queued", "completed"}
	if _, diags, _ := exec(t, cl, migrateReq("", true)); diags.HasErrors() {
		t.Fatalf("migrate: %v", diags)
	}
	if got, want := strings.TrimSpace(f.lastBody(actionPath)), `{"os-migrateLive":{"block_migration":"auto","host":null}}`; got != want {
		t.Errorf("request body %s, want %s", got, want)
	}
}

func TestStuckMigration(t *testing.T) {
	tests := []struct {
		policy  string
		wantErr string
		want    string // migration status after
		path    string
	}{
		{OnTimeoutAbort, `abort asked by on_migration_timeout, the migration is now "cancelled"`, "cancelled", "DELETE /compute/v2.1/servers/vm1/migrations/1"},
		{OnTimeoutForceComplete, "", "completed", "POST /compute/v2.1/servers/vm1/migrations/1/action"},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			f := twoHosts(t)
			f.liveSteps = []string{"queued", "running"} // never ends by itself
			p := New()
			p.getenv = func(string) string { return "" }
			cl, diags := f.configure(t, p, map[string]cty.Value{
				"migration_timeout": cty.StringVal("1s"), "on_migration_timeout": cty.StringVal(tt.policy),
			})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			_, diags, _ = exec(t, cl, migrateReq("c2", true))
			if got := errorText(diags); (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("error %q, want %q", got, tt.wantErr)
			}
			if f.migrations[0].Status != tt.want || f.count(tt.path) != 1 {
				t.Errorf("migration %s after %d %s, want %s after 1", f.migrations[0].Status, f.count(tt.path), tt.path, tt.want)
			}
			if tt.policy == OnTimeoutForceComplete && !strings.Contains(warningText(diags), "force-completed") {
				t.Errorf("no warning about forcing it: %v", diags)
			}
		})
	}
}

func TestMigrateGoneInstance(t *testing.T) {
	f := twoHosts(t)
	cl := f.mustProvider(t, nil)
	req := migrateReq("c2", true)
	req.Instance = "vm-gone"
	_, diags, _ := exec(t, cl, req)
	if !strings.Contains(errorText(diags), "no longer exists; plan again") {
		t.Errorf("migrating a deleted instance: %v", diags)
	}
}

func TestMigrateMovedBySomeoneElse(t *testing.T) {
	f := twoHosts(t)
	f.addCompute("c3", "az1")
	f.servers["vm1"].Host = "c3"
	cl := f.mustProvider(t, nil)
	_, diags, _ := exec(t, cl, migrateReq("c2", true))
	if diags.HasErrors() || !strings.Contains(warningText(diags), "is on c3, not c1") || f.count(actionPath) != 0 {
		t.Errorf("an instance moved meanwhile: %v", diags)
	}
}
