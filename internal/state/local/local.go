// Package local is the default state backend: files in one directory on
// the machine that runs escalator.
//
// Given the state file path P (the state "local" block's path, by default
// .escalator/state.json in the campaign directory), with STEM the file name
// without ".json", the backend keeps, next to P:
//
//	P                          the State summary, replaced atomically
//	STEM.lock                  the lock file: flock(2) plus the holder as JSON
//	STEM.journal/RUN-ID.jsonl  one append-only journal per run, a JSON event a line
//
// so that the default layout is .escalator/state.json, .escalator/state.lock
// and .escalator/state.journal/, and two campaigns whose state files share a
// directory (site-a.json, site-b.json) share neither lock nor journals.
//
// Durability: State writes go to a temporary file in the same directory,
// which is fsync'd and renamed over P, and the directory is fsync'd; a crash
// leaves the old file or the new one. Journal appends are one write(2) and
// one fdatasync(2) per batch, and concurrent appends share them (group
// commit). New files and directories are made durable by an fsync of their
// parent.
//
// Locking: the flock on STEM.lock is what excludes. The kernel releases it
// when its holder exits, however it exits, so a crashed apply never leaves
// a lock that needs breaking; the holder's JSON stays in the file, which is
// how the next Lock learns (Lock.Previous) that the previous holder did not
// finish. ForceUnlock never breaks a flock held by a running process: it
// only clears a leftover record. The local backend is for one machine: on
// a network file system flock may not exclude across machines; teams use
// the postgres backend.
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/internal/state"
)

// DefaultStateFile is the state file's name when New is given a directory.
const DefaultStateFile = "state.json"

// Backend is the local state backend. It implements state.Backend.
type Backend struct {
	paths Paths
	// now is the clock for event times; tests replace it.
	now func() time.Time
	// beforeRename, when set (by tests), runs after the temporary state
	// file is durable and before it is renamed into place: the moment a
	// crash must leave the old state intact.
	beforeRename func(tmp string)
}

var _ state.Backend = (*Backend)(nil)

// Paths are the files the backend uses.
type Paths struct {
	// Dir holds everything else.
	Dir string
	// State is the state summary file.
	State string
	// Lock is the lock file.
	Lock string
	// Journal is the directory of run journals.
	Journal string
}

// New returns the backend whose state file is path. When path is an
// existing directory, or ends in a path separator, the state file is
// DefaultStateFile in it. Nothing is created until the first Lock.
func New(path string) (*Backend, error) {
	if strings.TrimSpace(path) == "" {
		return nil, errors.New(`local state: empty path; set path in the state "local" block or leave it out for .escalator/state.json`)
	}
	if strings.HasSuffix(path, string(filepath.Separator)) || strings.HasSuffix(path, "/") {
		path = filepath.Join(path, DefaultStateFile)
	} else if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, DefaultStateFile)
	}
	path = filepath.Clean(path)
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	dir = filepath.Clean(dir)
	stem := strings.TrimSuffix(base, ".json")
	if stem == "" {
		stem = "state"
	}
	return &Backend{
		paths: Paths{
			Dir:     dir,
			State:   path,
			Lock:    filepath.Join(dir, stem+".lock"),
			Journal: filepath.Join(dir, stem+".journal"),
		},
		now: time.Now,
	}, nil
}

// Paths returns the files the backend uses.
func (b *Backend) Paths() Paths { return b.paths }

// String names the backend for messages.
func (b *Backend) String() string { return "local state " + b.paths.State }

// Close does nothing: the backend holds no resources outside its locks.
func (b *Backend) Close() error { return nil }

// ReadState reads the state file; see state.Backend.
func (b *Backend) ReadState(ctx context.Context) (*state.State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, exists, err := b.readState()
	if !exists {
		return nil, err
	}
	return s, err
}

// readState reads and checks the state file; exists is false when there is
// none (and then err is nil unless the file could not be looked at).
func (b *Backend) readState() (s *state.State, exists bool, err error) {
	data, err := os.ReadFile(b.paths.State)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("read state: %w", err)
	}
	s, err = state.DecodeState(data)
	if err != nil {
		var ve *state.VersionError
		if errors.As(err, &ve) {
			ve.Path = b.paths.State
			return nil, true, ve
		}
		return nil, true, &state.CorruptError{Path: b.paths.State, Err: err, Hint: b.corruptStateHint()}
	}
	return s, true, nil
}

func (b *Backend) corruptStateHint() string {
	p := b.paths.State
	return fmt.Sprintf("escalator will neither use nor overwrite it. Repair it if you can see what is wrong; "+
		"otherwise move it aside (mv %s %s.corrupt) and escalator rebuilds the state from the run journals in %s",
		p, p, b.paths.Journal)
}

// WriteState replaces the state file atomically; see state.Backend.
func (b *Backend) WriteState(ctx context.Context, l state.Lock, s *state.State) error {
	h, err := b.held(l)
	if err != nil {
		return err
	}
	defer h.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *s
	c.FormatVersion = state.StateFormatVersion
	c.Serial = s.Serial + 1
	if c.Hosts == nil {
		c.Hosts = map[string]*state.Host{}
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("write state %s: %w", b.paths.State, err)
	}
	data, err := state.EncodeState(&c)
	if err != nil {
		return err
	}

	// Writes are serialised so that Serial only grows on disk.
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	if !h.stateChecked {
		// Never replace what we cannot read: it may be the only record
		// of something, and the refusal tells the operator what to do.
		// Checked once per lock, since only the holder writes.
		if _, _, err := b.readState(); err != nil {
			return fmt.Errorf("not replacing the state: %w", err)
		}
		h.stateChecked = true
	}
	if err := b.writeAtomic(data); err != nil {
		return err
	}
	s.FormatVersion, s.Serial = c.FormatVersion, c.Serial
	return nil
}

// writeAtomic replaces the state file with data: temporary file in the same
// directory (rename is atomic only within a file system), fsync, rename,
// fsync of the directory so that the rename itself survives a power loss.
func (b *Backend) writeAtomic(data []byte) (err error) {
	p := b.paths.State
	tmp, err := os.CreateTemp(b.paths.Dir, b.tempPattern())
	if err != nil {
		return fmt.Errorf("write state %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write state %s: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write state %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state %s: %w", p, err)
	}
	if b.beforeRename != nil {
		b.beforeRename(tmp.Name())
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("write state %s: %w", p, err)
	}
	if err := syncDir(b.paths.Dir); err != nil {
		return fmt.Errorf("write state %s: the new state is in place but may not survive a power loss: %w", p, err)
	}
	return nil
}

// tempPattern names temporary state files: hidden, and recognisable so that
// the next lock holder can remove those a crash left behind.
func (b *Backend) tempPattern() string {
	return "." + filepath.Base(b.paths.State) + ".tmp-*"
}

// removeStaleTemps deletes temporary state files left by a crash between
// their creation and the rename. Only lock holders write them, so under the
// lock every one of them is stale.
func (b *Backend) removeStaleTemps() {
	matches, _ := filepath.Glob(filepath.Join(b.paths.Dir, b.tempPattern()))
	for _, m := range matches {
		os.Remove(m)
	}
}

// Runs lists the runs that have a journal; see state.Backend.
func (b *Backend) Runs(ctx context.Context) ([]state.RunSummary, error) {
	entries, err := os.ReadDir(b.paths.Journal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var runs []state.RunSummary
	for _, de := range entries {
		id, ok := strings.CutSuffix(de.Name(), journalExt)
		if !ok || !de.Type().IsRegular() || state.ValidateRunID(id) != nil {
			// Not a journal: something an operator moved aside
			// (RUN.jsonl.corrupt) or put there.
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		j, err := b.ReadJournal(ctx, id)
		if err != nil {
			return nil, err
		}
		runs = append(runs, state.Summarize(j))
	}
	sort.Slice(runs, func(i, k int) bool { return runs[i].ID < runs[k].ID })
	return runs, nil
}

// mkdirDurable creates dir (and its parents) when missing and makes the new
// entry durable with an fsync of its parent.
func mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// syncDir fsyncs a directory, which makes the names created, renamed or
// removed in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
