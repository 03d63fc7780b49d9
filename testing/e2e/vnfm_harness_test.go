//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/plugins/sim"

	wire "github.com/escalator-nfv/escalator/internal/vnfm"
	samplevnfm "github.com/escalator-nfv/escalator/testing/vnfm"
)

// The VNF manager scenarios run the sample VNF manager (testing/vnfm) in
// this process, on a loopback port, against a cloud small enough that
// every wave is known in advance:
//
//	cmp-1: vnf-a (ims, active)   ims-other (ims, not the pair's)
//	cmp-2: vnf-b (ims, standby)
//	cmp-3: empty
//
// vnf-a and vnf-b form the anti-affinity group vnf-pair, the VNF
// manager's pair. One host per wave: the planner takes the empty host
// first (wave 1, no ims instance: no notification), then cmp-2 (fewer
// instances; the standby goes to cmp-3), then cmp-1 (the active: a
// switch-over and OWN_ACTION; its planned destination is cmp-2). The
// tests read the plan rather than trust this, and say so when the
// planner orders the hosts otherwise.
const (
	vnfmSecret  = "e2e-vnfm-not-a-secret"
	vnfmName    = "pair_vnfm"
	vnfmLead    = time.Second
	instActive  = "vnf-a"
	instStandby = "vnf-b"
)

// vnfmCloud builds the cloud above.
func vnfmCloud() *sim.Cloud {
	c := &sim.Cloud{FormatVersion: sim.FormatVersion, Name: "vnfm-e2e"}
	for _, h := range []string{"cmp-1", "cmp-2", "cmp-3"} {
		c.Hosts = append(c.Hosts, &sim.Host{Name: h, Role: "compute", AvailabilityZone: "az1", State: sim.StateUp,
			Capacity: sim.Resources{VCPUs: 16, MemoryMB: 32768, DiskGB: 200},
			Versions: map[string]string{"qemu": "7.1.0", "nova_compute": "26.2.0"}, Attributes: map[string]string{"rack": "r1"}})
	}
	f := sim.Flavor{Name: "vnf.medium", Resources: sim.Resources{VCPUs: 4, MemoryMB: 8192, DiskGB: 40}}
	for _, in := range []struct{ id, host, project, group string }{
		{instActive, "cmp-1", "ims", "vnf-pair"}, {"ims-other", "cmp-1", "ims", ""}, {instStandby, "cmp-2", "ims", "vnf-pair"},
	} {
		c.Instances = append(c.Instances, &sim.Instance{ID: in.id, Name: in.id, Flavor: f, Host: in.host, Status: sim.StatusActive,
			Project: in.project, ServerGroup: in.group, LiveMigratable: true})
	}
	c.ServerGroups = []*sim.ServerGroup{{ID: "vnf-pair", Name: "vnf-pair", Policy: sim.PolicyAntiAffinity, Project: "ims", Members: []string{instActive, instStandby}}}
	return c
}

// vnfmSpec shapes a VNF manager scenario.
type vnfmSpec struct {
	mode          samplevnfm.Mode
	reply         samplevnfm.ReplyMode
	standbyAction string
	// onTimeout is the notify block's; "" means "halt".
	onTimeout string
	// replyTimeout is the notify block's; "" means 5s.
	replyTimeout string
	// onFailure is the body of the on_failure block; "" means halt.
	onFailure string
}

func (s vnfmSpec) config(notifyURL string) string {
	onTimeout, replyTimeout, onFailure := s.onTimeout, s.replyTimeout, s.onFailure
	if onTimeout == "" {
		onTimeout = "halt"
	}
	if replyTimeout == "" {
		replyTimeout = "5s"
	}
	if onFailure == "" {
		onFailure = `action = "halt"`
	}
	return fmt.Sprintf(`escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {
  cloud        = "cloud.json"
  create       = false
  time_scale   = 0.001
  lock_timeout = "20s"
}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
}

component "qemu" {
  hosts      = hosts.compute
  version    = "7.2.0"
  disruption = "host"
}

component "nova_compute" {
  hosts      = hosts.compute
  version    = "27.1.0"
  disruption = "service"
  depends_on = [component.qemu]
}

rollout "compute" {
  components      = [component.qemu, component.nova_compute]
  max_unavailable = 1

  evacuate {
    mode     = "live"
    parallel = 2
    timeout  = "1m"
  }

  notify %q {
    url                = %q
    projects           = ["ims"]
    secret             = %q
    reply_timeout      = %q
    on_timeout         = %q
    lead_time          = %q
    own_action_timeout = "30s"
  }

  on_failure {
    %s
  }
}

guard "anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity"]
  max_unavailable = 1
}
`, vnfmName, notifyURL, vnfmSecret, replyTimeout, onTimeout, vnfmLead.String(), onFailure)
}

// vnfmCampaign is a campaign with the sample VNF manager.
type vnfmCampaign struct {
	*campaign
	vspec vnfmSpec
	vnfm  *samplevnfm.Manager
	srv   *samplevnfm.Server
}

// newVNFMCampaign writes the cloud, starts the sample VNF manager on it,
// writes the campaign and runs escalator init.
func newVNFMCampaign(t *testing.T, s vnfmSpec) *vnfmCampaign {
	t.Helper()
	c := &campaign{t: t, dir: t.TempDir()}
	if *keep {
		dir, err := os.MkdirTemp("", "escalator-e2e-"+strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())+"-")
		if err != nil {
			t.Fatal(err)
		}
		c.dir = dir
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("campaign kept in %s", dir)
			} else {
				os.RemoveAll(dir)
			}
		})
	}
	var b bytes.Buffer
	if err := sim.EncodeCloud(&b, vnfmCloud()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path("cloud.json"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Decoded, as the harness reads clouds: indexed, defaults filled in.
	var err error
	if c.initial, err = sim.DecodeCloud(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	m, err := samplevnfm.New(context.Background(), samplevnfm.Config{
		Cloud: c.path("cloud.json"), Secret: vnfmSecret, Group: "vnf-pair", Mode: s.mode, Reply: s.reply,
		StandbyAction: s.standbyAction, ReplyDelay: 100 * time.Millisecond, OwnActionTimeout: 30 * time.Second,
		NackReason: "the pair is resynchronising its state",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := samplevnfm.Serve(m, "127.0.0.1:0")
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	if err := os.WriteFile(c.path("main.hcl"), []byte(s.config(srv.NotifyURL())), 0o644); err != nil {
		t.Fatal(err)
	}
	plugins := c.path(".escalator", "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(bin.plugin, filepath.Join(plugins, pluginName)); err != nil {
		if err := copyFile(bin.plugin, filepath.Join(plugins, pluginName)); err != nil {
			t.Fatal(err)
		}
	}
	if r := c.run("init"); r.code != 0 {
		t.Fatalf("escalator init: %s", r)
	}
	return &vnfmCampaign{campaign: c, vspec: s, vnfm: m, srv: srv}
}

// records returns what the sample VNF manager recorded.
func (c *vnfmCampaign) records() *samplevnfm.Records {
	c.t.Helper()
	r, err := c.vnfm.Records(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// waitOwnActions waits until every own move of the VNF manager has ended
// (they run in the background after its reply).
func (c *vnfmCampaign) waitOwnActions() *samplevnfm.Records {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.records()
		pending := false
		for _, a := range r.OwnActions {
			if a.Moved.IsZero() && a.Error == "" && a.Note == "" {
				pending = true
			}
		}
		if !pending || time.Now().After(deadline) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vnfmNotifications turns the VNF manager's records into the invariant
// checker's: a notification counts as replied when its answer went out,
// or, unanswered, when the exchange ended (escalator proceeds only after
// it gives up).
func vnfmNotifications(r *samplevnfm.Records) []Notification {
	var out []Notification
	for _, n := range r.Notifications {
		ev := "available"
		switch {
		case n.EventType == wire.EventHost:
			ev = "host"
		case n.State == wire.StatePlannedMaintenance:
			ev = "maintenance"
		}
		replied := n.Answered
		if replied.IsZero() {
			replied = n.Ended
			if n.Async && !n.ReplyBy.IsZero() {
				replied = n.ReplyBy
			}
		}
		out = append(out, Notification{Received: n.Received, Replied: replied, Wave: n.Wave, State: n.State,
			Hosts: n.Hosts, Instances: n.InstanceIDs, Event: ev})
	}
	return out
}

// checkInvariants runs the invariant checker over the campaign with the
// VNF manager's notifications, and fails the test on any violation.
func (c *vnfmCampaign) checkInvariants(recs *samplevnfm.Records, allowMaintenance ...string) *Report {
	c.t.Helper()
	rep := Check(Input{Initial: c.initial, Final: c.cloud(), Events: c.events(), Journal: c.journal(), Status: c.status(),
		Notifications: vnfmNotifications(recs), AllowMaintenance: allowMaintenance})
	if !rep.OK() {
		c.t.Errorf("invariants: %s", rep)
	} else {
		c.t.Logf("invariants: %s", rep)
	}
	if recs.BadSignatures > 0 {
		c.t.Errorf("the VNF manager refused %d notifications for their signature", recs.BadSignatures)
	}
	return rep
}

// pairWaves returns, from the plan, the wave of the active's host and the
// wave of the standby's host, and checks the shape the scenarios rely on:
// the standby's host comes first, in a wave of its own.
func pairWaves(t *testing.T, f *plans.File) (activeWave, standbyWave int) {
	t.Helper()
	for n, hvs := range waveHosts(f) {
		for _, hv := range hvs {
			for _, m := range hv.Moves {
				switch m.Instance {
				case instActive:
					activeWave = n
				case instStandby:
					standbyWave = n
				}
			}
		}
	}
	if activeWave == 0 || standbyWave == 0 || standbyWave >= activeWave {
		t.Fatalf("the plan moves %s in wave %d and %s in wave %d; the scenarios expect the standby's host first (planner order changed?)",
			instActive, activeWave, instStandby, standbyWave)
	}
	return activeWave, standbyWave
}

// journalSteps lists the journal's step_started and step_finished events whose
// step id satisfies keep.
func journalSteps(j []state.Event, keep func(id string) bool) []state.Event {
	var out []state.Event
	for _, e := range j {
		if (e.Kind == state.KindStepStarted || e.Kind == state.KindStepFinished) && keep(e.StepID) {
			out = append(out, e)
		}
	}
	return out
}

// stepEndedAs reports whether the journal shows step id finished with
// status.
func stepEndedAs(j []state.Event, status, id string) bool {
	for _, e := range j {
		if e.Kind == state.KindStepFinished && e.StepID == id && e.Status == status {
			return true
		}
	}
	return false
}

// simHostChanges lists the sim's OK events on host.
func simHostChanges(evs []sim.Event, host string) []string {
	var out []string
	for _, e := range evs {
		if e.Host == host && e.Result == sim.ResultOK {
			out = append(out, fmt.Sprintf("%s %s", e.Action, e.StepID))
		}
	}
	sort.Strings(out)
	return out
}

// journalAlerts lists the journal's alerts with code.
func journalAlerts(j []state.Event, code string) []state.Event {
	var out []state.Event
	for _, e := range j {
		if e.Kind == state.KindAlert && e.Code == code {
			out = append(out, e)
		}
	}
	return out
}

// maintenanceNotes returns the VNF manager's PLANNED_MAINTENANCE records.
func maintenanceNotes(r *samplevnfm.Records) []samplevnfm.Notification {
	var out []samplevnfm.Notification
	for _, n := range r.Notifications {
		if n.EventType == wire.EventScheduled && n.State == wire.StatePlannedMaintenance {
			out = append(out, n)
		}
	}
	return out
}
