package state

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// runIDLayout puts the UTC start time first, to the millisecond, so that
// run IDs sort in start order as plain strings (ls, SQL ORDER BY), read as a
// date, and are safe in file names (no colons).
const runIDLayout = "20060102T150405.000Z"

var runIDClock struct {
	sync.Mutex
	last time.Time
}

// NewRunID returns a new run ID such as "20260612T101530.123Z-9f86d081":
// the start time to the millisecond and 32 random bits. IDs made by one
// process strictly increase, even within a millisecond; across machines
// they sort by start time as far as the clocks agree, and the random part
// keeps them unique.
func NewRunID() string {
	return newRunID(time.Now())
}

func newRunID(now time.Time) string {
	now = now.UTC().Truncate(time.Millisecond)
	runIDClock.Lock()
	if !now.After(runIDClock.last) {
		now = runIDClock.last.Add(time.Millisecond)
	}
	runIDClock.last = now
	runIDClock.Unlock()
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return now.Format(runIDLayout) + "-" + hex.EncodeToString(b[:])
}

// ValidateRunID accepts run IDs that are safe as file names and in URLs:
// 1 to 128 letters, digits, '.', '_' and '-', not starting with '.' or '-'.
// It accepts more than NewRunID makes, so that tests and other backends
// may choose their own, and it is what keeps a run ID given on the command
// line from naming a file outside the journal directory.
func ValidateRunID(id string) error {
	if id == "" {
		return fmt.Errorf("empty run ID")
	}
	if len(id) > 128 {
		return fmt.Errorf("run ID %.20q… is longer than 128 characters", id)
	}
	for i, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' ||
			i > 0 && (c == '.' || c == '-')
		if !ok {
			return fmt.Errorf("run ID %q: character %q at %d is not allowed (letters, digits, '.', '_' and '-', not first '.' or '-')", id, c, i)
		}
	}
	return nil
}
