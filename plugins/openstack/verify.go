package openstack

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// ProbeComputeServiceUp is the provider's probe: the host's nova-compute
// service is up (enabled, disabled or in maintenance, but not down).
const ProbeComputeServiceUp = "compute_service_up"

// serviceUp reports why the service is not up, "" when it is.
func serviceUp(s *services.Service) string {
	switch {
	case s.ForcedDown:
		return fmt.Sprintf("nova-compute on %s is forced down", s.Host)
	case s.State != "up":
		return fmt.Sprintf("nova-compute on %s is %s (last report %s)", s.Host, s.State, s.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return ""
}

// probe checks the service once: a check must see the cloud as it is.
func (c *cloud) probe(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) error {
	if req.Probe != ProbeComputeServiceUp {
		return fmt.Errorf("unknown probe %q; the openstack provider has %q", req.Probe, ProbeComputeServiceUp)
	}
	s, err := c.computeService(ctx, req.Host)
	if err != nil {
		return err
	}
	if why := serviceUp(s); why != "" {
		return fmt.Errorf("%s", why)
	}
	resp.Outputs = map[string]string{"state": s.State, "status": s.Status}
	return nil
}

// verify checks that the host's nova-compute service is up and has sent
// a heartbeat since the check began (so a service that died a moment ago,
// still "up" until service_down_time passes, is not taken for a live
// one), and that the version of the component, where the provider
// reports one, is the one expected. It waits for both until ctx ends.
func (c *cloud) verify(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) error {
	first, err := c.computeService(ctx, req.Host)
	if err != nil {
		return err
	}
	resp.Progress(fmt.Sprintf("waiting for a heartbeat of nova-compute on %s", req.Host), -1)
	wctx, cancel := waitContext(ctx)
	defer cancel()
	s := first
	for {
		why := serviceUp(s)
		if why == "" && !s.UpdatedAt.After(first.UpdatedAt) {
			why = fmt.Sprintf("nova-compute on %s has not reported since %s", req.Host, first.UpdatedAt.UTC().Format(time.RFC3339))
		}
		if why == "" {
			break
		}
		if err := c.sleep(wctx, c.cfg.PollInterval); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s (interrupted: %v)", why, ctx.Err())
			}
			return fmt.Errorf("%s, still at the step's deadline", why)
		}
		if s, err = c.computeService(ctx, req.Host); err != nil {
			return err
		}
	}
	out := map[string]string{"state": s.State, "status": s.Status}
	if req.Component == VersionHypervisor && req.ToVersion != "" {
		got, err := c.hypervisorVersionOf(ctx, req.Host)
		if err != nil {
			return err
		}
		if got != req.ToVersion {
			return fmt.Errorf("the hypervisor of %s reports version %s, expected %s", req.Host, got, req.ToVersion)
		}
		out["version"] = got
	}
	resp.Outputs = out
	resp.Progress(fmt.Sprintf("nova-compute on %s is up", req.Host), 1)
	return nil
}

func (c *cloud) hypervisorVersionOf(ctx context.Context, host string) (string, error) {
	pages, err := hypervisors.List(c.compute, hypervisors.ListOpts{}).AllPages(ctx)
	if err != nil {
		return "", c.apiError("list the hypervisors", err)
	}
	hvs, err := hypervisors.ExtractHypervisors(pages)
	if err != nil {
		return "", c.apiError("read the hypervisors", err)
	}
	for _, hv := range hvs {
		if hv.Service.Host == host && hv.HypervisorVersion > 0 {
			return hypervisorVersion(hv.HypervisorVersion), nil
		}
	}
	return "", fmt.Errorf("no hypervisor version for %s in Nova's hypervisor list", host)
}
