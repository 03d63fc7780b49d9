package command

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMainHelp checks that -h, -help and --help print a command's help on
// stdout and exit 0, wherever they appear among its arguments, for every
// registered command.
func TestMainHelp(t *testing.T) {
	streams, _, _ := testStreams("")
	for name, factory := range Commands(Meta{Streams: streams}) {
		c, err := factory()
		if err != nil {
			t.Fatal(err)
		}
		// A nested command ("providers schema") is several words.
		words := strings.Fields(name)
		with := func(before []string, after ...string) []string {
			return append(append(slices.Clone(before), words...), after...)
		}
		for _, args := range [][]string{
			with(nil, "-help"),
			with(nil, "-h"),
			with(nil, "--help"),
			with([]string{"-help"}),
			with(nil, "-json", "-h"),
			with(nil, "not-a-flag", "-help"),
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				r := runMain(t, args...)
				if r.code != ExitOK {
					t.Errorf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
				}
				if want := c.Help() + "\n"; r.stdout != want {
					t.Errorf("wrong help (-want +got):\n%s", cmp.Diff(want, r.stdout))
				}
				if !strings.HasPrefix(r.stdout, "Usage: escalator [global options] "+name) {
					t.Errorf("help does not start with the usage line:\n%s", r.stdout)
				}
				if r.stderr != "" {
					t.Errorf("unexpected stderr:\n%s", r.stderr)
				}
			})
		}
		if c.Synopsis() == "" {
			t.Errorf("%s has no synopsis", name)
		}
	}
}

func TestMainGeneralHelp(t *testing.T) {
	for _, args := range [][]string{{"-help"}, {"-h"}, {"--help"}} {
		r := runMain(t, args...)
		if r.code != ExitOK {
			t.Errorf("%v: exit %d, want 0", args, r.code)
		}
		for _, want := range []string{"Usage: escalator [global options] <command>", "  fmt ", "  version ", "-chdir=DIR", "-install-autocomplete"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help does not contain %q:\n%s", args, want, r.stdout)
			}
		}
	}
}

func TestMainUsageErrors(t *testing.T) {
	tests := map[string]struct {
		args      []string
		wantInErr []string
	}{
		"no command": {
			args:      nil,
			wantInErr: []string{"Usage: escalator [global options] <command>"},
		},
		"unknown command": {
			args:      []string{"fmtt"},
			wantInErr: []string{`Error: escalator has no command named "fmtt". Did you mean "fmt"?`},
		},
		"unknown command, nothing close": {
			args:      []string{"deploy"},
			wantInErr: []string{`Error: escalator has no command named "deploy".` + "\n"},
		},
		"unknown global option": {
			args:      []string{"-verbose"},
			wantInErr: []string{"Error: unknown global option -verbose", "Usage: escalator"},
		},
		"command flag before the command": {
			args:      []string{"-check", "fmt"},
			wantInErr: []string{"Invalid flags before the subcommand", "Usage: escalator [global options] fmt"},
		},
		"chdir without value": {
			args:      []string{"-chdir", "version"},
			wantInErr: []string{"Error: invalid -chdir option: it needs an equals sign and a directory"},
		},
		"chdir empty": {
			args:      []string{"-chdir=", "version"},
			wantInErr: []string{"Error: invalid -chdir option"},
		},
		"chdir twice": {
			args:      []string{"-chdir=.", "-chdir=.", "version"},
			wantInErr: []string{"Error: invalid -chdir option: it may be given only once"},
		},
		"chdir to a missing directory": {
			args:      []string{"-chdir=testdata/nothing-here", "version"},
			wantInErr: []string{"Error: cannot use -chdir=testdata/nothing-here: no such file or directory"},
		},
		"chdir to a file": {
			args:      []string{"-chdir=cli.go", "version"},
			wantInErr: []string{"Error: cannot use -chdir=cli.go: not a directory"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Chdir(".") // restore the working directory afterwards
			r := runMain(t, tc.args...)
			if r.code != ExitError {
				t.Errorf("exit %d, want %d", r.code, ExitError)
			}
			for _, want := range tc.wantInErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("unexpected stdout:\n%s", r.stdout)
			}
		})
	}
}

func TestMainChdir(t *testing.T) {
	t.Chdir(".") // restore the working directory afterwards
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "campaign", "a.hcl"), "a=1\n")

	for _, args := range [][]string{
		{"-chdir=" + filepath.Join(dir, "campaign"), "fmt"},
		{"--chdir=" + filepath.Join(dir, "campaign"), "fmt", "-check"},
	} {
		writeFile(t, filepath.Join(dir, "campaign", "a.hcl"), "a=1\n")
		r := runMain(t, args...)
		// Paths are relative to the new directory.
		if r.stdout != "a.hcl\n" {
			t.Errorf("%v: stdout %q, stderr %q", args, r.stdout, r.stderr)
		}
	}
	wd, _ := os.Getwd()
	if want, _ := filepath.EvalSymlinks(filepath.Join(dir, "campaign")); !sameDir(wd, want) {
		t.Errorf("working directory is %s, want %s", wd, want)
	}
}

func sameDir(a, b string) bool {
	ia, err1 := os.Stat(a)
	ib, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ia, ib)
}

func TestMainVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"-version"}, {"-v"}, {"--version"}} {
		r := runMain(t, args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "escalator v") {
			t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	r := runMain(t, "-version", "-json")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, `{"version":`) {
		t.Errorf("-version -json: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestMainExitCodes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.hcl"), "a=1\n")
	writeFile(t, filepath.Join(dir, "broken", "b.hcl"), "a=\n")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, ExitOK},
		{[]string{"version", "-nope"}, ExitError},
		{[]string{"fmt", "-check", dir}, ExitFmtCheck},
		{[]string{"fmt", "-check", filepath.Join(dir, "broken")}, ExitFmtError},
	} {
		if r := runMain(t, tc.args...); r.code != tc.want {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

// TestMainAutocomplete asks for completions the way a shell does (COMP_LINE
// in the environment). posener/complete prints them on os.Stdout, so the
// test swaps it for a pipe.
func TestMainAutocomplete(t *testing.T) {
	t.Chdir("testdata")
	tests := []struct {
		line string
		want []string
	}{
		{"escalator ", []string{"apply", "fmt", "force-unlock", "graph", "init", "plan", "providers", "rollback", "serve", "show", "status", "token", "validate", "version"}},
		{"escalator f", []string{"fmt", "force-unlock"}},
		{"escalator ver", []string{"version"}},
		{"escalator -", []string{"-chdir", "-help", "-install-autocomplete", "-log-format", "-log-level", "-uninstall-autocomplete", "-version"}},
		{"escalator version -", []string{"-chdir", "-json", "-log-format", "-log-level"}},
		{"escalator fmt -ch", []string{"-chdir", "-check"}},
		{"escalator fmt -list ", []string{"false", "true"}},
		{"escalator fmt fmt/c", []string{"fmt/campaign.hcl"}},
		{"escalator fmt fmt/p", []string{"fmt/prod.hclvars"}},
		{"escalator -chdir=fmt fm", []string{"fmt"}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			t.Setenv("COMP_LINE", tc.line)
			got := captureStdout(t, func() {
				streams, _, _ := testStreams("")
				if code := Main(strings.Fields(tc.line)[1:], streams); code != ExitOK {
					t.Errorf("exit %d", code)
				}
			})
			lines := strings.Fields(got)
			slices.Sort(lines)
			if diff := cmp.Diff(tc.want, lines); diff != "" {
				t.Errorf("wrong completions (-want +got):\n%s", diff)
			}
		})
	}
}

func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = orig }()
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	f()
	w.Close()
	return <-done
}
