package pluginhost

import (
	"fmt"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// This file converts protocol messages into the sdk types escalator uses
// as its vocabulary for plugin data. Enums are mapped value by value, not
// cast: a value from a newer plugin must become "unknown", not a
// different known value.

func schemaFromProto(r *pluginv1.GetSchema_Response) (*sdk.SchemaResponse, error) {
	out := &sdk.SchemaResponse{}
	var err error
	if out.Provider, err = blockFromProto(r.GetProvider()); err != nil {
		return nil, fmt.Errorf("provider schema: %w", err)
	}
	if out.Component, err = blockFromProto(r.GetComponent()); err != nil {
		return nil, fmt.Errorf("component schema: %w", err)
	}
	if out.Backup, err = blockFromProto(r.GetBackup()); err != nil {
		return nil, fmt.Errorf("backup schema: %w", err)
	}
	for _, h := range r.GetHostAttributes() {
		out.HostAttributes = append(out.HostAttributes, sdk.HostAttribute{Name: h.GetName(), Description: h.GetDescription()})
	}
	for _, a := range r.GetActions() {
		k := actionKindFromProto(a)
		if k == 0 {
			// An action this escalator does not know can't be planned;
			// leaving it out is the honest reading.
			continue
		}
		out.Actions = append(out.Actions, k)
	}
	for _, pr := range r.GetProbes() {
		settings, err := blockFromProto(pr.GetSettings())
		if err != nil {
			return nil, fmt.Errorf("probe %q settings: %w", pr.GetName(), err)
		}
		out.Probes = append(out.Probes, sdk.Probe{Name: pr.GetName(), Description: pr.GetDescription(), Settings: settings})
	}
	return out, nil
}

func blockFromProto(b *pluginv1.Schema_Block) (sdk.Block, error) {
	var out sdk.Block
	if b == nil {
		return out, nil
	}
	out.Description = b.GetDescription()
	for _, a := range b.GetAttributes() {
		t, err := pluginproto.DecodeType(a.GetType())
		if err != nil {
			return out, fmt.Errorf("attribute %q: %w", a.GetName(), err)
		}
		out.Attributes = append(out.Attributes, sdk.Attribute{
			Name:        a.GetName(),
			Type:        t,
			Description: a.GetDescription(),
			Required:    a.GetRequired(),
			Sensitive:   a.GetSensitive(),
		})
	}
	for _, nb := range b.GetBlocks() {
		inner, err := blockFromProto(nb.GetBlock())
		if err != nil {
			return out, fmt.Errorf("block %q: %w", nb.GetTypeName(), err)
		}
		var nesting sdk.Nesting
		switch nb.GetNesting() {
		case pluginv1.Schema_NestedBlock_SINGLE:
			nesting = sdk.NestingSingle
		case pluginv1.Schema_NestedBlock_LIST:
			nesting = sdk.NestingList
		default:
			return out, fmt.Errorf("block %q has an unknown nesting mode %d", nb.GetTypeName(), nb.GetNesting())
		}
		out.Blocks = append(out.Blocks, sdk.NestedBlock{
			TypeName: nb.GetTypeName(),
			Block:    inner,
			Nesting:  nesting,
			MinItems: int(nb.GetMinItems()),
			MaxItems: int(nb.GetMaxItems()),
		})
	}
	return out, nil
}

var actionKinds = map[pluginv1.ActionKind]sdk.ActionKind{
	pluginv1.ActionKind_ENTER_MAINTENANCE: sdk.ActionEnterMaintenance,
	pluginv1.ActionKind_LEAVE_MAINTENANCE: sdk.ActionLeaveMaintenance,
	pluginv1.ActionKind_MIGRATE:           sdk.ActionMigrate,
	pluginv1.ActionKind_BACKUP:            sdk.ActionBackup,
	pluginv1.ActionKind_UPGRADE:           sdk.ActionUpgrade,
	pluginv1.ActionKind_VERIFY:            sdk.ActionVerify,
	pluginv1.ActionKind_ROLLBACK:          sdk.ActionRollback,
	pluginv1.ActionKind_RESTORE:           sdk.ActionRestore,
	pluginv1.ActionKind_PROBE:             sdk.ActionProbe,
}

// actionKindFromProto returns 0 for a kind escalator does not know.
func actionKindFromProto(k pluginv1.ActionKind) sdk.ActionKind {
	return actionKinds[k]
}

func actionKindToProto(k sdk.ActionKind) pluginv1.ActionKind {
	for pk, sk := range actionKinds {
		if sk == k {
			return pk
		}
	}
	return pluginv1.ActionKind_ACTION_UNSPECIFIED
}

// disruptionFromProto returns 0 when the plugin did not say, which the
// planner reads as "use the component's configured disruption".
func disruptionFromProto(d pluginv1.Disruption) sdk.Disruption {
	switch d {
	case pluginv1.Disruption_NONE:
		return sdk.DisruptionNone
	case pluginv1.Disruption_SERVICE:
		return sdk.DisruptionService
	case pluginv1.Disruption_HOST:
		return sdk.DisruptionHost
	}
	return 0
}

func hostStateFromProto(s pluginv1.HostState) sdk.HostState {
	switch s {
	case pluginv1.HostState_UP:
		return sdk.HostUp
	case pluginv1.HostState_DOWN:
		return sdk.HostDown
	case pluginv1.HostState_DISABLED:
		return sdk.HostDisabled
	case pluginv1.HostState_MAINTENANCE:
		return sdk.HostMaintenance
	}
	return 0
}
