package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultLockTimeout is how long a mutation waits for another process's
// lock before giving up. A sim action holds the lock only for a
// read-modify-write (milliseconds, a second for a very large cloud), never
// during an action's simulated duration, so a minute means a stuck peer.
const DefaultLockTimeout = time.Minute

// Store is a cloud file on disk with its lock and event log.
//
// Every mutation is a read-modify-write under an exclusive flock on the
// sibling file <cloud>.lock, and the new cloud replaces the old one by an
// atomic rename, so concurrent escalator runs never lose an update and a
// crash never leaves a torn file. Readers take no lock: a rename is atomic,
// so they see the old cloud or the new one.
//
// The decoded cloud is cached between calls and reused while the file on
// disk is the one this Store last read or wrote (same inode, size, mtime and
// ctime): decoding a 10,000-host cloud costs far more than a stat.
type Store struct {
	path        string
	lockPath    string
	eventsPath  string
	lockTimeout time.Duration
	now         func() time.Time

	// sem serialises this process's users of the cache and the file; a
	// channel rather than a mutex so waiting honours the timeout and ctx.
	sem chan struct{}
	// cache and its fingerprint; guarded by sem.
	cache   *Cloud
	cacheFP fileID
}

// fileID identifies one version of the cloud file.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func fingerprint(fi fs.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	return fileID{
		dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}

// OpenStore returns the store of the cloud file at path. It does not touch
// the file.
func OpenStore(path string) *Store {
	return &Store{
		path:        path,
		lockPath:    path + ".lock",
		eventsPath:  path + ".events.jsonl",
		lockTimeout: DefaultLockTimeout,
		now:         time.Now,
		sem:         make(chan struct{}, 1),
	}
}

// Path is the cloud file's path.
func (s *Store) Path() string { return s.path }

// EventsPath is the event log's path.
func (s *Store) EventsPath() string { return s.eventsPath }

// SetLockTimeout changes how long a mutation waits for the lock.
func (s *Store) SetLockTimeout(d time.Duration) { s.lockTimeout = d }

// acquire takes the in-process semaphore, waiting at most the lock timeout.
func (s *Store) acquire(ctx context.Context) error {
	t := time.NewTimer(s.lockTimeout)
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the cloud %s: %w", s.path, ctx.Err())
	case <-t.C:
		return fmt.Errorf("another call in this process has held the cloud %s for more than %s", s.path, s.lockTimeout)
	}
}

func (s *Store) release() { <-s.sem }

// View calls fn with the current cloud, read without the file lock. fn must
// not modify the cloud or keep it after returning.
func (s *Store) View(ctx context.Context, fn func(*Cloud) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	c, err := s.load()
	if err != nil {
		return err
	}
	return fn(c)
}

// load returns the cloud on disk, from the cache when the file has not
// changed. Called with sem held.
func (s *Store) load() (*Cloud, error) {
	f, err := os.Open(s.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cloud file %s does not exist; set create = true in the provider block to create the default cloud, or generate one with `go run ./testing/cmd/simgen -out %s`", s.path, s.path)
		}
		return nil, fmt.Errorf("opening the cloud: %w", err)
	}
	defer f.Close()
	// Fingerprint the open file, not the path, so the bytes read below
	// are the version the fingerprint names even if a writer renames a
	// new file over the path meanwhile.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the cloud %s: %w", s.path, err)
	}
	fp := fingerprint(fi)
	if s.cache != nil && fp == s.cacheFP {
		return s.cache, nil
	}
	s.cache = nil
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("reading the cloud %s: %w", s.path, err)
	}
	c, err := DecodeCloud(data)
	if err != nil {
		return nil, fmt.Errorf("cloud file %s: %w; the file was left untouched: fix it, or move it away to let the provider create a fresh default cloud", s.path, err)
	}
	s.cache, s.cacheFP = c, fp
	return c, nil
}

// Tx is one mutation in progress: the events it will log and whether the
// cloud changed.
type Tx struct {
	events []Event
	dirty  bool
}

// Changed marks the cloud as modified, so it is written back.
func (tx *Tx) Changed() { tx.dirty = true }

// Log queues an event; it is appended to the event log after the cloud is
// written, with the next sequence number.
func (tx *Tx) Log(e Event) { tx.events = append(tx.events, e) }

// Update runs fn on the current cloud under the exclusive lock. If fn calls
// tx.Changed, the cloud is written back atomically; then the events fn
// logged are appended to the event log. If fn returns an error, nothing is
// written or logged, and fn's partial changes are dropped (fn should check
// before it changes anything, but a bug must not leak a half-done change).
func (s *Store) Update(ctx context.Context, fn func(c *Cloud, tx *Tx) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	c, err := s.load()
	if err != nil {
		return err
	}
	tx := &Tx{}
	if err := fn(c, tx); err != nil {
		s.cache = nil
		return err
	}
	if tx.dirty {
		if err := s.write(c); err != nil {
			s.cache = nil
			return err
		}
	}
	if len(tx.events) > 0 {
		// The cloud is the truth; the log follows it. A crash between the
		// two writes can lose the last event lines, never invent a change.
		if err := s.appendEvents(tx.events); err != nil {
			return fmt.Errorf("the cloud was updated but its event log was not: %w", err)
		}
	}
	return nil
}

// Create writes c as the cloud file if no file exists yet, under the lock
// so two runs starting together create it once. It reports whether it did.
func (s *Store) Create(ctx context.Context, c *Cloud) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer s.release()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return false, fmt.Errorf("creating the cloud's directory: %w", err)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := os.Stat(s.path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("checking the cloud file: %w", err)
	}
	if err := c.Index(); err != nil {
		return false, err
	}
	if err := s.write(c); err != nil {
		return false, err
	}
	return true, nil
}

// lock takes the exclusive flock on the lock file, polling until the lock
// timeout so a stuck peer becomes an error naming it, not a hang.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the cloud's lock file: %w", err)
	}
	deadline := time.Now().Add(s.lockTimeout)
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", s.lockPath, err)
		}
		if time.Now().After(deadline) {
			holder := readHolder(f)
			f.Close()
			return nil, fmt.Errorf("the cloud %s is locked by %s and was not released within %s; if that process is stuck, stop it (a dead process releases the lock by itself)", s.path, holder, s.lockTimeout)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock on %s: %w", s.path, ctx.Err())
		case <-time.After(wait):
		}
		if wait < 16*time.Millisecond {
			wait *= 2
		}
	}
	// Record the holder for the message above; informational only, the
	// flock is what excludes.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d\n", os.Getpid())
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func readHolder(f *os.File) string {
	b := make([]byte, 64)
	n, _ := f.ReadAt(b, 0)
	if h := strings.TrimSpace(string(b[:n])); h != "" {
		return "another process (" + h + ")"
	}
	return "another process"
}

// write replaces the cloud file atomically: a temporary file in the same
// directory, fsync, rename over the old one, fsync of the directory so the
// rename itself survives a power loss. Called with the lock held.
func (s *Store) write(c *Cloud) error {
	if err := WriteCloudFile(s.path, c); err != nil {
		return err
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("checking the written cloud: %w", err)
	}
	s.cache, s.cacheFP = c, fingerprint(fi)
	return nil
}

// WriteCloudFile writes c to path atomically (see Store). It takes no
// lock: use it for files no provider is using yet, as simgen does.
func WriteCloudFile(path string, c *Cloud) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the cloud: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := EncodeCloud(tmp, c); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the cloud %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the cloud %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the cloud %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the cloud %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing the cloud %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// appendEvents appends events to the log with the next sequence numbers.
// Called with the lock held, so sequence numbers are unique and increasing
// across processes and runs.
func (s *Store) appendEvents(events []Event) error {
	f, err := os.OpenFile(s.eventsPath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the event log: %w", err)
	}
	defer f.Close()
	seq, torn, err := lastSeq(f)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if torn {
		// A crash cut the last line short. End it, so it stays one bad
		// line instead of spoiling the next good one.
		buf.WriteByte('\n')
	}
	now := s.now().UTC()
	for _, e := range events {
		seq++
		e.Seq = seq
		if e.Time.IsZero() {
			e.Time = now
		}
		b, err := e.marshal()
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("appending to the event log: %w", err)
	}
	return f.Sync()
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
