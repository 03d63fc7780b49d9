package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/aggregates"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Roles of the hosts the provider reports.
const (
	RoleCompute    = "compute"
	RoleController = "controller"
)

// Component names of the versions the provider reports: the hypervisor's
// on compute hosts; the APIs' maximum versions on controllers (Nova does
// not expose its services' package versions).
const (
	VersionHypervisor   = "hypervisor"
	VersionComputeAPI   = "compute_api"
	VersionPlacementAPI = "placement_api"
	VersionIdentityAPI  = "identity_api"
)

const binaryCompute = "nova-compute"

// hostAttributes documents Host.Attributes.
var hostAttributes = []sdk.HostAttribute{
	{Name: "service_id", Description: "UUID of the host's nova-compute service (controllers: empty)."},
	{Name: "status", Description: "Nova's service status: enabled or disabled."},
	{Name: "state", Description: "Nova's service state: up or down."},
	{Name: "disabled_reason", Description: "The service's disabled_reason, as Nova reports it."},
	{Name: "forced_down", Description: "true when the service was forced down (evacuation)."},
	{Name: "hypervisor_type", Description: "As Nova reports it: QEMU, fake, …"},
	{Name: "hypervisor_hostname", Description: "The compute node's name (comma-separated if several)."},
	{Name: "running_vms", Description: "Servers the hypervisor reports on the host."},
	{Name: "capacity_source", Description: "placement, or hypervisor when Placement is absent or has no provider for the node."},
	{Name: "services", Description: "Nova services running on the host, comma-separated (nova-compute, nova-conductor, …)."},
}

// serverGroupsPage is how many server groups one request asks for; Nova
// caps it at its [api] max_limit.
const serverGroupsPage = 1000

// inventory reads the cloud. Errors mean it can't be trusted; warnings
// are about what is odd in it.
func (c *cloud) inventory(ctx context.Context) (*sdk.ReadInventoryResponse, []string, error) {
	svcs, err := c.listServices(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	hvs, err := c.listHypervisors(ctx)
	if err != nil {
		return nil, nil, err
	}
	aggPages, err := aggregates.List(c.compute).AllPages(ctx)
	if err != nil {
		return nil, nil, c.apiError("list host aggregates", err)
	}
	aggs, err := aggregates.ExtractAggregates(aggPages)
	if err != nil {
		return nil, nil, c.apiError("read host aggregates", err)
	}
	srvPages, err := servers.List(c.compute, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		return nil, nil, c.apiError("list the servers of all projects", err)
	}
	srvs, err := servers.ExtractServers(srvPages)
	if err != nil {
		return nil, nil, c.apiError("read the servers", err)
	}
	groups, err := c.listServerGroups(ctx)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	usage, err := c.placementUsage(ctx, hvs)
	if err != nil {
		return nil, nil, err
	}

	resp := &sdk.ReadInventoryResponse{}
	hostAggs := map[string][]string{}
	for _, a := range aggs {
		for _, h := range a.Hosts {
			hostAggs[h] = append(hostAggs[h], a.Name)
		}
	}
	hvByHost := map[string][]hypervisors.Hypervisor{}
	for _, hv := range hvs {
		hvByHost[hv.Service.Host] = append(hvByHost[hv.Service.Host], hv)
	}
	svcByHost := map[string][]services.Service{}
	for _, s := range svcs {
		svcByHost[s.Host] = append(svcByHost[s.Host], s)
	}
	for _, name := range sortedKeys(svcByHost) {
		hs := svcByHost[name]
		var compute *services.Service
		var binaries []string
		for i := range hs {
			binaries = append(binaries, hs[i].Binary)
			if hs[i].Binary == binaryCompute {
				compute = &hs[i]
			}
		}
		sort.Strings(binaries)
		aggsOf := append([]string(nil), hostAggs[name]...)
		sort.Strings(aggsOf)
		if compute == nil {
			resp.Hosts = append(resp.Hosts, c.controllerHost(name, hs, binaries, aggsOf))
			continue
		}
		resp.Hosts = append(resp.Hosts, computeHost(compute, hvByHost[name], usage, binaries, aggsOf))
	}

	groupOf := map[string]string{}
	for _, g := range groups {
		for _, m := range g.Members {
			groupOf[m] = g.ID
		}
		resp.ServerGroups = append(resp.ServerGroups, sdk.ServerGroup{
			ID: g.ID, Name: g.Name, Policy: groupPolicy(g), Project: g.ProjectID,
			Members: append([]string(nil), g.Members...),
		})
	}
	var busy []string
	for _, s := range srvs {
		in := sdk.Instance{
			ID: s.ID, Name: s.Name, Host: s.Host, Status: s.Status, Project: s.TenantID,
			ServerGroup:    groupOf[s.ID],
			LiveMigratable: s.Status == "ACTIVE" || s.Status == "PAUSED",
		}
		if r, ok := usage.consumer[s.ID]; ok {
			in.Resources = r
		} else {
			in.Resources = flavorResources(s.Flavor)
		}
		if s.TaskState != "" {
			busy = append(busy, fmt.Sprintf("%s (%s)", s.ID, s.TaskState))
		}
		resp.Instances = append(resp.Instances, in)
	}
	if len(busy) > 0 {
		sort.Strings(busy)
		warnings = append(warnings, fmt.Sprintf("%d server(s) have a task in progress, so where they end up may differ from what this inventory says: %s. Plan again once they settle.", len(busy), firstN(busy, 10)))
	}
	warnings = append(warnings, crossCheck(hvs, srvs)...)
	warnings = append(warnings, usage.warnings...)
	return resp, warnings, nil
}

func (c *cloud) listServices(ctx context.Context, binary string) ([]services.Service, error) {
	pages, err := services.List(c.compute, services.ListOpts{Binary: binary}).AllPages(ctx)
	if err != nil {
		return nil, c.apiError("list the compute services (os-services)", err)
	}
	svcs, err := services.ExtractServices(pages)
	if err != nil {
		return nil, c.apiError("read the compute services", err)
	}
	return svcs, nil
}

func (c *cloud) listHypervisors(ctx context.Context) ([]hypervisors.Hypervisor, error) {
	with := true
	pages, err := hypervisors.List(c.compute, hypervisors.ListOpts{WithServers: &with}).AllPages(ctx)
	if err != nil {
		return nil, c.apiError("list the hypervisors with their servers", err)
	}
	hvs, err := hypervisors.ExtractHypervisors(pages)
	if err != nil {
		return nil, c.apiError("read the hypervisors", err)
	}
	return hvs, nil
}

// listServerGroups reads the server groups of every project, page by
// page: the list is paginated with limit and offset.
func (c *cloud) listServerGroups(ctx context.Context) ([]servergroups.ServerGroup, error) {
	var all []servergroups.ServerGroup
	for offset := 0; ; {
		pages, err := servergroups.List(c.compute, servergroups.ListOpts{AllProjects: true, Limit: serverGroupsPage, Offset: offset}).AllPages(ctx)
		if err != nil {
			return nil, c.apiError("list the server groups of all projects", err)
		}
		page, err := servergroups.ExtractServerGroups(pages)
		if err != nil {
			return nil, c.apiError("read the server groups", err)
		}
		all = append(all, page...)
		if len(page) == 0 || ctx.Err() != nil {
			return all, ctx.Err()
		}
		offset += len(page)
	}
}

// groupPolicy is the group's policy: "policy" from microversion 2.64,
// the single element of "policies" before.
func groupPolicy(g servergroups.ServerGroup) string {
	if g.Policy != nil && *g.Policy != "" {
		return *g.Policy
	}
	if len(g.Policies) > 0 {
		return g.Policies[0]
	}
	return ""
}

func computeHost(s *services.Service, hvs []hypervisors.Hypervisor, usage *placementUsage, binaries, aggs []string) sdk.Host {
	h := sdk.Host{
		Name: s.Host, Role: RoleCompute, AvailabilityZone: s.Zone, Aggregates: aggs,
		Versions: map[string]string{},
		Attributes: map[string]string{
			"service_id": s.ID, "status": s.Status, "state": s.State,
			"disabled_reason": s.DisabledReason, "forced_down": strconv.FormatBool(s.ForcedDown),
			"services": strings.Join(binaries, ","),
		},
	}
	h.State, h.StateReason = hostState(s)
	var names, types []string
	source := "placement"
	running := 0
	for _, hv := range hvs {
		names = append(names, hv.HypervisorHostname)
		types = append(types, hv.HypervisorType)
		running += hv.RunningVMs
		if hv.HypervisorVersion > 0 {
			h.Versions[VersionHypervisor] = hypervisorVersion(hv.HypervisorVersion)
		}
		if rp, ok := usage.provider[hv.ID]; ok {
			h.Capacity = addResources(h.Capacity, rp.capacity)
			h.Used = addResources(h.Used, rp.used)
			continue
		}
		source = "hypervisor"
		h.Capacity = addResources(h.Capacity, sdk.Resources{VCPUs: int64(hv.VCPUs), MemoryMB: int64(hv.MemoryMB), DiskGB: int64(hv.LocalGB)})
		h.Used = addResources(h.Used, sdk.Resources{VCPUs: int64(hv.VCPUsUsed), MemoryMB: int64(hv.MemoryMBUsed), DiskGB: int64(hv.LocalGBUsed)})
	}
	h.Attributes["hypervisor_hostname"] = strings.Join(names, ",")
	h.Attributes["hypervisor_type"] = strings.Join(dedupe(types), ",")
	h.Attributes["running_vms"] = strconv.Itoa(running)
	if len(hvs) > 0 {
		h.Attributes["capacity_source"] = source
	}
	return h
}

// hostState maps a nova-compute service to the SDK's state: down wins;
// disabled with escalator's reason is maintenance, reported with the
// reason escalator gave.
func hostState(s *services.Service) (sdk.HostState, string) {
	switch {
	case s.State == "down" || s.ForcedDown:
		reason := "nova-compute is down"
		if s.ForcedDown {
			reason = "nova-compute is forced down"
		}
		if s.Status == "disabled" && s.DisabledReason != "" {
			reason += "; disabled: " + s.DisabledReason
		}
		return sdk.HostDown, reason
	case s.Status == "disabled":
		if m, ok := parseReason(s.DisabledReason); ok {
			return sdk.HostMaintenance, m.stateReason()
		}
		return sdk.HostDisabled, s.DisabledReason
	}
	return sdk.HostUp, ""
}

func (c *cloud) controllerHost(name string, svcs []services.Service, binaries, aggs []string) sdk.Host {
	h := sdk.Host{
		Name: name, Role: RoleController, Aggregates: aggs, State: sdk.HostUp,
		Versions:   map[string]string{},
		Attributes: map[string]string{"services": strings.Join(binaries, ",")},
	}
	var down []string
	for _, s := range svcs {
		if s.State == "down" {
			down = append(down, s.Binary)
		}
		if h.AvailabilityZone == "" {
			h.AvailabilityZone = s.Zone
		}
	}
	if len(down) > 0 {
		h.State, h.StateReason = sdk.HostDown, strings.Join(down, ", ")+" down"
	}
	for k, v := range map[string]string{VersionComputeAPI: c.computeMax, VersionPlacementAPI: c.placementMax, VersionIdentityAPI: c.identityVersion} {
		if v != "" {
			h.Versions[k] = v
		}
	}
	return h
}

// hypervisorVersion decodes Nova's integer version, oslo's
// convert_version_to_int: each dotted part is three decimal digits, so
// 7002000 is 7.2.0 (QEMU) and 1000 is 1.0 (the fake driver).
func hypervisorVersion(v int) string {
	if v <= 0 {
		return "0"
	}
	var parts []string
	for ; v > 0; v /= 1000 {
		parts = append([]string{strconv.Itoa(v % 1000)}, parts...)
	}
	return strings.Join(parts, ".")
}

// flavorResources reads the flavor embedded in a server (microversion
// 2.47 and later): disk is root plus ephemeral disk; swap is in MB and
// not counted against DISK_GB by Nova's scheduler either.
func flavorResources(f map[string]any) sdk.Resources {
	num := func(k string) int64 {
		switch v := f[k].(type) {
		case float64:
			return int64(v)
		case json.Number:
			n, _ := v.Int64()
			return n
		case int:
			return int64(v)
		}
		return 0
	}
	return sdk.Resources{VCPUs: num("vcpus"), MemoryMB: num("ram"), DiskGB: num("disk") + num("ephemeral")}
}

// placementUsage is what Placement says about the compute nodes.
type placementUsage struct {
	// provider is keyed by resource provider UUID (= hypervisor ID).
	provider map[string]rpUsage
	// consumer holds each consumer's allocation on its host: an
	// instance's resources as the scheduler counts them.
	consumer map[string]sdk.Resources
	warnings []string
}

type rpUsage struct {
	capacity, used sdk.Resources
}

// placementUsage reads inventories and allocations of the hypervisors'
// resource providers, inventory_parallelism at a time.
func (c *cloud) placementUsage(ctx context.Context, hvs []hypervisors.Hypervisor) (*placementUsage, error) {
	u := &placementUsage{provider: map[string]rpUsage{}, consumer: map[string]sdk.Resources{}}
	if c.placement == nil {
		return u, nil
	}
	pages, err := resourceproviders.List(c.placement, resourceproviders.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, c.apiError("list Placement's resource providers", err)
	}
	rps, err := resourceproviders.ExtractResourceProviders(pages)
	if err != nil {
		return nil, c.apiError("read Placement's resource providers", err)
	}
	known := map[string]bool{}
	for _, rp := range rps {
		known[rp.UUID] = true
	}
	var ids, missing []string
	for _, hv := range hvs {
		if known[hv.ID] {
			ids = append(ids, hv.ID)
		} else {
			missing = append(missing, hv.HypervisorHostname)
		}
	}
	if len(missing) > 0 {
		u.warnings = append(u.warnings, fmt.Sprintf("Placement has no resource provider for the compute node(s) %s: their capacity comes from Nova's hypervisor statistics.", firstN(missing, 10)))
	}

	type result struct {
		id    string
		usage rpUsage
		alloc map[string]sdk.Resources
		err   error
	}
	work := make(chan string)
	results := make(chan result)
	var wg sync.WaitGroup
	for range min(c.cfg.InventoryWorkers, max(1, len(ids))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				r := result{id: id}
				r.usage, r.alloc, r.err = c.providerUsage(ctx, id)
				results <- r
			}
		}()
	}
	go func() {
		defer close(work)
		for _, id := range ids {
			select {
			case work <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	var firstErr error
	for r := range results {
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		u.provider[r.id] = r.usage
		for consumer, res := range r.alloc {
			u.consumer[consumer] = addResources(u.consumer[consumer], res)
		}
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return u, nil
}

// providerUsage reads one resource provider: capacity is (total −
// reserved) × allocation ratio, as the scheduler counts it; usage is the
// sum of the allocations, which include those of migrations in flight.
func (c *cloud) providerUsage(ctx context.Context, id string) (rpUsage, map[string]sdk.Resources, error) {
	var u rpUsage
	inv, err := resourceproviders.GetInventories(ctx, c.placement, id).Extract()
	if err != nil {
		return u, nil, c.apiError("read the inventory of resource provider "+id, err)
	}
	for class, in := range inv.Inventories {
		n := int64(float64(in.Total-in.Reserved) * float64(in.AllocationRatio))
		setClass(&u.capacity, class, n)
	}
	al, err := resourceproviders.GetAllocations(ctx, c.placement, id).Extract()
	if err != nil {
		return u, nil, c.apiError("read the allocations on resource provider "+id, err)
	}
	byConsumer := make(map[string]sdk.Resources, len(al.Allocations))
	for consumer, a := range al.Allocations {
		var r sdk.Resources
		for class, n := range a.Resources {
			setClass(&r, class, int64(n))
		}
		byConsumer[consumer] = r
		u.used = addResources(u.used, r)
	}
	return u, byConsumer, nil
}

func setClass(r *sdk.Resources, class string, n int64) {
	switch class {
	case "VCPU":
		r.VCPUs = n
	case "MEMORY_MB":
		r.MemoryMB = n
	case "DISK_GB":
		r.DiskGB = n
	}
}

// crossCheck compares where the hypervisors and the server list put each
// server: they differ while a migration finishes, or when the compute
// and the database disagree.
func crossCheck(hvs []hypervisors.Hypervisor, srvs []servers.Server) []string {
	hostOf := make(map[string]string, len(srvs))
	for _, s := range srvs {
		hostOf[s.ID] = s.Host
	}
	var odd []string
	for _, hv := range hvs {
		if hv.Servers == nil {
			continue
		}
		for _, s := range *hv.Servers {
			if h, ok := hostOf[s.UUID]; ok && h != hv.Service.Host {
				odd = append(odd, fmt.Sprintf("%s (hypervisor %s, server list %s)", s.UUID, hv.Service.Host, h))
			}
		}
	}
	if len(odd) == 0 {
		return nil
	}
	sort.Strings(odd)
	return []string{fmt.Sprintf("The hypervisors and the server list disagree on the host of %d server(s): %s. A migration was probably finishing while the inventory was read; plan again.", len(odd), firstN(odd, 10))}
}

func addResources(a, b sdk.Resources) sdk.Resources {
	return sdk.Resources{VCPUs: a.VCPUs + b.VCPUs, MemoryMB: a.MemoryMB + b.MemoryMB, DiskGB: a.DiskGB + b.DiskGB}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// firstN lists items for messages, at most n of them.
func firstN(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
