package pluginhost

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
)

func TestSearchDirs(t *testing.T) {
	root := t.TempDir()
	campaign := filepath.Join(root, "campaign")
	bin := filepath.Join(root, "bin")
	extra1 := filepath.Join(root, "extra1")
	extra2 := filepath.Join(root, "extra2")

	tests := map[string]struct {
		campaign, exe, path string
		want                []SearchDir
	}{
		"campaign, then escalator's directory, then the path in order": {
			campaign: campaign, exe: filepath.Join(bin, "escalator"), path: extra1 + ":" + extra2,
			want: []SearchDir{
				{filepath.Join(campaign, ".escalator", "plugins"), "the campaign's plugin directory"},
				{bin, "escalator's own directory"},
				{extra1, EnvPluginPath},
				{extra2, EnvPluginPath},
			},
		},
		"empty path entries are skipped": {
			campaign: campaign, exe: filepath.Join(bin, "escalator"), path: ":" + extra1 + "::",
			want: []SearchDir{
				{filepath.Join(campaign, ".escalator", "plugins"), "the campaign's plugin directory"},
				{bin, "escalator's own directory"},
				{extra1, EnvPluginPath},
			},
		},
		"a directory listed twice is searched once, at its first place": {
			campaign: campaign, exe: filepath.Join(bin, "escalator"), path: bin + ":" + extra1 + ":" + extra1 + "/",
			want: []SearchDir{
				{filepath.Join(campaign, ".escalator", "plugins"), "the campaign's plugin directory"},
				{bin, "escalator's own directory"},
				{extra1, EnvPluginPath},
			},
		},
		"no executable known": {
			campaign: campaign, path: extra1,
			want: []SearchDir{
				{filepath.Join(campaign, ".escalator", "plugins"), "the campaign's plugin directory"},
				{extra1, EnvPluginPath},
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := searchDirs(tt.campaign, tt.exe, tt.path)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("relative directories become absolute", func(t *testing.T) {
		got := searchDirs(".", "", "rel")
		for _, d := range got {
			if !filepath.IsAbs(d.Path) {
				t.Errorf("%s is not absolute", d.Path)
			}
		}
	})

	t.Run("SearchDirs reads the environment and the executable", func(t *testing.T) {
		t.Setenv(EnvPluginPath, extra1)
		got := SearchDirs(campaign)
		if len(got) != 3 || got[2].Path != extra1 {
			t.Fatalf("got %v", got)
		}
		exe, _ := os.Executable()
		exe, _ = filepath.EvalSymlinks(exe)
		if got[1].Path != filepath.Dir(exe) {
			t.Errorf("escalator's directory %s, want %s", got[1].Path, filepath.Dir(exe))
		}
	})
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	dir := func(name string) SearchDir { return SearchDir{Path: filepath.Join(root, name), Origin: name} }
	a, b, c := dir("a"), dir("b"), dir("c")
	for _, d := range []SearchDir{a, b, c} {
		if err := os.MkdirAll(d.Path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(d SearchDir, name string, mode os.FileMode) string {
		p := filepath.Join(d.Path, ExecutableName(name))
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	onlyC := write(c, "only", 0o755)
	firstB := write(b, "two", 0o755)
	secondC := write(c, "two", 0o755)
	allA := write(a, "all", 0o755)
	allB := write(b, "all", 0o755)
	allC := write(c, "all", 0o755)
	write(a, "noexec", 0o644)
	execB := write(b, "noexec", 0o755)
	write(a, "broken", 0o644)
	if err := os.Mkdir(filepath.Join(b.Path, ExecutableName("isdir")), 0o755); err != nil {
		t.Fatal(err)
	}
	target := write(c, "target", 0o755)
	if err := os.Symlink(target, filepath.Join(a.Path, ExecutableName("linked"))); err != nil {
		t.Fatal(err)
	}

	dirs := []SearchDir{a, b, c}
	tests := map[string]struct {
		name         string
		wantPath     string
		wantDir      SearchDir
		wantShadowed []string
		wantErr      []string
	}{
		"found in the last directory": {name: "only", wantPath: onlyC, wantDir: c},
		"first match wins":            {name: "two", wantPath: firstB, wantDir: b, wantShadowed: []string{secondC}},
		"every later match is shadowed": {
			name: "all", wantPath: allA, wantDir: a, wantShadowed: []string{allB, allC},
		},
		"a file that is not executable is skipped": {name: "noexec", wantPath: execB, wantDir: b},
		"a symlink is followed":                    {name: "linked", wantPath: filepath.Join(a.Path, ExecutableName("linked")), wantDir: a},
		"not found anywhere": {name: "missing", wantErr: []string{
			`no plugin executable escalator-provider-missing for provider "missing"`,
			a.Path + " (a)", b.Path + " (b)", c.Path + " (c)", EnvPluginPath,
		}},
		"only a file that is not executable": {name: "broken", wantErr: []string{
			"escalator-provider-broken exists but is not an executable file",
		}},
		"a directory is not a plugin": {name: "isdir", wantErr: []string{"no plugin executable"}},
		"a name with a slash":         {name: "../a", wantErr: []string{"invalid provider name"}},
		"an empty name":               {name: "", wantErr: []string{"invalid provider name"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			buf := &syncBuffer{}
			log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: buf})
			f, err := Find(tt.name, dirs, log)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("found %s, want an error", f.Path)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != tt.wantPath || f.Dir != tt.wantDir || f.Name != tt.name {
				t.Errorf("found %+v, want %s in %v", f, tt.wantPath, tt.wantDir)
			}
			if diff := cmp.Diff(tt.wantShadowed, f.Shadowed); diff != "" {
				t.Errorf("shadowed (-want +got):\n%s", diff)
			}
			for _, s := range tt.wantShadowed {
				if !strings.Contains(buf.String(), s) {
					t.Errorf("shadowed %s not logged:\n%s", s, buf.String())
				}
			}
		})
	}

	var nf *NotFoundError
	if _, err := Find("missing", dirs, nil); !errors.As(err, &nf) || nf.Name != "missing" {
		t.Errorf("want a *NotFoundError, got %v", err)
	}
}
