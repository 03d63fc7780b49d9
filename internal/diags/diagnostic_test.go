package diags

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

func rng(file string, line, col, byteOff, length int) *hcl.Range {
	return &hcl.Range{
		Filename: file,
		Start:    hcl.Pos{Line: line, Column: col, Byte: byteOff},
		End:      hcl.Pos{Line: line, Column: col + length, Byte: byteOff + length},
	}
}

func TestSeverityString(t *testing.T) {
	for sev, want := range map[Severity]string{Error: "error", Warning: "warning", 7: "Severity(7)"} {
		if got := sev.String(); got != want {
			t.Errorf("Severity(%d).String() = %q, want %q", int(sev), got, want)
		}
	}
}

func TestAppend(t *testing.T) {
	subj := rng("a.hcl", 2, 3, 10, 4)
	ctx := rng("a.hcl", 2, 1, 8, 10)
	errDiag := Diagnostic{Severity: Error, Summary: "bad", Detail: "very bad", Subject: subj}
	warnDiag := Diagnostic{Severity: Warning, Summary: "meh"}
	hclErr := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "hcl bad", Detail: "d", Subject: subj, Context: ctx}
	hclWarn := &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "hcl meh"}
	fromHCLErr := Diagnostic{Severity: Error, Summary: "hcl bad", Detail: "d", Subject: subj, Context: ctx}
	fromHCLWarn := Diagnostic{Severity: Warning, Summary: "hcl meh"}

	tests := []struct {
		name  string
		start Diagnostics
		items []any
		want  Diagnostics
	}{
		{name: "nothing", items: nil, want: nil},
		{name: "nil item", items: []any{nil}, want: nil},
		{name: "Diagnostic", items: []any{errDiag}, want: Diagnostics{errDiag}},
		{name: "*Diagnostic", items: []any{&warnDiag}, want: Diagnostics{warnDiag}},
		{name: "nil *Diagnostic", items: []any{(*Diagnostic)(nil)}, want: nil},
		{name: "Diagnostics", items: []any{Diagnostics{errDiag, warnDiag}}, want: Diagnostics{errDiag, warnDiag}},
		{name: "*hcl.Diagnostic", items: []any{hclErr}, want: Diagnostics{fromHCLErr}},
		{name: "nil *hcl.Diagnostic", items: []any{(*hcl.Diagnostic)(nil)}, want: nil},
		{name: "hcl.Diagnostics", items: []any{hcl.Diagnostics{hclWarn, nil, hclErr}}, want: Diagnostics{fromHCLWarn, fromHCLErr}},
		{name: "hcl invalid severity is an error", items: []any{&hcl.Diagnostic{Summary: "?"}}, want: Diagnostics{{Severity: Error, Summary: "?"}}},
		{name: "error", items: []any{errors.New("boom")}, want: Diagnostics{{Severity: Error, Summary: "boom"}}},
		{name: "joined foreign errors stay one diagnostic", items: []any{errors.Join(errors.New("a"), errors.New("b"))},
			want: Diagnostics{{Severity: Error, Summary: "a\nb"}}},
		{name: "Errs round trip", items: []any{Diagnostics{errDiag, warnDiag}.Errs()[0]}, want: Diagnostics{errDiag}},
		{name: "Err round trip", items: []any{Diagnostics{errDiag, warnDiag, fromHCLErr}.Err()}, want: Diagnostics{errDiag, fromHCLErr}},
		{name: "wrapped diagnostic error keeps the wrapping text",
			items: []any{fmt.Errorf("loading: %w", Diagnostics{errDiag}.Err())},
			want:  Diagnostics{{Severity: Error, Summary: "loading: a.hcl:2:3: bad: very bad"}}},
		{name: "appends to existing", start: Diagnostics{warnDiag}, items: []any{errDiag, nil, hclWarn},
			want: Diagnostics{warnDiag, errDiag, fromHCLWarn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.start.Append(tt.items...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Append mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendCopiesHCLRanges(t *testing.T) {
	subj := rng("a.hcl", 1, 1, 0, 1)
	ds := Diagnostics{}.Append(&hcl.Diagnostic{Summary: "x", Subject: subj})
	subj.Filename = "changed.hcl"
	if got := ds[0].Subject.Filename; got != "a.hcl" {
		t.Errorf("diagnostic aliases the caller's range: filename is now %q", got)
	}
}

func TestAppendPanicsOnUnsupportedType(t *testing.T) {
	for _, item := range []any{42, "oops", []error{errors.New("x")}, hcl.Range{}} {
		t.Run(fmt.Sprintf("%T", item), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Append(%T) did not panic", item)
				}
			}()
			Diagnostics{}.Append(item)
		})
	}
}

func TestHasErrorsAndErr(t *testing.T) {
	tests := []struct {
		name      string
		ds        Diagnostics
		hasErrors bool
		errs      []string
	}{
		{name: "empty"},
		{name: "warnings only", ds: Diagnostics{{Severity: Warning, Summary: "w"}}},
		{
			name: "errors and warnings",
			ds: Diagnostics{
				{Severity: Warning, Summary: "w", Subject: rng("a.hcl", 1, 1, 0, 1)},
				{Severity: Error, Summary: "Unsupported argument", Detail: "No such thing.", Subject: rng("main.hcl", 12, 3, 200, 15)},
				{Severity: Error, Summary: "No detail", Subject: rng("main.hcl", 1, 1, 0, 1)},
				{Severity: Error, Summary: "No subject", Detail: "Explained."},
				{Severity: Error, Summary: "No line", Subject: &hcl.Range{Filename: "x.hcl"}},
			},
			hasErrors: true,
			errs: []string{
				"main.hcl:12:3: Unsupported argument: No such thing.",
				"main.hcl:1:1: No detail",
				"No subject: Explained.",
				"x.hcl: No line",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ds.HasErrors(); got != tt.hasErrors {
				t.Errorf("HasErrors() = %v, want %v", got, tt.hasErrors)
			}
			var msgs []string
			for _, err := range tt.ds.Errs() {
				msgs = append(msgs, err.Error())
			}
			if diff := cmp.Diff(tt.errs, msgs); diff != "" {
				t.Errorf("Errs() mismatch (-want +got):\n%s", diff)
			}
			err := tt.ds.Err()
			if !tt.hasErrors {
				if err != nil {
					t.Errorf("Err() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Err() = nil, want an error")
			}
			if want := errors.Join(tt.ds.Errs()...).Error(); err.Error() != want {
				t.Errorf("Err() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestSort(t *testing.T) {
	mk := func(sev Severity, summary, file string, byteOff int) Diagnostic {
		d := Diagnostic{Severity: sev, Summary: summary}
		if file != "" {
			d.Subject = rng(file, 1, byteOff+1, byteOff, 1)
		}
		return d
	}
	ds := Diagnostics{
		mk(Error, "no subject 1", "", 0),
		mk(Warning, "b.hcl@5 warning", "b.hcl", 5),
		mk(Error, "b.hcl@5 error z", "b.hcl", 5),
		mk(Error, "b.hcl@5 error a", "b.hcl", 5),
		mk(Error, "a.hcl@9", "a.hcl", 9),
		mk(Warning, "no subject 2", "", 0),
		mk(Error, "b.hcl@1", "b.hcl", 1),
		mk(Error, "a.hcl@2 dup", "a.hcl", 2),
		mk(Error, "no subject 3", "", 0),
		mk(Error, "a.hcl@2 dup", "a.hcl", 2),
	}
	// Mark the duplicates so stability is observable.
	ds[7].Detail, ds[9].Detail = "first", "second"
	ds.Sort()

	var got []string
	for _, d := range ds {
		got = append(got, d.Summary+" "+d.Detail)
	}
	want := []string{
		"a.hcl@2 dup first",
		"a.hcl@2 dup second",
		"a.hcl@9 ",
		"b.hcl@1 ",
		"b.hcl@5 error a ",
		"b.hcl@5 error z ",
		"b.hcl@5 warning ",
		"no subject 1 ",
		"no subject 2 ",
		"no subject 3 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Sort order mismatch (-want +got):\n%s", diff)
	}
}

func TestErrorfAndWarningf(t *testing.T) {
	subj := rng("a.hcl", 1, 1, 0, 3)
	got := Errorf(subj, "Invalid batch size", "Batch size must be at least 1, got %d.", 0)
	want := Diagnostic{Severity: Error, Summary: "Invalid batch size", Detail: "Batch size must be at least 1, got 0.", Subject: subj}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Errorf mismatch (-want +got):\n%s", diff)
	}
	if got.Subject == subj {
		t.Error("Errorf kept the caller's range pointer; want a copy")
	}

	w := Warningf(nil, "Deprecated", "Use %q instead.", "max_unavailable")
	want = Diagnostic{Severity: Warning, Summary: "Deprecated", Detail: `Use "max_unavailable" instead.`}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("Warningf mismatch (-want +got):\n%s", diff)
	}
}
