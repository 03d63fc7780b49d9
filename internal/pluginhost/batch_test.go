package pluginhost

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// streamServer sends a fixed ReadInventory stream, as a plugin that knows
// nothing of the SDK might.
type streamServer struct {
	pluginv1.UnimplementedProviderServer
	items []*pluginv1.ReadInventory_Item
}

func (s *streamServer) ReadInventory(_ *pluginv1.ReadInventory_Request, stream grpc.ServerStreamingServer[pluginv1.ReadInventory_Item]) error {
	for _, it := range s.items {
		if err := stream.Send(it); err != nil {
			return err
		}
	}
	return nil
}

func serveStream(t *testing.T, items ...*pluginv1.ReadInventory_Item) *Provider {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "plugin.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pluginv1.RegisterProviderServer(srv, &streamServer{items: items})
	go func() { _ = srv.Serve(l) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	p := Connect("test", conn, 1, func() { conn.Close(); srv.Stop() }, Options{})
	t.Cleanup(p.Close)
	return p
}

func hostItem(name string) *pluginv1.ReadInventory_Item {
	return &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Host{Host: &pluginv1.Host{Name: name, State: pluginv1.HostState_UP}}}
}

func instItem(id string) *pluginv1.ReadInventory_Item {
	return &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Instance{Instance: &pluginv1.Instance{Id: id}}}
}

func batchItem(items ...*pluginv1.ReadInventory_Item) *pluginv1.ReadInventory_Item {
	return &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Batch{Batch: &pluginv1.ReadInventory_Batch{Items: items}}}
}

// TestReadInventoryBatches reads streams of single items (older plugins),
// of batches, and of both, in stream order.
func TestReadInventoryBatches(t *testing.T) {
	if !contains(hostCapabilities, "inventory_batches") {
		t.Fatal("escalator does not announce inventory_batches")
	}
	want := &sdk.ReadInventoryResponse{
		Hosts:     []sdk.Host{{Name: "a", State: sdk.HostUp}, {Name: "b", State: sdk.HostUp}, {Name: "c", State: sdk.HostUp}},
		Instances: []sdk.Instance{{ID: "1"}, {ID: "2"}, {ID: "3"}},
	}
	for name, items := range map[string][]*pluginv1.ReadInventory_Item{
		"single items": {hostItem("a"), hostItem("b"), hostItem("c"), instItem("1"), instItem("2"), instItem("3")},
		"batches":      {batchItem(hostItem("a"), hostItem("b")), batchItem(hostItem("c"), instItem("1"), instItem("2")), batchItem(instItem("3")), batchItem()},
		"mixed":        {hostItem("a"), batchItem(hostItem("b"), hostItem("c"), instItem("1")), instItem("2"), batchItem(instItem("3"))},
	} {
		t.Run(name, func(t *testing.T) {
			inv, ds := serveStream(t, items...).ReadInventory(context.Background())
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			if diff := cmp.Diff(want, inv); diff != "" {
				t.Errorf("inventory (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("nested batch", func(t *testing.T) {
		inv, ds := serveStream(t, batchItem(hostItem("a"), batchItem(hostItem("b")))).ReadInventory(context.Background())
		if inv != nil || !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "batch of inventory items inside another batch") {
			t.Fatalf("got %v, %v; want an error about the nested batch", inv, ds.Err())
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
