package pluginhost

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/escalator-nfv/escalator/internal/diags"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// TestInventoryDecoderMatchesProto decodes streams with inventoryDecoder
// and with the generated protobuf code (proto.Unmarshal, then the field
// by field conversion ReadInventory used before it had its own decoder),
// and wants the same inventory and diagnostics, or an error from both.
func TestInventoryDecoderMatchesProto(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var random [][]byte
	for i := 0; i < 200; i++ {
		items := make([]*pluginv1.ReadInventory_Item, 1+rng.IntN(20))
		for j := range items {
			items[j] = randomItem(rng)
		}
		if i%2 == 0 {
			random = append(random, marshal(t, batchItem(items...)))
		} else {
			random = append(random, marshal(t, items[0]))
		}
	}
	host := marshal(t, hostItem("h1"))
	inst := marshal(t, instItem("i1"))
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(tag(b, num, protowire.BytesType), v)
	}
	// instance wraps the fields of an Instance message in an Item.
	instance := func(fields []byte) []byte { return bytesField(nil, itemInstance, fields) }
	hostMsg := func(fields []byte) []byte { return bytesField(nil, itemHost, fields) }
	res := func(v, m uint64) []byte {
		b := protowire.AppendVarint(tag(nil, 1, protowire.VarintType), v)
		return protowire.AppendVarint(tag(b, 2, protowire.VarintType), m)
	}
	entry := func(k, v string) []byte {
		var b []byte
		if k != "-" {
			b = bytesField(b, 1, []byte(k))
		}
		if v != "-" {
			b = bytesField(b, 2, []byte(v))
		}
		return b
	}
	cases := map[string][][]byte{
		"random items and batches": random,
		"unknown fields of every wire type": {instance(func() []byte {
			b := bytesField(nil, 1, []byte("id"))
			b = protowire.AppendVarint(tag(b, 99, protowire.VarintType), 5)
			b = protowire.AppendFixed32(tag(b, 98, protowire.Fixed32Type), 5)
			b = protowire.AppendFixed64(tag(b, 97, protowire.Fixed64Type), 5)
			b = bytesField(b, 96, []byte("x"))
			b = tag(b, 95, protowire.StartGroupType)
			b = protowire.AppendVarint(tag(b, 1, protowire.VarintType), 1)
			b = tag(b, 95, protowire.EndGroupType)
			return bytesField(b, 2, []byte("name"))
		}())},
		"unknown item kind":          {protowire.AppendVarint(tag(nil, 77, protowire.VarintType), 1), bytesField(nil, 77, []byte("x")), host},
		"empty item":                 {{}, host},
		"known field, wrong type":    {instance(protowire.AppendVarint(tag(bytesField(nil, 1, []byte("id")), 2, protowire.VarintType), 3))},
		"repeated scalar: last wins": {instance(bytesField(bytesField(nil, 1, []byte("a")), 1, []byte("b")))},
		"repeated message: merged": {instance(bytesField(bytesField(nil, 4, res(2, 0)), 4,
			protowire.AppendVarint(tag(nil, 3, protowire.VarintType), 9)))},
		"oneof replaced by another kind":  {append(instance(bytesField(nil, 1, []byte("i"))), hostMsg(bytesField(nil, 1, []byte("h")))...)},
		"oneof of one kind twice: merged": {append(instance(bytesField(nil, 1, []byte("i"))), instance(bytesField(nil, 2, []byte("n")))...)},
		"map entries": {hostMsg(func() []byte {
			b := bytesField(nil, 9, entry("nova", "1"))
			b = bytesField(b, 9, entry("nova", "2"))
			b = bytesField(b, 9, entry("-", "nokey"))
			b = bytesField(b, 10, entry("novalue", "-"))
			return bytesField(b, 4, []byte("agg"))
		}())},
		"unknown host state":       {hostMsg(protowire.AppendVarint(tag(nil, 7, protowire.VarintType), 42))},
		"negative numbers":         {instance(bytesField(nil, 4, res(uint64(1<<64-5), 0)))},
		"bool from a large varint": {instance(protowire.AppendVarint(tag(nil, 8, protowire.VarintType), 256))},
		"diagnostic": {marshal(t, &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Diagnostic{Diagnostic: &pluginv1.Diagnostic{
			Severity: pluginv1.Diagnostic_WARNING, Summary: "careful", Detail: "about <x>"}}}), host},
		"invalid UTF-8":     {instance(bytesField(nil, 1, []byte("a\xffb")))},
		"invalid UTF-8 key": {hostMsg(bytesField(nil, 9, entry("\xff", "1")))},
		"truncated":         {inst[:len(inst)-1]},
		"truncated varint":  {{0x80}},
		"field number 0":    {protowire.AppendVarint(tag(nil, 0, protowire.VarintType), 1)},
		"bad wire type":     {{0x0f}},
	}
	// Cases where the stream is not valid protobuf; every other case is.
	invalid := map[string]bool{
		"invalid UTF-8": true, "invalid UTF-8 key": true, "truncated": true,
		"truncated varint": true, "field number 0": true, "bad wire type": true,
	}
	for name, msgs := range cases {
		t.Run(name, func(t *testing.T) {
			p := &Provider{name: "test", log: hclog.NewNullLogger()}
			wantInv, wantDs, wantErr := referenceDecode(p, msgs)
			dec := &inventoryDecoder{p: p, inv: &sdk.ReadInventoryResponse{}}
			var gotErr error
			for _, m := range msgs {
				if gotErr = (inventoryCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(m[:len(m):len(m)])}, dec); gotErr != nil {
					break
				}
			}
			if (wantErr != nil) != invalid[name] {
				t.Fatalf("protobuf says %v; the case is wrong", wantErr)
			}
			if (wantErr != nil) != (gotErr != nil) {
				t.Fatalf("error %v; protobuf says %v", gotErr, wantErr)
			}
			if wantErr != nil {
				return
			}
			dec.finish()
			if diff := cmp.Diff(wantInv, dec.inv); diff != "" {
				t.Errorf("inventory (-protobuf +decoder):\n%s", diff)
			}
			if diff := cmp.Diff(wantDs, dec.ds); diff != "" {
				t.Errorf("diagnostics (-protobuf +decoder):\n%s", diff)
			}
		})
	}
}

// TestInventoryDecoderLargeStream decodes messages that arrive in several
// buffers, as gRPC hands over large ones, with more instances than one of
// the decoder's chunks holds, and wants them all, in stream order.
func TestInventoryDecoderLargeStream(t *testing.T) {
	const n = 2*instanceChunk + 10
	dec := &inventoryDecoder{p: &Provider{name: "test", log: hclog.NewNullLogger()}, inv: &sdk.ReadInventoryResponse{}}
	for start := 0; start < n; start += 1000 {
		var items []*pluginv1.ReadInventory_Item
		for i := start; i < min(n, start+1000); i++ {
			items = append(items, instItem(fmt.Sprintf("instance-%05d", i)))
		}
		b := marshal(t, batchItem(items...))
		var bs mem.BufferSlice
		for len(b) > 0 {
			k := min(len(b), 4093)
			bs = append(bs, mem.SliceBuffer(b[:k:k]))
			b = b[k:]
		}
		if err := (inventoryCodec{}).Unmarshal(bs, dec); err != nil {
			t.Fatal(err)
		}
	}
	dec.finish()
	if len(dec.inv.Instances) != n {
		t.Fatalf("decoded %d instances; want %d", len(dec.inv.Instances), n)
	}
	for i, in := range dec.inv.Instances {
		if want := fmt.Sprintf("instance-%05d", i); in.ID != want {
			t.Fatalf("instance %d is %q; want %q", i, in.ID, want)
		}
	}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomItem(rng *rand.Rand) *pluginv1.ReadInventory_Item {
	str := func() string {
		const chars = "abcxyz-0123<>&\"é\u2028"
		r := []rune(chars)
		n := rng.IntN(6)
		out := make([]rune, n)
		for i := range out {
			out[i] = r[rng.IntN(len(r))]
		}
		return string(out)
	}
	strs := func() []string {
		var out []string
		for i := rng.IntN(3); i > 0; i-- {
			out = append(out, str())
		}
		return out
	}
	strMap := func() map[string]string {
		if rng.IntN(3) == 0 {
			return nil
		}
		m := map[string]string{}
		for i := rng.IntN(4); i > 0; i-- {
			m[str()] = str()
		}
		return m
	}
	res := func() *pluginv1.Resources {
		if rng.IntN(4) == 0 {
			return nil
		}
		return &pluginv1.Resources{Vcpus: rng.Int64N(1000) - 10, MemoryMb: rng.Int64N(1 << 40), DiskGb: rng.Int64N(3)}
	}
	switch rng.IntN(5) {
	case 0:
		return &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Host{Host: &pluginv1.Host{
			Name: str(), Role: str(), AvailabilityZone: str(), Aggregates: strs(), Capacity: res(), Used: res(),
			State: pluginv1.HostState(rng.IntN(6)), StateReason: str(), Versions: strMap(), Attributes: strMap(),
		}}}
	case 1, 2:
		return &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_Instance{Instance: &pluginv1.Instance{
			Id: str(), Name: str(), Host: str(), Resources: res(), Status: str(), Project: str(), ServerGroup: str(), LiveMigratable: rng.IntN(2) == 0,
		}}}
	case 3:
		return &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_ServerGroup{ServerGroup: &pluginv1.ServerGroup{
			Id: str(), Name: str(), Policy: str(), Project: str(), Members: strs(),
		}}}
	default:
		return &pluginv1.ReadInventory_Item{Item: &pluginv1.ReadInventory_Item_VnfManager{VnfManager: &pluginv1.VNFManager{
			Name: str(), Project: str(), Url: str(),
		}}}
	}
}

// referenceDecode decodes a stream with the generated protobuf code.
func referenceDecode(p *Provider, msgs [][]byte) (*sdk.ReadInventoryResponse, diags.Diagnostics, error) {
	inv := &sdk.ReadInventoryResponse{}
	var ds diags.Diagnostics
	for _, b := range msgs {
		item := &pluginv1.ReadInventory_Item{}
		if err := proto.Unmarshal(b, item); err != nil {
			return nil, nil, err
		}
		if b, ok := item.GetItem().(*pluginv1.ReadInventory_Item_Batch); ok {
			for _, sub := range b.Batch.GetItems() {
				ds = p.addInventoryItem(inv, ds, sub)
			}
			continue
		}
		ds = p.addInventoryItem(inv, ds, item)
	}
	return inv, ds, nil
}

// addInventoryItem adds one item of a ReadInventory stream to inv, or its
// diagnostic to ds.
func (p *Provider) addInventoryItem(inv *sdk.ReadInventoryResponse, ds diags.Diagnostics, item *pluginv1.ReadInventory_Item) diags.Diagnostics {
	switch it := item.GetItem().(type) {
	case *pluginv1.ReadInventory_Item_Host:
		inv.Hosts = append(inv.Hosts, hostFromProto(it.Host))
	case *pluginv1.ReadInventory_Item_Instance:
		inv.Instances = append(inv.Instances, instanceFromProto(it.Instance))
	case *pluginv1.ReadInventory_Item_ServerGroup:
		inv.ServerGroups = append(inv.ServerGroups, serverGroupFromProto(it.ServerGroup))
	case *pluginv1.ReadInventory_Item_VnfManager:
		inv.VNFManagers = append(inv.VNFManagers, vnfManagerFromProto(it.VnfManager))
	case *pluginv1.ReadInventory_Item_Diagnostic:
		ds = append(ds, p.pluginDiag(it.Diagnostic, nil, CallReadInventory))
	case *pluginv1.ReadInventory_Item_Batch:
		// Only at the top of the stream (handled by the caller): batches
		// do not nest. Skipping it would plan against half an inventory.
		ds = append(ds, diags.Errorf(nil, fmt.Sprintf("Provider %q sent an invalid inventory", p.name),
			"The plugin sent a batch of inventory items inside another batch, which the plugin protocol does not allow. This is a bug in the plugin; report it to its author."))
	default:
		// An item kind from a newer plugin: skip it rather than fail,
		// as the protocol's compatibility rules promise.
		p.log.Debug("skipping an inventory item of an unknown kind")
	}
	return ds
}

func resourcesFromProto(r *pluginv1.Resources) sdk.Resources {
	return sdk.Resources{VCPUs: r.GetVcpus(), MemoryMB: r.GetMemoryMb(), DiskGB: r.GetDiskGb()}
}

func hostFromProto(h *pluginv1.Host) sdk.Host {
	return sdk.Host{
		Name:             h.GetName(),
		Role:             h.GetRole(),
		AvailabilityZone: h.GetAvailabilityZone(),
		Aggregates:       h.GetAggregates(),
		Capacity:         resourcesFromProto(h.GetCapacity()),
		Used:             resourcesFromProto(h.GetUsed()),
		State:            hostStateFromProto(h.GetState()),
		StateReason:      h.GetStateReason(),
		Versions:         h.GetVersions(),
		Attributes:       h.GetAttributes(),
	}
}

func instanceFromProto(i *pluginv1.Instance) sdk.Instance {
	return sdk.Instance{
		ID:             i.GetId(),
		Name:           i.GetName(),
		Host:           i.GetHost(),
		Resources:      resourcesFromProto(i.GetResources()),
		Status:         i.GetStatus(),
		Project:        i.GetProject(),
		ServerGroup:    i.GetServerGroup(),
		LiveMigratable: i.GetLiveMigratable(),
	}
}

func serverGroupFromProto(g *pluginv1.ServerGroup) sdk.ServerGroup {
	return sdk.ServerGroup{
		ID:      g.GetId(),
		Name:    g.GetName(),
		Policy:  g.GetPolicy(),
		Project: g.GetProject(),
		Members: g.GetMembers(),
	}
}

func vnfManagerFromProto(m *pluginv1.VNFManager) sdk.VNFManager {
	return sdk.VNFManager{Name: m.GetName(), Project: m.GetProject(), URL: m.GetUrl()}
}
