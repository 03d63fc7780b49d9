package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/state"
)

const journalExt = ".jsonl"

func (b *Backend) journalPath(runID string) string {
	return filepath.Join(b.paths.Journal, runID+journalExt)
}

// AppendJournal appends events to their run's journal file and returns when
// they are on disk; see state.Backend.
func (b *Backend) AppendJournal(ctx context.Context, l state.Lock, events ...state.Event) ([]state.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	h, err := b.held(l)
	if err != nil {
		return nil, err
	}
	defer h.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	runID := events[0].RunID
	for i := range events {
		e := &events[i]
		if e.RunID != runID {
			return nil, fmt.Errorf("append to the journal: events of runs %s and %s in one call; append each run's events separately", runID, e.RunID)
		}
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("append to the journal of run %s: %w", runID, err)
		}
	}
	w, err := h.journal(runID, events[0].Kind)
	if err != nil {
		return nil, err
	}
	return w.append(events, b.now)
}

// journal returns the open journal of runID for this lock, opening it on
// first use: a new run's file is created (its first event must be
// run_started); an existing one is read in full, which checks it and finds
// the next sequence number, and an incomplete last record left by a crash
// is cut off so that the next record starts on a line of its own.
func (h *lockHandle) journal(runID string, first state.Kind) (*journalWriter, error) {
	h.jmu.Lock()
	defer h.jmu.Unlock()
	if w := h.journals[runID]; w != nil {
		return w, nil
	}
	b := h.b
	if err := mkdirDurable(b.paths.Journal); err != nil {
		return nil, fmt.Errorf("create the journal directory: %w", err)
	}
	path := b.journalPath(runID)
	data, err := os.ReadFile(path)
	var w *journalWriter
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if first != state.KindRunStarted {
			return nil, fmt.Errorf("%w: run %s has no journal (%s); a run begins with a %s event", state.ErrRunNotFound, runID, path, state.KindRunStarted)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create the journal of run %s: %w", runID, err)
		}
		if err := syncDir(b.paths.Journal); err != nil {
			f.Close()
			return nil, fmt.Errorf("create the journal of run %s: %w", runID, err)
		}
		w = newJournalWriter(f, 1)
	case err != nil:
		return nil, fmt.Errorf("open the journal of run %s: %w", runID, err)
	default:
		events, end, torn, err := parseJournal(data, runID, path)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("open the journal of run %s: %w", runID, err)
		}
		if torn != nil {
			// The torn bytes are a write that never returned, so no
			// caller relied on them; appending after them would bury
			// them mid-file, where they would read as corruption.
			err := f.Truncate(end)
			if err == nil {
				err = datasync(f)
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("cut %s off the journal of run %s: %w", torn, runID, err)
			}
		}
		w = newJournalWriter(f, int64(len(events))+1)
	}
	h.journals[runID] = w
	return w, nil
}

// journalWriter appends to one journal file with group commit: callers
// queue their encoded events in pending; one of them (the leader) writes
// everything queued with one write(2) and one fdatasync(2) while the
// others wait, and the callers that queued during that sync are written
// together by the next leader. A lone caller never waits for company, so
// this costs nothing when appends do not overlap, and N overlapping
// appends cost about two syncs rather than N.
type journalWriter struct {
	f *os.File

	mu   sync.Mutex
	cond *sync.Cond
	// nextSeq is the sequence number of the next event queued.
	nextSeq int64
	// pending holds the records queued for batch number batch; done is
	// the last batch that is durable; flushing is set while a leader
	// writes; spare is the buffer of the last batch, reused.
	pending, spare []byte
	batch, done    uint64
	flushing       bool
	// err is sticky: after a failed write or sync the file's content is
	// uncertain (a failed fsync may even have dropped dirty pages), so
	// nothing more is appended until the journal is reopened and read.
	err error
}

func newJournalWriter(f *os.File, nextSeq int64) *journalWriter {
	w := &journalWriter{f: f, nextSeq: nextSeq, batch: 1}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *journalWriter) append(events []state.Event, now func() time.Time) ([]state.Event, error) {
	recorded := make([]state.Event, len(events))
	copy(recorded, events)

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.unusable()
	}
	seq := w.nextSeq
	var buf []byte
	t := now().UTC()
	for i := range recorded {
		e := &recorded[i]
		e.FormatVersion = state.EventFormatVersion
		e.Seq = seq + int64(i)
		if first := e.Seq == 1; first != (e.Kind == state.KindRunStarted) {
			if first {
				return nil, fmt.Errorf("append to the journal of run %s: its first event must be %s, not %s", e.RunID, state.KindRunStarted, e.Kind)
			}
			return nil, fmt.Errorf("append to the journal of run %s: the run has already started (this would be event %d)", e.RunID, e.Seq)
		}
		if e.Time.IsZero() {
			e.Time = t
		} else {
			e.Time = e.Time.UTC() // what reading it back returns
		}
		line, err := state.EncodeEvent(e)
		if err != nil {
			return nil, err
		}
		buf = append(append(buf, line...), '\n')
	}
	w.nextSeq += int64(len(recorded))
	w.pending = append(w.pending, buf...)
	mine := w.batch
	for {
		switch {
		case w.done >= mine:
			return recorded, nil
		case w.err != nil:
			return nil, w.unusable()
		case !w.flushing:
			w.flush()
		default:
			w.cond.Wait()
		}
	}
}

// flush writes the pending batch as the leader; it is called with mu held
// and returns with it held, releasing it during the I/O.
func (w *journalWriter) flush() {
	w.flushing = true
	buf, n := w.pending, w.batch
	w.pending, w.spare = w.spare[:0], nil
	w.batch++
	w.mu.Unlock()
	_, err := w.f.Write(buf) // O_APPEND: one write at the end
	if err == nil {
		err = datasync(w.f)
	}
	w.mu.Lock()
	w.flushing = false
	w.spare = buf
	if err != nil {
		w.err = err
	} else {
		w.done = n
	}
	w.cond.Broadcast()
}

func (w *journalWriter) unusable() error {
	return fmt.Errorf("journal %s: an append failed (%v), so its end is uncertain and nothing more is written to it. Nothing after that failure is recorded; release the lock and run escalator apply again to resume from what is on disk",
		w.f.Name(), w.err)
}

func (w *journalWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// ReadJournal reads a run's journal file; see state.Backend.
func (b *Backend) ReadJournal(ctx context.Context, runID string) (*state.Journal, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := state.ValidateRunID(runID); err != nil {
		return nil, err
	}
	path := b.journalPath(runID)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (there is no journal %s)", state.ErrRunNotFound, runID, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the journal of run %s: %w", runID, err)
	}
	events, _, torn, err := parseJournal(data, runID, path)
	if err != nil {
		return nil, err
	}
	return &state.Journal{RunID: runID, Events: events, Torn: torn}, nil
}

// parseJournal reads a journal file's content strictly: every line one
// event, sequence numbers 1, 2, … of run runID, starting with run_started.
// Only the last line may be damaged — without its newline, or not JSON —
// which is what a write cut short by a crash (or still in progress) looks
// like: it is returned as torn, with end the offset where it starts.
// Damage anywhere else is a *state.CorruptError: it cannot come from a
// crash, and a journal read past a gap could redo a finished step.
func parseJournal(data []byte, runID, path string) (events []state.Event, end int64, torn *state.TornTail, err error) {
	line := 0
	corrupt := func(off int, err error) error {
		return &state.CorruptError{Path: path, Line: line, Offset: int64(off), Err: err, Hint: corruptJournalHint(path)}
	}
	for off := 0; off < len(data); {
		line++
		rec, next, complete := data[off:], len(data), false
		if i := bytes.IndexByte(rec, '\n'); i >= 0 {
			rec, next, complete = rec[:i], off+i+1, true
		}
		e, derr := state.DecodeEvent(rec)
		var ve *state.VersionError
		if errors.As(derr, &ve) {
			ve.Path = path
			return nil, 0, nil, ve
		}
		if derr != nil || !complete {
			// A crash cuts a record short or leaves zeros; it cannot
			// make a whole line of valid JSON that fails to decode (an
			// unknown field, a wrong type): that is damage even at the
			// end.
			if next == len(data) && (!complete || !json.Valid(rec)) {
				return events, int64(off), &state.TornTail{Line: line, Offset: int64(off), Length: int64(next - off)}, nil
			}
			return nil, 0, nil, corrupt(off, derr)
		}
		want := int64(len(events)) + 1
		switch {
		case e.RunID != runID:
			return nil, 0, nil, corrupt(off, fmt.Errorf("an event of run %q in the journal of run %s", e.RunID, runID))
		case e.Seq != want:
			return nil, 0, nil, corrupt(off, fmt.Errorf("event %d where event %d belongs: an event is missing, repeated or out of place", e.Seq, want))
		case want == 1 && e.Kind != state.KindRunStarted:
			return nil, 0, nil, corrupt(off, fmt.Errorf("the first event is %s, not %s", e.Kind, state.KindRunStarted))
		}
		if err := e.Validate(); err != nil {
			return nil, 0, nil, corrupt(off, err)
		}
		events = append(events, e)
		off = next
	}
	return events, int64(len(data)), nil, nil
}

func corruptJournalHint(path string) string {
	return fmt.Sprintf("The journal is the record of what was done to the cloud, so escalator will not guess past damage, and will neither read nor append to it. "+
		"Restore it from a copy, or repair the line if you know what it held. If neither is possible, move it aside (mv %s %s.corrupt): "+
		"escalator then forgets that run, and escalator plan shows what is left to do", path, path)
}
