package plans

import (
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// encodeFile writes f as json.NewEncoder(w).Encode(f) does, byte for byte
// (fields in order with their omitempty rules, map keys sorted, strings
// escaped HTML-safe, a newline at the end), without reflection and without
// holding the whole document in memory: a 10,000-host plan is about 50 MB
// and 200,000 moves, which encoding/json builds in one growing buffer
// first. The encoding is written out in blocks by another goroutine, so
// that writing one block and encoding the next overlap.
// TestEncodeMatchesJSON holds it to encoding/json; a field added to a plan
// type must be added here too, or that test fails.
func encodeFile(w io.Writer, f *File) error {
	const blocks, size = 3, 320 << 10
	e := &encoder{b: make([]byte, 0, size), full: make(chan []byte, blocks), free: make(chan []byte, blocks)}
	for i := 1; i < blocks; i++ {
		e.free <- make([]byte, 0, size)
	}
	written := make(chan error, 1)
	go func() {
		var err error
		for b := range e.full {
			if err == nil {
				_, err = w.Write(b)
			}
			e.free <- b[:0]
		}
		written <- err
	}()
	e.file(f)
	e.b = append(e.b, '\n')
	e.flush()
	close(e.full)
	if err := <-written; err != nil {
		return err
	}
	return e.err
}

type encoder struct {
	b []byte
	// full carries blocks to the writing goroutine, free brings them
	// back; nil when the encoder only appends to b (tests).
	full, free chan []byte
	err        error
}

// flush hands what is buffered to the writing goroutine and goes on in
// a free block.
func (e *encoder) flush() {
	if len(e.b) == 0 || e.full == nil {
		return
	}
	e.full <- e.b
	e.b = <-e.free
}

// maybeFlush writes out the buffer once it is large; called between
// values.
func (e *encoder) maybeFlush() {
	if len(e.b) >= 256<<10 {
		e.flush()
	}
}

// key appends a field name; first is false for every field but the first.
func (e *encoder) key(first bool, name string) {
	if !first {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

// str appends s as encoding/json does. Plain ASCII (names, ids, versions)
// is copied; anything that needs escaping or UTF-8 checking goes through
// encoding/json itself.
func (e *encoder) str(s string) {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			enc, _ := json.Marshal(s) // a string always marshals
			e.b = append(e.b, enc...)
			return
		}
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, s...)
	e.b = append(e.b, '"')
}

// plain holds the bytes encoding/json copies as they are: printable
// ASCII but for the quote, the backslash and the HTML-sensitive <, > and &.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func (e *encoder) int(n int64) { e.b = strconv.AppendInt(e.b, n, 10) }

func (e *encoder) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *encoder) strs(ss []string) {
	if ss == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '[')
	for i, s := range ss {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(s)
	}
	e.b = append(e.b, ']')
}

// value appends v through encoding/json: for the few small values whose
// encoding has rules of its own (times, raw variable values).
func (e *encoder) value(v any) {
	enc, err := json.Marshal(v)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		return
	}
	e.b = append(e.b, enc...)
}

func (e *encoder) time(t time.Time) { e.value(t) }

func (e *encoder) file(f *File) {
	if f == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '{')
	e.key(true, "format_version")
	e.int(int64(f.FormatVersion))
	e.key(false, "escalator_version")
	e.str(f.EscalatorVersion)
	e.key(false, "created_at")
	e.time(f.CreatedAt)
	e.key(false, "config_digest")
	e.str(f.ConfigDigest)
	e.key(false, "lock_digest")
	e.str(f.LockDigest)
	e.key(false, "inventory_digest")
	e.str(f.InventoryDigest)
	e.key(false, "inventory_time")
	e.time(f.InventoryTime)
	e.key(false, "host_digests")
	e.stringMap(f.HostDigests)
	if len(f.Variables) > 0 {
		e.key(false, "variables")
		e.value(f.Variables)
	}
	e.key(false, "plan")
	e.plan(f.Plan)
	e.b = append(e.b, '}')
}

// stringMap appends m with its keys sorted, as encoding/json does.
func (e *encoder) stringMap(m map[string]string) {
	if m == nil {
		e.b = append(e.b, "null"...)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	e.b = append(e.b, '{')
	for i, k := range keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		e.str(m[k])
		e.maybeFlush()
	}
	e.b = append(e.b, '}')
}

func (e *encoder) plan(p *Plan) {
	if p == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '{')
	e.key(true, "rollouts")
	if p.Rollouts == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i, r := range p.Rollouts {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.rollout(r)
		}
		e.b = append(e.b, ']')
	}
	if len(p.Preflight) > 0 {
		e.key(false, "preflight_checks")
		e.strs(p.Preflight)
	}
	if len(p.After) > 0 {
		e.key(false, "after_checks")
		e.strs(p.After)
	}
	e.key(false, "totals")
	e.totals(&p.Totals)
	if len(p.Warnings) > 0 {
		e.key(false, "warnings")
		e.strs(p.Warnings)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) totals(t *Totals) {
	e.b = append(e.b, '{')
	e.key(true, "hosts")
	e.int(int64(t.Hosts))
	e.key(false, "waves")
	e.int(int64(t.Waves))
	e.key(false, "lower_bound_waves")
	e.int(int64(t.LowerBoundWaves))
	e.key(false, "moves")
	e.int(int64(t.Moves))
	e.key(false, "lower_bound_moves")
	e.int(int64(t.LowerBoundMoves))
	e.key(false, "instances_moved")
	e.int(int64(t.InstancesMoved))
	e.key(false, "expected_duration_ns")
	e.int(int64(t.ExpectedDuration))
	e.b = append(e.b, '}')
}

func (e *encoder) rollout(r *Rollout) {
	if r == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '{')
	e.key(true, "name")
	e.str(r.Name)
	e.key(false, "components")
	e.strs(r.Components)
	e.key(false, "waves")
	if r.Waves == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i, w := range r.Waves {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.wave(w)
		}
		e.b = append(e.b, ']')
	}
	e.key(false, "max_unavailable")
	e.int(int64(r.MaxUnavailable))
	e.key(false, "lower_bound_waves")
	e.int(int64(r.LowerBoundWaves))
	e.key(false, "spare_hosts")
	e.int(int64(r.SpareHosts))
	e.key(false, "failure_policy")
	e.str(r.FailurePolicy)
	if r.MaxFailed != 0 {
		e.key(false, "max_failed")
		e.int(int64(r.MaxFailed))
	}
	e.b = append(e.b, '}')
}

func (e *encoder) wave(w *Wave) {
	if w == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '{')
	e.key(true, "number")
	e.int(int64(w.Number))
	if w.Canary {
		e.key(false, "canary")
		e.bool(w.Canary)
	}
	if w.Group != "" {
		e.key(false, "group")
		e.str(w.Group)
	}
	e.key(false, "hosts")
	if w.Hosts == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i, hv := range w.Hosts {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.hostVisit(hv)
			e.maybeFlush()
		}
		e.b = append(e.b, ']')
	}
	if len(w.Notify) > 0 {
		e.key(false, "notify")
		e.b = append(e.b, '[')
		for i := range w.Notify {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.notification(&w.Notify[i])
		}
		e.b = append(e.b, ']')
	}
	if len(w.Checks) > 0 {
		e.key(false, "checks")
		e.strs(w.Checks)
	}
	if w.Soak != 0 {
		e.key(false, "soak_ns")
		e.int(int64(w.Soak))
	}
	e.key(false, "expected_duration_ns")
	e.int(int64(w.ExpectedDuration))
	e.key(false, "max_group_impact")
	e.int(int64(w.MaxGroupImpact))
	if len(w.Recovery) > 0 {
		e.key(false, "recovery")
		e.b = append(e.b, '[')
		for i, r := range w.Recovery {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, '{')
			e.key(true, "after_wave")
			e.int(int64(r.AfterWave))
			e.key(false, "delay_ns")
			e.int(int64(r.Delay))
			e.key(false, "group")
			e.str(r.Group)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
}

func (e *encoder) hostVisit(hv *HostVisit) {
	if hv == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '{')
	e.key(true, "host")
	e.str(hv.Host)
	if hv.AvailabilityZone != "" {
		e.key(false, "availability_zone")
		e.str(hv.AvailabilityZone)
	}
	e.key(false, "provider")
	e.str(hv.Provider)
	e.key(false, "changes")
	if hv.Changes == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i := range hv.Changes {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.change(&hv.Changes[i])
		}
		e.b = append(e.b, ']')
	}
	e.key(false, "evacuate")
	e.bool(hv.Evacuate)
	if len(hv.Moves) > 0 {
		e.key(false, "moves")
		e.b = append(e.b, '[')
		for i := range hv.Moves {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.move(&hv.Moves[i])
		}
		e.b = append(e.b, ']')
	}
	if len(hv.Verify) > 0 {
		e.key(false, "verify_checks")
		e.strs(hv.Verify)
	}
	e.key(false, "expected_duration_ns")
	e.int(int64(hv.ExpectedDuration))
	e.key(false, "digest")
	e.str(hv.Digest)
	e.b = append(e.b, '}')
}

func (e *encoder) change(c *Change) {
	e.b = append(e.b, '{')
	e.key(true, "component")
	e.str(c.Component)
	e.key(false, "provider")
	e.str(c.Provider)
	e.key(false, "from")
	e.str(c.From)
	e.key(false, "to")
	e.str(c.To)
	e.key(false, "disruption")
	e.str(c.Disruption)
	e.key(false, "expected_duration_ns")
	e.int(int64(c.ExpectedDuration))
	if len(c.Backups) > 0 {
		e.key(false, "backups")
		e.strs(c.Backups)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) move(m *Move) {
	e.b = append(e.b, '{')
	e.key(true, "instance")
	e.str(m.Instance)
	if m.Name != "" {
		e.key(false, "name")
		e.str(m.Name)
	}
	if m.Project != "" {
		e.key(false, "project")
		e.str(m.Project)
	}
	if m.ServerGroup != "" {
		e.key(false, "server_group")
		e.str(m.ServerGroup)
	}
	e.key(false, "from")
	e.str(m.From)
	e.key(false, "to")
	e.str(m.To)
	e.key(false, "live")
	e.bool(m.Live)
	e.key(false, "vcpus")
	e.int(m.VCPUs)
	e.key(false, "memory_mb")
	e.int(m.MemoryMB)
	e.key(false, "to_upgraded")
	e.bool(m.ToUpgraded)
	e.b = append(e.b, '}')
}

func (e *encoder) notification(n *Notification) {
	e.b = append(e.b, '{')
	e.key(true, "notify")
	e.str(n.Notify)
	e.key(false, "url")
	e.str(n.URL)
	e.key(false, "projects")
	e.strs(n.Projects)
	e.key(false, "instances")
	e.int(int64(n.Instances))
	e.key(false, "reply_timeout_ns")
	e.int(int64(n.ReplyTimeout))
	e.key(false, "on_timeout")
	e.str(n.OnTimeout)
	e.b = append(e.b, '}')
}
