package sim

import (
	"bytes"
	"encoding/json"
)

// A Store writes the cloud file whole only now and then; in between it
// rewrites single elements in place. For that it writes each host,
// instance, group and VNF manager on its own line followed by spaces (the
// slack of its section), before the comma:
//
//	  "hosts": [
//	    {"name":"cmp-a1",…,"state":"up"}                    ,
//	    {"name":"cmp-a2",…,"state":"maintenance","state_reason":"…"},
//
// An element that changed is written over its slot (value, then spaces to
// the slot's end) as long as it fits; one that does not fit makes the
// next write a whole one, with more slack. Each whole write gets a new
// random layout id, in the "log" header, and the step log names the
// layout its in-place writes were made in, so they are never replayed
// onto another file (a tool's rewrite, a hand edit).

// defaultSlack is the padding per element of each section: a host entering
// maintenance gains a state reason; an instance's host name may grow, and
// a migration in flight adds its claim (about 150 bytes, so the first one
// on a file written with this slack makes the next write whole and doubles
// the slack).
var defaultSlack = [numSections]int{secHosts: 128, secInstances: 48, secGroups: 32, secVNFMs: 32}

// maxSlack caps the padding a section's overflows can grow it to.
const maxSlack = 1024

// peekLogRef finds the "log" header among the first lines of a cloud file
// without decoding the rest, which a crash may have left inconsistent
// until the step log is replayed onto it.
func peekLogRef(data []byte) *LogRef {
	const prefix = `  "log": `
	for line := 0; line < 8 && len(data) > 0; line++ {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return nil
		}
		l := data[:nl]
		data = data[nl+1:]
		if !bytes.HasPrefix(l, []byte(prefix)) {
			continue
		}
		var r logRefFile
		if json.Unmarshal(bytes.TrimSuffix(l[len(prefix):], []byte(",")), &r) != nil {
			return nil
		}
		return r.ref()
	}
	return nil
}

// scanSlots finds the slot of every element in a file a Store wrote, from
// its line structure alone (a crash never changes that: elements are
// rewritten within their slots). ok is false if the file is not in that
// shape: it is then written whole at the next change.
func scanSlots(data []byte) (slots [numSections][]slot, ok bool) {
	pos := 0
	for sec := 0; sec < numSections; sec++ {
		head := []byte("\n  \"" + sectionNames[sec] + "\": [")
		i := bytes.Index(data[pos:], head)
		if i < 0 {
			return slots, false
		}
		pos += i + len(head)
		slots[sec] = []slot{}
		if pos < len(data) && data[pos] == ']' {
			continue
		}
		for {
			// An element line: four spaces, the slot, a comma unless it
			// is the last, a newline.
			if !bytes.HasPrefix(data[pos:], []byte("\n    {")) {
				return slots, false
			}
			off := pos + 5
			nl := bytes.IndexByte(data[off:], '\n')
			if nl < 0 {
				return slots, false
			}
			end := off + nl
			last := data[end-1] != ','
			size := end - off
			if !last {
				size--
			}
			slots[sec] = append(slots[sec], slot{off: int64(off), size: size})
			pos = end
			if last {
				if !bytes.HasPrefix(data[pos:], []byte("\n  ]")) {
					return slots, false
				}
				pos += 4
				break
			}
		}
	}
	return slots, true
}

// slotBytes is what an element's slot holds: its value, then spaces.
func slotBytes(value []byte, size int) []byte {
	b := make([]byte, size)
	n := copy(b, value)
	for i := n; i < size; i++ {
		b[i] = ' '
	}
	return b
}

// firstField is the start of an element's value up to its first comma:
// its name or id, which never changes, so it tells which element a slot
// holds even when a crash left the rest of the slot half written.
func firstField(value []byte) []byte {
	if i := bytes.IndexByte(value, ','); i > 0 {
		return value[:i+1]
	}
	return value
}

// patch is an in-place write of a slot.
type patch struct {
	off  int64
	data []byte
}

// replay applies to data (the cloud file's bytes) the in-place writes of
// records made in its layout, and returns the slots it changed. A write is
// applied only where the file has the slot it was made in, holding the
// same element.
func replay(data []byte, slots [numSections][]slot, records []*logRecord, layout string) []patch {
	// The slots' bytes before the first write to each, to tell which
	// ended up different.
	orig := map[int64][]byte{}
	var order []int64
	for _, r := range records {
		if r.Layout == "" || r.Layout != layout {
			continue
		}
		for _, o := range r.Objects {
			sec, ok := sectionNumber(o.Section)
			if !ok || o.Index < 0 || o.Index >= len(slots[sec]) {
				continue
			}
			sl := slots[sec][o.Index]
			if sl.off != o.Off || sl.size != o.Size || len(o.Value) > o.Size {
				continue
			}
			cur := data[o.Off : o.Off+int64(o.Size)]
			if !bytes.HasPrefix(cur, firstField(o.Value)) {
				continue
			}
			if _, ok := orig[o.Off]; !ok {
				orig[o.Off] = append([]byte(nil), cur...)
				order = append(order, o.Off)
			}
			copy(cur, slotBytes(o.Value, o.Size))
		}
	}
	var out []patch
	for _, off := range order {
		b := orig[off]
		if cur := data[off : off+int64(len(b))]; !bytes.Equal(cur, b) {
			out = append(out, patch{off: off, data: append([]byte(nil), cur...)})
		}
	}
	return out
}
