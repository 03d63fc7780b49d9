package sim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// The step log <cloud>.steps.jsonl is the cloud's write-ahead log and the
// home of its bookkeeping. Its first line is a header naming the log; each
// later line is a record of one committed change, written and fsync'd
// before the change touches the cloud file or the event log:
//
//	{"step_log":1,"id":"5f0c…","created":"2026-…"}
//	{"gen":7,"layout":"9a1e…","steps":{"w1/…":{…}},"objects":[{"section":"hosts","index":12,"off":4242,"size":310,"value":{…}}],"events":[{…}]}
//	{"checkpoint":{"layout":"9a1e…","gen":7}}
//
// A record carries the step ids it completes and the other bookkeeping
// (backups, fault counters), the new value of every host or instance it
// changed, and the events it logs. So a crash at any moment after the
// fsync loses nothing: the next provider to open the cloud finishes the
// change (rewrites the elements, appends the missing events). The step
// ids of every record are what makes an action idempotent; everything
// else in a record is only needed until the cloud file has it on disk,
// which a checkpoint line marks, and the log is compacted now and then.

// stepLogVersion is the version of the step log's format.
const stepLogVersion = 1

// logHeader is the step log's first line.
type logHeader struct {
	StepLog int       `json:"step_log"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// logRecord is one line of the step log after the header.
type logRecord struct {
	// Gen numbers the records: 1, 2, 3 … since the log was started.
	Gen int64 `json:"gen,omitempty"`
	// Checkpoint, alone on its line, says the cloud file of that layout
	// was fsync'd with every record up to gen in it.
	Checkpoint *checkpoint `json:"checkpoint,omitempty"`
	// Layout is the layout of the cloud file whose elements Objects
	// rewrote in place; empty when the file was then written whole.
	Layout string `json:"layout,omitempty"`
	// Reset replaces all the bookkeeping with this record's (a
	// compaction, a first write, a change of unknown extent).
	Reset      bool                   `json:"reset,omitempty"`
	Steps      map[string]*StepRecord `json:"steps,omitempty"`
	Backups    map[string]*Backup     `json:"backups,omitempty"`
	NextBackup int                    `json:"next_backup,omitempty"`
	Faults     map[string]*FaultCount `json:"faults,omitempty"`
	Objects    []logObject            `json:"objects,omitempty"`
	// Inventory is a whole cloud document (without bookkeeping): the
	// record of a change whose extent is unknown (Tx.Changed).
	Inventory json.RawMessage `json:"inventory,omitempty"`
	Events    []Event         `json:"events,omitempty"`
}

type checkpoint struct {
	Layout string `json:"layout"`
	Gen    int64  `json:"gen"`
}

// logObject is the new value of one element of the cloud file and, when
// written in place, where.
type logObject struct {
	Section string          `json:"section"`
	Index   int             `json:"index"`
	Off     int64           `json:"off,omitempty"`
	Size    int             `json:"size,omitempty"`
	Value   json.RawMessage `json:"value"`
}

// changesInventory reports whether r changes hosts, instances, groups or
// VNF managers.
func (r *logRecord) changesInventory() bool { return len(r.Objects) > 0 || len(r.Inventory) > 0 }

func sectionNumber(name string) (int, bool) {
	for i, n := range sectionNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// bookkeeping is what the step log keeps for the cloud.
type bookkeeping struct {
	steps   map[string]*StepRecord
	backups map[string]*Backup
	faults  map[string]*FaultCount
	next    int
}

func newBookkeeping() *bookkeeping {
	return &bookkeeping{steps: map[string]*StepRecord{}, backups: map[string]*Backup{}, faults: map[string]*FaultCount{}}
}

// apply adds a record's bookkeeping.
func (b *bookkeeping) apply(r *logRecord) {
	if r.Reset {
		// Cleared in place: the maps may be attached to a cloud.
		clear(b.steps)
		clear(b.backups)
		clear(b.faults)
		b.next = r.NextBackup
	}
	for k, v := range r.Steps {
		b.steps[k] = v
	}
	for k, v := range r.Backups {
		b.backups[k] = v
	}
	for k, v := range r.Faults {
		b.faults[k] = v
	}
	b.next = max(b.next, r.NextBackup) // it only grows
}

// merge adds what a cloud file carries (format 1, or a tool's write).
func (b *bookkeeping) merge(c *Cloud) {
	for k, v := range c.Steps {
		b.steps[k] = v
	}
	for k, v := range c.Backups {
		b.backups[k] = v
	}
	for k, v := range c.Faults {
		b.faults[k] = v
	}
	b.next = max(b.next, c.NextBackup)
}

func (b *bookkeeping) copy() *bookkeeping {
	n := newBookkeeping()
	n.apply(b.record())
	return n
}

// record is a reset record holding all of b.
func (b *bookkeeping) record() *logRecord {
	return &logRecord{Reset: true, Steps: b.steps, Backups: b.backups, Faults: b.faults, NextBackup: b.next}
}

// attach makes b the cloud's bookkeeping: the maps are shared, so a
// transaction's changes to the cloud's maps are b's.
func (b *bookkeeping) attach(c *Cloud) {
	c.Steps, c.Backups, c.Faults, c.NextBackup = b.steps, b.backups, b.faults, b.next
}

// logState is what a Store knows of the step log.
type logState struct {
	exists   bool
	id       string
	dev, ino uint64
	// off is the end of the last complete line read or written.
	off int64
	// torn: the file goes on after off with a line a crash cut short.
	torn bool
	// gen is the last record's.
	gen  int64
	book *bookkeeping
	// tail are the records since the last checkpoint: those the cloud
	// file or the event log may still lack.
	tail []*logRecord
	// unsettled: some record of tail was not written by this Store, so
	// its events may be missing from the event log.
	unsettled bool
	// full: the whole log was read by the last sync (compaction is
	// considered then).
	full bool
}

// sameFile reports whether fi is the log file this state describes.
func (l *logState) sameFile(fi fs.FileInfo) bool {
	dev, ino := devIno(fi)
	return l.exists && dev == l.dev && ino == l.ino
}

func devIno(fi fs.FileInfo) (uint64, uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}

// readLog reads the whole step log at path; a missing file is an empty,
// nonexistent log.
func readLog(path string) (*logState, error) {
	l := &logState{book: newBookkeeping(), full: true}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening the step log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the step log %s: %w", path, err)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("reading the step log %s: %w", path, err)
	}
	l.exists = true
	l.dev, l.ino = devIno(fi)
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		// A crash while the log was being created: it is no one's.
		l.torn = len(data) > 0
		return l, nil
	}
	var h logHeader
	if err := json.Unmarshal(data[:nl], &h); err != nil || h.StepLog == 0 || h.ID == "" {
		return nil, fmt.Errorf("step log %s: the first line is not a step log header; it was left untouched: move it away (the step ids it recorded are then forgotten, and their actions run again)", path)
	}
	if h.StepLog != stepLogVersion {
		return nil, fmt.Errorf("step log %s has version %d, this sim provider reads version %d; use the escalator release that wrote it", path, h.StepLog, stepLogVersion)
	}
	l.id = h.ID
	l.off = int64(nl + 1)
	if _, err := l.parse(path, data[nl+1:], nil); err != nil {
		return nil, err
	}
	// A provider that died may have left the events of its last records
	// out of the event log.
	l.unsettled = len(l.tail) > 0
	return l, nil
}

// readMore reads what other processes appended to the log since off,
// calling fn on each record (not on checkpoints).
func (l *logState) readMore(path string, size int64, fn func(r *logRecord)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening the step log: %w", err)
	}
	defer f.Close()
	data := make([]byte, size-l.off)
	n, err := f.ReadAt(data, l.off)
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading the step log %s: %w", path, err)
	}
	l.full = false
	_, err = l.parse(path, data[:n], fn)
	return err
}

// parse adds the complete lines of data, which starts at l.off.
func (l *logState) parse(path string, data []byte, fn func(r *logRecord)) (int, error) {
	n := 0
	for {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			l.torn = len(data) > 0
			return n, nil
		}
		var r logRecord
		if err := json.Unmarshal(data[:nl], &r); err != nil || (r.Gen == 0 && r.Checkpoint == nil) {
			if err == nil {
				err = errors.New("neither a record nor a checkpoint")
			}
			return n, fmt.Errorf("step log %s, byte %d: %v; it was left untouched: move it away (the step ids it recorded are then forgotten, and their actions run again)", path, l.off, err)
		}
		l.add(&r)
		if fn != nil && r.Checkpoint == nil {
			fn(&r)
		}
		l.off += int64(nl + 1)
		data = data[nl+1:]
		n++
	}
}

// add takes one record or checkpoint into the state.
func (l *logState) add(r *logRecord) {
	if r.Checkpoint != nil {
		l.tail = nil
		return
	}
	l.book.apply(r)
	l.gen = max(l.gen, r.Gen)
	l.tail = append(l.tail, r)
}

// appended takes a record this Store wrote (its bookkeeping is already in
// l.book) of n bytes.
func (l *logState) appended(r *logRecord, n int) {
	l.off += int64(n)
	if r.Checkpoint != nil {
		l.tail = nil
		return
	}
	l.gen = max(l.gen, r.Gen)
	l.tail = append(l.tail, r)
}

// encodeRecord is one line of the step log. Values are not HTML-escaped,
// so an element's value stays byte for byte what the cloud file holds.
func encodeRecord(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding a step log record: %w", err)
	}
	return buf.Bytes(), nil
}

// newID is a random id for a step log or a layout.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	return hex.EncodeToString(b[:])
}
