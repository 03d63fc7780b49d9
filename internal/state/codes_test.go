package state

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCodesDocumented keeps the codes in step: every code literal in the
// product's Go code is in Codes, and every code in Codes is documented in
// website/docs/codes.md.
func TestCodesDocumented(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "website", "docs", "codes.md"))
	if err != nil {
		t.Fatal(err)
	}
	for code := range Codes {
		if !strings.Contains(string(doc), "`"+code+"`") {
			t.Errorf("code %s is not documented in website/docs/codes.md", code)
		}
	}
	literal := regexp.MustCompile(`"([EW]_[A-Z][A-Z_]+)"`)
	for _, dir := range []string{"internal", "plugins", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range literal.FindAllSubmatch(src, -1) {
				if _, ok := Codes[string(m[1])]; !ok {
					t.Errorf("%s uses code %s, which is not in state.Codes", path, m[1])
				}
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}
