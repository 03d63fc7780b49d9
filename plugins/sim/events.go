package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Event results.
const (
	ResultOK            = "ok"
	ResultFailed        = "failed"
	ResultInjectedFault = "injected_fault"
	ResultCancelled     = "cancelled"
)

// Event is one line of the event log <cloud>.events.jsonl: an action that
// changed the cloud, or was refused, failed, cancelled or hit by an
// injected fault. Seq is first so the sequence can be read off a line's
// prefix without decoding it.
type Event struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Action    string    `json:"action"`
	StepID    string    `json:"step_id,omitempty"`
	Host      string    `json:"host,omitempty"`
	Instance  string    `json:"instance,omitempty"`
	Component string    `json:"component,omitempty"`
	// From and To are the source and destination host of a migration, or
	// the versions of an upgrade, rollback or restore.
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	Live     *bool  `json:"live,omitempty"`
	Reason   string `json:"reason,omitempty"`
	BackupID string `json:"backup_id,omitempty"`
	Result   string `json:"result"`
	// Fault is the injected fault's mode (fail, hang, crash).
	Fault string `json:"fault,omitempty"`
	Error string `json:"error,omitempty"`
	// Warning carries what the action did despite a soft policy.
	Warning string `json:"warning,omitempty"`
}

func (e Event) marshal() ([]byte, error) {
	// time.Time marshals as RFC 3339 with nanoseconds, as documented.
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding event: %w", err)
	}
	return b, nil
}

// ReadEvents reads an event log, skipping lines a crash cut short.
func ReadEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			events = append(events, e)
		}
	}
	return events, sc.Err()
}
