package destination

import (
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/inventory"
)

// cloud: four computes in az1 (a is the source), one in az2, one
// controller in az1.
func cloud(t *testing.T, edit func(*inventory.Inventory)) *inventory.Snapshot {
	t.Helper()
	host := func(name, zone, role string, usedMB int64) *inventory.Host {
		return &inventory.Host{Name: name, AvailabilityZone: zone, Role: role, State: inventory.StateUp,
			Capacity: inventory.Resources{VCPUs: 16, MemoryMB: 32768}, Used: inventory.Resources{VCPUs: 2, MemoryMB: usedMB}}
	}
	inv := &inventory.Inventory{
		Hosts: []*inventory.Host{
			host("a", "az1", "compute", 4096), host("b", "az1", "compute", 8192), host("c", "az1", "compute", 16384),
			host("d", "az1", "compute", 30000), host("z", "az2", "compute", 0), host("ctl", "az1", "controller", 0),
		},
		Instances: []*inventory.Instance{
			{ID: "vm1", Host: "a", Resources: inventory.Resources{VCPUs: 2, MemoryMB: 4096}, ServerGroup: "g1"},
			{ID: "vm2", Host: "b", Resources: inventory.Resources{VCPUs: 2, MemoryMB: 4096}, ServerGroup: "g1"},
			{ID: "vm3", Host: "a", Resources: inventory.Resources{VCPUs: 2, MemoryMB: 4096}, ServerGroup: "g2"},
			{ID: "vm4", Host: "c", Resources: inventory.Resources{VCPUs: 2, MemoryMB: 4096}, ServerGroup: "g2"},
		},
		ServerGroups: []*inventory.ServerGroup{
			{ID: "g1", Name: "hard", Policy: "anti-affinity", Members: []string{"vm1", "vm2"}},
			{ID: "g2", Name: "soft", Policy: "soft-anti-affinity", Members: []string{"vm3", "vm4"}},
		},
	}
	if edit != nil {
		edit(inv)
	}
	s, err := inventory.NewSnapshot(time.Now(), map[string]*inventory.Inventory{"sim": inv})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPick(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*inventory.Inventory)
		instance string
		opts     Options
		want     string
		wantErr  string
	}{
		// b holds vm2 (same hard group); c has the most room; d has no room.
		{name: "hard anti-affinity and room", instance: "vm1", want: "c"},
		// c holds vm4 of the soft group: b is preferred over it.
		{name: "soft anti-affinity is a preference", instance: "vm3", want: "b"},
		{name: "preferred hosts first", instance: "vm3", opts: Options{Prefer: map[string]bool{"c": true}}, want: "c"},
		{name: "shunned hosts last", instance: "vm1", opts: Options{Shun: map[string]bool{"c": true}}, want: "c"},
		{name: "shunned hosts after others", instance: "vm3", opts: Options{Shun: map[string]bool{"b": true}}, want: "c"},
		{name: "not to an older hypervisor", instance: "vm1", edit: func(inv *inventory.Inventory) {
			for i, v := range []string{"7.2.0", "7.2.0", "7.1.0", "7.10.0"} {
				inv.Hosts[i].Versions = map[string]string{"qemu": v}
			}
			inv.Hosts[3].Used.MemoryMB = 0
		}, opts: Options{NotOlder: []string{"qemu"}}, want: "d"},
		{name: "avoided hosts", instance: "vm1", opts: Options{Avoid: map[string]bool{"c": true}},
			wantErr: "1 holds a member of its anti-affinity group hard"},
		{name: "out of service hosts", instance: "vm3", edit: func(inv *inventory.Inventory) {
			inv.Hosts[1].State = inventory.StateMaintenance
			inv.Hosts[2].State = inventory.StateDown
		}, wantErr: "not in service (down)"},
		{name: "unknown instance", instance: "vm9", wantErr: "not in the inventory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(cloud(t, tt.edit)).Pick(tt.instance, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Pick = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Pick = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestPicksAccumulate: a second pick sees the first one's resources and
// group member.
func TestPicksAccumulate(t *testing.T) {
	s := cloud(t, func(inv *inventory.Inventory) {
		// Only c and b have room for one 12 GB instance each.
		for _, in := range inv.Instances[:2] {
			in.Resources.MemoryMB = 12288
			in.ServerGroup = ""
		}
		inv.Instances[1].Host = "a"
		inv.Hosts[1].Used.MemoryMB = 20000
	})
	p := New(s)
	first, err := p.Pick("vm1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Pick("vm2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatalf("both instances picked %s, which has room for one", first)
	}
	if _, err := p.Pick("vm3", Options{Avoid: map[string]bool{"b": true}}); err != nil {
		t.Fatalf("a small instance still fits somewhere: %v", err)
	}
}
