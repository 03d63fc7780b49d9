package arguments

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	tests := map[string]struct {
		args     []string
		want     *Version
		wantErrs []string
	}{
		"defaults": {
			args: nil,
			want: &Version{ViewType: ViewHuman},
		},
		"json": {
			args: []string{"-json"},
			want: &Version{ViewType: ViewJSON},
		},
		"json double dash": {
			args: []string{"--json"},
			want: &Version{ViewType: ViewJSON},
		},
		"json false": {
			args: []string{"-json=false"},
			want: &Version{ViewType: ViewHuman},
		},
		"unknown flag": {
			args:     []string{"-jason"},
			want:     &Version{ViewType: ViewHuman},
			wantErrs: []string{"flag provided but not defined: -jason"},
		},
		"json kept before a bad flag": {
			args:     []string{"-json", "-nope"},
			want:     &Version{ViewType: ViewJSON},
			wantErrs: []string{"flag provided but not defined: -nope"},
		},
		"bad bool": {
			args:     []string{"-json=maybe"},
			want:     &Version{ViewType: ViewHuman},
			wantErrs: []string{`invalid boolean value "maybe" for -json: parse error`},
		},
		"extra args": {
			args:     []string{"now"},
			want:     &Version{ViewType: ViewHuman},
			wantErrs: []string{`too many command-line arguments: version takes no arguments, got unexpected "now"`},
		},
		"flag after arg": {
			args:     []string{"now", "-json"},
			want:     &Version{ViewType: ViewHuman},
			wantErrs: []string{`too many command-line arguments: version takes no arguments, got unexpected "now" "-json"; flags must come before positional arguments`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := ParseVersion(tc.args)
			checkErrs(t, errs, tc.wantErrs)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("wrong result (-want +got):\n%s", diff)
			}
		})
	}
}
