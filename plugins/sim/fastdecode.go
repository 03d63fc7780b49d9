package sim

import (
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"
)

// decodeCloudFast decodes a cloud document the way DecodeCloud's
// encoding/json path does, five to ten times faster: a 10,000-host cloud
// is a 64 MB file, and encoding/json's reflection made reading it the
// largest part of `escalator plan` outside the planner.
//
// It is a fast path only. It accepts the documents EncodeCloud writes and
// hand-edited ones in the same shape, and gives up (ok false) on anything
// else: a syntax error, an unknown or repeated field, a value of the wrong
// type, a number that is not a plain integer, a null where encoding/json
// would do something unusual with it, a key with escapes. DecodeCloud then
// decodes with encoding/json, so every error message, and the result of
// every odd input, stays encoding/json's. TestFastDecodeMatchesJSON and
// FuzzDecodeCloud hold the two paths to the same result.
//
// When ok, the cloud has the decoded fields with format_version checked
// and live_migratable defaulted; it is not yet indexed.
func decodeCloudFast(data []byte) (c *Cloud, ok bool) {
	d := &fastDecoder{data: data, intern: make(map[string]string, 1024)}
	c, err := d.cloud()
	if err != nil {
		return nil, false
	}
	d.ws()
	if d.pos != len(d.data) {
		return nil, false
	}
	return c, true
}

// errSlow sends DecodeCloud to encoding/json.
var errSlow = errors.New("not for the fast path")

type fastDecoder struct {
	data []byte
	pos  int
	// intern shares the strings that repeat across the cloud (zones,
	// roles, versions, projects, host names in instances): fewer
	// allocations, less memory.
	intern map[string]string
	// Hosts and instances are allocated in slabs.
	hostSlab []Host
	instSlab []Instance
	// Caches of the instance fields with few values.
	status, project, flavorName few
}

func (d *fastDecoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// open consumes the opening bracket of an object or array.
func (d *fastDecoder) open(c byte) error {
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return nil
	}
	return errSlow
}

// more reports whether another member or element follows, consuming the
// comma before it or the closing bracket after the last one.
func (d *fastDecoder) more(closer byte, first bool) (bool, error) {
	d.ws()
	if d.pos >= len(d.data) {
		return false, errSlow
	}
	c := d.data[d.pos]
	if c == closer {
		d.pos++
		return false, nil
	}
	if first {
		return true, nil
	}
	if c != ',' {
		return false, errSlow
	}
	d.pos++
	return true, nil
}

// null consumes a null literal if one comes next.
func (d *fastDecoder) null() bool {
	d.ws()
	if len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "null" {
		d.pos += 4
		return true
	}
	return false
}

// rawString returns the bytes of the next string without its quotes, and
// whether it has escapes (then the bytes are still escaped). Control
// characters and invalid UTF-8 send the document to the slow path.
func (d *fastDecoder) rawString() (b []byte, escaped bool, err error) {
	d.ws()
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return nil, false, errSlow
	}
	start := d.pos + 1
	high := false
	for i := start; i < len(d.data); i++ {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			b = d.data[start:i]
			if high && !utf8.Valid(b) {
				return nil, false, errSlow // encoding/json replaces bad bytes
			}
			return b, escaped, nil
		case c == '\\':
			escaped = true
			i++ // the escaped character, even a quote
		case c < 0x20:
			return nil, false, errSlow
		case c >= 0x80:
			high = true
		}
	}
	return nil, false, errSlow
}

// key reads an object key and its colon. Keys with escapes go to the slow
// path (encoding/json would unescape them before matching).
func (d *fastDecoder) key() ([]byte, error) {
	k, esc, err := d.rawString()
	if err != nil || esc {
		return nil, errSlow
	}
	d.ws()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		return nil, errSlow
	}
	d.pos++
	return k, nil
}

func (d *fastDecoder) unescape(start int) (string, error) {
	var s string
	if err := json.Unmarshal(d.data[start:d.pos], &s); err != nil {
		return "", errSlow
	}
	return s, nil
}

// str decodes a string into *dst; null leaves it unchanged, as in
// encoding/json.
func (d *fastDecoder) str(dst *string) error {
	if d.null() {
		return nil
	}
	start := d.pos
	b, esc, err := d.rawString()
	if err != nil {
		return err
	}
	if esc {
		*dst, err = d.unescape(start)
		return err
	}
	*dst = string(b)
	return nil
}

// few is a cache for a field with few distinct values (a status, a
// project, a flavor): the last values seen, compared byte by byte, which
// is cheaper than hashing for a map.
type few struct {
	vals [8]string
	next int
}

// fstr is str through the field's cache.
func (d *fastDecoder) fstr(dst *string, c *few) error {
	if d.null() {
		return nil
	}
	start := d.pos
	b, esc, err := d.rawString()
	if err != nil {
		return err
	}
	if esc {
		*dst, err = d.unescape(start)
		return err
	}
	for _, v := range &c.vals {
		if v == string(b) {
			*dst = v
			return nil
		}
	}
	v := string(b)
	c.vals[c.next] = v
	c.next = (c.next + 1) % len(c.vals)
	*dst = v
	return nil
}

// istr is str with the result interned.
func (d *fastDecoder) istr(dst *string) error {
	if d.null() {
		return nil
	}
	start := d.pos
	b, esc, err := d.rawString()
	if err != nil {
		return err
	}
	if esc {
		*dst, err = d.unescape(start)
		return err
	}
	if s, ok := d.intern[string(b)]; ok {
		*dst = s
		return nil
	}
	s := string(b)
	d.intern[s] = s
	*dst = s
	return nil
}

// int64 decodes a plain JSON integer; null leaves *dst unchanged.
func (d *fastDecoder) int64(dst *int64) error {
	if d.null() {
		return nil
	}
	i := d.pos
	neg := false
	if i < len(d.data) && d.data[i] == '-' {
		neg = true
		i++
	}
	start := i
	var n int64
	for i < len(d.data) && isDigit(d.data[i]) {
		n = n*10 + int64(d.data[i]-'0')
		i++
	}
	digits := i - start
	switch {
	case digits == 0, digits > 18: // no number, or one that might overflow
		return errSlow
	case d.data[start] == '0' && digits > 1: // a leading zero is invalid JSON
		return errSlow
	case i < len(d.data) && (d.data[i] == '.' || d.data[i] == 'e' || d.data[i] == 'E'):
		return errSlow // a fraction: an error for an integer field
	}
	if neg {
		n = -n
	}
	*dst = n
	d.pos = i
	return nil
}

func (d *fastDecoder) int(dst *int) error {
	n := int64(*dst)
	if err := d.int64(&n); err != nil {
		return err
	}
	*dst = int(n)
	return nil
}

// bool decodes true or false; null leaves *dst unchanged.
func (d *fastDecoder) bool(dst *bool) error {
	if d.null() {
		return nil
	}
	switch {
	case len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "true":
		*dst = true
		d.pos += 4
	case len(d.data)-d.pos >= 5 && string(d.data[d.pos:d.pos+5]) == "false":
		*dst = false
		d.pos += 5
	default:
		return errSlow
	}
	return nil
}

// time decodes an RFC 3339 string as time.Time's UnmarshalJSON does.
func (d *fastDecoder) time(dst *time.Time) error {
	if d.null() {
		return nil
	}
	start := d.pos
	if _, esc, err := d.rawString(); err != nil || esc {
		return errSlow
	}
	if err := dst.UnmarshalJSON(d.data[start:d.pos]); err != nil {
		return errSlow
	}
	return nil
}

// strings decodes a list of strings: null is nil, [] an empty list.
func (d *fastDecoder) strings(dst *[]string, intern bool) error {
	if d.null() {
		*dst = nil
		return nil
	}
	if err := d.open('['); err != nil {
		return err
	}
	out := []string{}
	for first := true; ; first = false {
		more, err := d.more(']', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		var s string
		if d.null() {
			return errSlow
		}
		if intern {
			err = d.istr(&s)
		} else {
			err = d.str(&s)
		}
		if err != nil {
			return err
		}
		out = append(out, s)
	}
	*dst = out
	return nil
}

// stringMap decodes a map of strings: null is nil, {} an empty map, a
// repeated key keeps its last value.
func (d *fastDecoder) stringMap(dst *map[string]string) error {
	if d.null() {
		*dst = nil
		return nil
	}
	if err := d.open('{'); err != nil {
		return err
	}
	m := make(map[string]string, 4)
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		k, err := d.key()
		if err != nil {
			return err
		}
		ks, ok := d.intern[string(k)]
		if !ok {
			ks = string(k)
			d.intern[ks] = ks
		}
		if d.null() {
			return errSlow // encoding/json stores "" for it; rare, leave it to it
		}
		var v string
		if err := d.istr(&v); err != nil {
			return err
		}
		m[ks] = v
	}
	*dst = m
	return nil
}

// seen tracks the fields of one object: a repeated field goes to the slow
// path, where encoding/json merges it into the first.
type seen uint32

func (s *seen) add(bit int) error {
	if *s&(1<<bit) != 0 {
		return errSlow
	}
	*s |= 1 << bit
	return nil
}

func (d *fastDecoder) resources(r *Resources) error {
	if d.null() {
		return nil
	}
	if err := d.open('{'); err != nil {
		return err
	}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil || !more {
			return err
		}
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "vcpus":
			err = s.add(0)
			if err == nil {
				err = d.int64(&r.VCPUs)
			}
		case "memory_mb":
			err = s.add(1)
			if err == nil {
				err = d.int64(&r.MemoryMB)
			}
		case "disk_gb":
			err = s.add(2)
			if err == nil {
				err = d.int64(&r.DiskGB)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return err
		}
	}
}

func (d *fastDecoder) host() (*Host, error) {
	if d.null() {
		return nil, errSlow
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	if len(d.hostSlab) == 0 {
		d.hostSlab = make([]Host, 256)
	}
	h := &d.hostSlab[0]
	d.hostSlab = d.hostSlab[1:]
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return h, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "name":
			if err = s.add(0); err == nil {
				err = d.str(&h.Name)
			}
		case "role":
			if err = s.add(1); err == nil {
				err = d.istr(&h.Role)
			}
		case "availability_zone":
			if err = s.add(2); err == nil {
				err = d.istr(&h.AvailabilityZone)
			}
		case "aggregates":
			if err = s.add(3); err == nil {
				err = d.strings(&h.Aggregates, true)
			}
		case "capacity":
			if err = s.add(4); err == nil {
				err = d.resources(&h.Capacity)
			}
		case "versions":
			if err = s.add(5); err == nil {
				err = d.stringMap(&h.Versions)
			}
		case "state":
			if err = s.add(6); err == nil {
				err = d.istr(&h.State)
			}
		case "state_reason":
			if err = s.add(7); err == nil {
				err = d.istr(&h.StateReason)
			}
		case "attributes":
			if err = s.add(8); err == nil {
				err = d.stringMap(&h.Attributes)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *fastDecoder) migration() (*Migration, error) {
	if d.null() {
		return nil, nil
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	m := &Migration{}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return m, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "to":
			if err = s.add(0); err == nil {
				err = d.istr(&m.To)
			}
		case "live":
			if err = s.add(1); err == nil {
				err = d.bool(&m.Live)
			}
		case "step_id":
			if err = s.add(2); err == nil {
				err = d.str(&m.StepID)
			}
		case "started":
			if err = s.add(3); err == nil {
				err = d.time(&m.Started)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

// instance decodes an instance; live_migratable defaults to true, as in
// DecodeCloud.
func (d *fastDecoder) instance() (*Instance, error) {
	if d.null() {
		return nil, errSlow
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	if len(d.instSlab) == 0 {
		d.instSlab = make([]Instance, 1024)
	}
	in := &d.instSlab[0]
	d.instSlab = d.instSlab[1:]
	in.LiveMigratable = true
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return in, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "id":
			if err = s.add(0); err == nil {
				err = d.str(&in.ID)
			}
		case "name":
			if err = s.add(1); err == nil {
				err = d.str(&in.Name)
			}
		case "flavor":
			if err = s.add(2); err == nil {
				err = d.flavor(&in.Flavor)
			}
		case "host":
			if err = s.add(3); err == nil {
				err = d.istr(&in.Host)
			}
		case "status":
			if err = s.add(4); err == nil {
				err = d.fstr(&in.Status, &d.status)
			}
		case "project":
			if err = s.add(5); err == nil {
				err = d.fstr(&in.Project, &d.project)
			}
		case "server_group":
			if err = s.add(6); err == nil {
				err = d.istr(&in.ServerGroup)
			}
		case "live_migratable":
			if err = s.add(7); err == nil {
				if d.null() {
					in.LiveMigratable = true // *bool left nil: the default
				} else {
					err = d.bool(&in.LiveMigratable)
				}
			}
		case "migration":
			if err = s.add(8); err == nil {
				in.Migration, err = d.migration()
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *fastDecoder) flavor(f *Flavor) error {
	if d.null() {
		return nil
	}
	if err := d.open('{'); err != nil {
		return err
	}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil || !more {
			return err
		}
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "name":
			if err = s.add(0); err == nil {
				err = d.fstr(&f.Name, &d.flavorName)
			}
		case "vcpus":
			if err = s.add(1); err == nil {
				err = d.int64(&f.VCPUs)
			}
		case "memory_mb":
			if err = s.add(2); err == nil {
				err = d.int64(&f.MemoryMB)
			}
		case "disk_gb":
			if err = s.add(3); err == nil {
				err = d.int64(&f.DiskGB)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return err
		}
	}
}

func (d *fastDecoder) serverGroup() (*ServerGroup, error) {
	if d.null() {
		return nil, errSlow
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	g := &ServerGroup{}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return g, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "id":
			if err = s.add(0); err == nil {
				err = d.istr(&g.ID) // shared with the members' server_group
			}
		case "name":
			if err = s.add(1); err == nil {
				err = d.str(&g.Name)
			}
		case "policy":
			if err = s.add(2); err == nil {
				err = d.istr(&g.Policy)
			}
		case "project":
			if err = s.add(3); err == nil {
				err = d.istr(&g.Project)
			}
		case "members":
			if err = s.add(4); err == nil {
				err = d.strings(&g.Members, false)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *fastDecoder) vnfManager() (*VNFManager, error) {
	if d.null() {
		return nil, errSlow
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	m := &VNFManager{}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return m, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "name":
			if err = s.add(0); err == nil {
				err = d.str(&m.Name)
			}
		case "project":
			if err = s.add(1); err == nil {
				err = d.istr(&m.Project)
			}
		case "url":
			if err = s.add(2); err == nil {
				err = d.istr(&m.URL)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *fastDecoder) stepRecord() (*StepRecord, error) {
	if d.null() {
		return nil, errSlow
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	r := &StepRecord{}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return r, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "action":
			if err = s.add(0); err == nil {
				err = d.istr(&r.Action)
			}
		case "host":
			if err = s.add(1); err == nil {
				err = d.istr(&r.Host)
			}
		case "instance":
			if err = s.add(2); err == nil {
				err = d.str(&r.Instance)
			}
		case "component":
			if err = s.add(3); err == nil {
				err = d.istr(&r.Component)
			}
		case "outputs":
			if err = s.add(4); err == nil {
				err = d.stringMap(&r.Outputs)
			}
		case "completed":
			if err = s.add(5); err == nil {
				err = d.time(&r.Completed)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *fastDecoder) backup() (*Backup, error) {
	if d.null() {
		return nil, errSlow
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	b := &Backup{}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return b, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "host":
			if err = s.add(0); err == nil {
				err = d.istr(&b.Host)
			}
		case "component":
			if err = s.add(1); err == nil {
				err = d.istr(&b.Component)
			}
		case "version":
			if err = s.add(2); err == nil {
				err = d.istr(&b.Version)
			}
		case "step_id":
			if err = s.add(3); err == nil {
				err = d.str(&b.StepID)
			}
		case "created":
			if err = s.add(4); err == nil {
				err = d.time(&b.Created)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *fastDecoder) faultCount() (*FaultCount, error) {
	if d.null() {
		return nil, errSlow
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	f := &FaultCount{}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return f, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "matched":
			if err = s.add(0); err == nil {
				err = d.int(&f.Matched)
			}
		case "injected":
			if err = s.add(1); err == nil {
				err = d.int(&f.Injected)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

// logRef decodes the cloud's "log" header; null is nil.
func (d *fastDecoder) logRef() (*LogRef, error) {
	if d.null() {
		return nil, nil
	}
	if err := d.open('{'); err != nil {
		return nil, err
	}
	r := &LogRef{}
	var s seen
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return r, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "id":
			if err = s.add(0); err == nil {
				err = d.str(&r.ID)
			}
		case "gen":
			if err = s.add(1); err == nil {
				err = d.int64(&r.Gen)
			}
		case "layout":
			if err = s.add(2); err == nil {
				err = d.str(&r.layout)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
}

// list decodes an array of objects: null is nil, [] an empty list.
func list[T any](d *fastDecoder, dst *[]*T, elem func() (*T, error)) error {
	if d.null() {
		*dst = nil
		return nil
	}
	if err := d.open('['); err != nil {
		return err
	}
	out := []*T{}
	for first := true; ; first = false {
		more, err := d.more(']', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		v, err := elem()
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	*dst = out
	return nil
}

// object decodes an object of objects by key: null is nil, a repeated
// key keeps its last value.
func object[T any](d *fastDecoder, dst *map[string]*T, elem func() (*T, error)) error {
	if d.null() {
		*dst = nil
		return nil
	}
	if err := d.open('{'); err != nil {
		return err
	}
	m := map[string]*T{}
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		k, err := d.key()
		if err != nil {
			return err
		}
		v, err := elem()
		if err != nil {
			return err
		}
		m[string(k)] = v
	}
	*dst = m
	return nil
}

func (d *fastDecoder) cloud() (*Cloud, error) {
	if err := d.open('{'); err != nil {
		return nil, err
	}
	c := &Cloud{}
	var s seen
	version := -1
	for first := true; ; first = false {
		more, err := d.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "format_version":
			if err = s.add(0); err == nil {
				if d.null() {
					err = errSlow
				} else {
					err = d.int(&version)
				}
			}
		case "name":
			if err = s.add(1); err == nil {
				err = d.str(&c.Name)
			}
		case "log":
			if err = s.add(10); err == nil {
				c.Log, err = d.logRef()
			}
		case "hosts":
			if err = s.add(2); err == nil {
				err = list(d, &c.Hosts, d.host)
			}
		case "instances":
			if err = s.add(3); err == nil {
				err = list(d, &c.Instances, d.instance)
			}
		case "server_groups":
			if err = s.add(4); err == nil {
				err = list(d, &c.ServerGroups, d.serverGroup)
			}
		case "vnf_managers":
			if err = s.add(5); err == nil {
				err = list(d, &c.VNFManagers, d.vnfManager)
			}
		case "steps":
			if err = s.add(6); err == nil {
				err = object(d, &c.Steps, d.stepRecord)
			}
		case "backups":
			if err = s.add(7); err == nil {
				err = object(d, &c.Backups, d.backup)
			}
		case "next_backup":
			if err = s.add(8); err == nil {
				err = d.int(&c.NextBackup)
			}
		case "faults":
			if err = s.add(9); err == nil {
				err = object(d, &c.Faults, d.faultCount)
			}
		default:
			err = errSlow
		}
		if err != nil {
			return nil, err
		}
	}
	if !knownFormat(version) || (version == formatV1 && c.Log != nil) {
		return nil, errSlow // missing or another version: the slow path says which
	}
	c.FormatVersion = FormatVersion
	if c.Instances == nil {
		c.Instances = []*Instance{} // as DecodeCloud's encoding/json path
	}
	return c, nil
}
