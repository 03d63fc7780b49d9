// Package inventory is the live state of the cloud as the providers
// reported it at one moment: hosts, instances, server groups, VNF managers
// and installed versions. A Snapshot is immutable once built; its digest
// (and each host's) is what makes a saved plan detectably stale.
package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
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

	hosts     map[string]map[string]*Host // provider → name → host
	instances map[string]*Instance        // id → instance, across providers
	onHost    map[string][]*Instance      // host name → its instances, sorted by id
	groups    map[string]*ServerGroup     // id → group
}

// NewSnapshot indexes the providers' inventories. It sorts every list so
// that digests and plans do not depend on the order providers answered in.
// An instance reported by several providers (by id) is kept once.
func NewSnapshot(at time.Time, providers map[string]*Inventory) (*Snapshot, error) {
	s := &Snapshot{
		Time:      at,
		Providers: providers,
		hosts:     map[string]map[string]*Host{},
		instances: map[string]*Instance{},
		onHost:    map[string][]*Instance{},
		groups:    map[string]*ServerGroup{},
	}
	for _, name := range sortedKeys(providers) {
		inv := providers[name]
		sort.Slice(inv.Hosts, func(i, j int) bool { return inv.Hosts[i].Name < inv.Hosts[j].Name })
		sort.Slice(inv.Instances, func(i, j int) bool { return inv.Instances[i].ID < inv.Instances[j].ID })
		sort.Slice(inv.ServerGroups, func(i, j int) bool { return inv.ServerGroups[i].ID < inv.ServerGroups[j].ID })
		sort.Slice(inv.VNFManagers, func(i, j int) bool { return inv.VNFManagers[i].Name < inv.VNFManagers[j].Name })
		hm := make(map[string]*Host, len(inv.Hosts))
		for _, h := range inv.Hosts {
			if _, dup := hm[h.Name]; dup {
				return nil, fmt.Errorf("provider %q reported host %q twice; the inventory is inconsistent, check the provider", name, h.Name)
			}
			hm[h.Name] = h
		}
		s.hosts[name] = hm
		for _, in := range inv.Instances {
			if _, dup := s.instances[in.ID]; dup {
				continue
			}
			s.instances[in.ID] = in
			s.onHost[in.Host] = append(s.onHost[in.Host], in)
		}
		for _, g := range inv.ServerGroups {
			sort.Strings(g.Members)
			if _, dup := s.groups[g.ID]; !dup {
				s.groups[g.ID] = g
			}
		}
	}
	for _, list := range s.onHost {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	}
	return s, nil
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
	in, ok := s.instances[id]
	return in, ok
}

// InstancesOn returns the instances on a host, sorted by id.
func (s *Snapshot) InstancesOn(host string) []*Instance { return s.onHost[host] }

// ServerGroup returns a server group by id.
func (s *Snapshot) ServerGroup(id string) (*ServerGroup, bool) {
	g, ok := s.groups[id]
	return g, ok
}

// ServerGroups returns every server group, sorted by id.
func (s *Snapshot) ServerGroups() []*ServerGroup {
	out := make([]*ServerGroup, 0, len(s.groups))
	for _, id := range sortedKeys(s.groups) {
		out = append(out, s.groups[id])
	}
	return out
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
func (s *Snapshot) Digest() (total string, hosts map[string]string) {
	all := sha256.New()
	hosts = map[string]string{}
	names := map[string]bool{}
	for _, p := range sortedKeys(s.Providers) {
		for _, h := range s.Providers[p].Hosts {
			names[h.Name] = true
		}
	}
	for _, name := range sortedKeys(names) {
		hh := sha256.New()
		for _, p := range sortedKeys(s.Providers) {
			if h, ok := s.hosts[p][name]; ok {
				writeJSON(hh, p)
				writeJSON(hh, h)
			}
		}
		for _, in := range s.onHost[name] {
			writeJSON(hh, in)
		}
		sum := hex.EncodeToString(hh.Sum(nil))
		hosts[name] = sum
		all.Write([]byte(name + "=" + sum + "\n"))
	}
	for _, g := range s.ServerGroups() {
		writeJSON(all, g)
	}
	for _, v := range s.VNFManagers() {
		writeJSON(all, v)
	}
	return hex.EncodeToString(all.Sum(nil)), hosts
}

// writeJSON feeds a value's JSON into a hash. encoding/json sorts map
// keys, so the encoding is canonical for these plain structs.
func writeJSON(w interface{ Write([]byte) (int, error) }, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("inventory: marshal %T: %v", v, err)) // plain data: cannot fail
	}
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
