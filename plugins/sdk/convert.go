package sdk

import (
	"fmt"
	"math"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// This file converts the SDK's hand-written types to and from the generated
// protocol messages. The numeric values of the SDK's enums equal the
// protocol's, so enum conversions are casts; the tests pin that.

func diagsToProto(ds Diagnostics) []*pluginv1.Diagnostic {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*pluginv1.Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = diagToProto(d)
	}
	return out
}

func diagToProto(d Diagnostic) *pluginv1.Diagnostic {
	sev := pluginv1.Diagnostic_ERROR
	if d.Severity == Warning {
		sev = pluginv1.Diagnostic_WARNING
	}
	// A diagnostic with no severity (a zero Diagnostic{}) is treated as an
	// error: losing a provider's complaint is worse than overstating it.
	return &pluginv1.Diagnostic{
		Severity:  sev,
		Summary:   d.Summary,
		Detail:    d.Detail,
		Attribute: pluginproto.EncodePath(d.Attribute),
	}
}

func blockToProto(b Block) (*pluginv1.Schema_Block, error) {
	out := &pluginv1.Schema_Block{Description: b.Description}
	for _, a := range b.Attributes {
		t, err := pluginproto.EncodeType(a.Type)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		out.Attributes = append(out.Attributes, &pluginv1.Schema_Attribute{
			Name:        a.Name,
			Type:        t,
			Description: a.Description,
			Required:    a.Required,
			Sensitive:   a.Sensitive,
		})
	}
	for _, nb := range b.Blocks {
		inner, err := blockToProto(nb.Block)
		if err != nil {
			return nil, fmt.Errorf("block %q: %w", nb.TypeName, err)
		}
		out.Blocks = append(out.Blocks, &pluginv1.Schema_NestedBlock{
			TypeName: nb.TypeName,
			Block:    inner,
			Nesting:  pluginv1.Schema_NestedBlock_Nesting(nb.Nesting),
			MinItems: int64(nb.MinItems),
			MaxItems: int64(nb.MaxItems),
		})
	}
	return out, nil
}

func schemaToProto(s *SchemaResponse) (*pluginv1.GetSchema_Response, error) {
	out := &pluginv1.GetSchema_Response{}
	var err error
	if out.Provider, err = blockToProto(s.Provider); err != nil {
		return nil, fmt.Errorf("provider schema: %w", err)
	}
	if out.Component, err = blockToProto(s.Component); err != nil {
		return nil, fmt.Errorf("component schema: %w", err)
	}
	if out.Backup, err = blockToProto(s.Backup); err != nil {
		return nil, fmt.Errorf("backup schema: %w", err)
	}
	for _, h := range s.HostAttributes {
		out.HostAttributes = append(out.HostAttributes, &pluginv1.GetSchema_HostAttribute{Name: h.Name, Description: h.Description})
	}
	for _, k := range s.Actions {
		out.Actions = append(out.Actions, pluginv1.ActionKind(k))
	}
	for _, p := range s.Probes {
		settings, err := blockToProto(p.Settings)
		if err != nil {
			return nil, fmt.Errorf("probe %q settings: %w", p.Name, err)
		}
		out.Probes = append(out.Probes, &pluginv1.GetSchema_Probe{Name: p.Name, Description: p.Description, Settings: settings})
	}
	out.Diagnostics = diagsToProto(s.Diagnostics)
	return out, nil
}

func resourcesToProto(r Resources) *pluginv1.Resources {
	return &pluginv1.Resources{Vcpus: r.VCPUs, MemoryMb: r.MemoryMB, DiskGb: r.DiskGB}
}

func hostToProto(h *Host) *pluginv1.Host {
	return &pluginv1.Host{
		Name:             h.Name,
		Role:             h.Role,
		AvailabilityZone: h.AvailabilityZone,
		Aggregates:       h.Aggregates,
		Capacity:         resourcesToProto(h.Capacity),
		Used:             resourcesToProto(h.Used),
		State:            pluginv1.HostState(h.State),
		StateReason:      h.StateReason,
		Versions:         h.Versions,
		Attributes:       h.Attributes,
	}
}

func instanceToProto(i *Instance) *pluginv1.Instance {
	return &pluginv1.Instance{
		Id:             i.ID,
		Name:           i.Name,
		Host:           i.Host,
		Resources:      resourcesToProto(i.Resources),
		Status:         i.Status,
		Project:        i.Project,
		ServerGroup:    i.ServerGroup,
		LiveMigratable: i.LiveMigratable,
	}
}

// fillHostProto sets every field of out, a message being reused, from h;
// the Resources messages are reused too. It must set what hostToProto
// sets: TestFillProtoMatches holds them together.
func fillHostProto(out *pluginv1.Host, h *Host, capacity, used *pluginv1.Resources) {
	*capacity = pluginv1.Resources{Vcpus: h.Capacity.VCPUs, MemoryMb: h.Capacity.MemoryMB, DiskGb: h.Capacity.DiskGB}
	*used = pluginv1.Resources{Vcpus: h.Used.VCPUs, MemoryMb: h.Used.MemoryMB, DiskGb: h.Used.DiskGB}
	*out = pluginv1.Host{
		Name:             h.Name,
		Role:             h.Role,
		AvailabilityZone: h.AvailabilityZone,
		Aggregates:       h.Aggregates,
		Capacity:         capacity,
		Used:             used,
		State:            pluginv1.HostState(h.State),
		StateReason:      h.StateReason,
		Versions:         h.Versions,
		Attributes:       h.Attributes,
	}
}

// fillInstanceProto is instanceToProto into a reused message.
func fillInstanceProto(out *pluginv1.Instance, i *Instance, res *pluginv1.Resources) {
	*res = pluginv1.Resources{Vcpus: i.Resources.VCPUs, MemoryMb: i.Resources.MemoryMB, DiskGb: i.Resources.DiskGB}
	*out = pluginv1.Instance{
		Id:             i.ID,
		Name:           i.Name,
		Host:           i.Host,
		Resources:      res,
		Status:         i.Status,
		Project:        i.Project,
		ServerGroup:    i.ServerGroup,
		LiveMigratable: i.LiveMigratable,
	}
}

// fillServerGroupProto is serverGroupToProto into a reused message.
func fillServerGroupProto(out *pluginv1.ServerGroup, g *ServerGroup) {
	*out = pluginv1.ServerGroup{Id: g.ID, Name: g.Name, Policy: g.Policy, Project: g.Project, Members: g.Members}
}

func serverGroupToProto(g *ServerGroup) *pluginv1.ServerGroup {
	return &pluginv1.ServerGroup{Id: g.ID, Name: g.Name, Policy: g.Policy, Project: g.Project, Members: g.Members}
}

func vnfManagerToProto(m *VNFManager) *pluginv1.VNFManager {
	return &pluginv1.VNFManager{Name: m.Name, Project: m.Project, Url: m.URL}
}

func actionRequestFromProto(r *pluginv1.ExecuteAction_Request) ExecuteActionRequest {
	return ExecuteActionRequest{
		ID:          r.GetId(),
		Kind:        ActionKind(r.GetKind()),
		Host:        r.GetHost(),
		Component:   r.GetComponent(),
		FromVersion: r.GetFromVersion(),
		ToVersion:   r.GetToVersion(),
		Reason:      r.GetReason(),
		Instance:    r.GetInstance(),
		Destination: r.GetDestination(),
		Live:        r.GetLive(),
		BackupID:    r.GetBackupId(),
		Probe:       r.GetProbe(),
	}
}

// clampFraction keeps progress fractions within the protocol's range: a
// provider's arithmetic slip must not show up as "130 %" or NaN in the
// operator's status table.
func clampFraction(f float64) float64 {
	switch {
	case math.IsNaN(f) || f < 0:
		return -1
	case f > 1:
		return 1
	}
	return f
}
