package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
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

// eventsState caches the event log's last sequence number, valid while
// the file is the one (same inode and size) this Store last appended to.
type eventsState struct {
	ok       bool
	dev, ino uint64
	size     int64
	seq      int64
}

// eventWriter appends to the event log: seq is the last sequence number
// in it, torn whether it ends in a line a crash cut short.
type eventWriter struct {
	f        *os.File
	seq      int64
	torn     bool
	size     int64
	dev, ino uint64
}

// openEvents opens the event log for appending. Called with the exclusive
// lock held, so sequence numbers are unique and increasing across
// processes and runs.
func (s *Store) openEvents() (*eventWriter, error) {
	f, err := os.OpenFile(s.eventsPath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the event log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the event log: %w", err)
	}
	w := &eventWriter{f: f, size: fi.Size()}
	w.dev, w.ino = devIno(fi)
	if c := s.st.events; c.ok && c.dev == w.dev && c.ino == w.ino && c.size == w.size {
		w.seq = c.seq
		return w, nil
	}
	if w.seq, w.torn, err = lastSeq(f); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// numberEvents numbers events (and times them), after the event log's
// last line; nil when there are none.
func (s *Store) numberEvents(events []Event) (*eventWriter, error) {
	if len(events) == 0 {
		return nil, nil
	}
	w, err := s.openEvents()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	seq := w.seq
	for i := range events {
		seq++
		events[i].Seq = seq
		if events[i].Time.IsZero() {
			events[i].Time = now
		}
	}
	return w, nil
}

// write appends events, already numbered. Not fsync'd: the step log
// holds them until they are on disk.
func (w *eventWriter) write(s *Store, events []Event) error {
	var buf bytes.Buffer
	if w.torn {
		// A crash cut the last line short. End it, so it stays one bad
		// line instead of spoiling the next good one.
		buf.WriteByte('\n')
	}
	for _, e := range events {
		b, err := e.marshal()
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := w.f.Write(buf.Bytes()); err != nil {
		s.st.events = eventsState{}
		return fmt.Errorf("appending to the event log: %w", err)
	}
	w.torn = false
	w.size += int64(buf.Len())
	w.seq = events[len(events)-1].Seq
	s.st.events = eventsState{ok: true, dev: w.dev, ino: w.ino, size: w.size, seq: w.seq}
	return nil
}

// completeEvents appends the events of step log records that a crash kept
// out of the event log: those numbered after its last line.
func (s *Store) completeEvents() error {
	var all []Event
	for _, r := range s.st.log.tail {
		all = append(all, r.Events...)
	}
	if len(all) == 0 {
		s.st.log.unsettled = false
		return nil
	}
	w, err := s.openEvents()
	if err != nil {
		return err
	}
	defer w.f.Close()
	var missing []Event
	for _, e := range all {
		if e.Seq > w.seq {
			missing = append(missing, e)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].Seq < missing[j].Seq })
	// Only what continues the log's numbering: an event log moved away
	// or cut short by hand starts afresh, without old events.
	if len(missing) > 0 && missing[0].Seq == w.seq+1 {
		if err := w.write(s, missing); err != nil {
			return err
		}
	}
	s.st.log.unsettled = false
	return nil
}

// lastSeq reads the sequence number of the last complete event, scanning
// back from the end of the file, and reports whether the file ends in a
// partial line.
func lastSeq(f *os.File) (seq int64, torn bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	size := fi.Size()
	if size == 0 {
		return 0, false, nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return 0, false, fmt.Errorf("reading the event log: %w", err)
	}
	torn = last[0] != '\n'
	const chunk = 64 << 10
	var tail []byte
	for off := size; off > 0 && len(tail) <= 16*chunk; {
		n := min(int64(chunk), off)
		off -= n
		b := make([]byte, n, n+int64(len(tail)))
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			return 0, false, fmt.Errorf("reading the event log: %w", err)
		}
		tail = append(b, tail...)
		lines := bytes.Split(bytes.TrimRight(tail, "\n"), []byte("\n"))
		// The first line of a chunk may be cut; trust it only at offset 0.
		first := 0
		if off > 0 {
			first = 1
		}
		for i := len(lines) - 1; i >= first; i-- {
			if n, ok := parseSeq(lines[i]); ok {
				return n, torn, nil
			}
		}
		if off == 0 && bytes.IndexByte(tail, '\n') < 0 {
			// Only a torn first line: the first append ever was cut.
			return 0, torn, nil
		}
	}
	return 0, torn, fmt.Errorf("the event log %s has no readable event near its end to continue numbering from; move it away to start a new one", f.Name())
}

func parseSeq(line []byte) (int64, bool) {
	const key = `{"seq":`
	if !bytes.HasPrefix(line, []byte(key)) {
		return 0, false
	}
	rest := line[len(key):]
	end := bytes.IndexByte(rest, ',')
	if end < 0 || !bytes.HasSuffix(line, []byte("}")) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}
