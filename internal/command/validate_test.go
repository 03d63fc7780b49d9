package command

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/internal/command/views"
)

func runValidate(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	c := &ValidateCommand{Meta: Meta{Streams: streams}}
	code := c.Run(args)
	return result{code, stdout.String(), stderr.String()}
}

// TestValidateGolden runs validate, human and -json, on each campaign under
// testdata/validate (and the quickstart) and compares stdout and stderr with golden files.
// Run with -update to rewrite them.
func TestValidateGolden(t *testing.T) {
	tests := []struct {
		dir  string
		code int
	}{
		{"valid", ExitOK},
		{"invalid", ExitError},
		{"cycle", ExitError},
	}
	for _, tt := range tests {
		for _, mode := range []string{"human", "json"} {
			t.Run(tt.dir+"/"+mode, func(t *testing.T) {
				dir := filepath.Join("testdata", "validate", tt.dir)
				if tt.dir == "valid" {
					// The quickstart is the valid campaign: a copy would
					// drift from it.
					dir = filepath.Join("..", "..", "examples", "quickstart")
				}
				args := []string{dir}
				if mode == "json" {
					args = []string{"-json", dir}
				}
				r := runValidate(t, args...)
				if r.code != tt.code {
					t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
				}
				got := "# stdout\n" + r.stdout + "# stderr\n" + r.stderr
				golden := filepath.Join("testdata", "validate", tt.dir+"."+mode+".golden")
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if diff := cmp.Diff(string(want), got); diff != "" {
					t.Errorf("output differs from %s (-want +got):\n%s", golden, diff)
				}
			})
		}
	}
}

func TestValidateJSONShape(t *testing.T) {
	r := runValidate(t, "-json", filepath.Join("testdata", "validate", "invalid"))
	var out views.ValidateOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if out.Valid || out.ErrorCount != 3 || len(out.Diagnostics) != 3 {
		t.Fatalf("got %+v", out)
	}
	// Each error carries the file and line of the offending text.
	want := map[string]int{"Reference to undeclared hosts block": 14, "Unsupported argument": 20, "Unsupported block type": 23}
	for _, d := range out.Diagnostics {
		if d.Range == nil || !strings.HasSuffix(d.Range.Filename, "main.hcl") || d.Range.Start.Line != want[d.Summary] {
			t.Errorf("diagnostic %q at %+v, want line %d", d.Summary, d.Range, want[d.Summary])
		}
	}
}

func TestValidateArgumentErrors(t *testing.T) {
	r := runValidate(t, "-var", "novalue", ".")
	if r.code != ExitError || !strings.Contains(r.stderr, "expected NAME=VALUE") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// In JSON mode, argument errors are JSON too.
	r = runValidate(t, "-json", "-var", "novalue", ".")
	var out views.ValidateOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Valid || out.ErrorCount != 1 {
		t.Errorf("exit %d, stdout %q: %v", r.code, r.stdout, err)
	}
	r = runValidate(t, filepath.Join(t.TempDir(), "nope"))
	if r.code != ExitError || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("missing dir: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestValidateVars(t *testing.T) {
	dir := t.TempDir()
	src := `
escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}
variable "pct" {
  type = string
  validation {
    condition     = endswith(var.pct, "%")
    error_message = "pct must be a percentage such as \"10%\"."
  }
}
provider "sim" {}
hosts "all" {
  provider = provider.sim
}
component "os" {
  hosts   = hosts.all
  version = "12"
}
rollout "all" {
  components      = [component.os]
  max_unavailable = var.pct
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// Unset: valid (unknown until plan).
	if r := runValidate(t, dir); r.code != ExitOK {
		t.Errorf("unset: exit %d\n%s", r.code, r.stderr)
	}
	if r := runValidate(t, "-var", "pct=10%", dir); r.code != ExitOK {
		t.Errorf("10%%: exit %d\n%s", r.code, r.stderr)
	}
	if r := runValidate(t, "-var", "pct=0%", dir); r.code != ExitError || !strings.Contains(r.stderr, "must be more than zero") {
		t.Errorf("0%%: exit %d\n%s", r.code, r.stderr)
	}
	vf := filepath.Join(dir, "prod.hclvars")
	if err := os.WriteFile(vf, []byte("pct = \"ten\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runValidate(t, "-var-file="+vf, dir); r.code != ExitError || !strings.Contains(r.stderr, `pct must be a percentage`) {
		t.Errorf("var-file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestValidateAppendedMistakes appends an unknown block, and separately a
// misspelled argument, to each file of each example campaign: validate must
// fail and name that file and the appended line, in both output modes.
func TestValidateAppendedMistakes(t *testing.T) {
	// Dotfiles (the lock file) are not campaign files.
	files, _ := filepath.Glob("../../examples/*/[^.]*.hcl")
	if len(files) == 0 {
		t.Fatal("no example files")
	}
	mistakes := map[string]string{
		"unknown block":         "rollot \"extra\" {\n}\n",
		"misspelled argument":   "componets = []\n",
		"misspelled in a block": "rollout \"extra\" {\n  components = []\n  max_unavailabel = 1\n}\n",
	}
	for _, file := range files {
		for name, text := range mistakes {
			t.Run(filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file)+"/"+name, func(t *testing.T) {
				dir := copyDir(t, filepath.Dir(file))
				target := filepath.Join(dir, filepath.Base(file))
				src, err := os.ReadFile(target)
				if err != nil {
					t.Fatal(err)
				}
				if len(src) > 0 && src[len(src)-1] != '\n' {
					src = append(src, '\n')
				}
				line := strings.Count(string(src), "\n") + 1
				if name == "misspelled in a block" {
					line += 2
				}
				if err := os.WriteFile(target, append(src, text...), 0o644); err != nil {
					t.Fatal(err)
				}

				r := runValidate(t, dir)
				want := fmt.Sprintf("%s:%d:", target, line)
				if r.code != ExitError || !strings.Contains(r.stderr, want) {
					t.Errorf("exit %d, stderr does not name %s:\n%s", r.code, want, r.stderr)
				}

				r = runValidate(t, "-json", dir)
				var out views.ValidateOutput
				if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
					t.Fatal(err)
				}
				found := false
				for _, d := range out.Diagnostics {
					if d.Range != nil && d.Range.Filename == target && d.Range.Start.Line == line {
						found = true
					}
				}
				if r.code != ExitError || out.Valid || !found {
					t.Errorf("exit %d, JSON has no diagnostic at %s:%d:\n%s", r.code, target, line, r.stdout)
				}
			})
		}
	}
}
