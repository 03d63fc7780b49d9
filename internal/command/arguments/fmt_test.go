package arguments

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFmt(t *testing.T) {
	// defaults returns the result of parsing no flags, changed by edit.
	defaults := func(edit func(*Fmt)) *Fmt {
		f := &Fmt{List: true, Write: true, Paths: []string{"."}}
		if edit != nil {
			edit(f)
		}
		return f
	}
	tests := map[string]struct {
		args     []string
		want     *Fmt
		wantErrs []string
	}{
		"defaults": {
			args: nil,
			want: defaults(nil),
		},
		"check": {
			args: []string{"-check"},
			want: defaults(func(f *Fmt) { f.Check = true }),
		},
		"all flags": {
			args: []string{"-check", "-diff", "-list=false", "-write=false", "-recursive", "-no-color", "a", "b.hcl"},
			want: &Fmt{Check: true, Diff: true, Recursive: true, NoColor: true, Paths: []string{"a", "b.hcl"}},
		},
		"explicit true": {
			args: []string{"-list=true", "-write=true", "dir"},
			want: defaults(func(f *Fmt) { f.Paths = []string{"dir"} }),
		},
		"stdin": {
			args: []string{"-diff", "-"},
			want: defaults(func(f *Fmt) { f.Diff = true; f.Paths = []string{"-"} }),
		},
		"stdin with other paths": {
			args:     []string{"-", "dir"},
			want:     defaults(func(f *Fmt) { f.Paths = []string{"-", "dir"} }),
			wantErrs: []string{`"-" (standard input) cannot be combined with other paths`},
		},
		"double dash ends flags": {
			args: []string{"--", "-check"},
			want: defaults(func(f *Fmt) { f.Paths = []string{"-check"} }),
		},
		"unknown flag": {
			args:     []string{"-fix", "dir"},
			want:     defaults(nil),
			wantErrs: []string{"flag provided but not defined: -fix"},
		},
		"bad bool": {
			// The flag package leaves a bad boolean false.
			args:     []string{"-list=sometimes"},
			want:     defaults(func(f *Fmt) { f.List = false }),
			wantErrs: []string{`invalid boolean value "sometimes" for -list: parse error`},
		},
		"flag after path is a path": {
			// Like terraform fmt: flags stop at the first path.
			args: []string{"dir", "-check"},
			want: defaults(func(f *Fmt) { f.Paths = []string{"dir", "-check"} }),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := ParseFmt(tc.args)
			checkErrs(t, errs, tc.wantErrs)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("wrong result (-want +got):\n%s", diff)
			}
		})
	}
}
