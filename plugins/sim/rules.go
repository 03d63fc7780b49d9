package sim

import (
	"fmt"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// The rules below are what Nova and the hosts enforce. Each is a small
// check on the cloud as it is; check runs them before an action starts and
// again before it commits.

// hypervisorComponents are compared on live migration: libvirt refuses to
// migrate a running guest to an older QEMU or libvirt (Nova reports
// "destination hypervisor version is older than the source").
var hypervisorComponents = []string{"qemu", "libvirt"}

// check reports whether the action may run on c now. resumed is true when
// a migration with this step id is already in flight (a retry after a
// crash), which the caller continues instead of starting anew.
func (r *run) check(c *Cloud) (resumed bool, err error) {
	q := r.req
	if q.Kind == sdk.ActionMigrate {
		return r.checkMigrate(c)
	}
	if q.Kind == sdk.ActionRestore {
		b := c.Backups[q.BackupID]
		if q.BackupID == "" || b == nil {
			return false, refuse("backup %q does not exist in the cloud; restore needs a backup_id that a backup action returned", q.BackupID)
		}
		if q.Host != "" && q.Host != b.Host {
			return false, refuse("backup %s was taken on host %q, not %q; a backup restores only where it was taken", q.BackupID, b.Host, q.Host)
		}
		if q.Component != "" && q.Component != b.Component {
			return false, refuse("backup %s holds component %q, not %q", q.BackupID, b.Component, q.Component)
		}
	}
	h, err := r.host(c)
	if err != nil {
		return false, err
	}
	switch q.Kind {
	case sdk.ActionEnterMaintenance:
		reason := r.reason()
		switch h.State {
		case StateDown:
			return false, refuse("host %q is down; a host that does not answer cannot be upgraded: exclude it (where = host.state != \"down\") or bring it up", h.Name)
		case StateDisabled:
			return false, refuse("host %q was disabled by an operator (reason %q); escalator does not take over hosts it did not disable: enable it or exclude it from the campaign", h.Name, h.StateReason)
		case StateMaintenance:
			if h.StateReason != reason {
				return false, refuse("host %q is already in maintenance for %q, not for %q: another run holds it; wait for it to finish or leave maintenance there first", h.Name, h.StateReason, reason)
			}
		}
	case sdk.ActionLeaveMaintenance:
		switch h.State {
		case StateDown:
			return false, refuse("host %q is down; its compute service cannot be enabled until it is back", h.Name)
		case StateDisabled:
			return false, refuse("host %q was disabled by an operator (reason %q), not put in maintenance by escalator; leave it as the operator set it", h.Name, h.StateReason)
		case StateMaintenance:
			if q.Reason != "" && h.StateReason != q.Reason {
				return false, refuse("host %q is in maintenance for %q, not for %q: another run holds it", h.Name, h.StateReason, q.Reason)
			}
		}
	case sdk.ActionBackup:
		if err := r.needComponent(h); err != nil {
			return false, err
		}
		if _, ok := h.Versions[q.Component]; !ok {
			return false, refuse("component %q is not installed on host %q; there is nothing to back up", q.Component, h.Name)
		}
	case sdk.ActionUpgrade:
		if err := r.needComponent(h); err != nil {
			return false, err
		}
		if q.ToVersion == "" {
			return false, refuse("upgrade of %s on %q has no target version", q.Component, h.Name)
		}
		got, installed := h.Versions[q.Component]
		if installed && got == q.ToVersion {
			return false, nil // already there: confirmed by apply
		}
		if q.FromVersion != "" && got != q.FromVersion {
			return false, refuse("host %q has %s %q installed, not %q as the plan expected: the cloud changed since the plan; run escalator plan again", h.Name, q.Component, got, q.FromVersion)
		}
		if installed && CompareVersions(q.ToVersion, got) < 0 {
			return false, refuse("upgrading %s on %q from %s to %s would downgrade it; use rollback or restore to go back", q.Component, h.Name, got, q.ToVersion)
		}
		if err := r.needEmpty(c, h); err != nil {
			return false, err
		}
	case sdk.ActionVerify:
		if err := r.needComponent(h); err != nil {
			return false, err
		}
		want := q.ToVersion
		if want == "" {
			return false, refuse("verify of %s on %q has no expected version (to_version)", q.Component, h.Name)
		}
		if got := h.Versions[q.Component]; got != want {
			return false, refuse("verification failed: host %q has %s %q installed, expected %q", h.Name, q.Component, got, want)
		}
	case sdk.ActionRollback:
		if err := r.needComponent(h); err != nil {
			return false, err
		}
		got, installed := h.Versions[q.Component]
		if got == q.FromVersion && (installed || q.FromVersion == "") {
			return false, nil // already rolled back
		}
		if q.ToVersion != "" && got != q.ToVersion {
			return false, refuse("host %q has %s %q installed, neither the upgrade's target %q nor the rollback's %q; something else changed it: look at the host before rolling back by hand", h.Name, q.Component, got, q.ToVersion, q.FromVersion)
		}
		if err := r.needEmpty(c, h); err != nil {
			return false, err
		}
	case sdk.ActionRestore:
		b := c.Backups[q.BackupID]
		if h.Versions[b.Component] != b.Version {
			if err := r.needEmpty(c, h); err != nil {
				return false, err
			}
		}
	case sdk.ActionProbe:
		if q.Probe != ProbeComputeServiceUp {
			return false, refuse("unknown probe %q; the sim provider has one probe: %s", q.Probe, ProbeComputeServiceUp)
		}
		if h.State == StateDown {
			return false, refuse("the compute service of host %q is down", h.Name)
		}
	}
	return false, nil
}

// host is the action's host, which must exist and, for anything but
// maintenance and probes, answer.
func (r *run) host(c *Cloud) (*Host, error) {
	name := r.req.Host
	if name == "" && r.req.Kind == sdk.ActionRestore {
		name = c.Backups[r.req.BackupID].Host
	}
	if name == "" {
		return nil, refuse("%s needs a host", r.kind)
	}
	h := c.Host(name)
	if h == nil {
		return nil, refuse("host %q is not in the cloud; the inventory changed since the plan: run escalator plan again", name)
	}
	switch r.req.Kind {
	case sdk.ActionEnterMaintenance, sdk.ActionLeaveMaintenance, sdk.ActionProbe:
	default:
		if h.State == StateDown {
			return nil, refuse("host %q is down; %s needs a host that answers", h.Name, r.kind)
		}
	}
	return h, nil
}

func (r *run) needComponent(h *Host) error {
	if r.req.Component == "" {
		return refuse("%s on host %q needs a component", r.kind, h.Name)
	}
	return nil
}

// needEmpty enforces requires_empty_host: no running instance on the host
// and no migration from or to it in flight.
func (r *run) needEmpty(c *Cloud, h *Host) error {
	if !r.settings.RequiresEmptyHost {
		return nil
	}
	var running []string
	c.instancesAt(h.Name, func(in *Instance) {
		switch {
		case in.Migration != nil:
			running = append(running, in.ID+" (migrating)")
		case in.Host == h.Name && (in.Status == StatusActive || in.Status == StatusPaused):
			running = append(running, in.ID)
		}
	})
	if len(running) > 0 {
		return refuse("host %q still runs %d instance(s): %s; %s of %s requires an empty host (requires_empty_host): evacuate them first", h.Name, len(running), firstN(running, 5), r.kind, r.req.Component)
	}
	return nil
}

// checkMigrate enforces what Nova's conductor and scheduler check for a
// migration with a requested destination.
func (r *run) checkMigrate(c *Cloud) (resumed bool, err error) {
	q := r.req
	in := c.Instance(q.Instance)
	if in == nil {
		return false, refuse("instance %q is not in the cloud; the inventory changed since the plan: run escalator plan again", q.Instance)
	}
	if m := in.Migration; m != nil {
		if m.StepID == q.ID && m.To == q.Destination && m.Live == q.Live {
			return true, nil // our own claim, from an interrupted attempt
		}
		return false, refuse("instance %q is already migrating to %q (step %q); Nova refuses another migration while one is in flight: let it finish, or send that step again to resume it", in.ID, m.To, m.StepID)
	}
	if q.Host != "" && q.Host != in.Host {
		return false, refuse("instance %q is on host %q, not on %q as the plan expected: it moved since the plan; run escalator plan again", in.ID, in.Host, q.Host)
	}
	if q.Destination == "" {
		return false, refuse("migration of instance %q has no destination; the sim provider does not pick one: the plan chooses it", in.ID)
	}
	if q.Destination == in.Host {
		return false, refuse("instance %q is already on host %q; Nova refuses to migrate an instance to the host it runs on", in.ID, in.Host)
	}
	src, dst := c.Host(in.Host), c.Host(q.Destination)
	if dst == nil {
		return false, refuse("destination host %q is not in the cloud", q.Destination)
	}
	if src.State == StateDown {
		return false, refuse("the compute service of host %q, where instance %q runs, is down; a migration needs the source host up (a down host's instances can only be evacuated)", src.Name, in.ID)
	}
	if q.Live {
		if !in.LiveMigratable {
			return false, refuse("instance %q cannot be live-migrated (PCI passthrough, SR-IOV or pinned local resources); migrate it cold, or let its VNF manager move the workload", in.ID)
		}
		if in.Status != StatusActive && in.Status != StatusPaused {
			return false, refuse("instance %q is %s; Nova live-migrates only ACTIVE or PAUSED instances: migrate it cold", in.ID, in.Status)
		}
	} else if in.Status != StatusActive && in.Status != StatusShutoff {
		return false, refuse("instance %q is %s; Nova cold-migrates only ACTIVE or SHUTOFF instances", in.ID, in.Status)
	}
	switch dst.State {
	case StateUp:
	case StateMaintenance, StateDisabled:
		return false, refuse("destination host %q is %s (reason %q); Nova schedules nothing onto a disabled compute service: pick another destination", dst.Name, dst.State, dst.StateReason)
	default:
		return false, refuse("destination host %q is %s", dst.Name, dst.State)
	}
	free := dst.Capacity.Sub(c.Used(dst.Name))
	need := in.Flavor.Resources
	if need.VCPUs > free.VCPUs || need.MemoryMB > free.MemoryMB {
		return false, refuse("destination host %q has %d vCPU and %d MB free, instance %q needs %d vCPU and %d MB; pick a host with room", dst.Name, free.VCPUs, free.MemoryMB, in.ID, need.VCPUs, need.MemoryMB)
	}
	if q.Live {
		for _, comp := range hypervisorComponents {
			sv, sok := src.Versions[comp]
			dv, dok := dst.Versions[comp]
			if sok && dok && CompareVersions(dv, sv) < 0 {
				return false, refuse("destination host %q runs %s %s, older than %s on the source %q; a running guest cannot be live-migrated to an older hypervisor: pick an upgraded destination, or migrate cold", dst.Name, comp, dv, sv, src.Name)
			}
		}
	}
	if in.ServerGroup != "" {
		if err := r.checkGroup(c, in, dst.Name); err != nil {
			return false, err
		}
	}
	return false, nil
}

// checkGroup enforces the hard server group policies. Soft ones are
// checked again in apply and only warn.
func (r *run) checkGroup(c *Cloud, in *Instance, dst string) error {
	g := c.ServerGroup(in.ServerGroup)
	switch g.Policy {
	case PolicyAntiAffinity:
		if others := membersOn(c, g, in.ID, dst); len(others) > 0 {
			return refuse("host %q already holds %s of anti-affinity server group %q (%s), which instance %q belongs to; Nova keeps its members on different hosts: pick another destination", dst, firstN(others, 3), g.Name, g.ID, in.ID)
		}
	case PolicyAffinity:
		if elsewhere := membersOff(c, g, in.ID, dst); len(elsewhere) > 0 {
			return refuse("affinity server group %q (%s) keeps its members on one host, and %s are not on %q; an affinity group moves as a whole or not at all", g.Name, g.ID, firstN(elsewhere, 3), dst)
		}
	}
	return nil
}

// softGroupWarning is what a migration breaks of a soft policy.
func softGroupWarning(c *Cloud, in *Instance, dst string) string {
	if in.ServerGroup == "" {
		return ""
	}
	g := c.ServerGroup(in.ServerGroup)
	switch g.Policy {
	case PolicySoftAntiAffinity:
		if others := membersOn(c, g, in.ID, dst); len(others) > 0 {
			return fmt.Sprintf("instance %q now shares host %q with %s of soft-anti-affinity group %q", in.ID, dst, firstN(others, 3), g.Name)
		}
	case PolicySoftAffinity:
		if elsewhere := membersOff(c, g, in.ID, dst); len(elsewhere) > 0 {
			return fmt.Sprintf("instance %q left the other members of soft-affinity group %q (%s are not on %q)", in.ID, g.Name, firstN(elsewhere, 3), dst)
		}
	}
	return ""
}

// membersOn lists the other members of g on host, or migrating to it.
func membersOn(c *Cloud, g *ServerGroup, self, host string) []string {
	var out []string
	for _, id := range g.Members {
		m := c.Instance(id)
		if id == self || m == nil {
			continue
		}
		if m.Host == host || (m.Migration != nil && m.Migration.To == host) {
			out = append(out, id)
		}
	}
	return out
}

// membersOff lists the other members of g not on host.
func membersOff(c *Cloud, g *ServerGroup, self, host string) []string {
	var out []string
	for _, id := range g.Members {
		m := c.Instance(id)
		if id == self || m == nil {
			continue
		}
		if m.Host != host {
			out = append(out, id)
		}
	}
	return out
}

// apply makes the action's change; check has passed under the same lock.
// It fills the event's details and returns the outputs and any warnings.
// It marks in tx every host and instance it changes.
func (r *run) apply(c *Cloud, tx *Tx, ev *Event) (outputs map[string]string, warnings []string) {
	q := r.req
	switch q.Kind {
	case sdk.ActionEnterMaintenance:
		h := c.Host(q.Host)
		h.State, h.StateReason = StateMaintenance, r.reason()
		tx.ChangedHost(h)
		return map[string]string{"reason": h.StateReason}, nil
	case sdk.ActionLeaveMaintenance:
		h := c.Host(q.Host)
		h.State, h.StateReason = StateUp, ""
		tx.ChangedHost(h)
		return nil, nil
	case sdk.ActionMigrate:
		in := c.Instance(q.Instance)
		from := in.Host
		if w := softGroupWarning(c, in, q.Destination); w != "" {
			warnings = append(warnings, w)
		}
		in.Host, in.Migration = q.Destination, nil
		tx.ChangedInstance(in)
		ev.From, ev.To = from, q.Destination
		return map[string]string{"from": from, "to": q.Destination}, warnings
	case sdk.ActionBackup:
		h := c.Host(q.Host)
		id := tx.addBackup(c, &Backup{Host: h.Name, Component: q.Component, Version: h.Versions[q.Component], StepID: q.ID, Created: r.p.now().UTC()})
		ev.BackupID, ev.From = id, h.Versions[q.Component]
		return map[string]string{"backup_id": id, "version": h.Versions[q.Component]}, nil
	case sdk.ActionUpgrade:
		h := c.Host(q.Host)
		from := h.Versions[q.Component]
		h.Versions[q.Component] = q.ToVersion
		tx.ChangedHost(h)
		ev.From, ev.To = from, q.ToVersion
		return map[string]string{"from_version": from, "version": q.ToVersion}, nil
	case sdk.ActionVerify:
		return map[string]string{"version": c.Host(q.Host).Versions[q.Component]}, nil
	case sdk.ActionRollback:
		h := c.Host(q.Host)
		from := h.Versions[q.Component]
		if q.FromVersion == "" {
			// The upgrade was a first install: rolling it back removes it.
			delete(h.Versions, q.Component)
		} else {
			h.Versions[q.Component] = q.FromVersion
		}
		tx.ChangedHost(h)
		ev.From, ev.To = from, q.FromVersion
		return map[string]string{"version": q.FromVersion}, nil
	case sdk.ActionRestore:
		b := c.Backups[q.BackupID]
		h := c.Host(b.Host)
		from := h.Versions[b.Component]
		h.Versions[b.Component] = b.Version
		tx.ChangedHost(h)
		ev.Host, ev.Component, ev.From, ev.To = h.Name, b.Component, from, b.Version
		return map[string]string{"version": b.Version}, nil
	case sdk.ActionProbe:
		return map[string]string{"state": c.Host(q.Host).State}, nil
	}
	return nil, nil
}
