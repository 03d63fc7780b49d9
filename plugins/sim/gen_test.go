package sim

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
)

func encode(t testing.TB, c *Cloud) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeCloud(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGenerateDeterministic(t *testing.T) {
	o := DefaultGenOptions()
	o.Hosts, o.Seed = 300, 42
	a, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(o)
	if !bytes.Equal(encode(t, a), encode(t, b)) {
		t.Error("the same options gave two different clouds")
	}
	o.Seed = 43
	c, _ := Generate(o)
	if bytes.Equal(encode(t, a), encode(t, c)) {
		t.Error("seeds 42 and 43 gave the same cloud")
	}
	// What is written reads back as the same cloud.
	back, err := DecodeCloud(encode(t, a))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, a), encode(t, back)) {
		t.Error("encode, decode, encode is not stable")
	}
}

func TestGenerateConstraints(t *testing.T) {
	tests := []struct {
		name   string
		adjust func(o *GenOptions)
	}{
		{"defaults", func(o *GenOptions) { o.Hosts = 400 }},
		{"groups larger than zones", func(o *GenOptions) { o.Hosts, o.GroupSize, o.Zones = 90, 5, 3 }},
		{"one zone", func(o *GenOptions) { o.Hosts, o.Zones = 20, 1 }},
		{"dense", func(o *GenOptions) { o.Hosts, o.InstancesPerHost, o.GroupedFraction = 50, 60, 1 }},
		{"no groups", func(o *GenOptions) { o.Hosts, o.GroupSize = 30, 0 }},
		{"exotic instances", func(o *GenOptions) { o.Hosts, o.ShutoffFraction, o.NonLiveFraction = 100, 0.1, 0.1 }},
		{"tiny", func(o *GenOptions) { o.Hosts, o.InstancesPerHost, o.Zones, o.Controllers = 3, 2, 2, 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultGenOptions()
			tt.adjust(&o)
			c, err := Generate(o)
			if err != nil {
				t.Fatal(err)
			}
			checkCloudSanity(t, c, o.MaxFill)

			var compute, controllers int
			var capacity, used Resources
			perHost := map[string]int{}
			for _, in := range c.Instances {
				perHost[in.Host]++
				used = used.Add(in.Flavor.Resources)
			}
			for _, h := range c.Hosts {
				switch h.Role {
				case "compute":
					compute++
					capacity = capacity.Add(h.Capacity)
					if perHost[h.Name] > o.InstancesPerHost {
						t.Errorf("host %s runs %d instances", h.Name, perHost[h.Name])
					}
				case "controller":
					controllers++
					if perHost[h.Name] != 0 {
						t.Errorf("controller %s runs instances", h.Name)
					}
				}
				if h.Attributes["rack"] == "" {
					t.Errorf("host %s has no rack", h.Name)
				}
			}
			if compute != o.Hosts || controllers != o.Controllers {
				t.Errorf("%d compute hosts and %d controllers", compute, controllers)
			}
			total := o.Hosts * o.InstancesPerHost
			if len(c.Instances) < total*9/10 || len(c.Instances) > total {
				t.Errorf("%d instances, want about %d", len(c.Instances), total)
			}
			// The statistical checks need enough instances to hold.
			large := total >= 1000
			if util := float64(used.VCPUs) / float64(capacity.VCPUs); large && (util < 0.55 || util > 0.72) {
				t.Errorf("vCPU utilization %.2f", util)
			}

			// Groups: of the requested size, one project, spread over the
			// zones when there are enough.
			zoneOf := map[string]string{}
			for _, h := range c.Hosts {
				zoneOf[h.Name] = h.AvailabilityZone
			}
			grouped, spread := 0, 0
			for _, g := range c.ServerGroups {
				if len(g.Members) != o.GroupSize {
					t.Errorf("group %s has %d members", g.Name, len(g.Members))
				}
				zones := map[string]bool{}
				for _, m := range g.Members {
					in := c.Instance(m)
					zones[zoneOf[in.Host]] = true
					if in.Project != g.Project {
						t.Errorf("instance %s of project %s in group %s of %s", in.ID, in.Project, g.Name, g.Project)
					}
				}
				grouped += len(g.Members)
				if len(zones) == min(o.GroupSize, o.Zones) {
					spread++
				}
			}
			if o.GroupSize >= 2 {
				if want := o.GroupedFraction * float64(len(c.Instances)); large && float64(grouped) < 0.9*want || float64(grouped) > 1.1*want {
					t.Errorf("%d grouped instances, want about %.0f", grouped, want)
				}
				if spread < len(c.ServerGroups)*98/100 {
					t.Errorf("only %d of %d groups spread over the zones", spread, len(c.ServerGroups))
				}
			} else if len(c.ServerGroups) != 0 {
				t.Errorf("%d groups with group size %d", len(c.ServerGroups), o.GroupSize)
			}
			if len(c.VNFManagers) != o.Projects {
				t.Errorf("%d VNF managers for %d projects", len(c.VNFManagers), o.Projects)
			}
		})
	}
}

func TestGenerateRefusesNonsense(t *testing.T) {
	for name, adjust := range map[string]func(*GenOptions){
		"no hosts":        func(o *GenOptions) { o.Hosts = 0 },
		"no zones":        func(o *GenOptions) { o.Zones = 0 },
		"full":            func(o *GenOptions) { o.Utilization = 1 },
		"group too large": func(o *GenOptions) { o.Hosts, o.GroupSize = 2, 3 },
	} {
		o := DefaultGenOptions()
		adjust(&o)
		if _, err := Generate(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// BenchmarkReadInventory reads a 10,000-host, 200,000-instance cloud:
// "cached" while the file is unchanged (the common case within one run),
// "cold" after another process changed it (decode included).
func BenchmarkReadInventory(b *testing.B) {
	o := DefaultGenOptions()
	o.Hosts, o.InstancesPerHost = 10000, 20
	c, err := Generate(o)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "cloud.json")
	if err := WriteCloudFile(path, c); err != nil {
		b.Fatal(err)
	}
	p := configure(b, path, map[string]cty.Value{"create": cty.False})
	read := func() {
		var resp sdk.ReadInventoryResponse
		p.ReadInventory(context.Background(), sdk.ReadInventoryRequest{}, &resp)
		if resp.Diagnostics.HasErrors() || len(resp.Hosts) != 10003 {
			b.Fatal(diagText(resp.Diagnostics))
		}
	}
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			read()
		}
	})
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			p.store.st = nil
			read()
		}
	})
}

// BenchmarkMigrate is one migration in a 10,000-host cloud: the lock, the
// checks, the fsync'd step log record, the instance rewritten in place in
// the cloud file, the event. The first change, which writes the file
// whole (it was not written by a provider), is made before the timing.
func BenchmarkMigrate(b *testing.B) {
	noVerify(b)
	o := DefaultGenOptions()
	o.Hosts, o.InstancesPerHost = 10000, 20
	c, err := Generate(o)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "cloud.json")
	if err := WriteCloudFile(path, c); err != nil {
		b.Fatal(err)
	}
	p := configure(b, path, map[string]cty.Value{"create": cty.False})
	// Ping-pong one standalone instance between two empty-enough hosts.
	var in *Instance
	for _, x := range c.Instances {
		if x.ServerGroup == "" {
			in = x
			break
		}
	}
	hosts := []string{in.Host, c.Hosts[len(c.Hosts)-1].Name}
	i := 0
	start := time.Now()
	mustOK(b, p, migrate("bench-0", in.ID, hosts[1], true))
	b.Logf("the first change (the file written whole): %s", time.Since(start).Round(time.Millisecond))
	for b.Loop() {
		i++
		resp := exec(b, p, migrate("bench-"+itoa(i), in.ID, hosts[(i+1)%2], true))
		if resp.Diagnostics.HasErrors() {
			b.Fatal(diagText(resp.Diagnostics))
		}
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

func TestGenerateSpareHosts(t *testing.T) {
	o := DefaultGenOptions()
	o.Hosts, o.Zones, o.Controllers, o.SpareFraction = 200, 2, 0, 0.05
	c, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	used := c.UsedByHost()
	empty := map[string]int{}
	for _, h := range c.Hosts {
		if used[h.Name].VCPUs == 0 {
			empty[h.AvailabilityZone]++
		}
	}
	if empty["az1"] != 5 || empty["az2"] != 5 {
		t.Errorf("empty hosts per zone = %v, want 5 each", empty)
	}
	if n := len(c.Instances); n != 190*20 {
		t.Logf("instances = %d (hosts may fill before their slots)", n)
	}
}
