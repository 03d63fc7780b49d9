package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FormatVersion is the version of the cloud file format this build writes.
// It also reads format 1 (the bookkeeping kept in the file, before the step
// log); the first change a provider makes moves that bookkeeping to the
// step log and writes format 2. A file of any other version is refused
// rather than guessed at: a silently misread cloud would make every test
// that uses it lie.
const FormatVersion = 2

// formatV1 is the previous format: no "log" header, bookkeeping in the file.
const formatV1 = 1

// Host states as they appear in the cloud file. They are the sdk.HostState
// names, so the file reads like `escalator plan` output.
const (
	StateUp          = "up"
	StateDown        = "down"
	StateDisabled    = "disabled"
	StateMaintenance = "maintenance"
)

// Server group policies, as Nova spells them.
const (
	PolicyAntiAffinity     = "anti-affinity"
	PolicyAffinity         = "affinity"
	PolicySoftAntiAffinity = "soft-anti-affinity"
	PolicySoftAffinity     = "soft-affinity"
)

// Instance statuses the simulator gives a meaning to. Other Nova statuses
// (SUSPENDED, ERROR, …) may appear in a file and are carried through.
const (
	StatusActive  = "ACTIVE"
	StatusShutoff = "SHUTOFF"
	StatusPaused  = "PAUSED"
	StatusError   = "ERROR"
)

// Cloud is the whole simulated cloud: the inventory plus the bookkeeping
// that makes actions idempotent and faults countable across runs. It is the
// JSON document kept in the cloud file.
type Cloud struct {
	FormatVersion int `json:"format_version"`
	// Name is informational, shown in error messages and the event log.
	Name string `json:"name,omitempty"`
	// Log names the step log that holds this cloud's bookkeeping (see
	// Store); nil in a cloud no provider has changed yet.
	Log          *LogRef        `json:"log,omitempty"`
	Hosts        []*Host        `json:"hosts"`
	Instances    []*Instance    `json:"instances"`
	ServerGroups []*ServerGroup `json:"server_groups"`
	VNFManagers  []*VNFManager  `json:"vnf_managers"`

	// The bookkeeping that makes actions idempotent and faults countable.
	// A provider keeps it in the step log <cloud>.steps.jsonl and leaves
	// it out of the cloud file; ReadCloud and Store fill it in. A cloud
	// file may still carry it (format 1, or a tool that wrote a Cloud
	// with it): the provider's first change moves it to the step log.

	// Steps records every completed action by step id, so an action sent
	// again after a crash is confirmed instead of redone.
	Steps map[string]*StepRecord `json:"steps,omitempty"`
	// Backups are the backups taken by the backup action, by backup id.
	Backups map[string]*Backup `json:"backups,omitempty"`
	// NextBackup numbers backup ids; it only grows.
	NextBackup int `json:"next_backup,omitempty"`
	// Faults counts, per fault block, how often it matched and fired, so
	// `times` and seeded `rate` hold across runs and processes.
	Faults map[string]*FaultCount `json:"faults,omitempty"`

	// Indexes, rebuilt by Index after decoding. Mutations move instances
	// between hosts but never add or remove objects, so they stay valid.
	hostIdx  map[string]*Host
	instIdx  map[string]*Instance
	groupIdx map[string]*ServerGroup
	// tracked: a Store keeps place, the placement index (placement.go).
	tracked bool
	place   *placements
}

// LogRef is the cloud file's "log" header: which step log holds the
// cloud's bookkeeping and how far the file has caught up with it.
type LogRef struct {
	// ID is the step log's id (its first line); a step log with another
	// id belongs to another cloud and is not used.
	ID string `json:"id"`
	// Gen is the generation of the last step log record whose changes
	// the file holds in full (it was written whole after that record).
	Gen int64 `json:"gen"`
	// layout names one whole write of the file by a Store, whose
	// elements later records rewrite in place. Files written by
	// EncodeCloud have none; see store.go.
	layout string
}

// Host is one hypervisor or control-plane node.
type Host struct {
	Name             string    `json:"name"`
	Role             string    `json:"role"`
	AvailabilityZone string    `json:"availability_zone"`
	Aggregates       []string  `json:"aggregates,omitempty"`
	Capacity         Resources `json:"capacity"`
	// Versions maps an installed component to its version.
	Versions map[string]string `json:"versions"`
	// State is up, down, disabled (by an operator) or maintenance (by
	// escalator's enter_maintenance, with the run in StateReason).
	State       string            `json:"state"`
	StateReason string            `json:"state_reason,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// Resources are amounts of compute resources.
type Resources struct {
	VCPUs    int64 `json:"vcpus"`
	MemoryMB int64 `json:"memory_mb"`
	DiskGB   int64 `json:"disk_gb"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.VCPUs + o.VCPUs, r.MemoryMB + o.MemoryMB, r.DiskGB + o.DiskGB}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.VCPUs - o.VCPUs, r.MemoryMB - o.MemoryMB, r.DiskGB - o.DiskGB}
}

// Flavor is an instance's size, with the flavor's name for readability.
type Flavor struct {
	Name string `json:"name,omitempty"`
	Resources
}

// Instance is one VM.
type Instance struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Flavor      Flavor `json:"flavor"`
	Host        string `json:"host"`
	Status      string `json:"status"`
	Project     string `json:"project"`
	ServerGroup string `json:"server_group,omitempty"`
	// LiveMigratable is false for instances Nova cannot live-migrate (PCI
	// passthrough, SR-IOV direct ports, local pinned resources). It
	// defaults to true when the file omits it (see DecodeCloud).
	LiveMigratable bool `json:"live_migratable"`
	// Migration is set while a migration is in flight: Nova's migration
	// context, which claims the destination's resources until it ends.
	Migration *Migration `json:"migration,omitempty"`
}

// Migration is an in-flight migration of an instance.
type Migration struct {
	To      string    `json:"to"`
	Live    bool      `json:"live"`
	StepID  string    `json:"step_id"`
	Started time.Time `json:"started"`
}

// ServerGroup is a Nova server group.
type ServerGroup struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Policy  string   `json:"policy"`
	Project string   `json:"project"`
	Members []string `json:"members"`
}

// VNFManager is the maintenance endpoint of a project's VNF manager.
type VNFManager struct {
	Name    string `json:"name"`
	Project string `json:"project"`
	URL     string `json:"url"`
}

// StepRecord is a completed action.
type StepRecord struct {
	Action    string            `json:"action"`
	Host      string            `json:"host,omitempty"`
	Instance  string            `json:"instance,omitempty"`
	Component string            `json:"component,omitempty"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	Completed time.Time         `json:"completed"`
}

// Backup is what the backup action kept: the component's version on a host.
type Backup struct {
	Host      string    `json:"host"`
	Component string    `json:"component"`
	Version   string    `json:"version"`
	StepID    string    `json:"step_id,omitempty"`
	Created   time.Time `json:"created"`
}

// FaultCount is the persistent counter of one fault block.
type FaultCount struct {
	// Matched counts the calls the block matched; it seeds the rate draw.
	Matched int `json:"matched"`
	// Injected counts the faults it fired; `times` caps it.
	Injected int `json:"injected"`
}

// Host returns the host with the given name, or nil.
func (c *Cloud) Host(name string) *Host { return c.hostIdx[name] }

// Instance returns the instance with the given id, or nil.
func (c *Cloud) Instance(id string) *Instance { return c.instIdx[id] }

// ServerGroup returns the server group with the given id, or nil.
func (c *Cloud) ServerGroup(id string) *ServerGroup { return c.groupIdx[id] }

// Index builds the lookup indexes and checks the cloud's consistency: unique
// names and ids, known states and policies, instances on known hosts,
// server group membership that agrees with the instances. It is called on
// every decode, so a hand-edited mistake is reported before anything runs.
func (c *Cloud) Index() error {
	var errs []string
	add := func(format string, args ...any) {
		if len(errs) < 20 { // enough to fix the file without drowning in it
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	c.place = nil
	c.hostIdx = make(map[string]*Host, len(c.Hosts))
	for i, h := range c.Hosts {
		switch {
		case h == nil:
			add("hosts[%d] is null", i)
			continue
		case h.Name == "":
			add("hosts[%d] has no name", i)
		case c.hostIdx[h.Name] != nil:
			add("host %q appears twice", h.Name)
		}
		c.hostIdx[h.Name] = h
		switch h.State {
		case StateUp, StateDown, StateDisabled, StateMaintenance:
		case "":
			h.State = StateUp
		default:
			add("host %q has state %q; want up, down, disabled or maintenance", h.Name, h.State)
		}
		if h.Capacity.VCPUs < 0 || h.Capacity.MemoryMB < 0 || h.Capacity.DiskGB < 0 {
			add("host %q has a negative capacity", h.Name)
		}
		if h.Versions == nil {
			h.Versions = map[string]string{}
		}
	}
	c.groupIdx = make(map[string]*ServerGroup, len(c.ServerGroups))
	for i, g := range c.ServerGroups {
		switch {
		case g == nil:
			add("server_groups[%d] is null", i)
			continue
		case g.ID == "":
			add("server_groups[%d] has no id", i)
		case c.groupIdx[g.ID] != nil:
			add("server group %q appears twice", g.ID)
		}
		c.groupIdx[g.ID] = g
		switch g.Policy {
		case PolicyAntiAffinity, PolicyAffinity, PolicySoftAntiAffinity, PolicySoftAffinity:
		default:
			add("server group %q has policy %q; want anti-affinity, affinity, soft-anti-affinity or soft-affinity", g.ID, g.Policy)
		}
	}
	c.instIdx = make(map[string]*Instance, len(c.Instances))
	for i, in := range c.Instances {
		switch {
		case in == nil:
			add("instances[%d] is null", i)
			continue
		case in.ID == "":
			add("instances[%d] has no id", i)
		case c.instIdx[in.ID] != nil:
			add("instance %q appears twice", in.ID)
		}
		c.instIdx[in.ID] = in
		if c.hostIdx[in.Host] == nil {
			add("instance %q is on unknown host %q", in.ID, in.Host)
		}
		if in.Migration != nil && c.hostIdx[in.Migration.To] == nil {
			add("instance %q is migrating to unknown host %q", in.ID, in.Migration.To)
		}
		if in.ServerGroup != "" {
			if g := c.groupIdx[in.ServerGroup]; g == nil {
				add("instance %q names unknown server group %q", in.ID, in.ServerGroup)
			} else if !contains(g.Members, in.ID) {
				add("instance %q names server group %q, which does not list it as a member", in.ID, in.ServerGroup)
			}
		}
		if in.Status == "" {
			in.Status = StatusActive
		}
	}
	for _, g := range c.ServerGroups {
		if g == nil {
			continue
		}
		for _, m := range g.Members {
			in := c.instIdx[m]
			switch {
			case in == nil:
				add("server group %q lists unknown instance %q", g.ID, m)
			case in.ServerGroup != g.ID:
				add("server group %q lists instance %q, whose server_group is %q", g.ID, m, in.ServerGroup)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("inconsistent cloud:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// cloudFile is the decoding shape of the cloud file: the Cloud with a
// format_version that can be missing and instances whose live_migratable
// can be missing (most instances can be live-migrated, and a hand-written
// file should only have to mark the exceptions). A custom UnmarshalJSON on
// Instance would do the same at twice the cost of decoding the whole file.
type cloudFile struct {
	FormatVersion *int           `json:"format_version"`
	Name          string         `json:"name"`
	Log           *logRefFile    `json:"log"`
	Hosts         []*Host        `json:"hosts"`
	Instances     []instanceFile `json:"instances"`
	ServerGroups  []*ServerGroup `json:"server_groups"`
	VNFManagers   []*VNFManager  `json:"vnf_managers"`

	Steps      map[string]*StepRecord `json:"steps"`
	Backups    map[string]*Backup     `json:"backups"`
	NextBackup int                    `json:"next_backup"`
	Faults     map[string]*FaultCount `json:"faults"`
}

// logRefFile is LogRef as the file spells it, layout included.
type logRefFile struct {
	ID     string `json:"id"`
	Gen    int64  `json:"gen"`
	Layout string `json:"layout,omitempty"`
}

func (r *logRefFile) ref() *LogRef {
	if r == nil {
		return nil
	}
	return &LogRef{ID: r.ID, Gen: r.Gen, layout: r.Layout}
}

type instanceFile struct {
	*Instance
	// Shadows Instance.LiveMigratable: the shallower field wins.
	LiveMigratable *bool `json:"live_migratable"`
}

// DecodeCloud reads and checks a cloud document. Errors say where the JSON
// is broken (line and column) or what is inconsistent, so the user can fix
// the file; nothing is repaired silently.
//
// Documents in the usual shape take a fast path (see decodeCloudFast); any
// other document, and every broken one, is decoded by encoding/json.
func DecodeCloud(data []byte) (*Cloud, error) {
	c, ok := decodeCloudFast(data)
	if !ok {
		var err error
		if c, err = decodeCloudJSON(data); err != nil {
			return nil, err
		}
	}
	if err := c.Index(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeCloudJSON is DecodeCloud's encoding/json path, without Index.
func decodeCloudJSON(data []byte) (*Cloud, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	// Typos in a hand-edited file ("avaliability_zone") would otherwise
	// vanish silently and the cloud would behave mysteriously.
	dec.DisallowUnknownFields()
	var f cloudFile
	if err := dec.Decode(&f); err != nil {
		// A file of another format version is refused for what it is,
		// not for a field this version does not know.
		var head struct {
			FormatVersion *int `json:"format_version"`
		}
		if json.Unmarshal(data, &head) == nil && head.FormatVersion != nil && !knownFormat(*head.FormatVersion) {
			return nil, formatError(*head.FormatVersion)
		}
		return nil, jsonError(data, err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: more than one value in the file")
	}
	switch {
	case f.FormatVersion == nil:
		return nil, fmt.Errorf("no format_version: this does not look like a sim cloud file (want format_version = %d)", FormatVersion)
	case !knownFormat(*f.FormatVersion):
		return nil, formatError(*f.FormatVersion)
	case *f.FormatVersion == formatV1 && f.Log != nil:
		return nil, errors.New(`format_version 1 has no "log" header: set format_version to 2, or remove the header`)
	}
	c := &Cloud{
		FormatVersion: FormatVersion, Name: f.Name, Log: f.Log.ref(), Hosts: f.Hosts,
		ServerGroups: f.ServerGroups, VNFManagers: f.VNFManagers,
		Steps: f.Steps, Backups: f.Backups, NextBackup: f.NextBackup, Faults: f.Faults,
		Instances: make([]*Instance, len(f.Instances)),
	}
	for i, in := range f.Instances {
		if in.Instance == nil { // null, or {} with only live_migratable
			in.Instance = &Instance{}
		}
		in.Instance.LiveMigratable = in.LiveMigratable == nil || *in.LiveMigratable
		c.Instances[i] = in.Instance
	}
	return c, nil
}

func knownFormat(v int) bool { return v == FormatVersion || v == formatV1 }

func formatError(v int) error {
	return fmt.Errorf("format_version %d is not supported by this sim provider, which reads format_version %d and %d; use the escalator release that wrote the file, or regenerate it with simgen", v, formatV1, FormatVersion)
}

// jsonError adds a line and column to a JSON syntax or type error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
}

// Sections of the cloud file that hold one element per line, in file
// order.
const (
	secHosts = iota
	secInstances
	secGroups
	secVNFMs
	numSections
)

var sectionNames = [numSections]string{"hosts", "instances", "server_groups", "vnf_managers"}

// count is the number of elements of section sec.
func (c *Cloud) count(sec int) int {
	switch sec {
	case secHosts:
		return len(c.Hosts)
	case secInstances:
		return len(c.Instances)
	case secGroups:
		return len(c.ServerGroups)
	}
	return len(c.VNFManagers)
}

// element is element i of section sec.
func (c *Cloud) element(sec, i int) any {
	switch sec {
	case secHosts:
		return c.Hosts[i]
	case secInstances:
		return c.Instances[i]
	case secGroups:
		return c.ServerGroups[i]
	}
	return c.VNFManagers[i]
}

// EncodeCloud writes c as JSON with one host, instance or group per line:
// compact enough for a 10,000-host cloud, still readable and diffable, and
// editable by hand for the small ones. It writes the bookkeeping c
// carries, and its log header without a layout (a file written this way
// is always rewritten whole by the provider's next change).
func EncodeCloud(w io.Writer, c *Cloud) error {
	_, err := encodeCloud(w, c, encodeOptions{bookkeeping: true})
	return err
}

// encodeOptions are the differences between EncodeCloud and a Store's own
// writes.
type encodeOptions struct {
	// slack pads each element of a section with that many spaces before
	// the comma after it, so that it can be rewritten in place when it
	// grows a little (see slot).
	slack [numSections]int
	// layout is written in the log header.
	layout string
	// bookkeeping writes steps, backups, faults and next_backup.
	bookkeeping bool
}

// slot is where one element sits in a file a Store wrote: off is the
// offset of its first byte, size the bytes from there to the comma or
// newline after it (the element, then padding spaces).
type slot struct {
	off  int64
	size int
}

// encodeCloud is EncodeCloud with options; it returns where each element
// went.
func encodeCloud(w io.Writer, c *Cloud, o encodeOptions) (slots [numSections][]slot, err error) {
	e := &lineEncoder{bw: bufio.NewWriterSize(w, 1<<20)}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	e.str(fmt.Sprintf("{\n  \"format_version\": %d,\n", FormatVersion))
	if c.Name != "" {
		e.str(`  "name": `)
		e.value(c.Name)
		e.str(",\n")
	}
	if c.Log != nil {
		e.str(`  "log": `)
		e.value(logRefFile{ID: c.Log.ID, Gen: c.Log.Gen, Layout: o.layout})
		e.str(",\n")
	}
	// Every section after the first ends the previous one with a comma.
	first := true
	open := func(name, bracket string) {
		if !first {
			e.str(",\n")
		}
		first = false
		e.str(fmt.Sprintf("  %q: %s", name, bracket))
	}
	var pad []byte
	for sec := 0; sec < numSections; sec++ {
		n := c.count(sec)
		open(sectionNames[sec], "[")
		slack := o.slack[sec]
		if len(pad) < slack {
			pad = bytes.Repeat([]byte{' '}, slack)
		}
		slots[sec] = make([]slot, n)
		for i := 0; i < n; i++ {
			e.str("\n    ")
			off := e.n
			e.value(c.element(sec, i))
			e.raw(pad[:slack])
			slots[sec][i] = slot{off: off, size: int(e.n - off)}
			if i < n-1 {
				e.str(",")
			}
		}
		if n > 0 {
			e.str("\n  ")
		}
		e.str("]")
	}
	// The bookkeeping maps follow, each entry on its own line, in key
	// order so the file is stable between writes.
	object := func(name string, keys []string, get func(k string) any) {
		if len(keys) == 0 {
			return
		}
		open(name, "{")
		for i, k := range keys {
			if i > 0 {
				e.str(",")
			}
			e.str("\n    ")
			e.value(k)
			e.str(": ")
			e.value(get(k))
		}
		e.str("\n  }")
	}
	if o.bookkeeping {
		object("steps", sortedKeys(c.Steps), func(k string) any { return c.Steps[k] })
		object("backups", sortedKeys(c.Backups), func(k string) any { return c.Backups[k] })
		object("faults", sortedKeys(c.Faults), func(k string) any { return c.Faults[k] })
		if c.NextBackup != 0 {
			open("next_backup", "")
			e.str(strconv.Itoa(c.NextBackup))
		}
	}
	e.str("\n}\n")
	if e.err != nil {
		return slots, e.err
	}
	return slots, e.bw.Flush()
}

// lineEncoder writes JSON values without the newline json.Encoder appends,
// counting the bytes written and keeping the first error.
type lineEncoder struct {
	bw  *bufio.Writer
	n   int64
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

func (e *lineEncoder) str(s string) {
	e.bw.WriteString(s)
	e.n += int64(len(s))
}

func (e *lineEncoder) raw(b []byte) {
	e.bw.Write(b)
	e.n += int64(len(b))
}

func (e *lineEncoder) value(v any) {
	if e.err != nil {
		return
	}
	e.buf.Reset()
	if e.err = e.enc.Encode(v); e.err != nil {
		return
	}
	e.raw(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")))
}

// marshalElement encodes one element of the cloud file exactly as
// encodeCloud writes it.
func marshalElement(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding the cloud: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
