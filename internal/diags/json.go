package diags

import "strings"

// JSONDiagnostic is the machine-readable form of a Diagnostic, modelled on
// Terraform's so that existing editor and CI tooling can consume it.
type JSONDiagnostic struct {
	// Severity is "error" or "warning".
	Severity string `json:"severity"`
	// Summary is the short description.
	Summary string `json:"summary"`
	// Detail is the long description, possibly empty.
	Detail string `json:"detail"`
	// Range is the Subject; absent when the diagnostic has none.
	Range *JSONRange `json:"range,omitempty"`
	// Snippet is the source around the Subject; absent when the source is
	// not available or the range lies outside it.
	Snippet *JSONSnippet `json:"snippet,omitempty"`
}

// JSONRange is a source range, copied unchanged from the diagnostic.
type JSONRange struct {
	// Filename is the name the file was parsed under.
	Filename string `json:"filename"`
	// Start is the first character of the range.
	Start JSONPos `json:"start"`
	// End is just past the last character of the range.
	End JSONPos `json:"end"`
}

// JSONPos is a position in a source file.
type JSONPos struct {
	// Line is 1-based.
	Line int `json:"line"`
	// Column is 1-based and counts characters (grapheme clusters), not bytes.
	Column int `json:"column"`
	// Byte is the 0-based byte offset from the start of the file.
	Byte int `json:"byte"`
}

// JSONSnippet is the source code a diagnostic refers to.
type JSONSnippet struct {
	// Context names the enclosing top-level block, e.g. `rollout "compute"`.
	Context string `json:"context,omitempty"`
	// Code is the full text of the lines covered by the Context and Subject
	// ranges, joined with "\n" (CRLF line endings are normalised).
	Code string `json:"code"`
	// StartLine is the line number of the first line of Code.
	StartLine int `json:"start_line"`
	// HighlightStartOffset is the byte offset in Code where the subject
	// starts.
	HighlightStartOffset int `json:"highlight_start_offset"`
	// HighlightEndOffset is the byte offset in Code just past the subject.
	HighlightEndOffset int `json:"highlight_end_offset"`
}

// ToJSON converts d for JSON output, using files for the snippet.
func ToJSON(d Diagnostic, files Files) JSONDiagnostic {
	jd := JSONDiagnostic{
		Severity: d.Severity.String(),
		Summary:  d.Summary,
		Detail:   d.Detail,
	}
	if r := d.Subject; r != nil {
		jd.Range = &JSONRange{
			Filename: r.Filename,
			Start:    JSONPos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
			End:      JSONPos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
		}
	}
	s := newSnippet(d, files)
	if s == nil {
		return jd
	}

	// Code drops "\r", so file offsets are mapped line by line rather than
	// by subtracting the snippet's start, which would drift on CRLF files.
	var code strings.Builder
	offsets := make([]int, len(s.lines))
	for i, l := range s.lines {
		if i > 0 {
			code.WriteByte('\n')
		}
		offsets[i] = code.Len()
		code.Write(s.text(l))
	}
	toCode := func(i, b int) int {
		l := s.lines[i]
		return offsets[i] + clamp(b-l.start, 0, l.end-l.start)
	}
	first, last := s.subjectLines()
	// The end is mapped through the line of the subject's last byte so a
	// subject ending in a newline never spills onto the next line of Code.
	start := toCode(first, s.hlStart)
	end := max(start, toCode(last, s.hlEnd))

	jd.Snippet = &JSONSnippet{
		Context:              s.context,
		Code:                 code.String(),
		StartLine:            s.lines[0].num,
		HighlightStartOffset: start,
		HighlightEndOffset:   end,
	}
	return jd
}
