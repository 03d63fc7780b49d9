package inventory

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Reader reads one provider's inventory; pluginhost.Provider is one.
type Reader interface {
	ReadInventory(ctx context.Context) (*sdk.ReadInventoryResponse, diags.Diagnostics)
}

// Refresh reads every provider's inventory concurrently and builds a
// snapshot. Each Reader applies its own deadline; Refresh adds none so a
// slow provider's error names that provider, not a generic timeout.
func Refresh(ctx context.Context, readers map[string]Reader, now func() time.Time) (*Snapshot, diags.Diagnostics) {
	type result struct {
		inv *Inventory
		ds  diags.Diagnostics
	}
	results := make(map[string]*result, len(readers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, ds := r.ReadInventory(ctx)
			res := &result{ds: ds}
			if resp != nil && !ds.HasErrors() {
				res.inv = FromSDK(resp)
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	var all diags.Diagnostics
	invs := map[string]*Inventory{}
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		all = all.Append(results[n].ds)
		if results[n].inv != nil {
			invs[n] = results[n].inv
		}
	}
	if all.HasErrors() {
		return nil, all
	}
	s, err := NewSnapshot(now(), invs)
	if err != nil {
		return nil, all.Append(fmt.Errorf("inventory: %w", err))
	}
	return s, all
}

// FromSDK converts a provider's answer into the inventory model.
func FromSDK(r *sdk.ReadInventoryResponse) *Inventory {
	inv := &Inventory{
		Hosts:        make([]*Host, 0, len(r.Hosts)),
		Instances:    make([]*Instance, 0, len(r.Instances)),
		ServerGroups: make([]*ServerGroup, 0, len(r.ServerGroups)),
		VNFManagers:  make([]*VNFManager, 0, len(r.VNFManagers)),
	}
	res := func(x sdk.Resources) Resources {
		return Resources{VCPUs: x.VCPUs, MemoryMB: x.MemoryMB, DiskGB: x.DiskGB}
	}
	// One allocation per kind rather than per item: a large cloud has
	// hundreds of thousands of instances, each another object for the
	// garbage collector to track.
	hosts := make([]Host, len(r.Hosts))
	for i, h := range r.Hosts {
		hosts[i] = Host{
			Name: h.Name, Role: h.Role, AvailabilityZone: h.AvailabilityZone, Aggregates: h.Aggregates,
			Capacity: res(h.Capacity), Used: res(h.Used), State: h.State.String(), StateReason: h.StateReason,
			Versions: h.Versions, Attributes: h.Attributes,
		}
		inv.Hosts = append(inv.Hosts, &hosts[i])
	}
	insts := make([]Instance, len(r.Instances))
	for i, in := range r.Instances {
		insts[i] = Instance{
			ID: in.ID, Name: in.Name, Host: in.Host, Resources: res(in.Resources), Status: in.Status,
			Project: in.Project, ServerGroup: in.ServerGroup, LiveMigratable: in.LiveMigratable,
		}
		inv.Instances = append(inv.Instances, &insts[i])
	}
	groups := make([]ServerGroup, len(r.ServerGroups))
	for i, g := range r.ServerGroups {
		groups[i] = ServerGroup{ID: g.ID, Name: g.Name, Policy: g.Policy, Project: g.Project, Members: g.Members}
		inv.ServerGroups = append(inv.ServerGroups, &groups[i])
	}
	for _, m := range r.VNFManagers {
		inv.VNFManagers = append(inv.VNFManagers, &VNFManager{Name: m.Name, Project: m.Project, URL: m.URL})
	}
	return inv
}
