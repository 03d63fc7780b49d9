// Package inventory is the live state of the cloud as the providers
// reported it at one moment: hosts, instances, server groups, VNF managers
// and installed versions. A Snapshot is immutable once built; its digest
// (and each host's) is what makes a saved plan detectably stale.
package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Resources are amounts of compute resources.
type Resources struct {
	VCPUs    int64 `json:"vcpus"`
	MemoryMB int64 `json:"memory_mb"`
	DiskGB   int64 `json:"disk_gb,omitempty"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.VCPUs + o.VCPUs, r.MemoryMB + o.MemoryMB, r.DiskGB + o.DiskGB}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.VCPUs - o.VCPUs, r.MemoryMB - o.MemoryMB, r.DiskGB - o.DiskGB}
}

// Fits reports whether o fits in r (vCPU and RAM; disk is not scheduled on,
// as most NFV clouds boot from volumes).
func (r Resources) Fits(o Resources) bool {
	return o.VCPUs <= r.VCPUs && o.MemoryMB <= r.MemoryMB
}

// Host states, as providers report them.
const (
	StateUp          = "up"
	StateDown        = "down"
	StateDisabled    = "disabled"
	StateMaintenance = "maintenance"
)

// Host is one host as one provider reports it.
type Host struct {
	Name             string            `json:"name"`
	Role             string            `json:"role"`
	AvailabilityZone string            `json:"availability_zone"`
	Aggregates       []string          `json:"aggregates,omitempty"`
	Capacity         Resources         `json:"capacity"`
	Used             Resources         `json:"used"`
	State            string            `json:"state"`
	StateReason      string            `json:"state_reason,omitempty"`
	Versions         map[string]string `json:"versions,omitempty"`
	Attributes       map[string]string `json:"attributes,omitempty"`
}

// Instance is one instance (VM).
type Instance struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Host           string    `json:"host"`
	Resources      Resources `json:"resources"`
	Status         string    `json:"status"`
	Project        string    `json:"project"`
	ServerGroup    string    `json:"server_group,omitempty"`
	LiveMigratable bool      `json:"live_migratable"`
}

// ServerGroup is a Nova server group.
type ServerGroup struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Policy  string   `json:"policy"`
	Project string   `json:"project"`
	Members []string `json:"members"`
}

// HardAntiAffinity reports whether Nova refuses two members on one host.
func (g *ServerGroup) HardAntiAffinity() bool { return g.Policy == "anti-affinity" }

// VNFManager is a VNF manager to be told of maintenance on its project.
type VNFManager struct {
	Name    string `json:"name"`
	Project string `json:"project"`
	URL     string `json:"url"`
}

// Inventory is what one provider reported.
type Inventory struct {
	Hosts        []*Host        `json:"hosts"`
	Instances    []*Instance    `json:"instances"`
	ServerGroups []*ServerGroup `json:"server_groups"`
	VNFManagers  []*VNFManager  `json:"vnf_managers"`
}

// Snapshot is every provider's inventory at one moment, with indexes.
type Snapshot struct {
	// Time is when the refresh finished.
	Time time.Time
	// Providers maps provider name to its inventory.
	Providers map[string]*Inventory

	hosts  map[string]map[string]*Host // provider → name → host
	onHost map[string][]*Instance      // host name → its instances, sorted by id
	groups map[string]int32            // id → index in groupList
	// groupList is every group once, sorted by id.
	groupList []*ServerGroup
	// kept is every instance once (the first provider's, by name), sorted
	// by id.
	kept []*Instance
	// keptAt[i] says where kept[i] is: its host, an index in hostNames,
	// and its server group, an index in groupList.
	keptAt    []instanceAt
	hostNames []string

	// instances (id → instance) is built on first use: the planner does
	// not look instances up by id, and 200,000 map entries cost.
	instancesOnce sync.Once
	instances     map[string]*Instance
}

// NewSnapshot indexes the providers' inventories. It sorts every list so
// that digests and plans do not depend on the order providers answered in.
// An instance reported by several providers (by id) is kept once.
//
// A 10,000-host cloud has 200,000 instances: the indexes are sized up
// front, lists that arrive sorted are not sorted again, and each
// instance's host and server group are looked up while the instances are
// still in the order they were received (the order they lie in memory),
// not after sorting them by id, which scatters them.
func NewSnapshot(at time.Time, providers map[string]*Inventory) (*Snapshot, error) {
	nInst, nGroups := 0, 0
	for _, inv := range providers {
		nInst += len(inv.Instances)
		nGroups += len(inv.ServerGroups)
	}
	s := &Snapshot{
		Time:      at,
		Providers: providers,
		hosts:     make(map[string]map[string]*Host, len(providers)),
		groups:    make(map[string]int32, nGroups),
	}
	names := sortedKeys(providers)
	for _, name := range names {
		inv := providers[name]
		sortBy(inv.Hosts, func(h *Host) string { return h.Name })
		sortBy(inv.ServerGroups, func(g *ServerGroup) string { return g.ID })
		sortBy(inv.VNFManagers, func(m *VNFManager) string { return m.Name })
		hm := make(map[string]*Host, len(inv.Hosts))
		for _, h := range inv.Hosts {
			if _, dup := hm[h.Name]; dup {
				return nil, fmt.Errorf("provider %q reported host %q twice; the inventory is inconsistent, check the provider", name, h.Name)
			}
			hm[h.Name] = h
		}
		s.hosts[name] = hm
		for _, g := range inv.ServerGroups {
			if !slices.IsSorted(g.Members) {
				slices.Sort(g.Members)
			}
			if _, dup := s.groups[g.ID]; !dup {
				s.groups[g.ID] = -1 // numbered below, once sorted
				s.groupList = append(s.groupList, g)
			}
		}
	}
	if len(names) > 1 {
		sortBy(s.groupList, func(g *ServerGroup) string { return g.ID })
	}
	for i, g := range s.groupList {
		s.groups[g.ID] = int32(i)
	}

	// Each instance's host, numbered in order of appearance, and group.
	slot := make(map[string]int32, 1024)
	var hostNames []string
	var seen map[string]bool // instance ids, when several providers report instances
	if len(names) > 1 {
		seen = make(map[string]bool, nInst)
	}
	kept := make([]*Instance, 0, nInst)
	keptAt := make([]instanceAt, 0, nInst)
	for _, name := range names {
		inv := providers[name]
		at := make([]instanceAt, len(inv.Instances))
		for i, in := range inv.Instances {
			j, ok := slot[in.Host]
			if !ok {
				j = int32(len(hostNames))
				slot[in.Host] = j
				hostNames = append(hostNames, in.Host)
			}
			g, ok := s.groups[in.ServerGroup]
			if !ok {
				g = -1
			}
			at[i] = instanceAt{host: j, group: g}
		}
		sortWith(inv.Instances, at, func(in *Instance) string { return in.ID })
		for i, in := range inv.Instances {
			// Sorted: a provider's own duplicates are neighbours.
			if i > 0 && inv.Instances[i-1].ID == in.ID {
				continue
			}
			if seen != nil {
				if seen[in.ID] {
					continue
				}
				seen[in.ID] = true
			}
			kept = append(kept, in)
			keptAt = append(keptAt, at[i])
		}
	}
	if len(names) > 1 {
		// Several providers: sorted by id across them, so that each
		// host's list below comes out sorted.
		sortWith(kept, keptAt, func(in *Instance) string { return in.ID })
	}
	s.kept, s.keptAt, s.hostNames = kept, keptAt, hostNames

	// Each host's instances share one backing array, carved in slices
	// whose capacity ends at their length: a caller's append copies
	// rather than overwriting the next host's instances.
	counts := make([]int, len(hostNames))
	for _, a := range keptAt {
		counts[a.host]++
	}
	backing := make([]*Instance, len(kept))
	lists := make([][]*Instance, len(hostNames))
	off := 0
	for j, n := range counts {
		lists[j] = backing[off : off : off+n]
		off += n
	}
	for i, in := range kept {
		lists[keptAt[i].host] = append(lists[keptAt[i].host], in)
	}
	s.onHost = make(map[string][]*Instance, len(hostNames))
	for j, h := range hostNames {
		if counts[j] > 0 {
			s.onHost[h] = lists[j]
		}
	}
	return s, nil
}

// instanceAt is where a kept instance is: the index of its host in
// Snapshot.hostNames and of its server group in groupList (-1: none).
type instanceAt struct {
	host, group int32
}

// sortBy sorts list by key unless it is sorted already (a provider that
// reports in name order, a snapshot built twice from one inventory).
func sortBy[T any](list []T, key func(T) string) {
	sortWith[T, struct{}](list, nil, key)
}

// sortWith is sortBy, moving payload[i] (when payload is not nil) along
// with list[i]. Entries are sorted with the first 8 bytes of their key
// beside them, so most comparisons touch neither the entry nor the key's
// bytes: with random ids (UUIDs) that is several times faster on 200,000
// instances. The order of equal keys depends only on the keys, never on
// the payload.
func sortWith[T, P any](list []T, payload []P, key func(T) string) {
	if slices.IsSortedFunc(list, func(a, b T) int { return strings.Compare(key(a), key(b)) }) {
		return
	}
	type entry struct {
		prefix uint64
		key    string
		v      T
		p      P
	}
	es := make([]entry, len(list))
	for i, v := range list {
		k := key(v)
		var p uint64
		for b := 0; b < 8; b++ {
			p <<= 8
			if b < len(k) {
				p |= uint64(k[b])
			}
		}
		es[i] = entry{prefix: p, key: k, v: v}
		if payload != nil {
			es[i].p = payload[i]
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.prefix != b.prefix {
			if a.prefix < b.prefix {
				return -1
			}
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
	for i := range es {
		list[i] = es[i].v
		if payload != nil {
			payload[i] = es[i].p
		}
	}
}

// Host returns the host named name as provider reports it.
func (s *Snapshot) Host(provider, name string) (*Host, bool) {
	h, ok := s.hosts[provider][name]
	return h, ok
}

// Hosts returns provider's hosts, sorted by name.
func (s *Snapshot) Hosts(provider string) []*Host {
	if inv, ok := s.Providers[provider]; ok {
		return inv.Hosts
	}
	return nil
}

// Instance returns an instance by id.
func (s *Snapshot) Instance(id string) (*Instance, bool) {
	s.instancesOnce.Do(func() {
		s.instances = make(map[string]*Instance, len(s.kept))
		for _, in := range s.kept {
			s.instances[in.ID] = in
		}
	})
	in, ok := s.instances[id]
	return in, ok
}

// Instances returns every instance once (the first provider's, by
// provider name, when several report one id), sorted by id. The slice is
// shared: callers must not change it.
func (s *Snapshot) Instances() []*Instance { return s.kept }

// InstanceHosts says on which host each instance of Instances() is:
// Instances()[i].Host is names[HostIndex(i)]. With InstanceGroup it lets
// a caller place 200,000 instances without looking each one's host and
// group up by name. The slice is shared: callers must not change it.
func (s *Snapshot) InstanceHosts() (names []string) { return s.hostNames }

// HostIndex is the index in InstanceHosts() of the host of Instances()[i].
func (s *Snapshot) HostIndex(i int) int32 { return s.keptAt[i].host }

// InstanceGroup is the index in ServerGroups() of the server group of
// Instances()[i], -1 when the inventory lists no group of that id.
func (s *Snapshot) InstanceGroup(i int) int32 { return s.keptAt[i].group }

// InstancesOn returns the instances on a host, sorted by id.
func (s *Snapshot) InstancesOn(host string) []*Instance { return s.onHost[host] }

// ServerGroup returns a server group by id.
func (s *Snapshot) ServerGroup(id string) (*ServerGroup, bool) {
	if i, ok := s.groups[id]; ok {
		return s.groupList[i], true
	}
	return nil, false
}

// ServerGroups returns every server group, sorted by id. The slice is the
// caller's; the groups are shared.
func (s *Snapshot) ServerGroups() []*ServerGroup {
	return slices.Clone(s.groupList)
}

// VNFManagers returns every VNF manager, by provider then name.
func (s *Snapshot) VNFManagers() []*VNFManager {
	var out []*VNFManager
	for _, p := range sortedKeys(s.Providers) {
		out = append(out, s.Providers[p].VNFManagers...)
	}
	return out
}

// HostValue is the host as HCL expressions see it (config.HostType).
func HostValue(h *Host) cty.Value {
	strs := func(ss []string) cty.Value {
		if len(ss) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		vs := make([]cty.Value, len(ss))
		for i, s := range ss {
			vs[i] = cty.StringVal(s)
		}
		return cty.ListVal(vs)
	}
	m := func(mm map[string]string) cty.Value {
		if len(mm) == 0 {
			return cty.MapValEmpty(cty.String)
		}
		vs := make(map[string]cty.Value, len(mm))
		for k, v := range mm {
			vs[k] = cty.StringVal(v)
		}
		return cty.MapVal(vs)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":              cty.StringVal(h.Name),
		"role":              cty.StringVal(h.Role),
		"availability_zone": cty.StringVal(h.AvailabilityZone),
		"aggregates":        strs(h.Aggregates),
		"vcpus":             cty.NumberIntVal(h.Capacity.VCPUs),
		"memory_mb":         cty.NumberIntVal(h.Capacity.MemoryMB),
		"state":             cty.StringVal(h.State),
		"versions":          m(h.Versions),
		"attributes":        m(h.Attributes),
	})
}

// ServerGroupValue is the group as HCL expressions see it
// (config.ServerGroupType).
func ServerGroupValue(g *ServerGroup) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"name":    cty.StringVal(g.Name),
		"policy":  cty.StringVal(g.Policy),
		"project": cty.StringVal(g.Project),
		"members": cty.NumberIntVal(int64(len(g.Members))),
	})
}

// Digest is a hash of the whole snapshot (not its Time), and HostDigests a
// hash per host name covering the host as every provider reports it and
// the instances on it. A plan keeps both: the first says whether anything
// changed, the second says what.
//
// What is hashed is each value's encoding/json encoding (see digest.go,
// which writes the same bytes without reflection), so digests stay those
// of earlier releases. Hosts are hashed on every core: a 10,000-host cloud
// is 200,000 instances to encode.
func (s *Snapshot) Digest() (total string, hosts map[string]string) {
	return s.DigestOn(runtime.GOMAXPROCS(0))
}

// DigestOn is Digest, hashing hosts on at most cores goroutines: for a
// caller that keeps other cores busy meanwhile.
func (s *Snapshot) DigestOn(cores int) (total string, hosts map[string]string) {
	provs := sortedKeys(s.Providers)
	var names []string
	if len(provs) == 1 {
		for _, h := range s.Providers[provs[0]].Hosts { // sorted by NewSnapshot
			names = append(names, h.Name)
		}
	} else {
		seen := map[string]bool{}
		for _, p := range provs {
			for _, h := range s.Providers[p].Hosts {
				seen[h.Name] = true
			}
		}
		names = sortedKeys(seen)
	}
	sums := make([]string, len(names))
	workers := max(1, min(cores, len(names)/256))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hh := sha256.New()
			var buf []byte
			var sum [sha256.Size]byte
			for i := w; i < len(names); i += workers {
				name := names[i]
				hh.Reset()
				buf = buf[:0]
				for _, p := range provs {
					if h, ok := s.hosts[p][name]; ok {
						buf = appendJSONString(buf, p)
						buf = append(buf, '\n')
						buf = appendHostJSON(buf, h)
						buf = append(buf, '\n')
					}
				}
				for _, in := range s.onHost[name] {
					buf = appendInstanceJSON(buf, in)
					buf = append(buf, '\n')
				}
				hh.Write(buf)
				sums[i] = hex.EncodeToString(hh.Sum(sum[:0]))
			}
		}()
	}
	wg.Wait()
	all := sha256.New()
	hosts = make(map[string]string, len(names))
	buf := make([]byte, 0, 4096)
	for i, name := range names {
		hosts[name] = sums[i]
		buf = append(buf, name...)
		buf = append(buf, '=')
		buf = append(buf, sums[i]...)
		buf = append(buf, '\n')
		if len(buf) > 3072 {
			all.Write(buf)
			buf = buf[:0]
		}
	}
	for _, g := range s.groupList {
		buf = appendServerGroupJSON(buf, g)
		buf = append(buf, '\n')
		if len(buf) > 3072 {
			all.Write(buf)
			buf = buf[:0]
		}
	}
	for _, v := range s.VNFManagers() {
		buf = appendVNFManagerJSON(buf, v)
		buf = append(buf, '\n')
	}
	all.Write(buf)
	return hex.EncodeToString(all.Sum(nil)), hosts
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
