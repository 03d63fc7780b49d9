package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// EventFormatVersion is the format of journal events. Like the State's, it
// changes whenever a field is added or changes meaning.
const EventFormatVersion = 1

// Kind is what an event records. Apply documents what each kind does to the
// State; kinds it does not know are kept in the journal and leave the State
// alone, so a kind can be added without a format change when the State
// does not depend on it.
type Kind string

const (
	// KindRunStarted opens a run; it is always its first event (Seq 1).
	// Data: DataPlanDigest, DataPlanPath.
	KindRunStarted Kind = "run_started"
	// KindRunResumed: a process continues the run (after a crash, a halt
	// or a canary pause; Action "rollback" when it continues in order to
	// reverse it). The status goes back to running.
	KindRunResumed Kind = "run_resumed"
	// The run stopped, with Error and Code when it failed.
	KindRunHalted     Kind = "run_halted"
	KindRunFailed     Kind = "run_failed"
	KindRunFinished   Kind = "run_finished"
	KindRunRolledBack Kind = "run_rolled_back"
	KindRunAborted    Kind = "run_aborted"

	// KindStepStarted: StepID began (on Host, for Component, doing
	// Action, when those apply).
	KindStepStarted Kind = "step_started"
	// KindStepFinished: StepID ended with Status (a StepStatus), and
	// Error and Code when it did not succeed.
	KindStepFinished Kind = "step_finished"

	// KindHostStatus: Host's status is now Status (a HostStatus); Error
	// and Code say why when it failed.
	KindHostStatus Kind = "host_status"
	// KindOriginalRecorded: before the run changes it, Component on Host
	// is at Data[DataVersion]. Rollback goes back to it.
	KindOriginalRecorded Kind = "original_recorded"
	// KindVersionRecorded: Component on Host is now at Data[DataVersion].
	KindVersionRecorded Kind = "version_recorded"
	// KindBackupRecorded: a backup of Host (for Component) was taken:
	// Data[DataBackupID], Data[DataBackupName].
	KindBackupRecorded Kind = "backup_recorded"

	// KindNote is an operator's or the engine's remark, in Message.
	KindNote Kind = "note"
	// KindAlert: something needs attention but did not fail (a step past
	// its expected duration), in Message.
	KindAlert Kind = "alert"
)

// ActionRollback is the Action of a run_resumed event that continues a run
// in order to reverse it (escalator rollback).
const ActionRollback = "rollback"

// Keys of Event.Data used by the kinds above.
const (
	DataPlanDigest = "plan_digest"
	DataPlanPath   = "plan_path"
	DataVersion    = "version"
	DataBackupID   = "backup_id"
	DataBackupName = "backup"
)

// StepStatus is how a step ended.
type StepStatus string

const (
	StepOK        StepStatus = "ok"
	StepFailed    StepStatus = "failed"
	StepSkipped   StepStatus = "skipped"
	StepCancelled StepStatus = "cancelled"
)

// StepStatuses lists the step statuses.
var StepStatuses = []StepStatus{StepOK, StepFailed, StepSkipped, StepCancelled}

// Event is one journal record.
type Event struct {
	// FormatVersion, Seq and (when zero) Time are set by AppendJournal.
	FormatVersion int `json:"format_version"`
	// Seq numbers a run's events 1, 2, … without gaps.
	Seq   int64     `json:"seq"`
	Time  time.Time `json:"time"`
	RunID string    `json:"run_id"`
	Kind  Kind      `json:"kind"`
	// StepID is the plan's step ID, for step events.
	StepID    string `json:"step_id,omitempty"`
	Host      string `json:"host,omitempty"`
	Component string `json:"component,omitempty"`
	Action    string `json:"action,omitempty"`
	// Status is a StepStatus for step_finished and a HostStatus for
	// host_status.
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// Error is the error message and Code its code from the documented
	// list, when something failed.
	Error string            `json:"error,omitempty"`
	Code  string            `json:"code,omitempty"`
	Data  map[string]string `json:"data,omitempty"`
}

// Validate checks what a backend checks before appending e: a valid run
// ID, a well-formed kind and, for the kinds the State depends on, the
// fields Apply needs.
func (e *Event) Validate() error {
	if err := ValidateRunID(e.RunID); err != nil {
		return err
	}
	if !validKind(e.Kind) {
		return fmt.Errorf("event kind %q: want lower-case letters, digits and _", e.Kind)
	}
	need := func(what, v string) error {
		if v == "" {
			return fmt.Errorf("%s event without %s", e.Kind, what)
		}
		return nil
	}
	switch e.Kind {
	case KindStepStarted:
		return need("step_id", e.StepID)
	case KindStepFinished:
		if err := need("step_id", e.StepID); err != nil {
			return err
		}
		if !slices.Contains(StepStatuses, StepStatus(e.Status)) {
			return fmt.Errorf("step_finished event for %s: status %q is not one of %v", e.StepID, e.Status, StepStatuses)
		}
	case KindHostStatus:
		if err := need("host", e.Host); err != nil {
			return err
		}
		if !slices.Contains(HostStatuses, HostStatus(e.Status)) {
			return fmt.Errorf("host_status event for %s: status %q is not one of %v", e.Host, e.Status, HostStatuses)
		}
	case KindOriginalRecorded, KindVersionRecorded:
		for _, f := range [][2]string{{"host", e.Host}, {"component", e.Component}, {"data." + DataVersion, e.Data[DataVersion]}} {
			if err := need(f[0], f[1]); err != nil {
				return err
			}
		}
	case KindBackupRecorded:
		for _, f := range [][2]string{{"host", e.Host}, {"data." + DataBackupID, e.Data[DataBackupID]}} {
			if err := need(f[0], f[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

func validKind(k Kind) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// EncodeEvent is the stored form of an event: one line of JSON, without
// the newline. (encoding/json escapes newlines inside strings, so an event
// never spans lines.)
func EncodeEvent(e *Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %d of run %s: %w", e.Seq, e.RunID, err)
	}
	return b, nil
}

// DecodeEvent reads a stored event strictly. A format_version other than
// EventFormatVersion is a *VersionError (Path left empty for the caller to
// fill).
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	err := strictUnmarshal(data, &e)
	if err != nil || e.FormatVersion != EventFormatVersion {
		// A newer format may well fail the strict decoding; tell the
		// version apart from damage before blaming the data.
		var probe struct {
			FormatVersion *int `json:"format_version"`
		}
		if json.Unmarshal(data, &probe) == nil && probe.FormatVersion != nil && *probe.FormatVersion > 0 && *probe.FormatVersion != EventFormatVersion {
			return Event{}, &VersionError{What: "journal", Found: *probe.FormatVersion, Supported: EventFormatVersion}
		}
		if err == nil {
			err = errors.New("no format_version")
		}
		return Event{}, err
	}
	return e, nil
}

// Journal is a run's events as read back.
type Journal struct {
	RunID  string
	Events []Event
	// Torn, when not nil, is an incomplete last record that was left out:
	// a write cut short by a crash (it was never acknowledged, so nothing
	// relied on it) or, while the run is being written, one in progress.
	Torn *TornTail
}

// LastSeq is the Seq of the last event, 0 for none.
func (j *Journal) LastSeq() int64 {
	if j == nil || len(j.Events) == 0 {
		return 0
	}
	return j.Events[len(j.Events)-1].Seq
}

// TornTail locates an incomplete last record.
type TornTail struct {
	// Line is its 1-based line, Offset its first byte, Length its size.
	Line   int
	Offset int64
	Length int64
}

func (t *TornTail) String() string {
	return fmt.Sprintf("an incomplete last record of %d bytes at line %d (byte %d), from a write cut short, was ignored", t.Length, t.Line, t.Offset)
}

// RunSummary describes a run from its journal, for listings.
type RunSummary struct {
	ID         string    `json:"id"`
	Status     RunStatus `json:"status"`
	PlanDigest string    `json:"plan_digest,omitempty"`
	PlanPath   string    `json:"plan_path,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	// UpdatedAt is the time of the last event.
	UpdatedAt time.Time `json:"updated_at"`
	// EndedAt is when the run last stopped; zero while it runs.
	EndedAt time.Time `json:"ended_at,omitzero"`
	Events  int       `json:"events"`
	LastSeq int64     `json:"last_seq"`
	// Error and Code are why it stopped, when it failed.
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
	// Torn reports an incomplete last record (see Journal.Torn).
	Torn bool `json:"torn,omitempty"`
}

// Summarize describes a run from its journal, with the same run-level rules
// as Apply.
func Summarize(j *Journal) RunSummary {
	rs := RunSummary{ID: j.RunID, Events: len(j.Events), LastSeq: j.LastSeq(), Torn: j.Torn != nil}
	for i := range j.Events {
		e := &j.Events[i]
		rs.UpdatedAt = e.Time
		if e.Kind == KindRunStarted {
			rs.StartedAt = e.Time
			rs.PlanDigest, rs.PlanPath = e.Data[DataPlanDigest], e.Data[DataPlanPath]
		}
		if st, ok := runStatusOf(e.Kind); ok {
			rs.Status = st
			rs.Error, rs.Code = e.Error, e.Code
			rs.EndedAt = time.Time{}
			if st != RunRunning {
				rs.EndedAt = e.Time
			}
		}
	}
	return rs
}

// runStatusOf maps run-level event kinds to the status they set.
func runStatusOf(k Kind) (RunStatus, bool) {
	switch k {
	case KindRunStarted, KindRunResumed:
		return RunRunning, true
	case KindRunHalted:
		return RunHalted, true
	case KindRunFailed:
		return RunFailed, true
	case KindRunFinished:
		return RunFinished, true
	case KindRunRolledBack:
		return RunRolledBack, true
	case KindRunAborted:
		return RunAborted, true
	}
	return "", false
}
