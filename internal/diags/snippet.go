package diags

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcled"
)

// Files maps a filename, exactly as it appears in hcl.Range.Filename, to the
// parsed file, so renderers can show source snippets. A diagnostic whose file
// is missing is rendered without a snippet.
type Files map[string]*hcl.File

// snippet is the source a diagnostic points at, resolved once so that the
// text and JSON renderings agree on it. All offsets are byte offsets into
// src and are guaranteed to be within bounds, whatever the diagnostic said.
type snippet struct {
	src     []byte
	context string // hcled context string, e.g. `rollout "compute"`

	// lines are all lines covered by Context ∪ Subject, in order.
	lines []line

	// hlStart and hlEnd delimit the subject. An empty subject has been
	// widened to one byte where the file allows, so there is something to
	// point at.
	hlStart, hlEnd int
}

// line is one source line; end excludes the "\n" or "\r\n" terminator.
type line struct {
	num        int
	start, end int
}

// newSnippet returns nil when there is nothing trustworthy to show: no
// Subject, no source for its file, or a Subject that starts outside the
// file (the file probably changed since the diagnostic was made, and
// showing some other line would mislead).
//
// Byte offsets are treated as authoritative over line and column numbers,
// as HCL itself does; line numbers shown are recomputed from the bytes.
func newSnippet(d Diagnostic, files Files) *snippet {
	if d.Subject == nil {
		return nil
	}
	f := files[d.Subject.Filename]
	if f == nil || f.Bytes == nil {
		return nil
	}
	src := f.Bytes
	hs, he := d.Subject.Start.Byte, d.Subject.End.Byte
	if hs < 0 || hs > len(src) {
		return nil
	}
	if he <= hs {
		he = hs + 1
	}
	he = min(he, len(src))

	ss, se := hs, he
	if c := d.Context; c != nil && c.Filename == d.Subject.Filename {
		cs := clamp(c.Start.Byte, 0, len(src))
		ce := clamp(c.End.Byte, cs, len(src))
		ss, se = min(ss, cs), max(se, ce)
	}

	return &snippet{
		src:     src,
		context: hcled.ContextString(f, hs),
		lines:   linesCovering(src, ss, se),
		hlStart: hs,
		hlEnd:   he,
	}
}

// linesCovering returns the lines that hold any byte of src[start:end], or
// the single line holding start when the range is empty. Lines are split on
// "\n" only, matching how hclsyntax counts lines; a trailing "\r" is left
// out of the line's text.
func linesCovering(src []byte, start, end int) []line {
	last := max(start, end-1) // offset of the last covered byte
	ls := bytes.LastIndexByte(src[:start], '\n') + 1
	num := bytes.Count(src[:ls], []byte{'\n'}) + 1
	var out []line
	for {
		le, next := len(src), -1
		if i := bytes.IndexByte(src[ls:], '\n'); i >= 0 {
			le, next = ls+i, ls+i+1
		}
		if le > ls && src[le-1] == '\r' {
			le--
		}
		out = append(out, line{num: num, start: ls, end: le})
		if next < 0 || next > last {
			return out
		}
		ls = next
		num++
	}
}

// lineIndex returns the index in s.lines of the line holding byte b, which
// must not precede the first line.
func (s *snippet) lineIndex(b int) int {
	i := len(s.lines) - 1
	for i > 0 && s.lines[i].start > b {
		i--
	}
	return i
}

// subjectLines returns the indices in s.lines of the first and last line of
// the subject.
func (s *snippet) subjectLines() (first, last int) {
	return s.lineIndex(s.hlStart), s.lineIndex(max(s.hlStart, s.hlEnd-1))
}

// text returns the content of l without its line terminator.
func (s *snippet) text(l line) []byte {
	return s.src[l.start:l.end]
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}
