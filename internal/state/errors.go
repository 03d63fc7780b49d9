package state

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors; backends wrap them with the details, so test with
// errors.Is.
var (
	// ErrNotLocked: ForceUnlock found nothing to unlock.
	ErrNotLocked = errors.New("the state is not locked")
	// ErrLockMismatch: ForceUnlock was given an ID that is not the
	// current lock's.
	ErrLockMismatch = errors.New("lock ID does not match the current lock")
	// ErrLockNotHeld: a write was attempted with a lock that was released,
	// or that another backend gave out.
	ErrLockNotHeld = errors.New("the state lock is not held")
	// ErrRunNotFound: no journal for that run ID.
	ErrRunNotFound = errors.New("no such run")
)

// LockedError is the refusal of Lock (and of ForceUnlock when the holder is
// alive): someone else holds the lock.
type LockedError struct {
	// Holder is the current holder as it recorded itself. HolderKnown is
	// false when the holder had not recorded itself yet (it is taking the
	// lock at this very moment) or wrote something unreadable.
	Holder      Holder
	HolderKnown bool
	// Where is the lock's location ("lock file .escalator/state.lock").
	Where string
	// Hint says what the operator can do; it depends on the backend.
	Hint string
	// Now is when the refusal happened, for the holder's age.
	Now time.Time
}

func (e *LockedError) Error() string {
	who := "another process that has not recorded who it is yet"
	if e.HolderKnown {
		who = e.Holder.String()
		if !e.Holder.Since.IsZero() && !e.Now.IsZero() {
			who += fmt.Sprintf(", %s ago", e.Now.Sub(e.Holder.Since).Round(time.Second))
		}
	}
	msg := fmt.Sprintf("the state is locked by %s (%s)", who, e.Where)
	if e.Hint != "" {
		msg += ". " + e.Hint
	}
	return msg
}

// CorruptError refuses stored data that cannot be read. The data is left as
// it is.
type CorruptError struct {
	// Path is the file (or table) holding the data; Line, when not zero,
	// the 1-based line of a line-oriented file and Offset its byte offset.
	Path   string
	Line   int
	Offset int64
	// Err is what is wrong.
	Err error
	// Hint says what the operator can do.
	Hint string
}

func (e *CorruptError) Error() string {
	loc := e.Path
	if e.Line > 0 {
		loc = fmt.Sprintf("%s line %d (byte %d)", e.Path, e.Line, e.Offset)
	}
	msg := fmt.Sprintf("%s is corrupt: %v", loc, e.Err)
	if e.Hint != "" {
		msg += ". " + e.Hint
	}
	return msg
}

func (e *CorruptError) Unwrap() error { return e.Err }

// VersionError refuses stored data of a format this escalator does not
// know. The data is left as it is.
type VersionError struct {
	// Path is the file (or table) holding the data.
	Path string
	// What is "state", "journal" or "lock".
	What      string
	Found     int
	Supported int
}

func (e *VersionError) Error() string {
	if e.Found > e.Supported {
		return fmt.Sprintf("%s has %s format_version %d, but this escalator reads format_version %d only: it was written by a newer escalator. Use that version (or a newer one) for this campaign; nothing was changed",
			e.Path, e.What, e.Found, e.Supported)
	}
	return fmt.Sprintf("%s has %s format_version %d, which this escalator no longer reads (it reads %d). Use the escalator release that wrote it to finish or roll back its run; nothing was changed",
		e.Path, e.What, e.Found, e.Supported)
}
