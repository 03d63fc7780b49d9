package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"
)

// Backend stores runs, their journals, the state summary and the lock of
// one campaign.
//
// Reading (ReadState, ReadJournal, Runs) needs no lock, so that escalator
// status and the HTTP API can watch a running apply. Writing (WriteState,
// AppendJournal) needs the Lock returned by Lock on the same Backend, still
// held; a write with any other lock fails with ErrLockNotHeld.
//
// Methods are safe for concurrent use.
type Backend interface {
	// Lock takes the campaign's exclusive lock for who, without waiting:
	// when another holder has it, the error is a *LockedError that names
	// that holder. The returned Lock carries a new lock ID and, in
	// Previous, the holder that last had the lock and ended without
	// releasing it (a crash), if any.
	Lock(ctx context.Context, who Holder) (Lock, error)

	// ForceUnlock removes the lock whose ID is lockID, for the case where
	// its holder is gone but the backend cannot tell (a remote backend, a
	// dead client). It fails when lockID is not the current lock's ID
	// (ErrLockMismatch), when nothing is locked (ErrNotLocked), and, for a
	// backend that can tell, when the holder is alive (a wrapped
	// *LockedError). Each backend documents what "gone" means for it.
	ForceUnlock(ctx context.Context, lockID string) error

	// ReadState returns the stored summary, or nil and no error when none
	// was written yet. Data of an unknown format is refused with a
	// *VersionError, data that cannot be read with a *CorruptError; both
	// leave it untouched. Most callers want Load, which also brings the
	// summary up to date with the journal.
	ReadState(ctx context.Context) (*State, error)

	// WriteState replaces the stored summary with s, atomically: a crash
	// leaves the old summary or the new one. It sets s.FormatVersion and
	// increments s.Serial. It refuses to replace a stored summary that is
	// corrupt or of an unknown format.
	WriteState(ctx context.Context, l Lock, s *State) error

	// AppendJournal appends events to their run's journal and returns them
	// as recorded: with Seq assigned (1, 2, … per run, without gaps), Time
	// set when it was zero, and FormatVersion. All events must belong to
	// one run; the first event of a run must be KindRunStarted. They are
	// durable when AppendJournal returns, and are written in one piece
	// (one fsync or one transaction), so batching the events that belong
	// together (one step's end and the next one's start) costs one write.
	// Concurrent calls are grouped into shared writes where the backend
	// can (group commit). ctx is checked before anything is written; a
	// write once started is not abandoned.
	AppendJournal(ctx context.Context, l Lock, events ...Event) ([]Event, error)

	// ReadJournal returns a run's events in Seq order. A run that does not
	// exist is an error wrapping ErrRunNotFound. An incomplete last record
	// (a write cut short by a crash, or one still in progress) is left out
	// and reported in Journal.Torn; damage anywhere else is a
	// *CorruptError.
	ReadJournal(ctx context.Context, runID string) (*Journal, error)

	// Runs lists the runs that have a journal, oldest first (by ID).
	Runs(ctx context.Context) ([]RunSummary, error)

	// Close releases the backend's resources (connections). Locks still
	// held are not released by Close: unlock them first.
	Close() error
}

// Lock is a held campaign lock.
type Lock interface {
	// ID identifies this lock; it is what escalator force-unlock takes.
	ID() string
	// Holder is who holds the lock, as recorded for others to see.
	Holder() Holder
	// Previous is the holder that had the lock before and did not release
	// it (it crashed or was killed), or nil when the lock was free. The
	// apply that gets a non-nil Previous is taking over an interrupted
	// run and should say so.
	Previous() *Holder
	// Unlock releases the lock. Writes with it fail afterwards. Calling it
	// again is a no-op.
	Unlock(ctx context.Context) error
}

// LockFormatVersion is the format of a recorded lock holder.
const LockFormatVersion = 1

// Holder describes who holds a lock, so that a refused apply can name it.
type Holder struct {
	// ID is the lock ID, assigned by Backend.Lock.
	ID string `json:"id"`
	// Operation is what the holder is doing: "apply", "rollback", ….
	Operation string `json:"operation"`
	// RunID is the run the holder works on, when known.
	RunID string `json:"run_id,omitempty"`
	User  string `json:"user"`
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	// Since is when the lock was taken.
	Since time.Time `json:"since"`
	// Version is the holder's escalator version.
	Version string `json:"version,omitempty"`
}

// NewHolder describes this process doing operation. Backends fill in the
// same fields when they are left zero, so NewHolder is a convenience.
func NewHolder(operation string) Holder {
	return CompleteHolder(Holder{Operation: operation})
}

// CompleteHolder fills h's zero User, Host, PID and Since from this
// process and the clock. Backends call it in Lock.
func CompleteHolder(h Holder) Holder {
	if h.User == "" {
		h.User = currentUser()
	}
	if h.Host == "" {
		h.Host, _ = os.Hostname()
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Since.IsZero() {
		h.Since = time.Now().UTC().Round(0)
	}
	return h
}

// String names the holder in one phrase for messages: "apply of run R by
// alice@jump1 (pid 4242) since 2026-06-12T10:15:30Z (lock ID …)".
func (h Holder) String() string {
	op := h.Operation
	if op == "" {
		op = "an operation"
	}
	if h.RunID != "" {
		op += " of run " + h.RunID
	}
	who := h.User
	if who == "" {
		who = "an unknown user"
	}
	if h.Host != "" {
		who += "@" + h.Host
	}
	s := fmt.Sprintf("%s by %s", op, who)
	if h.PID != 0 {
		s += fmt.Sprintf(" (pid %d)", h.PID)
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339)
	}
	if h.Version != "" {
		s += ", escalator " + h.Version
	}
	if h.ID != "" {
		s += " (lock ID " + h.ID + ")"
	}
	return s
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, k := range []string{"USER", "LOGNAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// NewLockID returns a random lock ID in the UUID text form, which operators
// recognise and copy whole.
func NewLockID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
