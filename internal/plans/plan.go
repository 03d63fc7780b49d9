// Package plans holds the plan model — what escalator apply will do, wave
// by wave — and its saved file format with the staleness check.
package plans

import "time"

// Plan is the reviewable outcome of escalator plan.
type Plan struct {
	// Rollouts in execution order.
	Rollouts []*Rollout `json:"rollouts"`
	// Preflight and After are campaign-wide check names.
	Preflight []string `json:"preflight_checks,omitempty"`
	After     []string `json:"after_checks,omitempty"`
	Totals    Totals   `json:"totals"`
	// Warnings are advisory notes the operator should read (hosts skipped
	// because they are down, components already at their target, …).
	Warnings []string `json:"warnings,omitempty"`
}

// Totals are the whole campaign's figures, with the lower bounds they are
// measured against.
type Totals struct {
	Hosts int `json:"hosts"`
	Waves int `json:"waves"`
	// LowerBoundWaves is the sum over rollouts of their lower bounds.
	LowerBoundWaves int `json:"lower_bound_waves"`
	Moves           int `json:"moves"`
	// LowerBoundMoves is the number of instances that must leave their
	// host: each must move at least once.
	LowerBoundMoves int `json:"lower_bound_moves"`
	// InstancesMoved counts distinct instances moved (≤ Moves).
	InstancesMoved   int           `json:"instances_moved"`
	ExpectedDuration time.Duration `json:"expected_duration_ns"`
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool { return p.Totals.Hosts > 0 }

// Rollout is one rollout's waves.
type Rollout struct {
	Name       string   `json:"name"`
	Components []string `json:"components"`
	Waves      []*Wave  `json:"waves"`
	// MaxUnavailable is the resolved cap of hosts per wave.
	MaxUnavailable int `json:"max_unavailable"`
	// LowerBoundWaves is ⌈hosts / min(max_unavailable, spare hosts)⌉ per
	// group, summed over groups, plus the canary wave.
	LowerBoundWaves int `json:"lower_bound_waves"`
	// SpareHosts is how many of its hosts the cloud's free capacity could
	// absorb at once (the capacity term of the lower bound).
	SpareHosts int `json:"spare_hosts"`
	// FailurePolicy and MaxFailed restate on_failure for the reviewer.
	FailurePolicy string `json:"failure_policy"`
	MaxFailed     int    `json:"max_failed,omitempty"`
}

// Wave is a set of hosts in maintenance at the same time.
type Wave struct {
	// Number counts waves across the whole plan, from 1.
	Number int          `json:"number"`
	Canary bool         `json:"canary,omitempty"`
	Group  string       `json:"group,omitempty"`
	Hosts  []*HostVisit `json:"hosts"`
	// Notify lists the VNF managers told before the wave starts.
	Notify []Notification `json:"notify,omitempty"`
	// Checks run after the wave (between_waves), by name.
	Checks []string `json:"checks,omitempty"`
	// Soak is how long to watch the wave before the next one (canary).
	Soak             time.Duration `json:"soak_ns,omitempty"`
	ExpectedDuration time.Duration `json:"expected_duration_ns"`
	// MaxGroupImpact is the largest number of members of one server group
	// impacted (moved) in this wave.
	MaxGroupImpact int `json:"max_group_impact"`
	// Recovery lists the earlier waves this one must wait for: members of
	// a server group whose guard sets recovery_time are impacted in both,
	// so this wave starts no sooner than Delay after that wave ended.
	Recovery []Recovery `json:"recovery,omitempty"`
}

// Recovery is a wait between two waves that impact one server group.
type Recovery struct {
	// AfterWave is the earlier wave's number.
	AfterWave int           `json:"after_wave"`
	Delay     time.Duration `json:"delay_ns"`
	// Group is one server group (id) that needs it.
	Group string `json:"group"`
}

// HostVisit is everything done to one host in one maintenance window.
type HostVisit struct {
	Host             string `json:"host"`
	AvailabilityZone string `json:"availability_zone,omitempty"`
	// Provider puts the host in and out of maintenance and migrates its
	// instances: the provider of the hosts block that selected it.
	Provider string `json:"provider"`
	// Changes in the order they are applied.
	Changes []Change `json:"changes"`
	// Evacuate is true when a change disrupts the host: its instances
	// move out first (Moves).
	Evacuate         bool          `json:"evacuate"`
	Moves            []Move        `json:"moves,omitempty"`
	Verify           []string      `json:"verify_checks,omitempty"`
	ExpectedDuration time.Duration `json:"expected_duration_ns"`
	// Digest is the inventory digest of this host when planned.
	Digest string `json:"digest"`
}

// Change is one component's version change on a host.
type Change struct {
	Component        string        `json:"component"`
	Provider         string        `json:"provider"`
	From             string        `json:"from"`
	To               string        `json:"to"`
	Disruption       string        `json:"disruption"`
	ExpectedDuration time.Duration `json:"expected_duration_ns"`
	// Backups names the backup blocks taken before this change.
	Backups []string `json:"backups,omitempty"`
}

// Move is one instance migration.
type Move struct {
	Instance    string `json:"instance"`
	Name        string `json:"name,omitempty"`
	Project     string `json:"project,omitempty"`
	ServerGroup string `json:"server_group,omitempty"`
	From        string `json:"from"`
	To          string `json:"to"`
	Live        bool   `json:"live"`
	VCPUs       int64  `json:"vcpus"`
	MemoryMB    int64  `json:"memory_mb"`
	// ToUpgraded is true when the destination is already upgraded (or not
	// upgraded by this campaign), so the instance will not move again.
	ToUpgraded bool `json:"to_upgraded"`
}

// Notification is a VNF manager told about a wave.
type Notification struct {
	// Notify is the rollout's notify block name.
	Notify    string   `json:"notify"`
	URL       string   `json:"url"`
	Projects  []string `json:"projects"`
	Instances int      `json:"instances"`
	// ReplyTimeout and OnTimeout restate the notify block.
	ReplyTimeout time.Duration `json:"reply_timeout_ns"`
	OnTimeout    string        `json:"on_timeout"`
}
