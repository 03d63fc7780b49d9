package planner

import (
	"github.com/escalator-nfv/escalator/internal/inventory"
)

// cloud is the planner's mutable model of where instances are and how much
// room each host has, as the plan moves instances wave after wave. It is
// built once per plan from the inventory and then only changed by placing
// moves, so later rollouts see the cloud as earlier ones leave it.
//
// A 10,000-host cloud holds 200,000 instances, and the scheduler looks at
// each of them several times: hosts, instances and server groups are
// indexed by small integers and point at each other, so the hot loops
// neither hash strings nor allocate.
type cloud struct {
	hosts map[string]*hostState
	// hostList is every host, sorted by name; hostState.idx is the index.
	hostList []*hostState
	// insts is every instance once, host by host; instState.rank is its
	// place in id order.
	insts []instState
	// groups are indexed by a small integer: the scheduler counts group
	// members per host and per wave hundreds of thousands of times, and
	// integer slots are several times faster than string-keyed maps.
	groups []*inventory.ServerGroup
	// policy is each group's policy, as the scheduler tests it.
	policy []groupPolicy
	// pools of destination candidates, per availability zone and role.
	pools map[string]*zonePools
}

type hostState struct {
	name string
	idx  int32
	zone string
	// role: instances only move between hosts of one role, so that a
	// compute's instances never land on a controller that happens to
	// report free capacity.
	role     string
	capacity inventory.Resources
	// free changes only through setFree, which keeps room current.
	free inventory.Resources
	// room is roominess(), cached: the destination heaps compare it
	// millions of times.
	room float64
	// inService: up and schedulable (not down, disabled or in
	// maintenance). Only in-service hosts receive instances.
	inService bool
	// insts are the host's instances, sorted by id (rank), the order in
	// which a visit evacuates them.
	insts []*instState
	// groupCount counts members of each server group on this host.
	groupCount groupCounts
	// pendingEvac counts the evacuating visits still ahead of this host in
	// the campaign. A host with none is a destination from which an
	// instance will not have to move again.
	pendingEvac int
	// inWave and receiving hold the number of the wave the host is in, or
	// receives instances in; 0 when neither.
	inWave, receiving int

	// pools are the destination pools of the host's zone and role.
	pools    *zonePools
	heapIdx  int
	heapPool *hostHeap
}

// groupPolicy is a server group's policy, as far as placement cares.
type groupPolicy uint8

const (
	policyOther groupPolicy = iota
	// policyAffinity: members stay together.
	policyAffinity
	// policyAntiAffinity: Nova refuses two members on one host (soft
	// anti-affinity is policyOther: only the guards' budgets apply).
	policyAntiAffinity
)

type instState struct {
	inv *inventory.Instance
	// res and the flags below copy the instance's: the scheduler reads
	// them for every instance of every host it tries, and going through
	// inv for them is a cache miss each.
	res inventory.Resources
	// active: status ACTIVE; live: can be live-migrated; inGroup: it
	// names a server group (known to the inventory or not).
	active, live, inGroup bool
	// rank is the instance's place in id order.
	rank int32
	// group is the index of its server group, -1 for none.
	group int32
	// moved counts the plan's moves of this instance.
	moved int32
}

// zonePools are the destination candidates of one zone: preferred hosts
// (no evacuating visit ahead) and fallback ones (a visit ahead: an
// instance placed there moves again).
type zonePools struct {
	preferred, fallback hostHeap
}

// newCloud builds the model. Capacity comes from the provider that reports
// the host with a non-zero capacity (the one that also reports instances,
// in practice). An instance several providers report is counted once, as
// the snapshot keeps it.
func newCloud(inv *inventory.Snapshot) *cloud {
	nHosts := 0
	for _, p := range inv.Providers {
		nHosts += len(p.Hosts)
	}
	groups := inv.ServerGroups()
	c := &cloud{
		hosts:  make(map[string]*hostState, nHosts),
		groups: groups,
		pools:  map[string]*zonePools{},
	}
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
			hs.setFree(h.Capacity.Sub(h.Used))
			hs.inService = h.State == inventory.StateUp
		}
	}
	c.hostList = make([]*hostState, 0, len(c.hosts))
	for _, name := range sortedKeys(c.hosts) {
		hs := c.hosts[name]
		hs.idx = int32(len(c.hostList))
		c.hostList = append(c.hostList, hs)
	}
	c.policy = make([]groupPolicy, len(groups))
	for i, g := range groups {
		switch g.Policy {
		case "affinity":
			c.policy[i] = policyAffinity
		case "anti-affinity":
			c.policy[i] = policyAntiAffinity
		}
	}
	all := inv.Instances()
	names := inv.InstanceHosts()
	hostOf := make([]*hostState, len(names)) // nil: not a host with capacity
	for j, name := range names {
		hostOf[j] = c.hosts[name]
	}
	// The hosts' lists share one backing array, each carved with room
	// for exactly its instances: one allocation instead of a growing
	// slice per host. A host that receives instances later gets its own.
	// The instances themselves are laid out host by host (each host's in
	// id order), so that evacuating a host reads one stretch of memory
	// rather than instances scattered over the whole cloud; those of hosts
	// without a capacity record go last. next[j] is where the next
	// instance of host j goes.
	backing := make([]*instState, len(all))
	next := make([]int, len(names))
	off := 0
	for j, hs := range hostOf {
		if hs != nil {
			n := len(inv.InstancesOn(names[j]))
			hs.insts, backing = backing[:0:n], backing[n:]
			next[j], off = off, off+n
		}
	}
	for j, hs := range hostOf {
		if hs == nil {
			next[j], off = off, off+len(inv.InstancesOn(names[j]))
		}
	}
	c.insts = make([]instState, len(all))
	for i, in := range all {
		j := inv.HostIndex(i)
		is := &c.insts[next[j]]
		next[j]++
		*is = instState{
			inv: in, res: in.Resources, rank: int32(i), group: inv.InstanceGroup(i),
			active: in.Status == "ACTIVE", live: in.LiveMigratable, inGroup: in.ServerGroup != "",
		}
		if hs := hostOf[j]; hs != nil {
			// In id order, so the host's list stays sorted.
			hs.insts = append(hs.insts, is)
			if is.group >= 0 {
				hs.groupCount.add(is.group, 1)
			}
		}
	}
	return c
}

// fillPools puts every in-service host in its zone's pool. Called once
// the pending visits are counted.
func (c *cloud) fillPools() {
	for _, hs := range c.hostList {
		c.addToPool(hs)
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

// poolsOf returns the destination pools of h's zone and role.
func (c *cloud) poolsOf(h *hostState) *zonePools {
	if h.pools == nil {
		h.pools = c.pool(h.zone, h.role)
	}
	return h.pools
}

func (c *cloud) addToPool(h *hostState) {
	if !h.inService || h.heapPool != nil {
		return
	}
	zp := c.poolsOf(h)
	if h.pendingEvac == 0 {
		zp.preferred.push(h)
	} else {
		zp.fallback.push(h)
	}
}

func (c *cloud) removeFromPool(h *hostState) {
	if h.heapPool != nil {
		h.heapPool.remove(h.heapIdx)
	}
}

// addInst adds is to the host, keeping the list in id order.
func (h *hostState) addInst(is *instState) {
	i := h.instPos(is.rank)
	h.insts = append(h.insts, nil)
	copy(h.insts[i+1:], h.insts[i:])
	h.insts[i] = is
	if is.group >= 0 {
		h.groupCount.add(is.group, 1)
	}
}

func (h *hostState) removeInst(is *instState) {
	// A scan of a few dozen pointers: cheaper than a binary search that
	// reads each instance it compares.
	for i, x := range h.insts {
		if x == is {
			h.insts = append(h.insts[:i], h.insts[i+1:]...)
			break
		}
	}
	if is.group >= 0 {
		h.groupCount.add(is.group, -1)
	}
}

// instPos is where an instance of that rank is or would be in h.insts.
func (h *hostState) instPos(rank int32) int {
	lo, hi := 0, len(h.insts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h.insts[m].rank < rank {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
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
		r = r.Add(is.res)
	}
	return r
}

// setFree sets the host's free resources. A host in a heap must be fixed
// (fix) afterwards.
func (h *hostState) setFree(r inventory.Resources) {
	h.free = r
	h.room = h.roominess()
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

// hostHeap is a max-heap of hosts by roominess, ties by name: a total
// order, so the top is the same whatever the order of pushes and pops.
// It is container/heap's algorithm without its interface calls and
// boxing, which cost more than the comparisons here.
type hostHeap []*hostState

// before is the heap order: roomier first, then by name (idx follows
// name order, and is cheaper to compare).
func before(a, b *hostState) bool {
	if a.room != b.room {
		return a.room > b.room
	}
	return a.idx < b.idx
}

func (hh *hostHeap) push(h *hostState) {
	h.heapIdx = len(*hh)
	h.heapPool = hh
	*hh = append(*hh, h)
	hh.up(h.heapIdx)
}

// pop removes and returns the top host.
func (hh *hostHeap) pop() *hostState {
	return hh.remove(0)
}

// remove removes and returns the host at index i.
func (hh *hostHeap) remove(i int) *hostState {
	old := *hh
	n := len(old) - 1
	h := old[i]
	if n != i {
		hh.swap(i, n)
	}
	old[n] = nil
	*hh = old[:n]
	if n != i {
		if !hh.down(i) {
			hh.up(i)
		}
	}
	h.heapIdx = -1
	h.heapPool = nil
	return h
}

// fix restores the heap after the host at index i changed.
func (hh hostHeap) fix(i int) {
	if !hh.down(i) {
		hh.up(i)
	}
}

func (hh hostHeap) swap(i, j int) {
	hh[i], hh[j] = hh[j], hh[i]
	hh[i].heapIdx = i
	hh[j].heapIdx = j
}

func (hh hostHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !before(hh[j], hh[i]) {
			break
		}
		hh.swap(i, j)
		j = i
	}
}

func (hh hostHeap) down(i0 int) bool {
	n := len(hh)
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 {
			break
		}
		j := j1
		if j2 := j1 + 1; j2 < n && before(hh[j2], hh[j1]) {
			j = j2
		}
		if !before(hh[j], hh[i]) {
			break
		}
		hh.swap(i, j)
		i = j
	}
	return i > i0
}

// fix restores the heap after h's free capacity changed.
func (h *hostState) fix() {
	if h.heapPool != nil {
		h.heapPool.fix(h.heapIdx)
	}
}
