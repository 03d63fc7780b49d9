package config

import (
	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/addrs"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// Config is a loaded, checked and evaluated campaign: every *.hcl file of one
// directory. It is built once by Load and never changed afterwards; later
// stages (planner, engine) only read it. Expressions that depend on the live
// inventory (a hosts block's where, a rollout's group_by) stay expressions,
// checked statically here and evaluated per host at plan time with
// HostEvalContext.
type Config struct {
	// Dir is the directory the campaign was loaded from.
	Dir string
	// Files holds every parsed file by name, for rendering diagnostics.
	Files diags.Files

	Settings   *Settings
	Variables  map[string]*Variable
	Locals     map[string]*Local
	Providers  map[string]*Provider
	HostSets   map[string]*HostSet
	Components map[string]*Component
	Rollouts   map[string]*Rollout
	Guards     map[string]*Guard
	Checks     map[string]*Check
	Backups    map[string]*Backup

	// ComponentLayers orders the components: those of layer n depend only on
	// components of earlier layers (explicit depends_on and implicit
	// references alike). Empty when the dependencies have a cycle.
	ComponentLayers [][]addrs.Ref

	// evalCtx holds var, local, component values and the functions, for
	// evaluating deferred expressions at plan time.
	evalCtx *hcl.EvalContext
}

// Settings is the escalator block.
type Settings struct {
	RequiredProviders map[string]*RequiredProvider
	State             *StateBackend
	DeclRange         hcl.Range
}

// RequiredProvider is one entry of required_providers.
type RequiredProvider struct {
	Name string
	// Version is the constraint as written (">= 0.1.0, < 1.0.0").
	Version     string
	Constraints version.Constraints
	DeclRange   hcl.Range
}

// StateBackend is the state block: where runs, the journal and the lock live.
type StateBackend struct {
	// Type is "local" or "postgres".
	Type string
	// Path of the state file, for the local backend.
	Path string
	// ConnString and Schema, for the postgres backend. ConnString is
	// sensitive and may be left empty to take it from ESCALATOR_PG_CONN.
	ConnString string
	Schema     string
	DeclRange  hcl.Range
}

// Variable is a variable block and the value it ended up with.
type Variable struct {
	Name        string
	Description string
	// Type is the type constraint; cty.DynamicPseudoType when none was given.
	Type        cty.Type
	Default     cty.Value // cty.NilVal when the variable is required
	Sensitive   bool
	Validations []*VariableValidation
	// Value is the final value after every source was applied, converted to
	// Type and validated. It is unknown when no value was given and the load
	// allowed that (escalator validate).
	Value cty.Value
	// ValueSource tells where Value came from ("default", "-var", a file
	// name, "environment variable ESCALATOR_VAR_x").
	ValueSource string
	DeclRange   hcl.Range

	// defaults are the optional(T, DEFAULT) attribute defaults of Type,
	// applied to every value whatever its source.
	defaults *typeexpr.Defaults
}

// Required reports whether the variable has no default.
func (v *Variable) Required() bool { return v.Default == cty.NilVal }

// VariableValidation is a validation block of a variable.
type VariableValidation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
}

// Local is one named value of a locals block.
type Local struct {
	Name      string
	Expr      hcl.Expression
	Value     cty.Value
	DeclRange hcl.Range
}

// Provider is a provider block. Its body is the plugin's own configuration,
// decoded against the plugin's schema once plugins are loaded.
type Provider struct {
	Name      string
	Body      hcl.Body
	DeclRange hcl.Range
}

// HostSet is a hosts block: a selection of the live inventory.
type HostSet struct {
	Name     string
	Provider addrs.Ref
	// Role keeps only hosts of this role; empty keeps every role.
	Role string
	// Where is a boolean expression over `host` (see HostType), evaluated
	// per host at plan time; nil keeps every host.
	Where     hcl.Expression
	DeclRange hcl.Range
}

// Disruption is what upgrading a component does to the instances on a host.
type Disruption string

// The disruption levels, from least to most disruptive.
const (
	// DisruptionNone: instances keep running undisturbed.
	DisruptionNone Disruption = "none"
	// DisruptionService: a service restarts; instances keep running but the
	// host's API/agent is briefly unavailable.
	DisruptionService Disruption = "service"
	// DisruptionHost: the host reboots or its hypervisor restarts, so the
	// instances must be evacuated first.
	DisruptionHost Disruption = "host"
)

// Component is a piece of software and its target version on a host set.
type Component struct {
	Name     string
	Hosts    addrs.Ref
	Provider addrs.Ref
	// Version is the target version, in the provider's own syntax.
	Version    string
	Disruption Disruption
	// DependsOn is every component this one must wait for: the explicit
	// depends_on list plus components referenced by its expressions. Sorted.
	DependsOn []addrs.Ref
	// Settings is the provider-specific part (packages, repositories, …),
	// an object checked against the provider's schema once plugins load.
	Settings cty.Value
	// SettingsExpr is the settings expression, nil when absent, so that a
	// provider's complaint about a settings value can point at it.
	SettingsExpr hcl.Expression
	// ExpectedDuration per host; zero means "use the provider's estimate".
	ExpectedDuration Duration
	DeclRange        hcl.Range
}

// Rollout says how a set of components rolls through their hosts.
type Rollout struct {
	Name       string
	Components []addrs.Ref
	// MaxUnavailable caps the hosts in maintenance at once.
	MaxUnavailable CountOrPercent
	// GroupBy is an expression over `host` whose value groups hosts that may
	// be in maintenance together (one availability zone at a time); nil
	// means no grouping.
	GroupBy hcl.Expression
	// ExpectedDuration per host; a host that takes longer raises a hang
	// alert. Zero means "use the providers' estimates".
	ExpectedDuration Duration
	Canary           *Canary // nil: no canary phase
	Evacuate         Evacuate
	Notify           []*Notify
	Verify           Verify
	OnFailure        OnFailure
	DeclRange        hcl.Range
}

// Canary is the first, small wave that must succeed before the rest.
type Canary struct {
	Count CountOrPercent
	// Where optionally restricts which hosts may be canaries.
	Where hcl.Expression
	// Soak is how long to watch the canaries before going on.
	Soak Duration
	// Pause stops apply after the canary wave; the next apply goes on.
	Pause     bool
	DeclRange hcl.Range
}

// Evacuation modes.
const (
	EvacuateLive = "live"
	EvacuateCold = "cold"
)

// Scheduling preferences of an evacuation.
const (
	PreferFewerMoves = "fewer_moves"
	PreferFewerWaves = "fewer_waves"
)

// Evacuate says how instances leave a host before a disruptive upgrade.
type Evacuate struct {
	// Mode is "live" (the default) or "cold".
	Mode string
	// FallbackToCold allows a cold migration when a live one fails.
	FallbackToCold bool
	// Timeout per instance migration.
	Timeout Duration
	// Parallel is how many instances leave one host at once.
	Parallel int
	// Prefer says what the scheduler trades when no upgraded host has room
	// yet: "fewer_moves" (the default) starts with a single host, so that
	// as few instances as possible move twice; "fewer_waves" starts with a
	// full wave, whose instances all move twice.
	Prefer    string
	DeclRange hcl.Range
}

// Notify-timeout policies.
const (
	OnTimeoutProceed = "proceed"
	// OnTimeoutFailHost fails the wave's hosts holding the VNF manager's
	// instances (their failure policy applies); the other hosts go on.
	OnTimeoutFailHost = "fail_host"
	OnTimeoutHalt     = "halt"
)

// Notify modes.
const (
	// NotifyWebhook POSTs a signed notification to URL; the HTTP response
	// is the VNF manager's reply.
	NotifyWebhook = "webhook"
	// NotifyNone records the notification in the journal and sends
	// nothing, for VNF managers that watch Nova themselves.
	NotifyNone = "none"
)

// Notify is a VNF manager told before its instances are disturbed.
type Notify struct {
	Name string
	// Mode is "webhook" (the default) or "none".
	Mode string
	// URL receives the signed maintenance notifications.
	URL string
	// Projects limits the notifications to instances of these projects
	// (tenants); empty means every project.
	Projects []string
	// Secret signs the body (HMAC); sensitive.
	Secret string
	// ReplyTimeout is how long to wait for the VNF manager's answer.
	ReplyTimeout Duration
	// OnTimeout is "proceed" (evacuate anyway), "fail_host" or "halt".
	OnTimeout string
	// Wait for the reply (true) or send and go on (false).
	Wait bool
	// LeadTime is the least time between the notification and the first
	// move of the VNF manager's instances.
	LeadTime Duration
	// ReplyURL is where asynchronous replies go (escalator's API); empty
	// means derived from apply -listen, or synchronous replies only.
	ReplyURL string
	// OwnActionTimeout is how long escalator waits for an instance the VNF
	// manager took over (OWN_ACTION) to leave its host.
	OwnActionTimeout Duration
	DeclRange        hcl.Range
}

// Verify lists the checks run on each host after its upgrade, besides the
// providers' own verification.
type Verify struct {
	Checks    []addrs.Ref
	Timeout   Duration
	DeclRange hcl.Range
}

// Failure policies.
const (
	FailureHalt         = "halt"
	FailureRollbackHost = "rollback_host"
	FailureRollbackAll  = "rollback_all"
	FailureContinue     = "continue"
)

// OnFailure is a rollout's failure policy.
type OnFailure struct {
	// Action is one of halt (the default), rollback_host, rollback_all,
	// continue.
	Action string
	// MaxFailed is how many hosts may fail before a continue policy halts.
	MaxFailed CountOrPercent
	DeclRange hcl.Range
}

// Guard kinds.
const (
	GuardServerGroup = "server_group"
	GuardCapacity    = "capacity"
	GuardQuorum      = "quorum"
	GuardVersionSkew = "version_skew"
)

// Guard is a redundancy constraint that must hold at every instant. Which
// fields are set depends on Kind.
type Guard struct {
	Name string
	Kind string

	// server_group: which groups (by policy, and optionally a where
	// expression over `group`), and how many members of one group may be
	// impacted at once.
	Policies       []string
	Where          hcl.Expression
	MaxUnavailable CountOrPercent
	// RecoveryTime: after members of a group were impacted, how long
	// before members of it are impacted again (Fenix's recovery_time).
	RecoveryTime Duration
	// MaxInterruptionTime: the longest a member may be stopped; a member
	// that can only move cold, for longer than this, makes the plan
	// infeasible (Fenix's max_interruption_time). 0: no limit.
	MaxInterruptionTime Duration

	// capacity and quorum: the host set the guard watches.
	Hosts addrs.Ref
	// capacity: free capacity that must remain on hosts in service.
	MinFreeVCPU     CountOrPercent
	MinFreeMemoryMB CountOrPercent
	// quorum: hosts of the set that must stay in service.
	MinAvailable CountOrPercent

	// version_skew: Component must never be newer than NotNewerThan, nor
	// more than MaxBehind major versions behind it (0: no limit).
	Component    addrs.Ref
	NotNewerThan addrs.Ref
	MaxBehind    int

	DeclRange hcl.Range
}

// Check kinds.
const (
	CheckHTTP     = "http"
	CheckCommand  = "command"
	CheckProvider = "provider"
)

// Check phases.
const (
	PhasePreflight    = "preflight"
	PhaseBetweenWaves = "between_waves"
	PhaseAfter        = "after"
)

// Check is a health check.
type Check struct {
	Name string
	Kind string
	// When lists the campaign phases that run the check; checks listed in
	// a rollout's verify block also run on each host.
	When []string
	// http
	URL          string
	ExpectStatus int
	// command: argv, run by escalator on the machine it runs on.
	Command []string
	// provider: a check implemented by a provider plugin.
	Provider addrs.Ref
	Probe    string
	Settings cty.Value

	Timeout   Duration
	Retries   int
	Interval  Duration
	DeclRange hcl.Range
}

// Restore policies of a backup.
const (
	RestoreManual    = "manual"
	RestoreOnFailure = "on_failure"
)

// Backup says what is saved before components change, and how it returns.
type Backup struct {
	Name       string
	Components []addrs.Ref
	// Settings is provider-specific (paths, databases, destination).
	Settings cty.Value
	// Retain is how many backups per host to keep.
	Retain int
	// Restore is "manual" (the default) or "on_failure".
	Restore   string
	DeclRange hcl.Range
}
