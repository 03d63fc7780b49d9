package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// GenOptions shape a generated cloud (see Generate and testing/cmd/simgen).
type GenOptions struct {
	// Hosts is the number of compute hosts.
	Hosts int
	// InstancesPerHost is how many instances each compute host runs.
	InstancesPerHost int
	// GroupSize is the size of the anti-affinity groups; below 2, no
	// groups.
	GroupSize int
	// GroupedFraction is the share of instances that belong to a group.
	GroupedFraction float64
	// SoftFraction is the share of groups with soft-anti-affinity.
	SoftFraction float64
	Zones        int
	// Controllers is the number of control-plane hosts (role
	// "controller"), spread over the zones, running no instances.
	Controllers  int
	HostsPerRack int
	Projects     int
	// Utilization is the target share of the compute vCPUs in use; the
	// host size is derived from it, and no host is filled beyond
	// MaxFill, so every host can take part of an evacuation.
	Utilization float64
	MaxFill     float64
	// ShutoffFraction and NonLiveFraction are the shares of instances
	// that are SHUTOFF or cannot be live-migrated. Both default to 0 so a
	// generated cloud suits a live-only campaign.
	ShutoffFraction float64
	NonLiveFraction float64
	// SpareFraction is the share of each zone's compute hosts left empty,
	// as NFV clouds keep spare hosts for failover; the other hosts carry
	// InstancesPerHost each.
	SpareFraction float64
	VNFMURL       string
	Seed          uint64
}

// DefaultGenOptions are simgen's defaults.
func DefaultGenOptions() GenOptions {
	return GenOptions{
		Hosts: 100, InstancesPerHost: 20, GroupSize: 3, GroupedFraction: 0.6,
		SoftFraction: 0.2, Zones: 4, Controllers: 3, HostsPerRack: 40,
		Projects: 8, Utilization: 0.65, MaxFill: 0.8, VNFMURL: DefaultVNFMURL, Seed: 1,
	}
}

// genFlavors is an NFV-like mix: many small and medium VNF components, a
// few big data-plane ones. Weights are relative.
var genFlavors = []struct {
	Flavor
	weight int
}{
	{Flavor{"vnf.small", Resources{2, 4096, 20}}, 30},
	{Flavor{"vnf.medium", Resources{4, 8192, 40}}, 35},
	{Flavor{"vnf.large", Resources{8, 16384, 80}}, 25},
	{Flavor{"vnf.xlarge", Resources{16, 32768, 160}}, 10},
}

var genProjects = []string{"ims", "epc", "upf", "smf", "amf", "sbc", "dns", "fw", "lb", "cdn", "mrf", "pcrf"}

var genVNFCs = []string{"ctrl", "data", "lb", "db", "sig", "oam"}

// Generate builds a cloud of any size, the same for the same options:
//
//   - compute hosts in contiguous blocks per zone az1..azN, in racks of
//     HostsPerRack (the "rack" attribute), every 4th rack also in the
//     zone's "dpdk" aggregate; controllers spread over the zones;
//   - all compute hosts of one size, chosen so the flavor mix fills them to
//     about Utilization, and no host beyond MaxFill;
//   - groups of GroupSize members on distinct hosts, one per zone in turn,
//     so a zone at a time can go into maintenance without taking down two
//     members of a group;
//   - one VNF manager per project.
func Generate(o GenOptions) (*Cloud, error) {
	switch {
	case o.Hosts < 1:
		return nil, errors.New("need at least one compute host")
	case o.InstancesPerHost < 0:
		return nil, errors.New("instances per host must be 0 or more")
	case o.Zones < 1:
		return nil, errors.New("need at least one zone")
	case o.HostsPerRack < 1:
		return nil, errors.New("hosts per rack must be at least 1")
	case o.Projects < 1:
		return nil, errors.New("need at least one project")
	case o.Utilization <= 0 || o.Utilization >= 1:
		return nil, errors.New("utilization must be between 0 and 1")
	case o.MaxFill < o.Utilization || o.MaxFill > 1:
		return nil, errors.New("max fill must be between the utilization and 1")
	case o.SpareFraction < 0 || o.SpareFraction >= 1:
		return nil, errors.New("the spare share must be at least 0 and below 1")
	case o.GroupSize > o.Hosts:
		return nil, fmt.Errorf("groups of %d need at least %d hosts", o.GroupSize, o.GroupSize)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed5eed))
	uuid := func() string {
		var b [16]byte
		x, y := rng.Uint64(), rng.Uint64()
		for i := 0; i < 8; i++ {
			b[i], b[8+i] = byte(x>>(8*i)), byte(y>>(8*i))
		}
		return formatUUID(b[:], 4)
	}

	c := &Cloud{FormatVersion: FormatVersion, Name: fmt.Sprintf("simgen-%dx%d-seed%d", o.Hosts, o.InstancesPerHost, o.Seed)}
	zone := func(i int) string { return fmt.Sprintf("az%d", i+1) }
	for i := 0; i < o.Controllers; i++ {
		z := zone(i % o.Zones)
		c.Hosts = append(c.Hosts, &Host{
			Name: fmt.Sprintf("ctl-%d", i+1), Role: "controller", AvailabilityZone: z,
			Aggregates: []string{z + "-control"},
			Capacity:   Resources{VCPUs: 64, MemoryMB: 262144, DiskGB: 2000},
			Versions: map[string]string{
				"kernel": "5.15.0", "nova_api": "26.2.0", "nova_conductor": "26.2.0",
				"nova_scheduler": "26.2.0", "keystone": "22.0.0", "neutron_server": "21.1.0",
			},
			State:      StateUp,
			Attributes: map[string]string{"rack": z + "-r000"},
		})
	}

	// Host size: what the expected flavor mix needs for InstancesPerHost
	// at the target utilization, rounded up to 8 vCPU and 16 GB, as
	// hardware comes.
	var wsum, cpu, mem float64
	for _, f := range genFlavors {
		wsum += float64(f.weight)
		cpu += float64(f.weight) * float64(f.VCPUs)
		mem += float64(f.weight) * float64(f.MemoryMB)
	}
	ipH := float64(max(o.InstancesPerHost, 1))
	capacity := Resources{
		VCPUs:    roundUp(int64(cpu/wsum*ipH/o.Utilization+0.5), 8),
		MemoryMB: roundUp(int64(mem/wsum*ipH/o.Utilization+0.5), 16384),
		DiskGB:   4000,
	}
	limit := Resources{
		VCPUs:    int64(float64(capacity.VCPUs) * o.MaxFill),
		MemoryMB: int64(float64(capacity.MemoryMB) * o.MaxFill),
	}

	first := len(c.Hosts)
	perZone := make([][]int, o.Zones)
	for i := 0; i < o.Hosts; i++ {
		zi := i * o.Zones / o.Hosts
		pos := len(perZone[zi])
		rack := pos/o.HostsPerRack + 1
		z := zone(zi)
		aggs := []string{z + "-compute"}
		if rack%4 == 0 {
			aggs = append(aggs, z+"-dpdk")
		}
		c.Hosts = append(c.Hosts, &Host{
			Name:             fmt.Sprintf("cmp-%s-r%03d-%02d", z, rack, pos%o.HostsPerRack+1),
			Role:             "compute",
			AvailabilityZone: z,
			Aggregates:       aggs,
			Capacity:         capacity,
			Versions:         map[string]string{"kernel": "5.15.0", "qemu": "7.1.0", "libvirt": "9.0.0", "nova_compute": "26.2.0"},
			State:            StateUp,
			Attributes:       map[string]string{"rack": fmt.Sprintf("%s-r%03d", z, rack), "hypervisor": "qemu"},
		})
		perZone[zi] = append(perZone[zi], first+i)
	}
	slots := make([]int, len(c.Hosts))
	used := make([]Resources, len(c.Hosts))
	for i := first; i < len(c.Hosts); i++ {
		slots[i] = o.InstancesPerHost
	}
	loaded := 0
	for z, hosts := range perZone {
		spare := int(float64(len(hosts))*o.SpareFraction + 0.5)
		for _, h := range hosts[:spare] {
			slots[h] = 0
		}
		perZone[z] = hosts[spare:]
		loaded += len(hosts) - spare
	}

	projects := make([]string, o.Projects)
	for i := range projects {
		projects[i] = genProjects[i%len(genProjects)]
		if i >= len(genProjects) {
			projects[i] += fmt.Sprintf("-%d", i/len(genProjects)+1)
		}
		c.VNFManagers = append(c.VNFManagers, &VNFManager{Name: projects[i] + "-vnfm", Project: projects[i], URL: o.VNFMURL})
	}

	drawFlavor := func() int {
		n := rng.IntN(int(wsum))
		for i, f := range genFlavors {
			if n -= f.weight; n < 0 {
				return i
			}
		}
		return 0
	}
	// fit is the largest flavor not above want that fits every host under
	// the fill limit, or -1.
	fit := func(want int, hosts []int) int {
		for fi := want; fi >= 0; fi-- {
			ok := true
			for _, h := range hosts {
				u := used[h].Add(genFlavors[fi].Resources)
				if u.VCPUs > limit.VCPUs || u.MemoryMB > limit.MemoryMB {
					ok = false
					break
				}
			}
			if ok {
				return fi
			}
		}
		return -1
	}
	addInstance := func(name, project, host string, hi, fi int, group string) *Instance {
		in := &Instance{
			ID: uuid(), Name: name, Flavor: genFlavors[fi].Flavor, Host: host,
			Status: StatusActive, Project: project, ServerGroup: group, LiveMigratable: true,
		}
		if o.ShutoffFraction > 0 && rng.Float64() < o.ShutoffFraction {
			in.Status = StatusShutoff
		}
		if o.NonLiveFraction > 0 && rng.Float64() < o.NonLiveFraction {
			in.LiveMigratable = false
		}
		used[hi] = used[hi].Add(in.Flavor.Resources)
		slots[hi]--
		c.Instances = append(c.Instances, in)
		return in
	}

	// free[z] lists the hosts of zone z with a free slot; pos finds one in
	// it for O(1) removal.
	free := make([][]int, o.Zones)
	pos := make([]int, len(c.Hosts))
	for z, hosts := range perZone {
		free[z] = append([]int(nil), hosts...)
		for p, h := range free[z] {
			pos[h] = p
		}
	}
	take := func(h int) {
		if slots[h] > 0 {
			return
		}
		z := (h - first) * o.Zones / o.Hosts
		p, last := pos[h], len(free[z])-1
		free[z][p] = free[z][last]
		pos[free[z][p]] = p
		free[z] = free[z][:last]
	}

	total := loaded * o.InstancesPerHost
	if o.GroupSize >= 2 {
		groups := int(float64(total) * o.GroupedFraction / float64(o.GroupSize))
		members := make([]int, 0, o.GroupSize)
		perProject := make(map[string]int)
	groupLoop:
		for g := 0; g < groups; g++ {
			members = members[:0]
			z0 := rng.IntN(o.Zones)
			for j := 0; j < o.GroupSize; j++ {
				h := pickHost(rng, free, (z0+j)%o.Zones, members)
				if h < 0 {
					break groupLoop // no distinct hosts left: enough groups
				}
				members = append(members, h)
			}
			fi := fit(drawFlavor(), members)
			if fi < 0 {
				continue // these hosts are full; their slots go to standalone instances
			}
			project := projects[rng.IntN(len(projects))]
			perProject[project]++
			name := fmt.Sprintf("%s-%s-%d", project, genVNFCs[perProject[project]%len(genVNFCs)], perProject[project])
			policy := PolicyAntiAffinity
			if o.SoftFraction > 0 && rng.Float64() < o.SoftFraction {
				policy = PolicySoftAntiAffinity
			}
			sg := &ServerGroup{ID: uuid(), Name: name, Policy: policy, Project: project}
			for j, h := range members {
				in := addInstance(fmt.Sprintf("%s-%d", name, j+1), project, c.Hosts[h].Name, h, fi, sg.ID)
				sg.Members = append(sg.Members, in.ID)
				take(h)
			}
			c.ServerGroups = append(c.ServerGroups, sg)
		}
	}
	n := 0
	for h := first; h < len(c.Hosts); h++ {
		for slots[h] > 0 {
			fi := fit(drawFlavor(), []int{h})
			if fi < 0 {
				break // full before its slots: it runs fewer instances
			}
			n++
			project := projects[rng.IntN(len(projects))]
			addInstance(fmt.Sprintf("%s-vm-%d", project, n), project, c.Hosts[h].Name, h, fi, "")
		}
	}
	if err := c.Index(); err != nil {
		return nil, fmt.Errorf("generated an inconsistent cloud (a simgen bug): %w", err)
	}
	return c, nil
}

// pickHost picks a random host with a free slot in zone z, or in the next
// zones if z has none, that is not among taken.
func pickHost(rng *rand.Rand, free [][]int, z int, taken []int) int {
	for k := 0; k < len(free); k++ {
		list := free[(z+k)%len(free)]
		if len(list) == 0 {
			continue
		}
		for try := 0; try < 8; try++ {
			h := list[rng.IntN(len(list))]
			if !containsInt(taken, h) {
				return h
			}
		}
		for _, h := range list { // a crowded zone: look at every host
			if !containsInt(taken, h) {
				return h
			}
		}
	}
	return -1
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }
