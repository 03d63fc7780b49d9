package sim

import (
	"crypto/sha256"
	"fmt"
)

// DefaultVNFMURL is where the default cloud's VNF managers listen: the
// quickstart's local receiver.
const DefaultVNFMURL = "http://127.0.0.1:9797/maintenance"

// DefaultCloud is the quickstart's cloud, created when the cloud file is
// missing: 8 compute hosts, cmp-a1..a4 in az1 and cmp-b1..b4 in az2, with
// qemu 7.1.0 and nova_compute 26.2.0, and 30 instances of two VNFs ("ims"
// and "epc"), most of them in 3-member anti-affinity groups spread over
// both zones. Every instance is ACTIVE and live-migratable and the hosts
// are about 55% used, so a live-only campaign taking two hosts at a time
// can always evacuate them.
func DefaultCloud() *Cloud {
	c := &Cloud{FormatVersion: FormatVersion, Name: "quickstart"}
	// Interleave the zones so consecutive hosts alternate az1, az2: three
	// consecutive hosts then hold one group, spread over both zones.
	var order []*Host
	for i := 1; i <= 4; i++ {
		for _, z := range []struct{ letter, zone string }{{"a", "az1"}, {"b", "az2"}} {
			h := &Host{
				Name:             fmt.Sprintf("cmp-%s%d", z.letter, i),
				Role:             "compute",
				AvailabilityZone: z.zone,
				Aggregates:       []string{z.zone + "-compute"},
				Capacity:         Resources{VCPUs: 32, MemoryMB: 131072, DiskGB: 1000},
				Versions:         map[string]string{"qemu": "7.1.0", "nova_compute": "26.2.0"},
				State:            StateUp,
				Attributes:       map[string]string{"rack": fmt.Sprintf("%s-r%d", z.zone, (i+1)/2), "hypervisor": "qemu"},
			}
			order = append(order, h)
		}
	}
	// The file lists hosts by name, az1 first, as an operator would.
	for _, z := range []string{"az1", "az2"} {
		for _, h := range order {
			if h.AvailabilityZone == z {
				c.Hosts = append(c.Hosts, h)
			}
		}
	}
	flavors := map[string]Flavor{
		"small":  {Name: "vnf.small", Resources: Resources{VCPUs: 2, MemoryMB: 4096, DiskGB: 20}},
		"medium": {Name: "vnf.medium", Resources: Resources{VCPUs: 4, MemoryMB: 8192, DiskGB: 40}},
		"large":  {Name: "vnf.large", Resources: Resources{VCPUs: 8, MemoryMB: 16384, DiskGB: 80}},
	}
	groups := []struct{ project, vnfc, flavor string }{
		{"ims", "pcscf", "medium"}, {"epc", "mme", "large"},
		{"ims", "scscf", "large"}, {"epc", "sgw", "medium"},
		{"ims", "hss", "medium"}, {"epc", "pgw", "large"},
		{"ims", "tas", "medium"}, {"epc", "hss", "medium"},
	}
	slot := 0
	next := func() string { h := order[slot%len(order)].Name; slot++; return h }
	for _, g := range groups {
		name := g.project + "-" + g.vnfc
		sg := &ServerGroup{ID: nameUUID("group/" + name), Name: name, Policy: PolicyAntiAffinity, Project: g.project}
		for j := 1; j <= 3; j++ {
			in := &Instance{
				ID: nameUUID(fmt.Sprintf("instance/%s-%d", name, j)), Name: fmt.Sprintf("%s-%d", name, j),
				Flavor: flavors[g.flavor], Host: next(), Status: StatusActive, Project: g.project,
				ServerGroup: sg.ID, LiveMigratable: true,
			}
			sg.Members = append(sg.Members, in.ID)
			c.Instances = append(c.Instances, in)
		}
		c.ServerGroups = append(c.ServerGroups, sg)
	}
	for _, s := range []struct{ project, name string }{
		{"ims", "ims-dns-1"}, {"ims", "ims-oam-1"}, {"ims", "ims-oam-2"},
		{"epc", "epc-dns-1"}, {"epc", "epc-oam-1"}, {"epc", "epc-probe-1"},
	} {
		c.Instances = append(c.Instances, &Instance{
			ID: nameUUID("instance/" + s.name), Name: s.name, Flavor: flavors["small"],
			Host: next(), Status: StatusActive, Project: s.project, LiveMigratable: true,
		})
	}
	for _, p := range []string{"ims", "epc"} {
		c.VNFManagers = append(c.VNFManagers, &VNFManager{Name: p + "-vnfm", Project: p, URL: DefaultVNFMURL})
	}
	return c
}

// nameUUID is a version-5-shaped UUID derived from a name: stable ids that
// look like Nova's.
func nameUUID(name string) string {
	s := sha256.Sum256([]byte("escalator-sim/" + name))
	return formatUUID(s[:16], 5)
}

// formatUUID formats 16 bytes as an RFC 9562 UUID of the given version.
func formatUUID(b []byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
