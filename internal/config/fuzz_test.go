package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary text to the loader as a campaign file, seeded
// with every fixture and example. The loader must never panic, and every
// diagnostic it returns for a file must point into that file.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*/*.hcl")
	examples, _ := filepath.Glob("../../examples/*/*.hcl")
	for _, s := range append(seeds, examples...) {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "x=1")
	}
	f.Fuzz(func(t *testing.T, src []byte, varArg string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o600); err != nil {
			t.Fatal(err)
		}
		var vars []VarArg
		for _, v := range []string{"nova_version", "x", "zones"} {
			vars = append(vars, VarArg{Name: v, Value: varArg})
		}
		cfg, ds := Load(dir, Options{Vars: vars, AllowUnsetVariables: true})
		if cfg == nil {
			t.Fatal("Load returned a nil config")
		}
		for _, d := range ds {
			if d.Subject != nil && d.Subject.Filename != filepath.Join(dir, "main.hcl") && d.Subject.Filename != "-var" {
				t.Errorf("diagnostic %q points to %q", d.Summary, d.Subject.Filename)
			}
		}
	})
}

// FuzzParseDuration and FuzzParseCountOrPercent check the two value
// parsers never panic and never accept a negative value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15m", "1h30m", "2d", "1d12h", "", "-5m", "900", "d", "99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil && d < 0 {
			t.Errorf("ParseDuration(%q) = %v, a negative duration", s, d)
		}
	})
}

func FuzzParseCountOrPercent(f *testing.F) {
	for _, s := range []string{"10%", "2", "0", "100%", "-1", "1e9", "NaN%", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCountOrPercent(s)
		if err != nil {
			return
		}
		if c.Count < 0 || c.Percent < 0 || c.Percent > 100 {
			t.Errorf("ParseCountOrPercent(%q) = %+v, out of range", s, c)
		}
		if n := c.Of(10); n < 0 || n > 10 {
			t.Errorf("Of(10) = %d for %q", n, s)
		}
	})
}
