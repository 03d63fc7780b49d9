package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DefaultLockTimeout is how long a mutation waits for another process's
// lock before giving up. A sim action holds the lock only for a
// read-modify-write (a fraction of a millisecond; a second when a large
// cloud must be read again), never during an action's simulated duration,
// so a minute means a stuck peer.
const DefaultLockTimeout = time.Minute

// checkpointEvery is how many records the step log takes before the cloud
// file's in-place writes are fsync'd and a checkpoint logged: what a
// provider opening the cloud after a crash replays at most.
const checkpointEvery = 256

// compactAt is the step log size above which a Store that reads the whole
// log compacts it (when it is also well above what its bookkeeping needs).
var compactAt int64 = 8 << 20

// crashPoint, set by tests, is called where a crash in the middle of a
// commit matters: "logged" (the step log record is on disk, nothing else
// is), "written" (the cloud file too, not the event log).
var crashPoint func(stage string)

func crashAt(stage string) {
	if crashPoint != nil {
		crashPoint(stage)
	}
}

// verifyCommits makes every Update check, after committing, that a fresh
// read of the files gives the cloud the Store holds. Tests turn it on.
var verifyCommits bool

// Store is a cloud file on disk with its lock, its step log and its event
// log: <cloud>, <cloud>.lock, <cloud>.steps.jsonl, <cloud>.events.jsonl.
//
// Every mutation happens under an exclusive flock on the lock file, reads
// under a shared one, so concurrent escalator runs never lose an update or
// read a half-made one. A mutation is committed by one fsync'd append to
// the step log (the change, the step ids it completes, its events); then
// the elements it changed are rewritten in place in the cloud file (see
// layout.go) and its events appended to the event log. A crash after the
// fsync loses nothing: the next Store to open the cloud finishes the
// change from the step log. The cloud file is written whole, atomically
// (a temporary file, fsync, rename), only when a change does not fit in
// place, on the first change to a file the provider did not write, and
// for a change of unknown extent (Tx.Changed).
//
// The cloud is kept decoded between calls and read again only when
// another process changed the files: records another provider appended to
// the step log are applied as they are, anything else (a tool rewrote the
// file) means reading the cloud file again.
type Store struct {
	path        string
	lockPath    string
	eventsPath  string
	logPath     string
	lockTimeout time.Duration
	now         func() time.Time

	// sem serialises this process's users of the state and the files; a
	// channel rather than a mutex so waiting honours the timeout and ctx.
	sem chan struct{}
	// lockFree: the lock file cannot be created (a read-only place), so
	// reads go without a lock and nothing is written.
	lockFree bool
	// st is what the files hold; nil means read them again. Guarded by
	// sem.
	st *storeState
}

// storeState is the cloud as the files hold it, and how they hold it.
type storeState struct {
	cloud *Cloud
	// book is the cloud's bookkeeping, attached to cloud.
	book *bookkeeping
	// file identifies the version of the cloud file cloud matches.
	file fileID
	// ref is the file's "log" header (zero when it has none).
	ref LogRef
	// slots locate the file's elements when it is in a Store's layout.
	slots    [numSections][]slot
	hasSlots bool
	slack    [numSections]int
	hostAt   map[*Host]int
	instAt   map[*Instance]int
	log      *logState

	// Work the next exclusive access does before anything else:
	// orphan: the step log is not this cloud's (or there is none): a new
	// one is started, the file written whole naming it.
	orphan bool
	// sections: the file carries bookkeeping, to move to the step log.
	sections bool
	// rewrite: records that a crash kept from being written whole.
	rewrite bool
	// patches: in-place writes the file may lack; replayed: some made
	// the file as read differ (a crash interrupted them).
	patches  []patch
	replayed bool

	// reload: read the cloud file again at the next sync; foreign: the
	// file changed in place by records read from the step log.
	reload, foreign bool

	sinceCheckpoint int
	events          eventsState
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
// the files.
func OpenStore(path string) *Store {
	return &Store{
		path:        path,
		lockPath:    path + ".lock",
		eventsPath:  path + ".events.jsonl",
		logPath:     path + ".steps.jsonl",
		lockTimeout: DefaultLockTimeout,
		now:         time.Now,
		sem:         make(chan struct{}, 1),
	}
}

// ReadCloud reads the cloud at path as a provider sees it: the cloud file
// with the bookkeeping of its step log (Steps, Backups, Faults,
// NextBackup), and any change a crash left recorded in the step log only.
// It takes the shared lock, so it never sees a change half made.
func ReadCloud(ctx context.Context, path string) (*Cloud, error) {
	var out *Cloud
	err := OpenStore(path).View(ctx, func(c *Cloud) error {
		out = c
		return nil
	})
	return out, err
}

// Path is the cloud file's path.
func (s *Store) Path() string { return s.path }

// EventsPath is the event log's path.
func (s *Store) EventsPath() string { return s.eventsPath }

// StepLogPath is the step log's path.
func (s *Store) StepLogPath() string { return s.logPath }

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

// View calls fn with the current cloud, under the shared lock. fn must not
// modify the cloud or keep it after returning.
//
// When the files show a change a crash left unfinished, View takes the
// exclusive lock and finishes it first, so the files alone (what tools
// and tests read) are complete once any provider has read the cloud.
func (s *Store) View(ctx context.Context, fn func(*Cloud) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	unlock, err := s.lock(ctx, syscall.LOCK_SH)
	if err != nil {
		return err
	}
	defer func() { unlock() }()
	if err := s.sync(); err != nil {
		s.st = nil
		return err
	}
	if s.unfinished() {
		unlock()
		if unlock, err = s.lock(ctx, syscall.LOCK_EX); err != nil {
			unlock = func() {}
			return err
		}
		if err := s.sync(); err != nil {
			s.st = nil
			return err
		}
		if err := s.settle(); err != nil {
			s.st = nil
			return fmt.Errorf("finishing a change a crash interrupted: %w", err)
		}
	}
	return fn(s.st.cloud)
}

// unfinished reports whether the files lack part of a change a crash
// interrupted: a record not yet written whole, in-place writes the file
// lacks, a record cut short, events the event log lacks.
func (s *Store) unfinished() bool {
	st := s.st
	if st.orphan || s.lockFree {
		return false
	}
	if st.rewrite || st.log.torn || st.replayed {
		return true
	}
	if !st.log.unsettled {
		return false
	}
	var maxSeq int64
	for _, r := range st.log.tail {
		for _, e := range r.Events {
			maxSeq = max(maxSeq, e.Seq)
		}
	}
	last := int64(0)
	if f, err := os.Open(s.eventsPath); err == nil {
		last, _, err = lastSeq(f)
		f.Close()
		if err != nil {
			return true // let settle say what is wrong
		}
	}
	if maxSeq <= last {
		st.log.unsettled = false
		return false
	}
	return true
}

// Tx is one mutation in progress: the events it will log and what it
// changed.
type Tx struct {
	events []Event
	// unknown: Changed was called.
	unknown    bool
	hosts      []*Host
	instances  []*Instance
	steps      map[string]*StepRecord
	backups    map[string]*Backup
	faults     map[string]bool
	nextBackup bool
}

// Changed marks the cloud as modified in ways the transaction does not
// say: the whole cloud and its bookkeeping are recorded and the file is
// written whole. Slow on a large cloud; say what changed with ChangedHost
// and ChangedInstance instead when that is all.
func (tx *Tx) Changed() { tx.unknown = true }

// ChangedHost marks a host of the cloud as modified; only it is written.
func (tx *Tx) ChangedHost(h *Host) { tx.hosts = append(tx.hosts, h) }

// ChangedInstance marks an instance of the cloud as modified; only it is
// written.
func (tx *Tx) ChangedInstance(in *Instance) { tx.instances = append(tx.instances, in) }

// Log queues an event; it is appended to the event log when the change
// commits, with the next sequence number.
func (tx *Tx) Log(e Event) { tx.events = append(tx.events, e) }

// recordStep records a completed step in the cloud's bookkeeping.
func (tx *Tx) recordStep(c *Cloud, id string, rec *StepRecord) {
	if c.Steps == nil {
		c.Steps = map[string]*StepRecord{}
	}
	c.Steps[id] = rec
	if tx.steps == nil {
		tx.steps = map[string]*StepRecord{}
	}
	tx.steps[id] = rec
}

// addBackup numbers and keeps a backup; it returns its id.
func (tx *Tx) addBackup(c *Cloud, b *Backup) string {
	c.NextBackup++
	tx.nextBackup = true
	id := fmt.Sprintf("bk-%06d", c.NextBackup)
	if c.Backups == nil {
		c.Backups = map[string]*Backup{}
	}
	c.Backups[id] = b
	if tx.backups == nil {
		tx.backups = map[string]*Backup{}
	}
	tx.backups[id] = b
	return id
}

// faultCount returns the counter of a fault block, marked as changed.
func (tx *Tx) faultCount(c *Cloud, key string) *FaultCount {
	if c.Faults == nil {
		c.Faults = map[string]*FaultCount{}
	}
	n := c.Faults[key]
	if n == nil {
		n = &FaultCount{}
		c.Faults[key] = n
	}
	if tx.faults == nil {
		tx.faults = map[string]bool{}
	}
	tx.faults[key] = true
	return n
}

func (tx *Tx) empty() bool {
	return !tx.unknown && len(tx.hosts) == 0 && len(tx.instances) == 0 && len(tx.steps) == 0 &&
		len(tx.backups) == 0 && len(tx.faults) == 0 && !tx.nextBackup && len(tx.events) == 0
}

func (tx *Tx) onlyEvents() bool {
	events := tx.events
	tx.events = nil
	defer func() { tx.events = events }()
	return tx.empty()
}

// logEventsOnly appends events to the event log, fsync'd, for a cloud
// that has no step log yet to hold them.
func (s *Store) logEventsOnly(events []Event) error {
	w, err := s.numberEvents(events)
	if err != nil {
		return err
	}
	defer w.f.Close()
	if err := w.write(s, events); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("syncing the event log: %w", err)
	}
	return nil
}

// Update runs fn on the current cloud under the exclusive lock, then
// commits what fn changed, as it says through tx (ChangedHost,
// ChangedInstance, or Changed), with the events it logged. If fn returns
// an error, nothing is written or logged, and fn's partial changes are
// dropped (fn should check before it changes anything, but a bug must
// not leak a half-done change).
func (s *Store) Update(ctx context.Context, fn func(c *Cloud, tx *Tx) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	unlock, err := s.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.sync(); err != nil {
		s.st = nil
		return err
	}
	if err := s.settle(); err != nil {
		s.st = nil
		return err
	}
	tx := &Tx{}
	if err := fn(s.st.cloud, tx); err != nil {
		s.st = nil
		return err
	}
	if err := s.commit(tx); err != nil {
		s.st = nil
		return err
	}
	if verifyCommits {
		if err := s.verify(); err != nil {
			s.st = nil
			return err
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
	unlock, err := s.lock(ctx, syscall.LOCK_EX)
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
	s.st = nil
	if err := WriteCloudFile(s.path, c); err != nil {
		return false, err
	}
	return true, nil
}

// lock takes a flock on the lock file, exclusive (LOCK_EX) or shared
// (LOCK_SH), polling until the lock timeout so a stuck peer becomes an
// error naming it, not a hang.
func (s *Store) lock(ctx context.Context, how int) (unlock func(), err error) {
	s.lockFree = false
	f, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		if how == syscall.LOCK_SH && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
			// A cloud in a place no provider can write to: nobody
			// changes it, so reading needs no lock.
			s.lockFree = true
			return func() {}, nil
		}
		return nil, fmt.Errorf("opening the cloud's lock file: %w", err)
	}
	deadline := time.Now().Add(s.lockTimeout)
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
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
	if how == syscall.LOCK_EX {
		// Record the holder for the message above; informational only,
		// the flock is what excludes.
		if err := f.Truncate(0); err == nil {
			fmt.Fprintf(f, "pid %d\n", os.Getpid())
		}
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

// sync brings s.st up to date with the files. Called with the lock held,
// shared or exclusive; it writes nothing.
func (s *Store) sync() error {
	if s.st == nil {
		st, err := s.load()
		if err != nil {
			return err
		}
		s.st = st
		return nil
	}
	st := s.st
	li, err := os.Stat(s.logPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if st.log.exists {
			s.st = nil // moved away: read everything again
			return s.sync()
		}
	case err != nil:
		return fmt.Errorf("reading the step log: %w", err)
	case !st.log.sameFile(li) || li.Size() < st.log.off:
		s.st = nil // replaced (compacted, or a new cloud's)
		return s.sync()
	case li.Size() > st.log.off:
		if err := s.readForeign(st, li.Size()); err != nil {
			return err
		}
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return s.missing(err)
	}
	fp := fingerprint(fi)
	sameInode := fp.dev == st.file.dev && fp.ino == st.file.ino
	if st.reload || !sameInode || (fp != st.file && !st.foreign) {
		return s.loadCloud(st)
	}
	st.file, st.foreign = fp, false
	return nil
}

func (s *Store) missing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cloud file %s does not exist; set create = true in the provider block to create the default cloud, or generate one with `go run ./testing/cmd/simgen -out %s`", s.path, s.path)
	}
	return fmt.Errorf("opening the cloud: %w", err)
}

// readForeign takes the records other processes appended to the step log.
// Changes made in place in the file this state holds are applied to the
// cloud as they are; anything else reads the cloud file again.
func (s *Store) readForeign(st *storeState, size int64) error {
	err := st.log.readMore(s.logPath, size, func(r *logRecord) {
		st.log.unsettled = true
		if !r.changesInventory() || st.reload {
			return
		}
		if st.orphan || st.rewrite || !st.hasSlots || r.Layout == "" || r.Layout != st.ref.layout {
			st.reload = true
			return
		}
		if err := st.applyObjects(r, true); err != nil {
			st.reload = true
			return
		}
		st.foreign = true
	})
	if err != nil {
		return err
	}
	if st.book != st.log.book {
		st.reload = true // the effective bookkeeping is a merge: redo it
	}
	st.cloud.NextBackup = st.book.next
	return nil
}

// load reads the step log and the cloud file.
func (s *Store) load() (*storeState, error) {
	lg, err := readLog(s.logPath)
	if err != nil {
		return nil, err
	}
	st := &storeState{log: lg, slack: defaultSlack}
	if err := s.loadCloud(st); err != nil {
		return nil, err
	}
	return st, nil
}

// loadCloud reads the cloud file into st, whose log is up to date: the
// in-place writes it may lack are replayed onto it, the bookkeeping
// attached, and changes a crash kept from being written whole applied.
func (s *Store) loadCloud(st *storeState) error {
	f, err := os.Open(s.path)
	if err != nil {
		return s.missing(err)
	}
	defer f.Close()
	// Fingerprint the open file, not the path, so the bytes read below
	// are the version the fingerprint names.
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading the cloud %s: %w", s.path, err)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return fmt.Errorf("reading the cloud %s: %w", s.path, err)
	}
	ref := peekLogRef(data)
	orphan := ref == nil || !st.log.exists || ref.ID != st.log.id
	var (
		slots    [numSections][]slot
		hasSlots bool
		patches  []patch
	)
	if ref != nil && ref.layout != "" {
		slots, hasSlots = scanSlots(data)
		if hasSlots && !orphan {
			patches = replay(data, slots, st.log.tail, ref.layout)
		}
	}
	c, err := DecodeCloud(data)
	if err != nil {
		return fmt.Errorf("cloud file %s: %w; the file was left untouched: fix it, or move it away to let the provider create a fresh default cloud", s.path, err)
	}
	// The decoded header is the authority (peekLogRef finds it only where
	// a Store writes it); a layout it does not confirm is not used.
	if c.Log == nil || ref == nil || c.Log.layout != ref.layout || c.Log.ID != ref.ID {
		hasSlots, patches = false, nil
	}
	ref = c.Log
	orphan = ref == nil || !st.log.exists || ref.ID != st.log.id
	for sec := 0; sec < numSections && hasSlots; sec++ {
		hasSlots = len(slots[sec]) == c.count(sec)
	}
	sections := len(c.Steps) > 0 || len(c.Backups) > 0 || len(c.Faults) > 0 || c.NextBackup != 0
	switch {
	case orphan:
		st.book = newBookkeeping()
		st.book.merge(c)
	case sections:
		st.book = st.log.book.copy()
		st.book.merge(c)
	default:
		st.book = st.log.book
	}
	rewrite := !hasSlots && len(patches) > 0
	if !orphan {
		for _, r := range st.log.tail {
			if r.Gen > ref.Gen && r.Layout == "" && r.changesInventory() {
				if err := applyWhole(c, r); err != nil {
					return fmt.Errorf("cloud file %s: finishing step log record %d: %w; nothing was written: move the step log %s away to start afresh (the steps it recorded are then forgotten, and their actions run again)", s.path, r.Gen, err, s.logPath)
				}
				rewrite = true
			}
		}
	}
	if rewrite {
		patches = nil
	}
	st.cloud, st.file = c, fingerprint(fi)
	st.ref = LogRef{}
	if ref != nil {
		st.ref = *ref
		if !orphan {
			// Generations only grow, even if the log lost its end.
			st.log.gen = max(st.log.gen, ref.Gen)
		}
	}
	st.slots, st.hasSlots, st.patches, st.replayed = slots, hasSlots, patches, len(patches) > 0
	st.orphan, st.sections, st.rewrite = orphan, sections, rewrite
	st.reload, st.foreign = false, false
	st.book.attach(c)
	st.index()
	c.trackPlacements()
	return nil
}

// index maps hosts and instances to their position in the file.
func (st *storeState) index() {
	c := st.cloud
	st.hostAt = make(map[*Host]int, len(c.Hosts))
	for i, h := range c.Hosts {
		st.hostAt[h] = i
	}
	st.instAt = make(map[*Instance]int, len(c.Instances))
	for i, in := range c.Instances {
		st.instAt[in] = i
	}
}

// applyObjects sets the elements a record changed to their new values;
// inPlace also queues their in-place writes, in case the process that
// made them died before writing them.
func (st *storeState) applyObjects(r *logRecord, inPlace bool) error {
	for _, o := range r.Objects {
		sec, ok := sectionNumber(o.Section)
		if !ok || o.Index < 0 || o.Index >= st.cloud.count(sec) {
			return fmt.Errorf("record %d changes %s #%d, which the cloud does not have", r.Gen, o.Section, o.Index)
		}
		if inPlace {
			if sl := st.slots[sec][o.Index]; sl.off != o.Off || sl.size != o.Size || len(o.Value) > o.Size {
				return fmt.Errorf("record %d writes %s #%d elsewhere than the file has it", r.Gen, o.Section, o.Index)
			}
		}
		if err := setElement(st.cloud, sec, o.Index, o.Value); err != nil {
			return fmt.Errorf("record %d: %w", r.Gen, err)
		}
		if inPlace {
			st.patches = append(st.patches, patch{off: o.Off, data: slotBytes(o.Value, o.Size)})
		}
	}
	return nil
}

// applyWhole applies a record whose changes were to be written whole.
func applyWhole(c *Cloud, r *logRecord) error {
	if len(r.Inventory) > 0 {
		inv, err := DecodeCloud(r.Inventory)
		if err != nil {
			return err
		}
		c.Name, c.Hosts, c.Instances, c.ServerGroups, c.VNFManagers = inv.Name, inv.Hosts, inv.Instances, inv.ServerGroups, inv.VNFManagers
		return c.Index()
	}
	for _, o := range r.Objects {
		sec, ok := sectionNumber(o.Section)
		if !ok || o.Index < 0 || o.Index >= c.count(sec) {
			return fmt.Errorf("it changes %s #%d, which the cloud does not have", o.Section, o.Index)
		}
		if err := setElement(c, sec, o.Index, o.Value); err != nil {
			return err
		}
	}
	return nil
}

// setElement decodes value over element i of section sec, which must be
// the same host, instance, group or VNF manager (same name or id). The
// element is overwritten where it is, so the cloud's indexes stay valid.
func setElement(c *Cloud, sec, i int, value []byte) error {
	var key, want string
	switch sec {
	case secHosts:
		var h Host
		if err := json.Unmarshal(value, &h); err != nil {
			return err
		}
		key, want = h.Name, c.Hosts[i].Name
		if key == want {
			if h.Versions == nil {
				h.Versions = map[string]string{}
			}
			*c.Hosts[i] = h
		}
	case secInstances:
		var in instanceFile
		in.Instance = &Instance{}
		if err := json.Unmarshal(value, &in); err != nil {
			return err
		}
		in.Instance.LiveMigratable = in.LiveMigratable == nil || *in.LiveMigratable
		key, want = in.ID, c.Instances[i].ID
		if key == want {
			*c.Instances[i] = *in.Instance
			c.moved(c.Instances[i])
		}
	case secGroups:
		var g ServerGroup
		if err := json.Unmarshal(value, &g); err != nil {
			return err
		}
		key, want = g.ID, c.ServerGroups[i].ID
		if key == want {
			*c.ServerGroups[i] = g
		}
	default:
		var m VNFManager
		if err := json.Unmarshal(value, &m); err != nil {
			return err
		}
		key, want = m.Name, c.VNFManagers[i].Name
		if key == want {
			*c.VNFManagers[i] = m
		}
	}
	if key != want {
		return fmt.Errorf("%s #%d is %q in the cloud file, %q in the step log: the cloud file was replaced", sectionNames[sec], i, want, key)
	}
	return nil
}

// settle does, under the exclusive lock, the work a read left for the
// next writer: start a step log, move bookkeeping out of the file, finish
// what a crash interrupted, compact the step log.
func (s *Store) settle() error {
	st := s.st
	if st.orphan {
		return nil // commit starts a step log if it has something to record
	}
	if st.log.torn {
		// A record a crash cut short was never acknowledged: drop it, so
		// the next one starts on a line of its own.
		if err := os.Truncate(s.logPath, st.log.off); err != nil {
			return fmt.Errorf("repairing the step log: %w", err)
		}
		st.log.torn = false
	}
	if st.sections {
		rec := st.book.record()
		rec.Gen = st.log.gen + 1
		if err := s.appendLog(rec, true); err != nil {
			return err
		}
		st.log.book = st.book
		st.sections, st.rewrite = false, true
	}
	if st.log.unsettled {
		if err := s.completeEvents(); err != nil {
			return err
		}
	}
	if st.rewrite {
		if err := s.writeFull(); err != nil {
			return err
		}
		if err := s.written(); err != nil {
			return err
		}
	} else if len(st.patches) > 0 {
		n, err := s.repairSlots(st.patches)
		if err != nil {
			return err
		}
		st.patches, st.replayed = nil, false
		if n > 0 {
			if err := s.checkpoint(); err != nil {
				return err
			}
		}
	}
	if st.log.full && st.log.off > compactAt {
		st.log.full = false
		rec := st.book.record()
		rec.Gen = st.log.gen
		b, err := encodeRecord(rec)
		if err != nil {
			return err
		}
		if 2*int64(len(b)) < st.log.off {
			return s.compact(b)
		}
	}
	st.log.full = false
	return nil
}

// adopt commits tx on a cloud file that names no step log (or one that
// is gone): a new step log is started, its first record holding all the
// bookkeeping (what the file carried, and tx's) and tx's events; then the
// file is written whole, with tx's changes, naming it. Any step log there
// belongs to another cloud and is moved aside. A crash before the file is
// renamed leaves the new log unnamed: the change did not happen.
func (s *Store) adopt(tx *Tx) error {
	st := s.st
	if st.log.exists {
		old := s.logPath + ".orphaned"
		if err := os.Rename(s.logPath, old); err != nil {
			return fmt.Errorf("moving aside a step log that is not this cloud's: %w", err)
		}
		if st.log.gen > 0 {
			slog.Warn("the step log was not this cloud's (the cloud file was replaced); it was moved aside and a new one started: steps recorded there will run again", "cloud", s.path, "moved_to", old)
		}
	}
	ev, err := s.numberEvents(tx.events)
	if err != nil {
		return err
	}
	rec := st.book.record()
	rec.Gen = 1
	if ev != nil {
		defer ev.f.Close()
		rec.Events = tx.events
	}
	id := newID()
	var buf bytes.Buffer
	for _, v := range []any{logHeader{StepLog: stepLogVersion, ID: id, Created: s.now().UTC()}, rec} {
		b, err := encodeRecord(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	if err := writeAtomic(s.logPath, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	}); err != nil {
		return fmt.Errorf("starting the step log: %w", err)
	}
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return fmt.Errorf("starting the step log: %w", err)
	}
	dev, ino := devIno(fi)
	st.log = &logState{exists: true, id: id, dev: dev, ino: ino, off: fi.Size(), gen: 1, book: st.book, tail: []*logRecord{rec}}
	st.orphan, st.sections = false, false
	crashAt("logged")
	if err := s.writeFull(); err != nil {
		return err
	}
	crashAt("written")
	if ev != nil {
		if err := ev.write(s, rec.Events); err != nil {
			return fmt.Errorf("the cloud was updated but its event log was not (the next access finishes it): %w", err)
		}
	}
	return s.written()
}

// compact rewrites the step log as its bookkeeping alone (book, a reset
// record), once the cloud file and the event log hold everything else it
// recorded.
func (s *Store) compact(book []byte) error {
	st := s.st
	if err := s.syncCloud(); err != nil {
		return err
	}
	var buf bytes.Buffer
	for i, v := range []any{
		logHeader{StepLog: stepLogVersion, ID: st.log.id, Created: s.now().UTC()},
		nil,
		&logRecord{Checkpoint: &checkpoint{Layout: st.ref.layout, Gen: st.log.gen}},
	} {
		if i == 1 {
			buf.Write(book)
			continue
		}
		b, err := encodeRecord(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	before := st.log.off
	if err := writeAtomic(s.logPath, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	}); err != nil {
		return fmt.Errorf("compacting the step log: %w", err)
	}
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return fmt.Errorf("compacting the step log: %w", err)
	}
	dev, ino := devIno(fi)
	st.log = &logState{exists: true, id: st.log.id, dev: dev, ino: ino, off: fi.Size(), gen: st.log.gen, book: st.book}
	st.sinceCheckpoint = 0
	slog.Debug("compacted the step log", "path", s.logPath, "from_bytes", before, "to_bytes", fi.Size())
	return nil
}

// commit writes what tx changed: the step log record first (fsync'd: from
// then on the change is durable), then the cloud file, then the events.
func (s *Store) commit(tx *Tx) error {
	if tx.empty() {
		return nil
	}
	st := s.st
	if st.orphan && tx.onlyEvents() {
		// Nothing to record (a refusal): the cloud file stays as it is,
		// and the step log is not started yet.
		return s.logEventsOnly(tx.events)
	}
	c := st.cloud
	for _, in := range tx.instances {
		c.moved(in)
	}
	if tx.unknown {
		if err := c.Index(); err != nil {
			return err
		}
		st.index()
		// fn may have replaced the maps: they are the bookkeeping now.
		st.book = &bookkeeping{steps: c.Steps, backups: c.Backups, faults: c.Faults, next: c.NextBackup}
		if st.book.steps == nil || st.book.backups == nil || st.book.faults == nil {
			b := newBookkeeping()
			b.apply(st.book.record())
			st.book = b
		}
		st.book.attach(c)
		if !st.orphan {
			st.log.book = st.book
		}
	}
	if tx.nextBackup {
		st.book.next = c.NextBackup
	}
	if st.orphan {
		return s.adopt(tx)
	}
	rec := &logRecord{Gen: st.log.gen + 1}
	whole := tx.unknown || !st.hasSlots
	if tx.unknown {
		rec = st.book.record()
		rec.Gen = st.log.gen + 1
		var buf bytes.Buffer
		inv := &Cloud{FormatVersion: FormatVersion, Name: c.Name, Hosts: c.Hosts, Instances: c.Instances, ServerGroups: c.ServerGroups, VNFManagers: c.VNFManagers}
		if err := EncodeCloud(&buf, inv); err != nil {
			return err
		}
		rec.Inventory = buf.Bytes()
	} else {
		rec.Steps, rec.Backups = tx.steps, tx.backups
		if tx.nextBackup {
			rec.NextBackup = c.NextBackup
		}
		for k := range tx.faults {
			if rec.Faults == nil {
				rec.Faults = map[string]*FaultCount{}
			}
			n := *c.Faults[k]
			rec.Faults[k] = &n
		}
		objs, fits, err := st.changedObjects(tx)
		if err != nil {
			return err
		}
		whole = whole || !fits
		if !whole && len(objs) > 0 {
			rec.Layout = st.ref.layout
		}
		for i := range objs {
			if whole {
				objs[i].Off, objs[i].Size = 0, 0
			}
		}
		rec.Objects = objs
	}

	ev, err := s.numberEvents(tx.events)
	if err != nil {
		return err
	}
	if ev != nil {
		defer ev.f.Close()
		rec.Events = tx.events
	}

	if err := s.appendLog(rec, true); err != nil {
		return err
	}
	crashAt("logged")
	switch {
	case whole && (tx.unknown || len(rec.Objects) > 0):
		if err := s.writeFull(); err != nil {
			return fmt.Errorf("the change was recorded in the step log but the cloud file was not written (the next access finishes it): %w", err)
		}
	case len(rec.Objects) > 0:
		var ps []patch
		for _, o := range rec.Objects {
			ps = append(ps, patch{off: o.Off, data: slotBytes(o.Value, o.Size)})
		}
		if err := s.writeSlots(ps); err != nil {
			return fmt.Errorf("the change was recorded in the step log but the cloud file was not written (the next access finishes it): %w", err)
		}
	}
	crashAt("written")
	if ev != nil {
		if err := ev.write(s, rec.Events); err != nil {
			return fmt.Errorf("the cloud was updated but its event log was not (the next access finishes it): %w", err)
		}
	}
	if whole && (tx.unknown || len(rec.Objects) > 0) {
		return s.written()
	}
	st.sinceCheckpoint++
	if st.sinceCheckpoint >= checkpointEvery {
		return s.checkpoint()
	}
	return nil
}

// changedObjects encodes the hosts and instances tx marked, in file
// order; fits is false when one does not fit its slot (then the slack of
// its section grows for the whole write that follows).
func (st *storeState) changedObjects(tx *Tx) (objs []logObject, fits bool, err error) {
	fits = true
	seen := map[any]bool{}
	add := func(sec int, key any, idx int, ok bool, v any) error {
		if seen[key] {
			return nil
		}
		seen[key] = true
		if !ok {
			return fmt.Errorf("a change marked a %s that is not in the cloud; use Tx.Changed to add elements", strings.TrimSuffix(sectionNames[sec], "s"))
		}
		value, err := marshalElement(v)
		if err != nil {
			return err
		}
		o := logObject{Section: sectionNames[sec], Index: idx, Value: value}
		if st.hasSlots {
			sl := st.slots[sec][idx]
			o.Off, o.Size = sl.off, sl.size
			if over := len(value) - sl.size; over > 0 {
				fits = false
				st.slack[sec] = min(maxSlack, max(2*st.slack[sec], st.slack[sec]+2*over))
			}
		}
		objs = append(objs, o)
		return nil
	}
	for _, h := range tx.hosts {
		idx, ok := st.hostAt[h]
		if err := add(secHosts, h, idx, ok, h); err != nil {
			return nil, false, err
		}
	}
	for _, in := range tx.instances {
		idx, ok := st.instAt[in]
		if err := add(secInstances, in, idx, ok, in); err != nil {
			return nil, false, err
		}
	}
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].Section != objs[j].Section {
			return objs[i].Section < objs[j].Section
		}
		return objs[i].Index < objs[j].Index
	})
	return objs, fits, nil
}

// appendLog appends a record (or a checkpoint) to the step log, fsync'd
// when durable.
func (s *Store) appendLog(rec *logRecord, durable bool) error {
	line, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("opening the step log: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("writing the step log: %w", err)
	}
	if durable {
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("syncing the step log: %w", err)
		}
	}
	s.st.log.appended(rec, len(line))
	return nil
}

// writeSlots makes in-place writes to the cloud file. Not fsync'd: the
// step log has them, and checkpoint syncs the file.
func (s *Store) writeSlots(ps []patch) error {
	f, err := os.OpenFile(s.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening the cloud: %w", err)
	}
	defer f.Close()
	for _, p := range ps {
		if _, err := f.WriteAt(p.data, p.off); err != nil {
			return fmt.Errorf("writing the cloud %s: %w", s.path, err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("writing the cloud %s: %w", s.path, err)
	}
	s.st.file = fingerprint(fi)
	return nil
}

// repairSlots makes the in-place writes the file lacks (those a crash
// interrupted) and returns how many it made.
func (s *Store) repairSlots(ps []patch) (int, error) {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("opening the cloud: %w", err)
	}
	defer f.Close()
	// The last write to each slot is the one that counts.
	last := map[int64]int{}
	for i, p := range ps {
		last[p.off] = i
	}
	n := 0
	for i, p := range ps {
		if last[p.off] != i {
			continue
		}
		cur := make([]byte, len(p.data))
		if _, err := f.ReadAt(cur, p.off); err != nil {
			return n, fmt.Errorf("reading the cloud %s: %w", s.path, err)
		}
		if bytes.Equal(cur, p.data) {
			continue
		}
		if _, err := f.WriteAt(p.data, p.off); err != nil {
			return n, fmt.Errorf("writing the cloud %s: %w", s.path, err)
		}
		n++
	}
	if n > 0 {
		fi, err := f.Stat()
		if err != nil {
			return n, fmt.Errorf("writing the cloud %s: %w", s.path, err)
		}
		s.st.file = fingerprint(fi)
	}
	return n, nil
}

// syncCloud fsyncs the cloud file's in-place writes.
func (s *Store) syncCloud() error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("opening the cloud: %w", err)
	}
	defer f.Close()
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("syncing the cloud %s: %w", s.path, err)
	}
	return nil
}

// checkpoint fsyncs the cloud file and says so in the step log: the
// records before need not be replayed.
func (s *Store) checkpoint() error {
	if err := s.syncCloud(); err != nil {
		return err
	}
	s.st.sinceCheckpoint = 0
	return s.appendLog(&logRecord{Checkpoint: &checkpoint{Layout: s.st.ref.layout, Gen: s.st.log.gen}}, false)
}

// writeFull writes the cloud file whole, in a new layout, with the
// current slack, naming the step log at its current generation.
func (s *Store) writeFull() error {
	st := s.st
	c := st.cloud
	layout := newID()
	c.Log = &LogRef{ID: st.log.id, Gen: st.log.gen, layout: layout}
	var slots [numSections][]slot
	if err := writeAtomic(s.path, func(w io.Writer) error {
		var err error
		slots, err = encodeCloud(w, c, encodeOptions{slack: st.slack, layout: layout})
		return err
	}); err != nil {
		return fmt.Errorf("writing the cloud %s: %w", s.path, err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("checking the written cloud: %w", err)
	}
	st.file, st.ref = fingerprint(fi), *c.Log
	st.slots, st.hasSlots = slots, true
	st.patches, st.rewrite, st.replayed = nil, false, false
	return nil
}

// written logs a checkpoint after a whole write, once the events of the
// records before it are in the event log: the file is durable, nothing
// before needs replaying.
func (s *Store) written() error {
	s.st.sinceCheckpoint = 0
	return s.appendLog(&logRecord{Checkpoint: &checkpoint{Layout: s.st.ref.layout, Gen: s.st.log.gen}}, false)
}

// verify checks that the files read afresh give the cloud s holds.
func (s *Store) verify() error {
	fresh, err := (&Store{path: s.path, logPath: s.logPath, eventsPath: s.eventsPath}).load()
	if err != nil {
		return fmt.Errorf("verify: reading the files again: %w", err)
	}
	if fresh.orphan != s.st.orphan || fresh.sections != s.st.sections || fresh.rewrite || len(fresh.patches) > 0 {
		return fmt.Errorf("verify: the files read again need work: orphan %v, sections %v, rewrite %v, %d patches", fresh.orphan, fresh.sections, fresh.rewrite, len(fresh.patches))
	}
	var a, b bytes.Buffer
	if err := EncodeCloud(&a, s.st.cloud); err != nil {
		return err
	}
	if err := EncodeCloud(&b, fresh.cloud); err != nil {
		return err
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		return fmt.Errorf("verify: the files read again differ from the cloud in memory:\nmemory: %s\nfiles:  %s", a.String(), b.String())
	}
	if c := s.st.cloud; c.place != nil {
		kept := c.place.counted
		c.place = nil
		if fresh := c.placements().counted; !maps.Equal(kept, fresh) {
			return fmt.Errorf("verify: the placement index is stale: %v, want %v", kept, fresh)
		}
	}
	return nil
}

// WriteCloudFile writes c to path atomically: a temporary file in the same
// directory, fsync, rename over the old one, fsync of the directory. It
// takes no lock: use it for files no provider is using yet, as simgen
// does, or hold the lock (exclusive flock on <path>.lock) while a provider
// may run.
func WriteCloudFile(path string, c *Cloud) error {
	if err := writeAtomic(path, func(w io.Writer) error { return EncodeCloud(w, c) }); err != nil {
		return fmt.Errorf("writing the cloud %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces path with what write writes: a temporary file in
// the same directory, fsync, rename over the old one, fsync of the
// directory so the rename itself survives a power loss.
func writeAtomic(path string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
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
