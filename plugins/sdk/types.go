package sdk

import (
	"time"

	"github.com/zclconf/go-cty/cty"
)

// MetadataRequest is empty; it exists so the method shape stays uniform.
type MetadataRequest struct{}

// MetadataResponse names the provider.
type MetadataResponse struct {
	// Name is the provider's name, as in required_providers and in the
	// executable's name escalator-provider-NAME.
	Name string
	// Version is the provider's semantic version, such as "0.1.0".
	Version string
}

// SchemaRequest is empty.
type SchemaRequest struct{}

// SchemaResponse describes what the provider takes and reports.
type SchemaResponse struct {
	// Provider is the schema of the provider block.
	Provider Block
	// Component is the schema of a component's settings.
	Component Block
	// Backup is the schema of a backup block's settings.
	Backup Block
	// HostAttributes are the keys the provider fills in Host.Attributes.
	HostAttributes []HostAttribute
	// Actions are the action kinds ExecuteAction supports.
	Actions []ActionKind
	// Probes are the named checks a `check { kind = "provider" }` can run.
	Probes      []Probe
	Diagnostics Diagnostics
}

// Block is an object schema: attributes and nested blocks.
type Block struct {
	Attributes  []Attribute
	Blocks      []NestedBlock
	Description string
}

// Attribute is one argument of a Block.
type Attribute struct {
	Name string
	// Type is the cty type, e.g. cty.String or cty.List(cty.String).
	Type        cty.Type
	Description string
	Required    bool
	// Sensitive values are never printed by escalator.
	Sensitive bool
}

// Nesting is how a nested block repeats.
type Nesting int

// The nestings.
const (
	// NestingSingle: at most one block; the value is an object or null.
	NestingSingle Nesting = iota + 1
	// NestingList: any number of blocks; the value is a list of objects.
	NestingList
)

// NestedBlock is a block inside a Block.
type NestedBlock struct {
	TypeName string
	Block    Block
	Nesting  Nesting
	MinItems int
	MaxItems int // 0: no limit
}

// HostAttribute documents one key of Host.Attributes.
type HostAttribute struct {
	Name        string
	Description string
}

// Probe is a named health check the provider implements.
type Probe struct {
	Name        string
	Description string
	Settings    Block
}

// ValidateConfigRequest carries a provider configuration to check.
type ValidateConfigRequest struct {
	Config cty.Value
}

// ValidateConfigResponse reports problems with it.
type ValidateConfigResponse struct {
	Diagnostics Diagnostics
}

// ConfigureRequest carries the provider block's values.
type ConfigureRequest struct {
	// Config is an object conforming to the SchemaResponse.Provider block.
	Config cty.Value
	// EscalatorVersion is the version of the escalator calling.
	EscalatorVersion string
	// Capabilities are the optional features escalator supports.
	Capabilities []string
}

// ConfigureResponse reports problems and the provider's own capabilities.
type ConfigureResponse struct {
	Capabilities []string
	Diagnostics  Diagnostics
}

// Resources are amounts of compute resources.
type Resources struct {
	VCPUs    int64
	MemoryMB int64
	DiskGB   int64
}

// HostState is the scheduling state of a host.
type HostState int

// The host states.
const (
	// HostUp: in service; new instances may be scheduled there.
	HostUp HostState = iota + 1
	// HostDown: not reachable or its service is dead.
	HostDown
	// HostDisabled: disabled by an operator (not by escalator).
	HostDisabled
	// HostMaintenance: in maintenance, as escalator's EnterMaintenance
	// leaves it; StateReason says by which run.
	HostMaintenance
)

// String returns "up", "down", "disabled" or "maintenance".
func (s HostState) String() string {
	switch s {
	case HostUp:
		return "up"
	case HostDown:
		return "down"
	case HostDisabled:
		return "disabled"
	case HostMaintenance:
		return "maintenance"
	}
	return "unknown"
}

// Host is one host of the inventory.
type Host struct {
	Name             string
	Role             string
	AvailabilityZone string
	Aggregates       []string
	Capacity         Resources
	Used             Resources
	State            HostState
	StateReason      string
	// Versions maps component name to installed version.
	Versions map[string]string
	// Attributes are provider-specific facts (see HostAttributes).
	Attributes map[string]string
}

// Instance is one instance (VM) of the inventory.
type Instance struct {
	ID        string
	Name      string
	Host      string
	Resources Resources
	// Status is Nova's: ACTIVE, SHUTOFF, …
	Status  string
	Project string
	// ServerGroup is the id of its server group, empty if none.
	ServerGroup    string
	LiveMigratable bool
}

// ServerGroup is a Nova server group.
type ServerGroup struct {
	ID   string
	Name string
	// Policy is anti-affinity, affinity, soft-anti-affinity or
	// soft-affinity.
	Policy  string
	Project string
	// Members are instance ids.
	Members []string
}

// VNFManager is a VNF manager known to the cloud, to be notified of
// maintenance on its project's instances.
type VNFManager struct {
	Name    string
	Project string
	URL     string
}

// ReadInventoryRequest is empty.
type ReadInventoryRequest struct{}

// ReadInventoryResponse is the inventory. The SDK streams it to escalator
// in pieces, so it may be large.
type ReadInventoryResponse struct {
	Hosts        []Host
	Instances    []Instance
	ServerGroups []ServerGroup
	VNFManagers  []VNFManager
	Diagnostics  Diagnostics
}

// Disruption is what a change does to a host's instances.
type Disruption int

// The disruptions, least first.
const (
	DisruptionNone Disruption = iota + 1
	DisruptionService
	DisruptionHost
)

// PlanComponentRequest asks what changing one component on one host
// involves.
type PlanComponentRequest struct {
	Component   string
	Host        string
	FromVersion string
	ToVersion   string
	Settings    cty.Value
}

// PlanComponentResponse answers. Set Refused (with a reason an operator
// can act on) for a change that can't be made: a downgrade, a version jump
// the software does not support.
type PlanComponentResponse struct {
	Refused          bool
	RefusalReason    string
	Disruption       Disruption
	ExpectedDuration time.Duration
	Diagnostics      Diagnostics
}

// ActionKind is the kind of an action.
type ActionKind int

// The action kinds.
const (
	ActionEnterMaintenance ActionKind = iota + 1
	ActionLeaveMaintenance
	ActionMigrate
	ActionBackup
	ActionUpgrade
	ActionVerify
	ActionRollback
	ActionRestore
	ActionProbe
)

var actionNames = map[ActionKind]string{
	ActionEnterMaintenance: "enter_maintenance",
	ActionLeaveMaintenance: "leave_maintenance",
	ActionMigrate:          "migrate",
	ActionBackup:           "backup",
	ActionUpgrade:          "upgrade",
	ActionVerify:           "verify",
	ActionRollback:         "rollback",
	ActionRestore:          "restore",
	ActionProbe:            "probe",
}

// String returns the action's snake_case name, such as "enter_maintenance".
func (k ActionKind) String() string {
	if s, ok := actionNames[k]; ok {
		return s
	}
	return "unknown"
}

// ExecuteActionRequest is one action to perform. Which fields are set
// depends on Kind.
type ExecuteActionRequest struct {
	// ID is the plan step's id. After a crash escalator may send the same
	// id again: finish or confirm the earlier attempt where possible.
	ID        string
	Kind      ActionKind
	Host      string
	Component string
	// FromVersion and ToVersion: UPGRADE and ROLLBACK.
	FromVersion string
	ToVersion   string
	Settings    cty.Value
	// Reason is recorded with maintenance (ENTER_MAINTENANCE).
	Reason string
	// Instance, Destination, Live: MIGRATE.
	Instance    string
	Destination string
	Live        bool
	// BackupID: RESTORE, as a BACKUP returned it in its outputs.
	BackupID string
	// Probe: PROBE, the probe's name.
	Probe string
}

// ExecuteActionResponse collects the action's outcome. Progress reports
// are sent to escalator as they happen.
type ExecuteActionResponse struct {
	// Outputs are results of the action, such as "backup_id".
	Outputs     map[string]string
	Diagnostics Diagnostics

	progress func(msg string, fraction float64)
}

// Progress reports how the action is going; fraction is between 0 and 1,
// or negative when unknown. It is safe to call from several goroutines.
func (r *ExecuteActionResponse) Progress(msg string, fraction float64) {
	if r.progress != nil {
		r.progress(msg, fraction)
	}
}
