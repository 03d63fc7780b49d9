package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/state"
)

// lockRecord is the lock file's content: who holds (or last held) the lock.
type lockRecord struct {
	FormatVersion int `json:"format_version"`
	state.Holder
}

// lockHandle is a held lock. Writes take mu shared for their duration, so
// that Unlock (exclusive) waits for them and nothing is written after it.
type lockHandle struct {
	b        *Backend
	f        *os.File
	holder   state.Holder
	previous *state.Holder

	mu       sync.RWMutex
	released bool

	// stateMu serialises WriteState; stateChecked records that the state
	// file on disk was found readable (see WriteState).
	stateMu      sync.Mutex
	stateChecked bool

	// journals are the open journals of this lock, by run ID. The next
	// sequence number is cached in them, which is safe only while the
	// lock excludes every other writer, so they die with the lock.
	jmu      sync.Mutex
	journals map[string]*journalWriter
}

func (h *lockHandle) ID() string               { return h.holder.ID }
func (h *lockHandle) Holder() state.Holder     { return h.holder }
func (h *lockHandle) Previous() *state.Holder  { return h.previous }
func (h *lockHandle) String() string           { return "lock " + h.holder.ID }
func (h *lockHandle) holderRecord() lockRecord { return lockRecord{state.LockFormatVersion, h.holder} }

// Lock takes the lock file's flock; see state.Backend and the package
// comment.
func (b *Backend) Lock(ctx context.Context, who state.Holder) (state.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !flockSupported {
		return nil, tryFlock(nil)
	}
	if err := mkdirDurable(b.paths.Dir); err != nil {
		return nil, fmt.Errorf("create the state directory: %w", err)
	}
	f, err := os.OpenFile(b.paths.Lock, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("open the lock file: %w. The state files are readable by their owner only; run escalator as the user who owns %s", err, b.paths.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open the lock file: %w", err)
	}
	if err := tryFlock(f); err != nil {
		defer f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, b.lockedError(f)
		}
		return nil, fmt.Errorf("lock %s: %w. The local backend needs flock(2); on a file system without it (some network file systems) use the postgres backend", b.paths.Lock, err)
	}
	// A record left in the file is from a holder that never unlocked (a
	// clean Unlock empties the file): it crashed or was killed, and the
	// kernel released its flock.
	previous, _ := readRecord(f)

	who = state.CompleteHolder(who)
	who.ID = state.NewLockID()
	h := &lockHandle{b: b, f: f, holder: who, previous: previous, journals: map[string]*journalWriter{}}
	if err := writeRecord(f, h.holderRecord()); err != nil {
		funlock(f)
		f.Close()
		return nil, fmt.Errorf("record the lock holder in %s: %w", b.paths.Lock, err)
	}
	b.removeStaleTemps()
	return h, nil
}

// lockedError describes the live holder of the flock on f.
func (b *Backend) lockedError(f *os.File) *state.LockedError {
	le := &state.LockedError{Where: "lock file " + b.paths.Lock, Now: time.Now()}
	// The holder writes its record right after it takes the flock; give
	// it a moment if we came in between.
	for try := 0; try < 20; try++ {
		if rec, err := readRecord(f); err == nil && rec != nil {
			le.Holder, le.HolderKnown = *rec, true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	host, _ := os.Hostname()
	switch {
	case !le.HolderKnown:
		le.Hint = "Wait for it to finish, or find and stop the process that has the lock file open (fuser " + b.paths.Lock + "); the lock is released when it exits"
	case le.Holder.Host != "" && le.Holder.Host != host:
		le.Hint = fmt.Sprintf("The holder runs on %s and the lock file is on a file system both machines share. Wait for it to finish, or stop it there (pid %d); the local backend is meant for one machine, use the postgres backend to share state",
			le.Holder.Host, le.Holder.PID)
	default:
		le.Hint = fmt.Sprintf("It is running. Wait for it to finish, or stop it (kill %d; a second Ctrl-C in its terminal aborts it); the lock is released when it exits. force-unlock cannot release a lock held by a running process",
			le.Holder.PID)
	}
	return le
}

// Unlock releases the lock: it empties the lock file (so that the next
// holder does not take it for a crash), then drops the flock.
func (h *lockHandle) Unlock(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return nil
	}
	h.released = true
	var errs []error
	h.jmu.Lock()
	for _, w := range h.journals {
		if err := w.close(); err != nil {
			errs = append(errs, err)
		}
	}
	h.journals = nil
	h.jmu.Unlock()
	if err := h.f.Truncate(0); err != nil {
		errs = append(errs, err)
	} else if err := datasync(h.f); err != nil {
		errs = append(errs, err)
	}
	// Closing the descriptor drops the flock even if LOCK_UN failed.
	_ = funlock(h.f)
	if err := h.f.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unlock %s (the lock is released; the next apply may report it as left by a crash): %w", h.b.paths.Lock, err)
	}
	return nil
}

// held checks that l is a live lock of this backend and returns it with
// its mu read-locked; the caller must RUnlock.
func (b *Backend) held(l state.Lock) (*lockHandle, error) {
	h, ok := l.(*lockHandle)
	if !ok || h == nil || h.b != b {
		return nil, fmt.Errorf("%w: the lock given was not taken on %s", state.ErrLockNotHeld, b)
	}
	h.mu.RLock()
	if h.released {
		h.mu.RUnlock()
		return nil, fmt.Errorf("%w: lock %s was released", state.ErrLockNotHeld, h.holder.ID)
	}
	return h, nil
}

// ForceUnlock clears the lock record whose ID is lockID when no process
// holds the flock. With the local backend the kernel releases the flock of
// a holder that died, and the next Lock takes over by itself, so this only
// clears the leftover record (and with it the "previous holder did not
// finish" report). It never breaks the flock of a running process: that
// is a *state.LockedError naming it.
func (b *Backend) ForceUnlock(ctx context.Context, lockID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if lockID == "" {
		return errors.New("force-unlock needs the lock ID that the refused command printed")
	}
	f, err := os.OpenFile(b.paths.Lock, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: there is no lock file %s", state.ErrNotLocked, b.paths.Lock)
	}
	if err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	defer f.Close()
	if err := tryFlock(f); err != nil {
		if errors.Is(err, errWouldBlock) {
			return fmt.Errorf("cannot force-unlock: %w", b.lockedError(f))
		}
		return fmt.Errorf("force-unlock %s: %w", b.paths.Lock, err)
	}
	defer funlock(f)
	rec, err := readRecord(f)
	if err != nil {
		// Unreadable: there is no ID to compare with, and nobody holds
		// the flock, so clearing it loses nothing.
		rec = &state.Holder{ID: lockID}
	}
	switch {
	case rec == nil:
		return fmt.Errorf("%w: the lock is free and %s records no holder; nothing to do", state.ErrNotLocked, b.paths.Lock)
	case rec.ID != lockID:
		return fmt.Errorf("%w: %s is not the ID of the lock recorded in %s, which is %s (it is free: its holder ended without unlocking); nothing was changed",
			state.ErrLockMismatch, lockID, b.paths.Lock, rec)
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("force-unlock %s: %w", b.paths.Lock, err)
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("force-unlock %s: %w", b.paths.Lock, err)
	}
	return nil
}

// writeRecord replaces the lock file's content with rec. The record is
// written over the start of the file before the file is cut to size, and
// readers decode only the first JSON value, so a reader never sees an
// empty or half-replaced record (it sees the old one or the new one).
func writeRecord(f *os.File, rec lockRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		return err
	}
	return datasync(f)
}

// readRecord returns the holder recorded in the lock file, nil when it is
// empty.
func readRecord(f *os.File) (*state.Holder, error) {
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var rec lockRecord
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&rec); err != nil {
		return nil, fmt.Errorf("unreadable lock record: %w", err)
	}
	if rec.ID == "" {
		return nil, errors.New("lock record without an ID")
	}
	return &rec.Holder, nil
}
