package arguments

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseValidate(t *testing.T) {
	tests := map[string]struct {
		args     []string
		want     *Validate
		wantErrs []string
	}{
		"defaults": {
			args: nil,
			want: &Validate{Dir: ".", ViewType: ViewHuman},
		},
		"dir": {
			args: []string{"examples/quickstart"},
			want: &Validate{Dir: "examples/quickstart"},
		},
		"json and no-color": {
			args: []string{"-json", "-no-color", "campaign"},
			want: &Validate{Dir: "campaign", ViewType: ViewJSON, NoColor: true},
		},
		"var": {
			args: []string{"-var", "region=east"},
			want: &Validate{Dir: ".", Vars: []VarArg{{Name: "region", Value: "east"}}},
		},
		"var with equals form": {
			args: []string{"-var=region=east"},
			want: &Validate{Dir: ".", Vars: []VarArg{{Name: "region", Value: "east"}}},
		},
		"var value keeps later equals signs and spaces": {
			args: []string{"-var", "where=role == \"compute\""},
			want: &Validate{Dir: ".", Vars: []VarArg{{Name: "where", Value: `role == "compute"`}}},
		},
		"var empty value": {
			args: []string{"-var", "x="},
			want: &Validate{Dir: ".", Vars: []VarArg{{Name: "x", Value: ""}}},
		},
		"var-file": {
			args: []string{"-var-file=prod.hclvars"},
			want: &Validate{Dir: ".", Vars: []VarArg{{File: "prod.hclvars"}}},
		},
		"order of var and var-file is kept": {
			args: []string{
				"-var-file", "a.hclvars",
				"-var", "x=1",
				"-var-file=b.hclvars",
				"-var", "x=2",
				"-var", "y=3",
				"dir",
			},
			want: &Validate{Dir: "dir", Vars: []VarArg{
				{File: "a.hclvars"},
				{Name: "x", Value: "1"},
				{File: "b.hclvars"},
				{Name: "x", Value: "2"},
				{Name: "y", Value: "3"},
			}},
		},
		"var without equals": {
			args:     []string{"-var", "region"},
			want:     &Validate{Dir: "."},
			wantErrs: []string{`invalid -var "region": expected NAME=VALUE, like -var 'region=east'`},
		},
		"var with empty name": {
			args:     []string{"-var", "=east"},
			want:     &Validate{Dir: "."},
			wantErrs: []string{`invalid -var "=east": the variable name before "=" is empty`},
		},
		"var with blank name": {
			args:     []string{"-var", "  =east"},
			want:     &Validate{Dir: "."},
			wantErrs: []string{`invalid -var "  =east": the variable name before "=" is empty`},
		},
		"var with spaces around name": {
			args:     []string{"-var", "region = east"},
			want:     &Validate{Dir: "."},
			wantErrs: []string{`invalid -var "region = east": the variable name "region " has leading or trailing spaces; did you mean -var 'region=east'?`},
		},
		"every bad var is reported, good ones kept": {
			args: []string{"-var", "a", "-var", "ok=1", "-var", "=b", "-var-file="},
			want: &Validate{Dir: ".", Vars: []VarArg{{Name: "ok", Value: "1"}}},
			wantErrs: []string{
				`invalid -var "a": expected NAME=VALUE, like -var 'region=east'`,
				`invalid -var "=b": the variable name before "=" is empty`,
				`invalid -var-file: the file name is empty`,
			},
		},
		"var missing value": {
			args:     []string{"-var"},
			want:     &Validate{Dir: "."},
			wantErrs: []string{"flag needs an argument: -var"},
		},
		"unknown flag": {
			args:     []string{"-json", "-out=plan", "dir"},
			want:     &Validate{Dir: ".", ViewType: ViewJSON},
			wantErrs: []string{"flag provided but not defined: -out"},
		},
		"two dirs": {
			args:     []string{"a", "b"},
			want:     &Validate{Dir: "a"},
			wantErrs: []string{`too many command-line arguments: validate takes at most one directory, got unexpected "b"`},
		},
		"flag after dir": {
			args:     []string{"dir", "-json"},
			want:     &Validate{Dir: "dir"},
			wantErrs: []string{`too many command-line arguments: validate takes at most one directory, got unexpected "-json"; flags must come before positional arguments`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := ParseValidate(tc.args)
			checkErrs(t, errs, tc.wantErrs)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("wrong result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVarArgString(t *testing.T) {
	for _, tc := range []struct {
		v    VarArg
		want string
	}{
		{VarArg{Name: "x", Value: "1"}, "-var 'x=1'"},
		{VarArg{File: "a.hclvars"}, "-var-file=a.hclvars"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
}
