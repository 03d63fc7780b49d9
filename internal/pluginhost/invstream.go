package pluginhost

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/escalator-nfv/escalator/internal/diags"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// The inventory of a 10,000-host cloud is 200,000 instances. Decoded the
// usual way, each becomes a protobuf message with six separately
// allocated strings, then an sdk.Instance copied from it. This file
// decodes ReadInventory items from the wire straight into the sdk types:
// each received message is copied once into one string, and every string
// field of its items is a substring of it, so the whole inventory is a few
// hundred allocations instead of over a million.
//
// It follows the protobuf rules a generated decoder follows for these
// messages (proto3: last value wins for a repeated scalar, messages merge,
// within a oneof a different field replaces the one before, unknown fields
// and fields of an unexpected wire type are skipped, strings must be valid
// UTF-8); TestInventoryDecoderMatchesProto holds it to proto.Unmarshal.

// inventoryCodec is the gRPC codec of the ReadInventory call: the request
// goes through the standard protobuf codec, the stream's items are decoded
// by an *inventoryDecoder passed to RecvMsg.
type inventoryCodec struct{}

// protoCodec is gRPC's own protobuf codec.
var protoCodec = encoding.GetCodecV2("proto")

func (inventoryCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

func (inventoryCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if d, ok := v.(*inventoryDecoder); ok {
		var sb strings.Builder
		sb.Grow(data.Len())
		for _, b := range data {
			sb.Write(b.ReadOnlyData())
		}
		return d.item(sb.String(), true)
	}
	return protoCodec.Unmarshal(data, v)
}

// Name is the standard codec's: the plugin decodes the request with it.
func (inventoryCodec) Name() string { return protoCodec.Name() }

// inventoryDecoder accumulates the items of one ReadInventory stream.
// Instances are kept in fixed-size chunks while the stream lasts, and
// moved into inv.Instances once (finish): appending 200,000 of them to one
// slice would copy them over and over as it grows.
type inventoryDecoder struct {
	p         *Provider
	inv       *sdk.ReadInventoryResponse
	ds        diags.Diagnostics
	instances [][]sdk.Instance
}

// instanceChunk is how many instances a chunk holds.
const instanceChunk = 4096

func (d *inventoryDecoder) addInstance(in sdk.Instance) {
	n := len(d.instances)
	if n == 0 || len(d.instances[n-1]) == cap(d.instances[n-1]) {
		d.instances = append(d.instances, make([]sdk.Instance, 0, instanceChunk))
		n++
	}
	d.instances[n-1] = append(d.instances[n-1], in)
}

// finish moves the instances read into inv.Instances.
func (d *inventoryDecoder) finish() {
	total := len(d.inv.Instances)
	for _, c := range d.instances {
		total += len(c)
	}
	if total == len(d.inv.Instances) {
		return
	}
	all := make([]sdk.Instance, 0, total)
	all = append(all, d.inv.Instances...)
	for _, c := range d.instances {
		all = append(all, c...)
	}
	d.inv.Instances, d.instances = all, nil
}

// Field numbers of ReadInventory.Item's oneof.
const (
	itemHost        = 1
	itemInstance    = 2
	itemServerGroup = 3
	itemVNFManager  = 4
	itemDiagnostic  = 5
	itemBatch       = 6
)

// item decodes one ReadInventory.Item and adds it to the inventory; top is
// false for the items of a batch.
func (d *inventoryDecoder) item(s string, top bool) error {
	// The oneof holds the last of its fields on the wire, merged with the
	// occurrences of that same field just before it.
	kind := 0
	var parts []string
	r := wireReader{s: s}
	for !r.done() {
		num, typ, err := r.tag()
		if err != nil {
			return err
		}
		if num >= itemHost && num <= itemBatch && typ == wireBytes {
			v, err := r.bytes()
			if err != nil {
				return err
			}
			if int(num) != kind {
				kind, parts = int(num), parts[:0]
			}
			parts = append(parts, v)
			continue
		}
		if err := r.skip(num, typ); err != nil {
			return err
		}
	}
	switch kind {
	case itemHost:
		var h sdk.Host
		for _, p := range parts {
			if err := decodeHost(p, &h); err != nil {
				return err
			}
		}
		d.inv.Hosts = append(d.inv.Hosts, h)
	case itemInstance:
		var in sdk.Instance
		for _, p := range parts {
			if err := decodeInstance(p, &in); err != nil {
				return err
			}
		}
		d.addInstance(in)
	case itemServerGroup:
		var g sdk.ServerGroup
		for _, p := range parts {
			if err := decodeServerGroup(p, &g); err != nil {
				return err
			}
		}
		d.inv.ServerGroups = append(d.inv.ServerGroups, g)
	case itemVNFManager:
		var m sdk.VNFManager
		for _, p := range parts {
			if err := decodeVNFManager(p, &m); err != nil {
				return err
			}
		}
		d.inv.VNFManagers = append(d.inv.VNFManagers, m)
	case itemDiagnostic:
		pd := &pluginv1.Diagnostic{}
		for _, p := range parts {
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal([]byte(p), pd); err != nil {
				return fmt.Errorf("decoding an inventory diagnostic: %w", err)
			}
		}
		d.ds = append(d.ds, d.p.pluginDiag(pd, nil, CallReadInventory))
	case itemBatch:
		if !top {
			// Batches do not nest. Skipping it would plan against half
			// an inventory.
			d.ds = append(d.ds, diags.Errorf(nil, fmt.Sprintf("Provider %q sent an invalid inventory", d.p.name),
				"The plugin sent a batch of inventory items inside another batch, which the plugin protocol does not allow. This is a bug in the plugin; report it to its author."))
			return nil
		}
		// An error ends the stream, and ReadInventory then returns no
		// inventory at all: what was added before it does not matter.
		for _, p := range parts {
			b := wireReader{s: p}
			for !b.done() {
				num, typ, err := b.tag()
				if err != nil {
					return err
				}
				if num != 1 || typ != wireBytes {
					if err := b.skip(num, typ); err != nil {
						return err
					}
					continue
				}
				v, err := b.bytes()
				if err != nil {
					return err
				}
				if err := d.item(v, false); err != nil {
					return err
				}
			}
		}
	default:
		// An item kind from a newer plugin: skip it rather than fail,
		// as the protocol's compatibility rules promise.
		d.p.log.Debug("skipping an inventory item of an unknown kind")
	}
	return nil
}

func decodeHost(s string, h *sdk.Host) error {
	r := wireReader{s: s}
	for !r.done() {
		num, typ, err := r.tag()
		if err != nil {
			return err
		}
		switch {
		case num == 1 && typ == wireBytes:
			h.Name, err = r.str()
		case num == 2 && typ == wireBytes:
			h.Role, err = r.str()
		case num == 3 && typ == wireBytes:
			h.AvailabilityZone, err = r.str()
		case num == 4 && typ == wireBytes:
			var a string
			if a, err = r.str(); err == nil {
				h.Aggregates = append(h.Aggregates, a)
			}
		case num == 5 && typ == wireBytes:
			err = r.resources(&h.Capacity)
		case num == 6 && typ == wireBytes:
			err = r.resources(&h.Used)
		case num == 7 && typ == wireVarint:
			var v uint64
			if v, err = r.varint(); err == nil {
				h.State = hostStateFromProto(pluginv1.HostState(int32(v)))
			}
		case num == 8 && typ == wireBytes:
			h.StateReason, err = r.str()
		case num == 9 && typ == wireBytes:
			err = r.mapEntry(&h.Versions)
		case num == 10 && typ == wireBytes:
			err = r.mapEntry(&h.Attributes)
		default:
			err = r.skip(num, typ)
		}
		if err != nil {
			return fmt.Errorf("decoding host: %w", err)
		}
	}
	return nil
}

func decodeInstance(s string, in *sdk.Instance) error {
	r := wireReader{s: s}
	for !r.done() {
		num, typ, err := r.tag()
		if err != nil {
			return err
		}
		switch {
		case num == 1 && typ == wireBytes:
			in.ID, err = r.str()
		case num == 2 && typ == wireBytes:
			in.Name, err = r.str()
		case num == 3 && typ == wireBytes:
			in.Host, err = r.str()
		case num == 4 && typ == wireBytes:
			err = r.resources(&in.Resources)
		case num == 5 && typ == wireBytes:
			in.Status, err = r.str()
		case num == 6 && typ == wireBytes:
			in.Project, err = r.str()
		case num == 7 && typ == wireBytes:
			in.ServerGroup, err = r.str()
		case num == 8 && typ == wireVarint:
			var v uint64
			if v, err = r.varint(); err == nil {
				in.LiveMigratable = v != 0
			}
		default:
			err = r.skip(num, typ)
		}
		if err != nil {
			return fmt.Errorf("decoding instance: %w", err)
		}
	}
	return nil
}

func decodeServerGroup(s string, g *sdk.ServerGroup) error {
	r := wireReader{s: s}
	for !r.done() {
		num, typ, err := r.tag()
		if err != nil {
			return err
		}
		switch {
		case num == 1 && typ == wireBytes:
			g.ID, err = r.str()
		case num == 2 && typ == wireBytes:
			g.Name, err = r.str()
		case num == 3 && typ == wireBytes:
			g.Policy, err = r.str()
		case num == 4 && typ == wireBytes:
			g.Project, err = r.str()
		case num == 5 && typ == wireBytes:
			var m string
			if m, err = r.str(); err == nil {
				g.Members = append(g.Members, m)
			}
		default:
			err = r.skip(num, typ)
		}
		if err != nil {
			return fmt.Errorf("decoding server group: %w", err)
		}
	}
	return nil
}

func decodeVNFManager(s string, m *sdk.VNFManager) error {
	r := wireReader{s: s}
	for !r.done() {
		num, typ, err := r.tag()
		if err != nil {
			return err
		}
		switch {
		case num == 1 && typ == wireBytes:
			m.Name, err = r.str()
		case num == 2 && typ == wireBytes:
			m.Project, err = r.str()
		case num == 3 && typ == wireBytes:
			m.URL, err = r.str()
		default:
			err = r.skip(num, typ)
		}
		if err != nil {
			return fmt.Errorf("decoding VNF manager: %w", err)
		}
	}
	return nil
}

// Wire types.
const (
	wireVarint     = 0
	wireFixed64    = 1
	wireBytes      = 2
	wireStartGroup = 3
	wireEndGroup   = 4
	wireFixed32    = 5
)

var errTruncated = errors.New("truncated message")

// wireReader reads protobuf wire format from a string, so that the
// strings it returns share the string's memory.
type wireReader struct {
	s string
	i int
}

func (r *wireReader) done() bool { return r.i >= len(r.s) }

func (r *wireReader) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.i >= len(r.s) {
			return 0, errTruncated
		}
		b := r.s[r.i]
		r.i++
		if shift == 63 && b > 1 {
			return 0, errors.New("varint overflows 64 bits")
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("varint overflows 64 bits")
}

func (r *wireReader) tag() (num int32, typ int, err error) {
	v, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	if v>>3 == 0 || v>>3 > uint64(protowire.MaxValidNumber) {
		return 0, 0, fmt.Errorf("invalid field number %d", v>>3)
	}
	return int32(v >> 3), int(v & 7), nil
}

func (r *wireReader) bytes() (string, error) {
	n, err := r.varint()
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.s)-r.i) {
		return "", errTruncated
	}
	v := r.s[r.i : r.i+int(n)]
	r.i += int(n)
	return v, nil
}

// str reads a string field, which protobuf requires to be valid UTF-8.
func (r *wireReader) str() (string, error) {
	v, err := r.bytes()
	if err == nil && !utf8.ValidString(v) {
		return "", errors.New("string field contains invalid UTF-8")
	}
	return v, err
}

// resources merges a Resources message into res.
func (r *wireReader) resources(res *sdk.Resources) error {
	s, err := r.bytes()
	if err != nil {
		return err
	}
	m := wireReader{s: s}
	for !m.done() {
		num, typ, err := m.tag()
		if err != nil {
			return err
		}
		if num < 1 || num > 3 || typ != wireVarint {
			if err := m.skip(num, typ); err != nil {
				return err
			}
			continue
		}
		v, err := m.varint()
		if err != nil {
			return err
		}
		switch num {
		case 1:
			res.VCPUs = int64(v)
		case 2:
			res.MemoryMB = int64(v)
		case 3:
			res.DiskGB = int64(v)
		}
	}
	return nil
}

// mapEntry reads one entry of a map<string, string> into *m.
func (r *wireReader) mapEntry(m *map[string]string) error {
	s, err := r.bytes()
	if err != nil {
		return err
	}
	var k, v string
	e := wireReader{s: s}
	for !e.done() {
		num, typ, err := e.tag()
		if err != nil {
			return err
		}
		switch {
		case num == 1 && typ == wireBytes:
			k, err = e.str()
		case num == 2 && typ == wireBytes:
			v, err = e.str()
		default:
			err = e.skip(num, typ)
		}
		if err != nil {
			return err
		}
	}
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = v
	return nil
}

// skip skips the value of a field that was not expected.
func (r *wireReader) skip(num int32, typ int) error {
	switch typ {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireFixed64:
		if len(r.s)-r.i < 8 {
			return errTruncated
		}
		r.i += 8
	case wireFixed32:
		if len(r.s)-r.i < 4 {
			return errTruncated
		}
		r.i += 4
	case wireBytes:
		_, err := r.bytes()
		return err
	case wireStartGroup:
		for {
			n, t, err := r.tag()
			if err != nil {
				return err
			}
			if t == wireEndGroup {
				if n != num {
					return errors.New("mismatched end group")
				}
				return nil
			}
			if err := r.skip(n, t); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("invalid wire type %d", typ)
	}
	return nil
}
