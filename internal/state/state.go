package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// StateFormatVersion is the format of the State summary. It changes
// whenever a field is added or changes meaning: readers decode strictly and
// refuse what they do not know, so that an older escalator never drops data
// of a newer one when it writes the summary back.
const StateFormatVersion = 1

// RunStatus is where a run stands.
type RunStatus string

const (
	// RunRunning: an apply is working on it, or crashed while it was (the
	// lock tells: a crashed run's lock is free).
	RunRunning RunStatus = "running"
	// RunHalted: stopped on purpose and resumable (failure policy halt, a
	// canary pause, a clean Ctrl-C).
	RunHalted RunStatus = "halted"
	// RunFailed: ended with failures it could not handle.
	RunFailed   RunStatus = "failed"
	RunFinished RunStatus = "finished"
	// RunRolledBack: its changes were reversed.
	RunRolledBack RunStatus = "rolled_back"
	// RunAborted: stopped hard (a second Ctrl-C) with steps cancelled.
	RunAborted RunStatus = "aborted"
)

// RunStatuses lists the run statuses.
var RunStatuses = []RunStatus{RunRunning, RunHalted, RunFailed, RunFinished, RunRolledBack, RunAborted}

// HostStatus is where a host stands, as last recorded.
type HostStatus string

const (
	HostPending    HostStatus = "pending"
	HostInProgress HostStatus = "in_progress"
	HostUpgraded   HostStatus = "upgraded"
	HostFailed     HostStatus = "failed"
	HostRolledBack HostStatus = "rolled_back"
	// HostInMaintenance: left in maintenance on purpose (failure policy
	// halt), for the operator to look at.
	HostInMaintenance HostStatus = "in_maintenance"
)

// HostStatuses lists the host statuses.
var HostStatuses = []HostStatus{HostPending, HostInProgress, HostUpgraded, HostFailed, HostRolledBack, HostInMaintenance}

// State is the durable summary of a campaign: the current (or last) run and
// every host as last recorded. It is a fold of the journals (see Apply), so
// it can always be rebuilt from them.
type State struct {
	FormatVersion int `json:"format_version"`
	// Serial counts writes; WriteState increments it.
	Serial int64 `json:"serial"`
	// Run is the current or last run; nil before the first.
	Run *Run `json:"run,omitempty"`
	// Hosts by name: every host any run touched.
	Hosts map[string]*Host `json:"hosts"`
}

// Run summarises one run in the State.
type Run struct {
	ID         string    `json:"id"`
	Status     RunStatus `json:"status"`
	PlanDigest string    `json:"plan_digest,omitempty"`
	PlanPath   string    `json:"plan_path,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	// UpdatedAt is the time of the last event folded in.
	UpdatedAt time.Time `json:"updated_at"`
	// EndedAt is when the run last stopped (halted, finished, …); zero
	// while it runs.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// LastSeq is the journal sequence number of the last event folded in:
	// the summary is exact up to there, and Load applies what follows.
	LastSeq int64 `json:"last_seq"`
	// Error and Code are the reason the run stopped, when it failed.
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
	// Reverting is set once escalator rollback works on the run: from
	// then on it is only ever rolled back, never continued.
	Reverting bool   `json:"reverting,omitempty"`
	Totals    Totals `json:"totals"`
}

// Totals count a run's hosts and steps.
type Totals struct {
	// Hosts is the number of hosts this run touched; HostsByStatus splits
	// them by their current status.
	Hosts         int                `json:"hosts"`
	HostsByStatus map[HostStatus]int `json:"hosts_by_status,omitempty"`
	// StepsStarted counts step_started events; the others count
	// step_finished events by status. Started minus the finished ones is
	// what is running (or was, at a crash).
	StepsStarted   int `json:"steps_started"`
	StepsOK        int `json:"steps_ok"`
	StepsFailed    int `json:"steps_failed"`
	StepsSkipped   int `json:"steps_skipped"`
	StepsCancelled int `json:"steps_cancelled"`
}

// Host is one host as last recorded.
type Host struct {
	Status HostStatus `json:"status"`
	// Versions by component, as last recorded.
	Versions map[string]string `json:"versions,omitempty"`
	// Original versions by component, recorded before the run changed
	// them: what a rollback goes back to.
	Original map[string]string `json:"original,omitempty"`
	// Step is the step running on the host, "" when none.
	Step string `json:"step,omitempty"`
	// Backups taken of the host, oldest first.
	Backups []Backup `json:"backups,omitempty"`
	// Run is the last run that touched the host.
	Run string `json:"run"`
	// Error and Code are the last failure recorded for the host, cleared
	// by a status change without one.
	Error     string    `json:"error,omitempty"`
	Code      string    `json:"code,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Backup is a backup taken of a host before a change.
type Backup struct {
	// ID is the provider's identifier, what a restore needs.
	ID string `json:"id"`
	// Name is the campaign's backup block.
	Name      string    `json:"name,omitempty"`
	Component string    `json:"component,omitempty"`
	Time      time.Time `json:"time"`
}

// New returns an empty State of the current format.
func New() *State {
	return &State{FormatVersion: StateFormatVersion, Hosts: map[string]*Host{}}
}

// Clone returns a deep copy, for example to write one while the engine
// goes on changing the other.
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := *s
	if s.Run != nil {
		r := *s.Run
		r.Totals.HostsByStatus = maps.Clone(s.Run.Totals.HostsByStatus)
		c.Run = &r
	}
	c.Hosts = make(map[string]*Host, len(s.Hosts))
	for name, h := range s.Hosts {
		hc := *h
		hc.Versions = maps.Clone(h.Versions)
		hc.Original = maps.Clone(h.Original)
		hc.Backups = slices.Clone(h.Backups)
		c.Hosts[name] = &hc
	}
	return &c
}

// HostNames returns the host names, sorted.
func (s *State) HostNames() []string {
	names := make([]string, 0, len(s.Hosts))
	for n := range s.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks that s is a State of the current format with known
// statuses: what WriteState requires and DecodeState checks after
// decoding.
func (s *State) Validate() error {
	if s == nil {
		return errors.New("no state")
	}
	if s.FormatVersion != StateFormatVersion {
		return fmt.Errorf("format_version is %d, want %d", s.FormatVersion, StateFormatVersion)
	}
	if s.Run != nil {
		if err := ValidateRunID(s.Run.ID); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		if !slices.Contains(RunStatuses, s.Run.Status) {
			return fmt.Errorf("run %s: unknown status %q", s.Run.ID, s.Run.Status)
		}
		for st := range s.Run.Totals.HostsByStatus {
			if !slices.Contains(HostStatuses, st) {
				return fmt.Errorf("run %s: totals: unknown host status %q", s.Run.ID, st)
			}
		}
	}
	for name, h := range s.Hosts {
		if name == "" {
			return errors.New("a host with an empty name")
		}
		if h == nil {
			return fmt.Errorf("host %s: null", name)
		}
		if !slices.Contains(HostStatuses, h.Status) {
			return fmt.Errorf("host %s: unknown status %q", name, h.Status)
		}
	}
	return nil
}

// EncodeState is the stored form of a State: indented JSON (people read
// it), ending in a newline.
func EncodeState(s *State) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeState reads a stored State. An unknown or missing format_version is
// a *VersionError (Path left empty for the caller to fill); anything else
// wrong is a plain error the caller wraps in a *CorruptError with its path.
func DecodeState(data []byte) (*State, error) {
	var probe struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if probe.FormatVersion == nil {
		return nil, errors.New("no format_version: this is not an escalator state")
	}
	if *probe.FormatVersion < 1 {
		return nil, fmt.Errorf("format_version %d is not one escalator ever wrote", *probe.FormatVersion)
	}
	if *probe.FormatVersion != StateFormatVersion {
		return nil, &VersionError{What: "state", Found: *probe.FormatVersion, Supported: StateFormatVersion}
	}
	var s State
	if err := strictUnmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.Hosts == nil {
		s.Hosts = map[string]*Host{}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// strictUnmarshal decodes exactly one JSON value with no unknown fields:
// data of the current format_version has no fields this escalator does not
// know, so an unknown one means the data was damaged or hand-edited.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("unexpected data after the JSON value at byte %d", dec.InputOffset())
	}
	return nil
}
