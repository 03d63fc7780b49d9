package config

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/internal/diags"
)

// markerRE finds the expectations written in the fixtures: a comment
// `# ERROR: Summary` or `# WARNING: Summary` on the line where the
// diagnostic's subject starts. Several markers may share a line.
var markerRE = regexp.MustCompile(`(ERROR|WARNING): ([^#]+)`)

// TestErrorFixtures loads every directory under testdata/errors and checks
// that the diagnostics are exactly the ones the fixtures mark, by file, line,
// severity and summary. A fixture directory is a campaign; it may span
// several files (for duplicates across files).
func TestErrorFixtures(t *testing.T) {
	dirs, err := filepath.Glob("testdata/errors/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want := expectedDiags(t, dir)
			if len(want) == 0 {
				t.Fatalf("fixture %s marks no diagnostic", dir)
			}
			cfg, ds := Load(dir, Options{AllowUnsetVariables: true, Environ: []string{}})
			var got []string
			for _, d := range ds {
				if d.Subject == nil {
					got = append(got, fmt.Sprintf("(no location) %s: %s", d.Severity, d.Summary))
					continue
				}
				got = append(got, fmt.Sprintf("%s:%d %s: %s", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Severity, d.Summary))
			}
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				var sb strings.Builder
				_ = diags.WriteAllText(&sb, ds, cfg.Files, diags.TextOptions{})
				t.Errorf("diagnostics differ (-want +got):\n%s\nfull output:\n%s", diff, sb.String())
			}
		})
	}
}

func expectedDiags(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
	var want []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			i := strings.Index(text, "# ")
			if i < 0 {
				continue
			}
			for _, m := range markerRE.FindAllStringSubmatch(text[i:], -1) {
				sev := strings.ToLower(m[1])
				want = append(want, fmt.Sprintf("%s:%d %s: %s", filepath.Base(f), line, sev, strings.TrimSpace(m[2])))
			}
		}
		fh.Close()
	}
	sort.Strings(want)
	return want
}

// TestValidFixtures loads every directory under testdata/valid, and the
// examples, and expects no diagnostic at all, warnings included.
func TestValidFixtures(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/valid/*")
	examples, _ := filepath.Glob("../../examples/*")
	for _, dir := range append(dirs, examples...) {
		// Examples that are not campaigns (a plugin's source) have no
		// *.hcl files.
		if hcl, _ := filepath.Glob(filepath.Join(dir, "*.hcl")); len(hcl) == 0 {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			cfg, ds := Load(dir, Options{})
			if len(ds) > 0 {
				var sb strings.Builder
				_ = diags.WriteAllText(&sb, ds, cfg.Files, diags.TextOptions{})
				t.Errorf("unexpected diagnostics:\n%s", sb.String())
			}
		})
	}
}
