package command

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// runFmt runs "escalator fmt args..." with stdin as standard input.
func runFmt(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams(stdin)
	c := &FmtCommand{Meta: Meta{Streams: streams}}
	code := c.Run(args)
	return result{code, stdout.String(), stderr.String()}
}

// copyDir copies the regular files of dir into a new temporary directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	tmp := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		src, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tmp
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFmtGolden formats each testdata/fmt/*.hcl and *.hclvars file and
// compares the result with the file of the same name plus ".golden".
// Run with -update to rewrite the golden files.
func TestFmtGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/fmt/*.hcl*")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden") {
			continue
		}
		n++
		name := filepath.Base(in)
		t.Run(name, func(t *testing.T) {
			src := readFile(t, in)
			path := filepath.Join(t.TempDir(), name)
			writeFile(t, path, src)

			r := runFmt(t, "", path)
			if r.code != ExitOK || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			got := readFile(t, path)

			golden := in + ".golden"
			if *update {
				writeFile(t, golden, got)
			}
			want := readFile(t, golden)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: formatted file differs from %s (-want +got):\n%s", in, golden, diff)
			}
			// fmt lists the file if and only if it changed it.
			wantList := ""
			if src != want {
				wantList = path + "\n"
			}
			if r.stdout != wantList {
				t.Errorf("listed %q, want %q", r.stdout, wantList)
			}

			// Formatting is idempotent.
			if r := runFmt(t, "", "-check", path); r.code != ExitOK || r.stdout != "" {
				t.Errorf("second run: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	if n == 0 {
		t.Fatal("no inputs in testdata/fmt")
	}
}

func TestFmtCheck(t *testing.T) {
	t.Run("misformatted", func(t *testing.T) {
		dir := copyDir(t, "testdata/fmt")
		before := readFile(t, filepath.Join(dir, "campaign.hcl"))

		r := runFmt(t, "", "-check", dir)
		if r.code != ExitFmtCheck {
			t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitFmtCheck, r.stderr)
		}
		want := filepath.Join(dir, "campaign.hcl") + "\n" + filepath.Join(dir, "prod.hclvars") + "\n"
		if diff := cmp.Diff(want, r.stdout); diff != "" {
			t.Errorf("wrong list (-want +got):\n%s", diff)
		}
		if r.stderr != "" {
			t.Errorf("unexpected stderr:\n%s", r.stderr)
		}
		if after := readFile(t, filepath.Join(dir, "campaign.hcl")); after != before {
			t.Error("-check rewrote a file")
		}
	})

	t.Run("misformatted, no list", func(t *testing.T) {
		dir := copyDir(t, "testdata/fmt")
		r := runFmt(t, "", "-check", "-list=false", dir)
		if r.code != ExitFmtCheck || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q; want %d and nothing", r.code, r.stdout, ExitFmtCheck)
		}
	})

	t.Run("formatted", func(t *testing.T) {
		r := runFmt(t, "", "-check", "testdata/fmt/formatted.hcl")
		if r.code != ExitOK || r.stdout != "" || r.stderr != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and no output", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("empty directory", func(t *testing.T) {
		r := runFmt(t, "", "-check", t.TempDir())
		if r.code != ExitOK || r.stdout != "" || r.stderr != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and no output", r.code, r.stdout, r.stderr)
		}
	})
}

func TestFmtSyntaxError(t *testing.T) {
	for _, check := range []bool{false, true} {
		name := "write"
		args := []string{}
		if check {
			name = "check"
			args = append(args, "-check")
		}
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, "testdata/fmt-invalid")
			// A misformatted but valid file next to the broken one is still
			// formatted (or listed).
			writeFile(t, filepath.Join(dir, "ok.hcl"), "a=1\n")
			path := filepath.Join(dir, "syntax_error.hcl")
			before := readFile(t, path)

			r := runFmt(t, "", append(args, dir)...)
			if r.code != ExitFmtError {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitFmtError, r.stderr)
			}
			for _, want := range []string{
				"Error: Invalid expression",
				"on " + path + ":4:20",
				"4:     nova-compute = ",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
				}
			}
			if got := readFile(t, path); got != before {
				t.Errorf("the broken file was rewritten:\n%s", got)
			}
			if want := filepath.Join(dir, "ok.hcl") + "\n"; r.stdout != want {
				t.Errorf("stdout %q, want %q", r.stdout, want)
			}
			wantOK := "a = 1\n"
			if check {
				wantOK = "a=1\n"
			}
			if got := readFile(t, filepath.Join(dir, "ok.hcl")); got != wantOK {
				t.Errorf("ok.hcl is %q, want %q", got, wantOK)
			}
		})
	}
}

func TestFmtDiff(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.hcl")
	writeFile(t, path, "x {\n  a=1\n  bb = 2\n}\n")

	r := runFmt(t, "", "-diff", "-write=false", "-list=false", path)
	if r.code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	p := filepath.ToSlash(path)
	want := "--- old/" + p + "\n+++ new/" + p + "\n" + `@@ -1,4 +1,4 @@
 x {
-  a=1
+  a  = 1
   bb = 2
 }
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("wrong diff (-want +got):\n%s", diff)
	}
	if got := readFile(t, path); got != "x {\n  a=1\n  bb = 2\n}\n" {
		t.Errorf("-write=false rewrote the file: %q", got)
	}
}

func TestFmtStdin(t *testing.T) {
	t.Run("format", func(t *testing.T) {
		r := runFmt(t, "a=1\n", "-")
		if r.code != ExitOK || r.stdout != "a = 1\n" || r.stderr != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("check", func(t *testing.T) {
		r := runFmt(t, "a=1\n", "-check", "-")
		if r.code != ExitFmtCheck || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q; want %d and nothing", r.code, r.stdout, ExitFmtCheck)
		}
		r = runFmt(t, "a = 1\n", "-check", "-")
		if r.code != ExitOK || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q; want 0 and nothing", r.code, r.stdout)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		r := runFmt(t, "a = \n", "-")
		if r.code != ExitFmtError || !strings.Contains(r.stderr, "<stdin>:1:") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})
}

func TestFmtRecursive(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"top.hcl", "sub/inner.hcl", "sub/deeper/vars.hclvars", ".hidden/x.hcl", "sub/backup.hcl~", "sub/notes.txt"} {
		writeFile(t, filepath.Join(dir, name), "a=1\n")
	}

	r := runFmt(t, "", "-check", dir)
	if want := filepath.Join(dir, "top.hcl") + "\n"; r.code != ExitFmtCheck || r.stdout != want {
		t.Errorf("without -recursive: exit %d, stdout %q; want %d, %q", r.code, r.stdout, ExitFmtCheck, want)
	}

	r = runFmt(t, "", "-recursive", dir)
	want := strings.Join([]string{
		filepath.Join(dir, "sub/deeper/vars.hclvars"),
		filepath.Join(dir, "sub/inner.hcl"),
		filepath.Join(dir, "top.hcl"),
	}, "\n") + "\n"
	if r.code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("wrong list (-want +got):\n%s", diff)
	}
	for name, want := range map[string]string{
		"sub/inner.hcl":           "a = 1\n",
		".hidden/x.hcl":           "a=1\n",
		"sub/backup.hcl~":         "a=1\n",
		"sub/notes.txt":           "a=1\n",
		"sub/deeper/vars.hclvars": "a = 1\n",
	} {
		if got := readFile(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s is %q, want %q", name, got, want)
		}
	}
}

func TestFmtDefaultDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.hcl"), "a=1\n")
	t.Chdir(dir)

	r := runFmt(t, "")
	if r.code != ExitOK || r.stdout != "a.hcl\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q", r.code, r.stdout, r.stderr, "a.hcl\n")
	}
	if got := readFile(t, "a.hcl"); got != "a = 1\n" {
		t.Errorf("a.hcl is %q", got)
	}
}

func TestFmtErrors(t *testing.T) {
	tests := map[string]struct {
		args      []string
		wantCode  int
		wantInErr []string
	}{
		"unknown flag": {
			args:      []string{"-fix"},
			wantCode:  ExitError,
			wantInErr: []string{"Error: flag provided but not defined: -fix", "escalator fmt -help"},
		},
		"missing path": {
			args:      []string{"testdata/nothing-here"},
			wantCode:  ExitFmtError,
			wantInErr: []string{"Error: no file or directory at testdata/nothing-here"},
		},
		"not a campaign file": {
			args:      []string{"fmt.go"},
			wantCode:  ExitFmtError,
			wantInErr: []string{"Error: cannot format fmt.go: only .hcl and .hclvars files can be formatted"},
		},
		"stdin with a path": {
			args:      []string{"-", "testdata/fmt"},
			wantCode:  ExitError,
			wantInErr: []string{`"-" (standard input) cannot be combined with other paths`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runFmt(t, "", tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d", r.code, tc.wantCode)
			}
			for _, want := range tc.wantInErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}
