package openstack

import (
	"context"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Maintenance is a disabled nova-compute service whose disabled_reason
// says escalator and the run: "escalator: <run id>, wave 3". When
// take_over_disabled adopted a service disabled for another reason, that
// reason follows: "escalator: <run id>, wave 3; was: <reason>", and
// leaving maintenance puts it back, the service still disabled.
const (
	reasonPrefix = "escalator: "
	previousSep  = "; was: "
	// maxReason is the length of Nova's services.disabled_reason column.
	maxReason = 255
	// engineReason is how escalator's engine starts the reason it passes.
	engineReason = "escalator run "
)

// maintReason is a parsed escalator disabled_reason.
type maintReason struct {
	runID string
	// detail follows the run id (", wave 3").
	detail string
	// hadPrevious: the service was disabled before, with previous.
	hadPrevious bool
	previous    string
}

// encodeReason builds the disabled_reason for a run. Nova keeps 255
// characters: the detail goes first, then the end of a previous reason
// (and then a warning says so).
func encodeReason(runID, reason string, prev *string) (string, bool) {
	rest := strings.TrimPrefix(strings.TrimPrefix(reason, engineReason), reasonPrefix)
	if runID != "" && !strings.HasPrefix(rest, runID) {
		rest = strings.TrimSpace(runID + " " + rest)
	}
	if rest == "" {
		rest = "maintenance"
	}
	s := reasonPrefix + rest
	if prev == nil {
		return truncate(s, maxReason), len(s) <= maxReason
	}
	tail := previousSep + *prev
	if len(s)+len(tail) > maxReason {
		s = reasonPrefix + firstOf(runID, rest)
	}
	if len(s)+len(tail) > maxReason {
		return truncate(s+tail, maxReason), false
	}
	return s + tail, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// parseReason reads an escalator disabled_reason; ok is false for any
// other reason.
func parseReason(s string) (maintReason, bool) {
	body, ok := strings.CutPrefix(s, reasonPrefix)
	if !ok {
		return maintReason{}, false
	}
	var m maintReason
	if before, after, found := strings.Cut(body, previousSep); found {
		body, m.hadPrevious, m.previous = before, true, after
	}
	end := strings.IndexAny(body, ", ;")
	if end < 0 {
		end = len(body)
	}
	m.runID, m.detail = body[:end], body[end:]
	return m, true
}

// stateReason is the reason as escalator gave it ("escalator run <id>,
// wave 3"), reported in Host.StateReason.
func (m maintReason) stateReason() string {
	s := engineReason + m.runID + m.detail
	if m.hadPrevious {
		s += previousSep + m.previous
	}
	return s
}

// runIDOf is the run id of a provider step id ("<run id>/<step id>").
func runIDOf(stepID string) string {
	if i := strings.IndexByte(stepID, '/'); i > 0 {
		return stepID[:i]
	}
	return ""
}

// ours: the reason is this run's. Without a run id in the step id, any
// escalator reason is.
func (m maintReason) ours(runID string) bool {
	return runID == "" || m.runID == runID
}

// computeService finds the host's nova-compute service.
func (c *cloud) computeService(ctx context.Context, host string) (*services.Service, error) {
	pages, err := services.List(c.compute, services.ListOpts{Binary: binaryCompute, Host: host}).AllPages(ctx)
	if err != nil {
		return nil, c.apiError("read the nova-compute service of "+host, err)
	}
	svcs, err := services.ExtractServices(pages)
	if err != nil {
		return nil, c.apiError("read the nova-compute service of "+host, err)
	}
	for i := range svcs {
		if svcs[i].Host == host && svcs[i].Binary == binaryCompute {
			return &svcs[i], nil
		}
	}
	return nil, fmt.Errorf("host %q has no nova-compute service in Nova: it was renamed or deleted since the plan was made; plan again", host)
}

func (c *cloud) updateService(ctx context.Context, s *services.Service, opts services.UpdateOpts) (*services.Service, error) {
	verb := "enable"
	if opts.Status == services.ServiceDisabled {
		verb = "disable"
	}
	got, err := services.Update(ctx, c.compute, s.ID, opts).Extract()
	if err != nil {
		return nil, c.apiError(fmt.Sprintf("%s the nova-compute service of %s", verb, s.Host), err)
	}
	return got, nil
}

// enterMaintenance disables the host's nova-compute service with a reason
// naming the run, so that the scheduler places nothing new there.
func (c *cloud) enterMaintenance(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) error {
	runID := runIDOf(req.ID)
	s, err := c.computeService(ctx, req.Host)
	if err != nil {
		return err
	}
	var prev *string
	if s.Status == string(services.ServiceDisabled) {
		m, isOurs := parseReason(s.DisabledReason)
		switch {
		case isOurs && m.ours(runID):
			resp.Progress(fmt.Sprintf("nova-compute on %s is already disabled for this run (%q)", req.Host, s.DisabledReason), 1)
			return nil
		case isOurs && !c.cfg.TakeOverDisabled:
			return fmt.Errorf("nova-compute on %s is in maintenance for another escalator run, %s (disabled_reason %q). Finish or roll back that run first; or enable the service if that run is abandoned (openstack compute service set --enable %s nova-compute); or set take_over_disabled = true in the provider block to adopt the host",
				req.Host, m.runID, s.DisabledReason, req.Host)
		case isOurs:
			// Adopted from an abandoned run: what that run found is
			// what maintenance must end with.
			if m.hadPrevious {
				prev = &m.previous
			}
			resp.Diagnostics.AddWarning("Host taken over from another run",
				fmt.Sprintf("nova-compute on %s was in maintenance for escalator run %s; take_over_disabled = true, so this run adopts it.", req.Host, m.runID))
		case !c.cfg.TakeOverDisabled:
			reason := s.DisabledReason
			if reason == "" {
				reason = "no reason given"
			}
			return fmt.Errorf("nova-compute on %s is disabled for another reason (%q), and escalator does not touch a host an operator disabled. Enable it (openstack compute service set --enable %s nova-compute) if it may be upgraded, remove it from the campaign's hosts with a where expression, or set take_over_disabled = true in the provider block (the reason is then restored, disabled, when maintenance ends)",
				req.Host, reason, req.Host)
		default:
			old := s.DisabledReason
			prev = &old
			resp.Diagnostics.AddWarning("Disabled host taken over",
				fmt.Sprintf("nova-compute on %s was disabled (%q); take_over_disabled = true, so it is put in maintenance and will be left disabled with that reason when maintenance ends.", req.Host, old))
		}
	}
	reason, whole := encodeReason(runID, req.Reason, prev)
	if !whole {
		resp.Diagnostics.AddWarning("Disabled reason shortened",
			fmt.Sprintf("Nova keeps 255 characters of a disabled reason; %s gets %q.", req.Host, reason))
	}
	resp.Progress(fmt.Sprintf("disabling nova-compute on %s: %q", req.Host, reason), 0)
	got, err := c.updateService(ctx, s, services.UpdateOpts{Status: services.ServiceDisabled, DisabledReason: reason})
	if err != nil {
		return err
	}
	if got.Status != string(services.ServiceDisabled) || got.DisabledReason != reason {
		return fmt.Errorf("disable nova-compute on %s: Nova answered status %q, disabled_reason %q; someone else changed the service at the same time, look at it and retry", req.Host, got.Status, got.DisabledReason)
	}
	resp.Progress("nova-compute on "+req.Host+" disabled", 1)
	return nil
}

// leaveMaintenance enables the host's nova-compute service if this run
// disabled it. A service already enabled is done; one disabled for
// another reason meanwhile is left alone, with a warning; one adopted
// with take_over_disabled gets its earlier reason back, still disabled.
func (c *cloud) leaveMaintenance(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) error {
	runID := runIDOf(req.ID)
	s, err := c.computeService(ctx, req.Host)
	if err != nil {
		return err
	}
	if s.Status != string(services.ServiceDisabled) {
		resp.Progress(fmt.Sprintf("nova-compute on %s is already enabled", req.Host), 1)
		return nil
	}
	m, isOurs := parseReason(s.DisabledReason)
	if !isOurs || !m.ours(runID) {
		who := fmt.Sprintf("for another reason (%q)", s.DisabledReason)
		if isOurs {
			who = fmt.Sprintf("by escalator run %s", m.runID)
		}
		resp.Diagnostics.AddWarning("Host left disabled",
			fmt.Sprintf("nova-compute on %s was disabled %s, not by this run, so escalator leaves it disabled. Enable it yourself once it may take instances again (openstack compute service set --enable %s nova-compute).", req.Host, who, req.Host))
		return nil
	}
	if m.hadPrevious {
		resp.Progress(fmt.Sprintf("restoring the earlier disabled_reason of %s (it stays disabled): %q", req.Host, m.previous), 0)
		got, err := c.updateService(ctx, s, services.UpdateOpts{Status: services.ServiceDisabled, DisabledReason: m.previous})
		if err != nil {
			return err
		}
		if got.DisabledReason != m.previous {
			return fmt.Errorf("restore the disabled_reason of %s: Nova answered %q", req.Host, got.DisabledReason)
		}
		resp.Diagnostics.AddWarning("Host left disabled",
			fmt.Sprintf("nova-compute on %s was disabled before maintenance (%q) and stays disabled.", req.Host, m.previous))
		return nil
	}
	resp.Progress("enabling nova-compute on "+req.Host, 0)
	got, err := c.updateService(ctx, s, services.UpdateOpts{Status: services.ServiceEnabled})
	if err != nil {
		return err
	}
	if got.Status != string(services.ServiceEnabled) {
		return fmt.Errorf("enable nova-compute on %s: Nova answered status %q; look at the service and retry", req.Host, got.Status)
	}
	resp.Progress("nova-compute on "+req.Host+" enabled", 1)
	return nil
}
