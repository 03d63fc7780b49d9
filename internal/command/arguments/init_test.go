package arguments

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseInit(t *testing.T) {
	tests := map[string]struct {
		args     []string
		want     *Init
		wantErrs []string
	}{
		"defaults":         {nil, &Init{Dir: "."}, nil},
		"dir":              {[]string{"examples/quickstart"}, &Init{Dir: "examples/quickstart"}, nil},
		"upgrade":          {[]string{"-upgrade", "dir"}, &Init{Dir: "dir", Upgrade: true}, nil},
		"two dashes":       {[]string{"--upgrade=true", "-no-color"}, &Init{Dir: ".", Upgrade: true, NoColor: true}, nil},
		"unknown flag":     {[]string{"-json"}, &Init{Dir: "."}, []string{"flag provided but not defined: -json"}},
		"two dirs":         {[]string{"a", "b"}, &Init{Dir: "a"}, []string{`init takes at most one directory, got unexpected "b"`}},
		"flag after a dir": {[]string{"a", "-upgrade"}, &Init{Dir: "a"}, []string{"flags must come before positional arguments"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := ParseInit(tt.args)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			containsErrs(t, errs, tt.wantErrs)
		})
	}
}

func TestParseProviders(t *testing.T) {
	tests := map[string]struct {
		args     []string
		want     *Providers
		wantErrs []string
	}{
		"defaults":     {nil, &Providers{Dir: "."}, nil},
		"json and dir": {[]string{"-json", "-no-color", "c"}, &Providers{Dir: "c", ViewType: ViewJSON, NoColor: true}, nil},
		"bad flag":     {[]string{"-upgrade"}, &Providers{Dir: "."}, []string{"flag provided but not defined: -upgrade"}},
		"two dirs":     {[]string{"a", "b"}, &Providers{Dir: "a"}, []string{`providers takes at most one directory`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := ParseProviders(tt.args)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			containsErrs(t, errs, tt.wantErrs)
		})
	}
}

func TestParseProvidersSchema(t *testing.T) {
	tests := map[string]struct {
		args     []string
		want     *ProvidersSchema
		wantErrs []string
	}{
		"json":         {[]string{"-json"}, &ProvidersSchema{Dir: "."}, nil},
		"json and dir": {[]string{"-json", "-no-color", "c"}, &ProvidersSchema{Dir: "c", NoColor: true}, nil},
		"no json":      {[]string{"c"}, &ProvidersSchema{Dir: "c"}, []string{"the -json flag is required"}},
		"two dirs":     {[]string{"-json", "a", "b"}, &ProvidersSchema{Dir: "a"}, []string{`providers schema takes at most one directory`}},
		"bad flag":     {[]string{"-upgrade"}, &ProvidersSchema{Dir: "."}, []string{"flag provided but not defined: -upgrade"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := ParseProvidersSchema(tt.args)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			containsErrs(t, errs, tt.wantErrs)
		})
	}
}

// containsErrs checks that errs has one error per entry of want, each
// containing it.
func containsErrs(t *testing.T, errs []error, want []string) {
	t.Helper()
	if len(errs) != len(want) {
		t.Fatalf("got errors %v, want %d", errs, len(want))
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %q does not contain %q", errs[i], w)
		}
	}
}
