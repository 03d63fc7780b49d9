package diags

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// parse parses src as native HCL and returns its body and a Files holding
// it. Syntax errors are returned as diagnostics so tests can render them.
func parse(t testing.TB, filename, src string) (*hclsyntax.Body, Files, Diagnostics) {
	t.Helper()
	f, hdiags := hclsyntax.ParseConfig([]byte(src), filename, hcl.InitialPos)
	body, _ := f.Body.(*hclsyntax.Body)
	return body, Files{filename: f}, Diagnostics{}.Append(hdiags)
}

// mustParse is parse for sources that must be valid.
func mustParse(t testing.TB, filename, src string) (*hclsyntax.Body, Files) {
	t.Helper()
	body, files, ds := parse(t, filename, src)
	if ds.HasErrors() {
		t.Fatalf("parsing %s: %v", filename, ds.Err())
	}
	return body, files
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

type renderCase struct {
	name string
	// opts apply to the text rendering; cases that only vary them have no
	// JSON golden because the JSON would repeat another case's.
	opts  TextOptions
	build func(t *testing.T) (Diagnostics, Files)
}

const quickstart = `rollout "compute" {
  max_unavailabel = 2
}
`

func quickstartDiag(t *testing.T) (Diagnostics, Files) {
	body, files := mustParse(t, "examples/quickstart/main.hcl", quickstart)
	attr := body.Blocks[0].Body.Attributes["max_unavailabel"]
	return Diagnostics{Errorf(&attr.NameRange, "Unsupported argument",
		`An argument named %q is not expected here. Did you mean %q?`, "max_unavailabel", "max_unavailable")}, files
}

const hostsList = `rollout "compute" {
  hosts = [
    "compute-01",
    42,
    "compute-03",
  ]
}
`

// hostsListDiag reports the element "42" of the hosts list in src, with the
// whole list as Context.
func hostsListDiag(t *testing.T, filename, src string) (Diagnostics, Files) {
	body, files := mustParse(t, filename, src)
	expr := body.Blocks[0].Body.Attributes["hosts"].Expr.(*hclsyntax.TupleConsExpr)
	var subject *hcl.Range
	for _, e := range expr.Exprs {
		if string(e.Range().SliceBytes([]byte(src))) == "42" {
			subject = e.Range().Ptr()
		}
	}
	if subject == nil {
		t.Fatal("no element 42 in hosts")
	}
	d := Errorf(subject, "Invalid host name",
		"Each host must be given as a string, such as \"compute-02\".")
	d.Context = expr.Range().Ptr()
	return Diagnostics{d}, files
}

var renderCases = []renderCase{
	{
		name:  "single_line",
		build: quickstartDiag,
	},
	{
		name:  "color",
		opts:  TextOptions{Color: true},
		build: quickstartDiag,
	},
	{
		name: "multi_line_subject",
		build: func(t *testing.T) (Diagnostics, Files) {
			body, files := mustParse(t, "rollouts.hcl", `rollout "compute" {
  hosts = ["compute-01"]
}

rollout "compute" {
  hosts           = ["compute-02"]
  batch_size      = 2
  max_unavailable = 1
  pause_after     = "10m"
  verify          = true
  order           = "serial"
}
`)
			d := Errorf(body.Blocks[1].Range().Ptr(), "Duplicate rollout block",
				"A rollout named \"compute\" was already declared at rollouts.hcl:1:1. Rollout names must be unique.")
			return Diagnostics{d}, files
		},
	},
	{
		name: "multi_line_subject_short",
		build: func(t *testing.T) (Diagnostics, Files) {
			body, files := mustParse(t, "main.hcl", `rollout "compute" {
  hosts = [
    "compute-01", "compute-01",
  ]
}
`)
			expr := body.Blocks[0].Body.Attributes["hosts"].Expr
			return Diagnostics{Errorf(expr.Range().Ptr(), "Duplicate hosts", "Host %q is listed twice.", "compute-01")}, files
		},
	},
	{
		name:  "subject_with_context",
		build: func(t *testing.T) (Diagnostics, Files) { return hostsListDiag(t, "main.hcl", hostsList) },
	},
	{
		name: "color_subject_with_context",
		opts: TextOptions{Color: true},
		build: func(t *testing.T) (Diagnostics, Files) {
			ds, files := hostsListDiag(t, "main.hcl", hostsList)
			ds[0].Severity = Warning
			return ds, files
		},
	},
	{
		name: "long_context",
		build: func(t *testing.T) (Diagnostics, Files) {
			src := "rollout \"compute\" {\n  hosts = [\n"
			for _, h := range []string{"01", "02", "03", "04", "05", "06"} {
				src += "    \"compute-" + h + "\",\n"
			}
			src += "    42,\n    \"compute-08\",\n    \"compute-09\",\n  ]\n}\n"
			return hostsListDiag(t, "big.hcl", src)
		},
	},
	{
		name: "crlf",
		build: func(t *testing.T) (Diagnostics, Files) {
			return hostsListDiag(t, "windows.hcl", strings.ReplaceAll(hostsList, "\n", "\r\n"))
		},
	},
	{
		name: "no_subject",
		build: func(t *testing.T) (Diagnostics, Files) {
			return Diagnostics{Errorf(nil, "Invalid value for -parallelism",
				"The value must be a whole number greater than zero, got %q.", "-1")}, nil
		},
	},
	{
		name: "no_subject_no_detail",
		build: func(t *testing.T) (Diagnostics, Files) {
			return Diagnostics{{Severity: Error, Summary: "Interrupted"}}, nil
		},
	},
	{
		name: "warning",
		build: func(t *testing.T) (Diagnostics, Files) {
			body, files := mustParse(t, "main.hcl", "rollout \"compute\" {\n  serial = true\n}\n")
			attr := body.Blocks[0].Body.Attributes["serial"]
			d := Warningf(attr.Range().Ptr(), "Deprecated argument",
				"The %q argument is deprecated; use max_unavailable = 1 instead.", "serial")
			return Diagnostics{d}, files
		},
	},
	{
		name: "wrapped_detail",
		opts: TextOptions{Width: 40},
		build: func(t *testing.T) (Diagnostics, Files) {
			ds, files := quickstartDiag(t)
			ds[0].Detail = "An argument named \"max_unavailabel\" is not expected here. Did you mean \"max_unavailable\"?\n" +
				"\n" +
				"The arguments accepted in a rollout block are listed at https://escalator-nfv.example.org/docs/configuration/rollout#arguments.\n" +
				"    max_unavailable = 2 # this indented example line is longer than forty columns\n"
			return ds, files
		},
	},
	{
		name: "beyond_eof",
		build: func(t *testing.T) (Diagnostics, Files) {
			_, files := mustParse(t, "main.hcl", quickstart)
			return Diagnostics{Errorf(&hcl.Range{
				Filename: "main.hcl",
				Start:    hcl.Pos{Line: 40, Column: 3, Byte: 900},
				End:      hcl.Pos{Line: 40, Column: 9, Byte: 906},
			}, "Stale location", "The file changed after this diagnostic was produced.")}, files
		},
	},
	{
		name: "end_beyond_eof",
		build: func(t *testing.T) (Diagnostics, Files) {
			_, files := mustParse(t, "main.hcl", quickstart)
			return Diagnostics{Errorf(&hcl.Range{
				Filename: "main.hcl",
				Start:    hcl.Pos{Line: 2, Column: 3, Byte: 22},
				End:      hcl.Pos{Line: 90, Column: 1, Byte: 5000},
			}, "Range runs past the end", "Only the part inside the file is shown.")}, files
		},
	},
	{
		name: "missing_file",
		build: func(t *testing.T) (Diagnostics, Files) {
			return Diagnostics{Errorf(rng("plugins/nova.hcl", 3, 5, 40, 6), "Unknown plugin", "No plugin named %q is installed.", "nova")}, Files{}
		},
	},
	{
		name: "empty_file",
		build: func(t *testing.T) (Diagnostics, Files) {
			body, files := mustParse(t, "empty.hcl", "")
			return Diagnostics{Errorf(body.MissingItemRange().Ptr(), "Missing rollout block", "At least one rollout block is required.")}, files
		},
	},
	{
		// Real parser diagnostics, including ranges at the very end of a
		// file and one with a Context.
		name: "hcl_syntax_errors",
		build: func(t *testing.T) (Diagnostics, Files) {
			all, files := Diagnostics{}, Files{}
			for _, f := range []struct{ name, src string }{
				{"missing_value.hcl", "rollout \"compute\" {\n  max_unavailable = \n}\n"},
				{"unclosed.hcl", "rollout \"storage\" {\n  hosts = []\n"},
				{"unexpected_eof.hcl", "rollout \"storage\" {\n  hosts = [\n"},
				{"one_line.hcl", "batch_size = 1 max_unavailable = 2\n"},
			} {
				_, fs, ds := parse(t, f.name, f.src)
				if !ds.HasErrors() {
					t.Fatalf("%s: expected syntax errors", f.name)
				}
				all = all.Append(ds)
				files[f.name] = fs[f.name]
			}
			return all, files
		},
	},
	{
		name: "wide_chars_and_tabs",
		build: func(t *testing.T) (Diagnostics, Files) {
			body, files := mustParse(t, "intl.hcl", "rollout \"東京\" { region = \"ap-東京-1\" }\nrollout \"osaka\" {\n\tzone\t= \"大阪\"\n}\n")
			region := body.Blocks[0].Body.Attributes["region"]
			zone := body.Blocks[1].Body.Attributes["zone"]
			return Diagnostics{
				Errorf(region.Expr.Range().Ptr(), "Unknown region", "No region named %q.", "ap-東京-1"),
				Errorf(&zone.NameRange, "Unsupported argument", "Use availability_zone."),
			}, files
		},
	},
	{
		name: "large_line_numbers",
		build: func(t *testing.T) (Diagnostics, Files) {
			src := strings.Repeat("\n", 10004) + "rollout \"compute\" {\n  batch_size = 0\n}\n"
			body, files := mustParse(t, "generated.hcl", src)
			attr := body.Blocks[0].Body.Attributes["batch_size"]
			d := Errorf(attr.Expr.Range().Ptr(), "Invalid batch size", "Must be at least 1.")
			d.Context = attr.Range().Ptr()
			return Diagnostics{d}, files
		},
	},
	{
		name: "all_sorted",
		build: func(t *testing.T) (Diagnostics, Files) {
			q, qFiles := quickstartDiag(t)
			h, hFiles := hostsListDiag(t, "main.hcl", hostsList)
			ds := Diagnostics{}.Append(
				Errorf(nil, "Plan incomplete", "Fix the errors above and run again."),
				Warningf(h[0].Subject, "Numeric host", "Host names are strings."),
				h, q,
			)
			ds.Sort()
			files := Files{}
			for k, v := range qFiles {
				files[k] = v
			}
			for k, v := range hFiles {
				files[k] = v
			}
			return ds, files
		},
	},
}

func TestWriteText(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			ds, files := tc.build(t)
			var buf bytes.Buffer
			if err := WriteAllText(&buf, ds, files, tc.opts); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "text_"+tc.name, buf.Bytes())

			if len(ds) == 1 {
				var one bytes.Buffer
				if err := WriteText(&one, ds[0], files, tc.opts); err != nil {
					t.Fatal(err)
				}
				if one.String() != buf.String() {
					t.Errorf("WriteText and WriteAllText disagree on a single diagnostic:\n%s\nvs\n%s", one.String(), buf.String())
				}
			}
		})
	}
}

func TestToJSON(t *testing.T) {
	for _, tc := range renderCases {
		if tc.opts != (TextOptions{}) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			ds, files := tc.build(t)
			out := make([]JSONDiagnostic, len(ds))
			for i, d := range ds {
				out[i] = ToJSON(d, files)
				checkHighlight(t, d, files, out[i])
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "json_"+tc.name, append(got, '\n'))
		})
	}
}

// checkHighlight verifies, independently of the golden files, that the
// snippet's highlight offsets select exactly the subject's text.
func checkHighlight(t *testing.T, d Diagnostic, files Files, jd JSONDiagnostic) {
	t.Helper()
	sn := jd.Snippet
	if sn == nil {
		return
	}
	if sn.HighlightStartOffset < 0 || sn.HighlightStartOffset > sn.HighlightEndOffset || sn.HighlightEndOffset > len(sn.Code) {
		t.Fatalf("highlight [%d,%d) out of bounds of code (len %d)", sn.HighlightStartOffset, sn.HighlightEndOffset, len(sn.Code))
	}
	src := files[d.Subject.Filename].Bytes
	if d.Subject.Empty() || !d.Subject.CanSliceBytes(src) {
		return
	}
	want := strings.TrimRight(strings.ReplaceAll(string(d.Subject.SliceBytes(src)), "\r", ""), "\n")
	if got := sn.Code[sn.HighlightStartOffset:sn.HighlightEndOffset]; got != want {
		t.Errorf("highlighted code = %q, want subject text %q", got, want)
	}
}

func TestWrapLine(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  []string
	}{
		{"short", 10, []string{"short"}},
		{"no wrapping when width is zero", 0, []string{"no wrapping when width is zero"}},
		{"exactly ten", 11, []string{"exactly ten"}},
		{"one two three four", 9, []string{"one two", "three", "four"}},
		{"a https://example.org/very/long/url b", 10, []string{"a", "https://example.org/very/long/url", "b"}},
		{"  indented lines are never wrapped", 5, []string{"  indented lines are never wrapped"}},
		{"\tnor tab-indented ones", 5, []string{"\tnor tab-indented ones"}},
		{"東京 東京 東京", 9, []string{"東京 東京", "東京"}},
		{"", 5, []string{""}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, wrapLine(tt.in, tt.width)); diff != "" {
			t.Errorf("wrapLine(%q, %d) mismatch (-want +got):\n%s", tt.in, tt.width, diff)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteTextReportsWriteErrors(t *testing.T) {
	ds, files := quickstartDiag(t)
	if err := WriteText(failingWriter{}, ds[0], files, TextOptions{}); err == nil {
		t.Error("WriteText: want error from failing writer")
	}
	if err := WriteAllText(failingWriter{}, ds, files, TextOptions{}); err == nil {
		t.Error("WriteAllText: want error from failing writer")
	}
}

// noPanicSources are small files with the awkward features: CRLF, tabs,
// multi-byte characters, no trailing newline, emptiness.
var noPanicSources = []string{
	"",
	"\n",
	"a = 1",
	"a = \"東京\"\r\nb\t= 2\r\n",
	"rollout \"x\" {\n  y = [\n    1,\n  ]\n}\n\n\n",
	"\r\n\r\n",
}

// TestRenderingNeverPanics feeds every combination of subject and context
// offsets around each source, including offsets before the start, past the
// end and reversed, and checks both renderings stay well-formed.
func TestRenderingNeverPanics(t *testing.T) {
	for _, src := range noPanicSources {
		_, files, _ := parse(t, "f.hcl", src)
		n := len(src)
		for s := -2; s <= n+2; s++ {
			for e := -2; e <= n+2; e++ {
				for _, withCtx := range []bool{false, true} {
					d := Diagnostic{Summary: "s", Detail: "d", Subject: &hcl.Range{
						Filename: "f.hcl", Start: hcl.Pos{Line: 1, Column: 1, Byte: s}, End: hcl.Pos{Line: 1, Column: 1, Byte: e},
					}}
					if withCtx {
						d.Context = &hcl.Range{Filename: "f.hcl", Start: hcl.Pos{Byte: e - 3}, End: hcl.Pos{Byte: s + 3}}
					}
					renderAll(t, d, files)
				}
			}
		}
	}
}

func renderAll(t *testing.T, d Diagnostic, files Files) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic rendering subject %v context %v: %v", d.Subject, d.Context, r)
		}
	}()
	for _, opts := range []TextOptions{{}, {Color: true, Width: 20}} {
		var buf bytes.Buffer
		if err := WriteText(&buf, d, files, opts); err != nil {
			t.Fatal(err)
		}
	}
	jd := ToJSON(d, files)
	if sn := jd.Snippet; sn != nil {
		if sn.HighlightStartOffset < 0 || sn.HighlightStartOffset > sn.HighlightEndOffset || sn.HighlightEndOffset > len(sn.Code) {
			t.Fatalf("subject %v: highlight [%d,%d) out of bounds of code %q", d.Subject, sn.HighlightStartOffset, sn.HighlightEndOffset, sn.Code)
		}
	}
}

// FuzzRendering looks for panics with arbitrary sources and ranges; plain
// go test only runs the seeds.
func FuzzRendering(f *testing.F) {
	for _, src := range noPanicSources {
		f.Add(src, 0, 1, -1, 100)
	}
	f.Add(hostsList, 45, 47, 20, 80)
	f.Fuzz(func(t *testing.T, src string, s, e, cs, ce int) {
		_, files, _ := parse(t, "f.hcl", src)
		d := Diagnostic{
			Subject: &hcl.Range{Filename: "f.hcl", Start: hcl.Pos{Byte: s}, End: hcl.Pos{Byte: e}},
			Context: &hcl.Range{Filename: "f.hcl", Start: hcl.Pos{Byte: cs}, End: hcl.Pos{Byte: ce}},
		}
		renderAll(t, d, files)
	})
}
