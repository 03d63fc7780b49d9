package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// TestReadInventoryItemsExact checks that every item arrives as the
// per-item conversions (hostToProto, …) build it, in order, although the
// server fills and sends the same messages again and again: no field of
// one item may leak into the next (a state reason, an aggregate list, a
// server group, a resources message). It does so one item per message and
// in batches, which the server sends only to a host that asked for them.
func TestReadInventoryItemsExact(t *testing.T) {
	t.Parallel()
	want := &ReadInventoryResponse{}
	big := strings.Repeat("x", 100<<10) // a few hosts fill a batch by bytes
	for i := 0; i < 400; i++ {
		h := Host{Name: fmt.Sprintf("h%02d", i), Role: "compute", AvailabilityZone: fmt.Sprint("az", i%3),
			Capacity: Resources{VCPUs: int64(i), MemoryMB: 1024, DiskGB: int64(i % 2)}, Used: Resources{VCPUs: 1}, State: HostState(1 + i%4)}
		if i%2 == 0 { // every other host has the optional fields, so they must be cleared in between
			h.Aggregates = []string{"a", fmt.Sprint(i)}
			h.StateReason = "maintenance by run r-1"
			h.Versions = map[string]string{"nova": "27.1.0", "qemu": fmt.Sprint(i)}
			h.Attributes = map[string]string{"rack": "r1"}
		}
		if i%37 == 0 {
			h.Attributes = map[string]string{"notes": big}
		}
		want.Hosts = append(want.Hosts, h)
		for j := 0; j < 8; j++ { // several batches full by count
			in := Instance{ID: fmt.Sprintf("i-%02d-%d", i, j), Host: h.Name, Status: "ACTIVE", Resources: Resources{VCPUs: int64(j)}}
			if j == 1 {
				in.Name, in.Project, in.ServerGroup, in.LiveMigratable = "vm", "p", "g1", true
			}
			want.Instances = append(want.Instances, in)
		}
	}
	want.ServerGroups = []ServerGroup{{ID: "g1", Name: "g", Policy: "anti-affinity", Project: "p", Members: []string{"i-00-1", "i-01-1"}}, {ID: "g2"}}
	want.VNFManagers = []VNFManager{{Name: "v", Project: "p", URL: "http://v"}, {Name: "w"}}
	want.Diagnostics.AddWarning("slow API", "detail")

	var expected []*pluginv1.ReadInventory_Item
	for i := range want.Hosts {
		expected = append(expected, &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Host{Host: hostToProto(&want.Hosts[i])}})
	}
	for i := range want.Instances {
		expected = append(expected, &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Instance{Instance: instanceToProto(&want.Instances[i])}})
	}
	for i := range want.ServerGroups {
		expected = append(expected, &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_ServerGroup{ServerGroup: serverGroupToProto(&want.ServerGroups[i])}})
	}
	for i := range want.VNFManagers {
		expected = append(expected, &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_VnfManager{VnfManager: vnfManagerToProto(&want.VNFManagers[i])}})
	}
	expected = append(expected, &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Diagnostic{Diagnostic: diagToProto(want.Diagnostics[0])}})

	p := &testProvider{inventory: func(_ context.Context, _ ReadInventoryRequest, resp *ReadInventoryResponse) { *resp = *want }}
	for _, batches := range []bool{false, true} {
		c, _, _ := connect(t, p)
		req := &pluginv1.Configure_Request{Config: mustEncode(t, cty.EmptyObjectVal)}
		if batches {
			req.Capabilities = &pluginv1.Capabilities{Features: []string{"something_else", pluginproto.CapInventoryBatches}}
		}
		if resp, err := c.Configure(context.Background(), req); err != nil || len(resp.GetDiagnostics()) > 0 {
			t.Fatalf("Configure: %v %v", err, resp.GetDiagnostics())
		}
		for round := 0; round < 2; round++ { // a second call starts from fresh messages too
			stream, err := c.ReadInventory(context.Background(), &pluginv1.ReadInventory_Request{})
			if err != nil {
				t.Fatal(err)
			}
			var got []*pluginv1.ReadInventory_Item
			messages, maxSize := 0, 0
			for {
				item, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				messages++
				maxSize = max(maxSize, proto.Size(item))
				if b, ok := item.GetItem().(*pluginv1.ReadInventory_Item_Batch); ok {
					if !batches {
						t.Fatal("a batch sent to a host that did not announce inventory_batches")
					}
					for _, sub := range b.Batch.GetItems() {
						if _, nested := sub.GetItem().(*pluginv1.ReadInventory_Item_Batch); nested {
							t.Fatal("a batch inside a batch")
						}
					}
					got = append(got, b.Batch.GetItems()...)
					continue
				}
				got = append(got, item)
			}
			if diff := cmp.Diff(expected, got, protocmp.Transform()); diff != "" {
				t.Fatalf("batches %v, round %d: items differ (-want +got):\n%s", batches, round, diff)
			}
			switch {
			case !batches && messages != len(expected):
				t.Errorf("%d messages for %d items without batches", messages, len(expected))
			case batches && messages > len(expected)/100:
				t.Errorf("%d messages for %d items in batches", messages, len(expected))
			case maxSize > 1<<20:
				t.Errorf("a message of %d bytes; batches should stay under 1 MiB", maxSize)
			}
			t.Logf("batches %v: %d items in %d messages, the largest %d bytes", batches, len(got), messages, maxSize)
		}
	}
}

// TestFillProtoMatches holds the fill functions the server reuses messages
// with to the allocating conversions, over a message that held another
// item before.
func TestFillProtoMatches(t *testing.T) {
	full := Host{Name: "h", Role: "r", AvailabilityZone: "z", Aggregates: []string{"a"}, Capacity: Resources{1, 2, 3},
		Used: Resources{4, 5, 6}, State: HostMaintenance, StateReason: "x", Versions: map[string]string{"a": "1"}, Attributes: map[string]string{"b": "2"}}
	var msg pluginv1.Host
	var capacity, used pluginv1.Resources
	for _, h := range []Host{full, {Name: "bare"}, full} {
		fillHostProto(&msg, &h, &capacity, &used)
		if !proto.Equal(&msg, hostToProto(&h)) {
			t.Errorf("fillHostProto(%v) = %v, want %v", h, &msg, hostToProto(&h))
		}
	}
	fullInst := Instance{ID: "i", Name: "n", Host: "h", Resources: Resources{1, 2, 3}, Status: "ACTIVE", Project: "p", ServerGroup: "g", LiveMigratable: true}
	var im pluginv1.Instance
	var res pluginv1.Resources
	for _, in := range []Instance{fullInst, {ID: "bare"}, fullInst} {
		fillInstanceProto(&im, &in, &res)
		if !proto.Equal(&im, instanceToProto(&in)) {
			t.Errorf("fillInstanceProto(%v) = %v", in, &im)
		}
	}
	var gm pluginv1.ServerGroup
	for _, g := range []ServerGroup{{ID: "g", Name: "n", Policy: "p", Project: "q", Members: []string{"a"}}, {ID: "bare"}} {
		fillServerGroupProto(&gm, &g)
		if !proto.Equal(&gm, serverGroupToProto(&g)) {
			t.Errorf("fillServerGroupProto(%v) = %v", g, &gm)
		}
	}
}
