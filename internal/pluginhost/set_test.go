package pluginhost

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// campaign returns a config requiring the given providers (name →
// constraint), each declared on its own line of main.hcl.
func campaign(dir string, required map[string]string) *config.Config {
	cfg := &config.Config{Dir: dir, Settings: &config.Settings{RequiredProviders: map[string]*config.RequiredProvider{}}}
	line := 3
	for name, c := range required {
		cfg.Settings.RequiredProviders[name] = &config.RequiredProvider{
			Name: name, Version: c, Constraints: version.MustConstraints(version.NewConstraint(c)),
			DeclRange: hcl.Range{Filename: filepath.Join(dir, "main.hcl"), Start: hcl.Pos{Line: line, Column: 5}, End: hcl.Pos{Line: line, Column: 30}},
		}
		line++
	}
	return cfg
}

func TestStartAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plugins := filepath.Join(dir, CampaignPluginDir)
	lock := NewLock()
	for _, name := range []string{"test", "old", "liar"} {
		path := installPlugin(t, plugins, name)
		sum, err := HashFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lock.Set(&LockedProvider{Name: name, Version: "1.2.3", SHA256: sum, Protocol: 1})
	}
	lock.Set(&LockedProvider{Name: "absent", Version: "1.0.0", SHA256: hashA, Protocol: 1})
	changed := NewLock()
	changed.Set(&LockedProvider{Name: "test", Version: "1.2.3", SHA256: hashA, Protocol: 1})

	t.Run("all good", func(t *testing.T) {
		opts, _ := testOptions(t)
		set, ds := StartAll(context.Background(), campaign(dir, map[string]string{"test": ">= 1.0.0"}), lock, opts)
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		p := set.Provider("test")
		if p == nil || set.Provider("nope") != nil {
			t.Fatalf("providers %v", set.Names())
		}
		if m := set.Metadata("test"); m == nil || *m != (sdk.MetadataResponse{Name: "test", Version: "1.2.3"}) {
			t.Errorf("metadata %+v", m)
		}
		if got := strings.Join(set.Names(), ","); got != "test" {
			t.Errorf("names %s", got)
		}
		if p.Path() != filepath.Join(plugins, ExecutableName("test")) {
			t.Errorf("path %s", p.Path())
		}
		pid := p.Pid()
		set.Close()
		set.Close()
		if !waitGone(pid, 5*time.Second) {
			t.Errorf("pid %d still running after Set.Close", pid)
		}
	})

	tests := map[string]struct {
		required map[string]string
		lock     *Lock
		summary  string
		detail   []string
	}{
		"version does not satisfy the constraint": {
			required: map[string]string{"old": ">= 0.1.0, < 0.0.5"},
			lock:     lock,
			summary:  `Provider "old": wrong plugin`,
			detail:   []string{"is version 0.0.1, which does not satisfy the constraint \">= 0.1.0, < 0.0.5\""},
		},
		"plugin serves another provider": {
			required: map[string]string{"liar": ">= 0.1.0"},
			lock:     lock,
			summary:  `Provider "liar": wrong plugin`,
			detail:   []string{`says it is provider "someone-else", not "liar"`, "escalator-provider-liar"},
		},
		"not locked": {
			required: map[string]string{"test": ">= 0.1.0"},
			lock:     NewLock(),
			summary:  `Provider "test" is not locked`,
			detail:   []string{`Run "escalator init"`},
		},
		"not found": {
			required: map[string]string{"absent": ">= 0.1.0"},
			lock:     lock,
			summary:  `Provider "absent": plugin not found`,
			detail:   []string{"no plugin executable escalator-provider-absent", plugins},
		},
		"changed since it was locked": {
			required: map[string]string{"test": ">= 0.1.0"},
			lock:     changed,
			summary:  `Provider "test": the plugin changed since it was locked`,
			detail:   []string{hashA, `escalator init -upgrade`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			opts, _ := testOptions(t)
			set, ds := StartAll(context.Background(), campaign(dir, tt.required), tt.lock, opts)
			if set != nil || !ds.HasErrors() {
				t.Fatalf("set %v, diagnostics %v", set, ds.Err())
			}
			d := ds[0]
			if d.Summary != tt.summary {
				t.Errorf("summary %q, want %q", d.Summary, tt.summary)
			}
			for _, w := range tt.detail {
				if !strings.Contains(d.Detail, w) {
					t.Errorf("detail does not contain %q:\n%s", w, d.Detail)
				}
			}
			if d.Subject == nil || d.Subject.Start.Line != 3 {
				t.Errorf("subject %v, want the required_providers entry", d.Subject)
			}
		})
	}

	t.Run("one bad provider stops them all", func(t *testing.T) {
		opts, log := testOptions(t)
		set, ds := StartAll(context.Background(), campaign(dir, map[string]string{"test": ">= 1.0.0", "old": ">= 1.0.0"}), lock, opts)
		if set != nil || len(ds) != 1 || !strings.Contains(ds[0].Summary, `"old"`) {
			t.Fatalf("set %v, diagnostics %v", set, ds.Err())
		}
		// test was started (it sorts after old) and must be gone.
		if !strings.Contains(log.String(), "provider.test: plugin started") {
			t.Fatal("test was not started")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(log.String(), "provider.test: plugin exited") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(log.String(), "provider.test: plugin exited") {
			t.Errorf("test still running:\n%s", log.String())
		}
	})

	t.Run("no required providers", func(t *testing.T) {
		opts, _ := testOptions(t)
		set, ds := StartAll(context.Background(), &config.Config{Dir: dir}, lock, opts)
		if ds.HasErrors() || set == nil || len(set.Names()) != 0 {
			t.Errorf("set %v, %v", set, ds.Err())
		}
	})
}

func TestCheckMetadata(t *testing.T) {
	req := &config.RequiredProvider{Name: "sim", Version: "~> 0.1", Constraints: version.MustConstraints(version.NewConstraint("~> 0.1"))}
	tests := map[string]struct {
		meta sdk.MetadataResponse
		want string
	}{
		"matches":         {sdk.MetadataResponse{Name: "sim", Version: "0.1.5"}, ""},
		"prerelease":      {sdk.MetadataResponse{Name: "sim", Version: "0.2.0-dev"}, "does not satisfy"},
		"wrong name":      {sdk.MetadataResponse{Name: "Sim", Version: "0.1.0"}, `says it is provider "Sim", not "sim"`},
		"bad version":     {sdk.MetadataResponse{Name: "sim", Version: "one"}, `reports version "one", which is not a semantic version`},
		"too new":         {sdk.MetadataResponse{Name: "sim", Version: "1.0.0"}, `is version 1.0.0, which does not satisfy the constraint "~> 0.1"`},
		"empty metadata":  {sdk.MetadataResponse{}, `says it is provider "", not "sim"`},
		"no requirement?": {sdk.MetadataResponse{Name: "sim", Version: "9.9.9"}, "does not satisfy"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckMetadata("sim", req, &tt.meta, "/p/escalator-provider-sim")
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	if err := CheckMetadata("sim", nil, &sdk.MetadataResponse{Name: "sim", Version: "9.9.9"}, ""); err != nil {
		t.Errorf("no constraint: %v", err)
	}
}
