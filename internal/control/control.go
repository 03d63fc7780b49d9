// Package control carries an operator's requests to a running apply:
// pause at the next step boundary, resume, abort (stop starting steps and
// halt, resumably), and approve the run past a paused canary wave.
//
// Requests are a small JSON document in a file next to the state
// (<state stem>.control.json), replaced atomically by whoever asks
// (escalator serve, apply -listen) and read by the engine before each step.
// A file rather than a channel, so that a request reaches an apply running
// in another process, and a pause survives a crash of the apply: the
// resumed run is still paused until someone resumes it.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/escalator-nfv/escalator/internal/atomicfile"
)

// Request is what the operator asked of one run.
type Request struct {
	RunID string `json:"run_id"`
	// Paused: no step starts until resumed.
	Paused bool `json:"paused"`
	// Aborted: no step starts any more; the run halts (and can be
	// resumed by escalator apply, which clears this).
	Aborted bool `json:"aborted"`
	// ApprovedWaves are the canary waves the run may go on after.
	ApprovedWaves []int     `json:"approved_waves,omitempty"`
	UpdatedBy     string    `json:"updated_by,omitempty"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
}

// ErrAborted is returned by Gate when the operator aborted the run.
var ErrAborted = errors.New("the run was aborted by an operator")

// File is the control file of one campaign.
type File struct {
	path string
	// poll is how often a paused Gate looks at the file again.
	poll time.Duration

	mu sync.Mutex
	// cached request and the file's identity when read.
	req     Request
	modTime time.Time
	size    int64
}

// PathFor returns the control file that goes with the state file at
// statePath.
func PathFor(statePath string) string {
	return strings.TrimSuffix(statePath, filepath.Ext(statePath)) + ".control.json"
}

// Open returns the control file at path (which need not exist yet).
func Open(path string) *File {
	return &File{path: path, poll: 500 * time.Millisecond}
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Read returns the current request for runID; requests of another run
// (an older one) read as none.
func (f *File) Read(runID string) (Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Request{RunID: runID}, nil
	case err != nil:
		return Request{}, fmt.Errorf("read control file: %w", err)
	}
	// The engine reads before every step: a stat is enough when nothing
	// changed.
	if !fi.ModTime().Equal(f.modTime) || fi.Size() != f.size {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return Request{}, fmt.Errorf("read control file: %w", err)
		}
		var r Request
		if err := json.Unmarshal(data, &r); err != nil {
			return Request{}, fmt.Errorf("control file %s is not valid JSON (%v); delete it to clear all requests", f.path, err)
		}
		f.req, f.modTime, f.size = r, fi.ModTime(), fi.Size()
	}
	if f.req.RunID != runID {
		return Request{RunID: runID}, nil
	}
	r := f.req
	r.ApprovedWaves = slices.Clone(r.ApprovedWaves)
	return r, nil
}

// Update changes the request for runID under an exclusive lock, and
// replaces the file atomically.
func (f *File) Update(runID, by string, change func(*Request)) (Request, error) {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return Request{}, fmt.Errorf("control file: %w", err)
	}
	lk, err := os.OpenFile(f.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return Request{}, fmt.Errorf("control file: %w", err)
	}
	defer lk.Close()
	if err := unix.Flock(int(lk.Fd()), unix.LOCK_EX); err != nil {
		return Request{}, fmt.Errorf("lock control file: %w", err)
	}
	defer unix.Flock(int(lk.Fd()), unix.LOCK_UN) //nolint:errcheck // closing releases it too
	r, err := f.Read(runID)
	if err != nil {
		return Request{}, err
	}
	change(&r)
	r.RunID, r.UpdatedBy, r.UpdatedAt = runID, by, time.Now().UTC()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Request{}, err
	}
	if err := atomicfile.Write(f.path, append(data, '\n'), 0o600); err != nil {
		return Request{}, fmt.Errorf("control file: %w", err)
	}
	return r, nil
}

// Gate returns nil when the run may start a step, ErrAborted when it was
// aborted, and waits while it is paused (calling onPause once when it
// starts waiting). ctx bounds the wait.
func (f *File) Gate(ctx context.Context, runID string, onPause func(Request)) error {
	told := false
	for {
		r, err := f.Read(runID)
		if err != nil {
			return err
		}
		switch {
		case r.Aborted:
			return ErrAborted
		case !r.Paused:
			return nil
		}
		if !told && onPause != nil {
			onPause(r)
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.poll):
		}
	}
}

// WaitApproval waits until canary wave is approved (true), the run is
// aborted (ErrAborted) or ctx ends.
func (f *File) WaitApproval(ctx context.Context, runID string, wave int) error {
	for {
		r, err := f.Read(runID)
		if err != nil {
			return err
		}
		if r.Aborted {
			return ErrAborted
		}
		if slices.Contains(r.ApprovedWaves, wave) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.poll):
		}
	}
}
