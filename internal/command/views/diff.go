package views

import (
	"bytes"
	"fmt"
	"slices"
)

// A small line diff for "fmt -diff": Myers' O(ND) algorithm over lines,
// rendered as a unified diff with three lines of context, in the format of
// GNU "diff -u". It is written here rather than imported because the only
// candidate in the module graph (github.com/pmezard/go-difflib) has been
// archived for years.

// diffContext is the number of unchanged lines shown around each change.
const diffContext = 3

// maxEditDistance bounds the work (and the O(D²) memory) of the Myers
// search. Inputs that differ by more lines than that, after their common
// head and tail are removed, are shown as one replacement: still a correct
// diff, only not a minimal one.
const maxEditDistance = 2000

type editOp byte

const (
	opEqual  editOp = ' '
	opDelete editOp = '-'
	opInsert editOp = '+'
)

// edit is one line of the edit script. a and b are the line's index in the
// old and new text; for an insertion a is the index of the next old line,
// for a deletion b is the index of the next new line.
type edit struct {
	op   editOp
	a, b int
}

// unifiedDiff returns the unified diff turning old into new, labelled with
// oldName and newName, or nothing if they are equal.
func unifiedDiff(oldName, newName string, old, new []byte) []byte {
	if bytes.Equal(old, new) {
		return nil
	}
	a, b := splitLines(old), splitLines(new)
	edits := diffLines(a, b)

	var out bytes.Buffer
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", oldName, newName)
	for start := 0; start < len(edits); {
		// Find the next change.
		for start < len(edits) && edits[start].op == opEqual {
			start++
		}
		if start == len(edits) {
			break
		}
		// Extend the hunk while the gap to the next change is small enough
		// for the two contexts to touch.
		last := start
		end := start
		for ; end < len(edits); end++ {
			if edits[end].op != opEqual {
				last = end
			} else if end-last > 2*diffContext {
				break
			}
		}
		lo := max(start-diffContext, 0)
		hi := min(last+diffContext+1, len(edits))
		writeHunk(&out, a, b, edits[lo:hi])
		start = hi
	}
	return out.Bytes()
}

func writeHunk(out *bytes.Buffer, a, b []string, hunk []edit) {
	var na, nb int
	for _, e := range hunk {
		switch e.op {
		case opEqual:
			na++
			nb++
		case opDelete:
			na++
		case opInsert:
			nb++
		}
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(hunk[0].a, na), hunkRange(hunk[0].b, nb))
	for _, e := range hunk {
		line := ""
		switch e.op {
		case opEqual, opDelete:
			line = a[e.a]
		case opInsert:
			line = b[e.b]
		}
		out.WriteByte(byte(e.op))
		out.WriteString(line)
		if len(line) == 0 || line[len(line)-1] != '\n' {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats the "start,count" of a hunk header as GNU diff does:
// 1-based, the count left out when it is 1, and the start being the line
// before the hunk when the count is 0.
func hunkRange(first, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", first)
	case 1:
		return fmt.Sprintf("%d", first+1)
	default:
		return fmt.Sprintf("%d,%d", first+1, count)
	}
}

// splitLines splits s after each newline; the last line may lack one.
func splitLines(s []byte) []string {
	var lines []string
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			i = len(s) - 1
		}
		lines = append(lines, string(s[:i+1]))
		s = s[i+1:]
	}
	return lines
}

// diffLines returns an edit script turning a into b.
func diffLines(a, b []string) []edit {
	// The common head and tail are cheap to find and often most of the file.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}

	edits := make([]edit, 0, len(a)+len(b)-pre-suf)
	for i := range pre {
		edits = append(edits, edit{opEqual, i, i})
	}
	mid, ok := myers(a[pre:len(a)-suf], b[pre:len(b)-suf])
	if !ok {
		mid = replaceAll(len(a)-pre-suf, len(b)-pre-suf)
	}
	for _, e := range mid {
		edits = append(edits, edit{e.op, e.a + pre, e.b + pre})
	}
	for i := range suf {
		edits = append(edits, edit{opEqual, len(a) - suf + i, len(b) - suf + i})
	}
	return edits
}

// replaceAll is the edit script that deletes n lines and inserts m.
func replaceAll(n, m int) []edit {
	edits := make([]edit, 0, n+m)
	for i := range n {
		edits = append(edits, edit{opDelete, i, 0})
	}
	for j := range m {
		edits = append(edits, edit{opInsert, n, j})
	}
	return edits
}

// myers returns a shortest edit script turning a into b, preferring
// deletions before insertions, or false if it needs more than
// maxEditDistance edits.
func myers(a, b []string) ([]edit, bool) {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return replaceAll(n, m), true
	}
	limit := min(n+m, maxEditDistance)
	off := limit + 1
	v := make([]int, 2*limit+3) // v[off+k]: furthest x on diagonal k
	// trace[d] holds v[k] for k in [-d, d] as it was before step d.
	var trace [][]int
	for d := 0; d <= limit; d++ {
		trace = append(trace, slices.Clone(v[off-d:off+d+1]))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, n, m), true
			}
		}
	}
	return nil, false
}

// backtrack walks the trace of myers from (n, m) back to (0, 0).
func backtrack(trace [][]int, n, m int) []edit {
	var rev []edit
	x, y := n, m
	for d := len(trace) - 1; d >= 0; d-- {
		v := trace[d] // v[i] is diagonal k = i - d
		k := x - y
		var prevK int
		if k == -d || (k != d && v[k-1+d] < v[k+1+d]) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := 0
		if d > 0 {
			prevX = v[prevK+d]
		}
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x--
			y--
			rev = append(rev, edit{opEqual, x, y})
		}
		if d > 0 {
			if x == prevX {
				y--
				rev = append(rev, edit{opInsert, x, y})
			} else {
				x--
				rev = append(rev, edit{opDelete, x, y})
			}
		}
	}
	slices.Reverse(rev)
	return rev
}
