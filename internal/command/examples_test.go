package command

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestExamplePluginsThroughInit builds the built-in sim provider and the
// plugin author's guide example exactly as their users would, installs
// them in a campaign's .escalator/plugins, and runs escalator init and
// escalator providers schema -json on them.
func TestExamplePluginsThroughInit(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, ".escalator", "plugins")
	for name, pkg := range map[string]string{
		"sim":   "../../plugins/sim/cmd/escalator-provider-sim",
		"hello": "../../examples/provider-hello",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(plugins, "escalator-provider-"+name), pkg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, stderr.String())
		}
	}
	src := `escalator {
  required_providers {
    sim   = { version = ">= 0.1.0" }
    hello = { version = "~> 0.1" }
  }
}

provider "sim" {
  cloud = "cloud.json"
}

provider "hello" {
  greeting = "hi"
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runInit(t, dir)
	if r.code != ExitOK {
		t.Fatalf("init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	lock, err := os.ReadFile(filepath.Join(dir, ".escalator.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "lock file", string(lock), `provider "hello"`, `provider "sim"`, "sha256")

	r = runProvidersSchema(t, "-json", dir)
	if r.code != ExitOK {
		t.Fatalf("providers schema: exit %d\n%s", r.code, r.stderr)
	}
	var out struct {
		ProviderSchemas map[string]struct {
			Provider struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"provider"`
			Actions []string `json:"actions"`
		} `json:"provider_schemas"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("schema output is not JSON: %v\n%s", err, r.stdout)
	}
	if _, ok := out.ProviderSchemas["sim"].Provider.Attributes["cloud"]; !ok {
		t.Errorf("sim schema lacks the cloud attribute: %s", r.stdout)
	}
	if _, ok := out.ProviderSchemas["hello"].Provider.Attributes["greeting"]; !ok {
		t.Errorf("hello schema lacks the greeting attribute: %s", r.stdout)
	}
	if len(out.ProviderSchemas["sim"].Actions) != 9 {
		t.Errorf("sim actions = %v, want all nine", out.ProviderSchemas["sim"].Actions)
	}
}
