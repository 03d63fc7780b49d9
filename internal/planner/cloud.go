package planner

import (
	"container/heap"
	"sort"

	"github.com/escalator-nfv/escalator/internal/inventory"
)

// cloud is the planner's mutable model of where instances are and how much
// room each host has, as the plan moves instances wave after wave. It is
// built once per plan from the inventory and then only changed by placing
// moves, so later rollouts see the cloud as earlier ones leave it.
type cloud struct {
	hosts map[string]*hostState
	insts map[string]*instState
	// groups are indexed by a small integer: the scheduler counts group
	// members per host and per wave hundreds of thousands of times, and
	// integer slots are several times faster than string-keyed maps.
	groups   []*inventory.ServerGroup
	groupIdx map[string]int32
	// pools of destination candidates, per availability zone and role.
	pools map[string]*zonePools
}

type hostState struct {
	name string
	zone string
	// role: instances only move between hosts of one role, so that a
	// compute's instances never land on a controller that happens to
	// report free capacity.
	role     string
	capacity inventory.Resources
	free     inventory.Resources
	// inService: up and schedulable (not down, disabled or in
	// maintenance). Only in-service hosts receive instances.
	inService bool
	insts     []*instState
	// groupCount counts members of each server group on this host.
	groupCount groupCounts
	// pendingEvac counts the evacuating visits still ahead of this host in
	// the campaign. A host with none is a destination from which an
	// instance will not have to move again.
	pendingEvac int
	// inWave and receiving hold the number of the wave the host is in, or
	// receives instances in; 0 when neither.
	inWave, receiving int

	heapIdx  int
	heapPool *hostHeap
}

type instState struct {
	inv  *inventory.Instance
	host string
	// group is the index of its server group, -1 for none.
	group int32
	// pos is its index in its host's insts.
	pos int
	// moved counts the plan's moves of this instance.
	moved int
}

// zonePools are the destination candidates of one zone: preferred hosts
// (no evacuating visit ahead) and fallback ones (a visit ahead: an
// instance placed there moves again).
type zonePools struct {
	preferred, fallback hostHeap
}

// newCloud builds the model. Capacity comes from the provider that reports
// the host with a non-zero capacity (the one that also reports instances,
// in practice).
func newCloud(inv *inventory.Snapshot) *cloud {
	c := &cloud{hosts: map[string]*hostState{}, insts: map[string]*instState{}, groupIdx: map[string]int32{}, pools: map[string]*zonePools{}}
	for _, p := range sortedKeys(inv.Providers) {
		for _, h := range inv.Providers[p].Hosts {
			hs, ok := c.hosts[h.Name]
			if ok && hs.capacity.VCPUs > 0 {
				continue
			}
			if !ok {
				hs = &hostState{name: h.Name, heapIdx: -1}
				c.hosts[h.Name] = hs
			}
			hs.zone = h.AvailabilityZone
			hs.role = h.Role
			hs.capacity = h.Capacity
			hs.free = h.Capacity.Sub(h.Used)
			hs.inService = h.State == inventory.StateUp
		}
	}
	for _, g := range inv.ServerGroups() {
		c.groupIdx[g.ID] = int32(len(c.groups))
		c.groups = append(c.groups, g)
	}
	for _, p := range sortedKeys(inv.Providers) {
		for _, in := range inv.Providers[p].Instances {
			if _, dup := c.insts[in.ID]; dup {
				continue
			}
			is := &instState{inv: in, host: in.Host, group: -1}
			if g, ok := c.groupIdx[in.ServerGroup]; ok {
				is.group = g
			}
			c.insts[in.ID] = is
			if hs, ok := c.hosts[in.Host]; ok {
				hs.addInst(is)
			}
		}
	}
	return c
}

// fillPools puts every in-service host in its zone's pool. Called once
// the pending visits are counted.
func (c *cloud) fillPools() {
	for _, name := range sortedKeys(c.hosts) {
		c.addToPool(c.hosts[name])
	}
}

// pool returns the destination pools of a zone and role.
func (c *cloud) pool(zone, role string) *zonePools {
	key := zone + "\x00" + role
	zp, ok := c.pools[key]
	if !ok {
		zp = &zonePools{}
		c.pools[key] = zp
	}
	return zp
}

func (c *cloud) addToPool(h *hostState) {
	if !h.inService || h.heapPool != nil {
		return
	}
	zp := c.pool(h.zone, h.role)
	if h.pendingEvac == 0 {
		heap.Push(&zp.preferred, h)
	} else {
		heap.Push(&zp.fallback, h)
	}
}

func (c *cloud) removeFromPool(h *hostState) {
	if h.heapPool != nil {
		heap.Remove(h.heapPool, h.heapIdx)
	}
}

// instancesOn returns a host's instances in id order.
func (h *hostState) instancesOn() []*instState {
	out := append([]*instState(nil), h.insts...)
	sort.Slice(out, func(i, j int) bool { return out[i].inv.ID < out[j].inv.ID })
	return out
}

func (h *hostState) addInst(is *instState) {
	is.pos = len(h.insts)
	h.insts = append(h.insts, is)
	if is.group >= 0 {
		h.groupCount.add(is.group, 1)
	}
}

func (h *hostState) removeInst(is *instState) {
	last := h.insts[len(h.insts)-1]
	h.insts[is.pos] = last
	last.pos = is.pos
	h.insts = h.insts[:len(h.insts)-1]
	if is.group >= 0 {
		h.groupCount.add(is.group, -1)
	}
}

// groupCounts counts members per group on one host: a short list (a host
// holds a few dozen instances), searched linearly.
type groupCounts []groupCount

type groupCount struct{ g, n int32 }

func (gc groupCounts) get(g int32) int32 {
	for _, x := range gc {
		if x.g == g {
			return x.n
		}
	}
	return 0
}

func (gc *groupCounts) add(g, d int32) {
	for i := range *gc {
		if (*gc)[i].g == g {
			(*gc)[i].n += d
			if (*gc)[i].n == 0 {
				(*gc)[i] = (*gc)[len(*gc)-1]
				*gc = (*gc)[:len(*gc)-1]
			}
			return
		}
	}
	if d != 0 {
		*gc = append(*gc, groupCount{g, d})
	}
}

// load is the resources of a host's instances.
func (h *hostState) load() inventory.Resources {
	var r inventory.Resources
	for _, is := range h.insts {
		r = r.Add(is.inv.Resources)
	}
	return r
}

// roominess orders destinations: the host with the largest free share of
// its scarcer resource first (worst fit), which spreads load.
func (h *hostState) roominess() float64 {
	fv, fm := 1.0, 1.0
	if h.capacity.VCPUs > 0 {
		fv = float64(h.free.VCPUs) / float64(h.capacity.VCPUs)
	}
	if h.capacity.MemoryMB > 0 {
		fm = float64(h.free.MemoryMB) / float64(h.capacity.MemoryMB)
	}
	return min(fv, fm)
}

// hostHeap is a max-heap of hosts by roominess, ties by name.
type hostHeap []*hostState

func (hh hostHeap) Len() int { return len(hh) }
func (hh hostHeap) Less(i, j int) bool {
	ri, rj := hh[i].roominess(), hh[j].roominess()
	if ri != rj {
		return ri > rj
	}
	return hh[i].name < hh[j].name
}
func (hh hostHeap) Swap(i, j int) {
	hh[i], hh[j] = hh[j], hh[i]
	hh[i].heapIdx = i
	hh[j].heapIdx = j
}
func (hh *hostHeap) Push(x any) {
	h := x.(*hostState)
	h.heapIdx = len(*hh)
	h.heapPool = hh
	*hh = append(*hh, h)
}
func (hh *hostHeap) Pop() any {
	old := *hh
	h := old[len(old)-1]
	old[len(old)-1] = nil
	*hh = old[:len(old)-1]
	h.heapIdx = -1
	h.heapPool = nil
	return h
}

// fix restores the heap after h's free capacity changed.
func (h *hostState) fix() {
	if h.heapPool != nil {
		heap.Fix(h.heapPool, h.heapIdx)
	}
}
