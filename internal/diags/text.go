package diags

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TextOptions controls WriteText.
type TextOptions struct {
	// Color enables ANSI escape sequences: a bold red "Error" or bold yellow
	// "Warning", a bold summary and an underlined subject. Without it the
	// subject is marked with a "^~~~" line instead, when it fits on one line.
	Color bool
	// Width is the column at which Detail is word-wrapped; 0 disables
	// wrapping. Source snippets are never wrapped, so columns stay true.
	Width int
}

// maxSnippetLines bounds the source shown per diagnostic, so that a
// diagnostic about a whole block does not flood the terminal.
const maxSnippetLines = 5

const (
	ansiReset     = "\x1b[0m"
	ansiBold      = "\x1b[1m"
	ansiUnderline = "\x1b[4m"
	ansiBoldRed   = "\x1b[1;31m"
	ansiBoldYel   = "\x1b[1;33m"
)

// WriteText writes d in human-readable form:
//
//	Error: Unsupported argument
//
//	  on main.hcl:2:3, in rollout "compute":
//	   2:   max_unavailabel = 2
//	        ^~~~~~~~~~~~~~~
//
//	An argument named "max_unavailabel" is not expected here.
//
// The snippet covers the lines of Context and Subject, at most five of them
// followed by "(and N more lines)"; when Context starts more than five lines
// above the Subject, the snippet starts at the Subject's line instead. It is
// omitted when the file is not in files, when the Subject starts outside the
// file, or when every line it would show is empty. Byte offsets in the
// ranges are trusted over their line and column numbers.
//
// The output ends with a newline and has no trailing blank line. It is
// written with a single Write call so that concurrent writers do not
// interleave within one diagnostic.
func WriteText(w io.Writer, d Diagnostic, files Files, opts TextOptions) error {
	var b strings.Builder
	formatText(&b, d, files, opts)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteAllText writes each diagnostic as WriteText does, separated by blank
// lines. It does not sort; call Diagnostics.Sort first if wanted.
func WriteAllText(w io.Writer, ds Diagnostics, files Files, opts TextOptions) error {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		formatText(&b, d, files, opts)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatText(b *strings.Builder, d Diagnostic, files Files, opts TextOptions) {
	if opts.Color {
		color := ansiBoldRed
		if d.Severity == Warning {
			color = ansiBoldYel
		}
		fmt.Fprintf(b, "%s%s:%s %s%s%s\n", color, d.Severity.title(), ansiReset, ansiBold, d.Summary, ansiReset)
	} else {
		fmt.Fprintf(b, "%s: %s\n", d.Severity.title(), d.Summary)
	}

	if d.Subject != nil {
		b.WriteByte('\n')
		s := newSnippet(d, files)
		where := ""
		if s != nil && s.context != "" {
			where = ", in " + s.context
		}
		fmt.Fprintf(b, "  on %s%s:\n", position(*d.Subject), where)
		if s != nil {
			writeSnippet(b, s, opts.Color)
		}
	}

	detail := strings.TrimRight(d.Detail, "\n")
	if detail != "" {
		b.WriteByte('\n')
		for l := range strings.SplitSeq(detail, "\n") {
			for _, wl := range wrapLine(l, opts.Width) {
				b.WriteString(wl)
				b.WriteByte('\n')
			}
		}
	}
}

func writeSnippet(b *strings.Builder, s *snippet, color bool) {
	lines := s.lines
	subjFirst, subjLast := s.subjectLines()
	// Keep the start of the subject in view even when a long Context
	// precedes it; the location line above already says where we are.
	from := 0
	if subjFirst >= maxSnippetLines {
		from = subjFirst
	}
	to := min(len(lines), from+maxSnippetLines)

	// A snippet of nothing but empty lines (an empty file, or the end of a
	// file) adds no information to the location line.
	empty := true
	for _, l := range lines[from:to] {
		empty = empty && l.start == l.end
	}
	if empty {
		return
	}

	numWidth := max(4, len(strconv.Itoa(lines[to-1].num)))
	for i := from; i < to; i++ {
		l := lines[i]
		text := string(s.text(l))
		if color {
			// Underline only the subject's share of this line, resetting
			// before the line ends so the next line number stays plain.
			hs := clamp(s.hlStart, l.start, l.end)
			he := clamp(s.hlEnd, hs, l.end)
			if hs < he {
				text = string(s.src[l.start:hs]) + ansiUnderline + string(s.src[hs:he]) + ansiReset + string(s.src[he:l.end])
			}
		}
		if text == "" {
			fmt.Fprintf(b, "%*d:\n", numWidth, l.num)
		} else {
			fmt.Fprintf(b, "%*d: %s\n", numWidth, l.num, text)
		}
		// Plain logs have no underline, so point at a one-line subject.
		if !color && i == subjFirst && subjFirst == subjLast {
			hs := clamp(s.hlStart, l.start, l.end)
			he := clamp(s.hlEnd, hs, l.end)
			b.WriteString(strings.Repeat(" ", numWidth+2))
			b.WriteString(padFor(s.src[l.start:hs]))
			b.WriteByte('^')
			b.WriteString(strings.Repeat("~", max(0, displayWidth(s.src[hs:he])-1)))
			b.WriteByte('\n')
		}
	}
	if more := len(lines) - to; more > 0 {
		noun := "lines"
		if more == 1 {
			noun = "line"
		}
		fmt.Fprintf(b, "  (and %d more %s)\n", more, noun)
	}
}

// padFor returns blanks as wide on screen as text, reusing its tabs so the
// marker lines up whatever the terminal's tab stops are.
func padFor(text []byte) string {
	var b strings.Builder
	for len(text) > 0 {
		r, size := utf8.DecodeRune(text)
		text = text[size:]
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteString(strings.Repeat(" ", runeWidth(r)))
		}
	}
	return b.String()
}

func displayWidth(text []byte) int {
	n := 0
	for len(text) > 0 {
		r, size := utf8.DecodeRune(text)
		text = text[size:]
		if r == '\t' {
			n++
		} else {
			n += runeWidth(r)
		}
	}
	return n
}

// wideRanges approximates Unicode's East Asian Wide and Fullwidth classes
// (CJK, Hangul, fullwidth forms, common emoji), which terminals draw two
// columns wide. Good enough for aligning markers without a new dependency.
var wideRanges = [][2]rune{
	{0x1100, 0x115F}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF},
	{0x4E00, 0x9FFF}, {0xA000, 0xA4CF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
	{0xFE30, 0xFE4F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F},
	{0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
}

// runeWidth is the number of terminal columns r occupies.
func runeWidth(r rune) int {
	if r < 0x20 || (r >= 0x7F && r < 0xA0) || unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
		return 0
	}
	for _, wr := range wideRanges {
		if r >= wr[0] && r <= wr[1] {
			return 2
		}
	}
	return 1
}

// wrapLine word-wraps one line of detail text to width columns. Indented
// lines are returned as they are: they are usually code or lists whose
// layout matters more than the width. Words longer than width (URLs, paths)
// are kept whole rather than broken.
func wrapLine(l string, width int) []string {
	if width <= 0 || l == "" || l[0] == ' ' || l[0] == '\t' || displayWidth([]byte(l)) <= width {
		return []string{l}
	}
	var out []string
	cur, curWidth := "", 0
	for _, word := range strings.Fields(l) {
		ww := displayWidth([]byte(word))
		switch {
		case cur == "":
			cur, curWidth = word, ww
		case curWidth+1+ww <= width:
			cur += " " + word
			curWidth += 1 + ww
		default:
			out = append(out, cur)
			cur, curWidth = word, ww
		}
	}
	return append(out, cur)
}
