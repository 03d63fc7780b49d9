package command

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/pluginhost"
)

// These tests run real plugins: pluginhost's test plugin
// (internal/pluginhost/testdata/testplugin), built into a temporary
// directory and installed in the campaign's .escalator/plugins under the
// names that select its behaviour ("test": a good provider at 1.2.3,
// "old": version 0.0.1, "liar": claims another name).

// buildTestPlugin builds the test plugin into dir/testplugin.
func buildTestPlugin(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "testplugin")
	cmd := exec.Command("go", "build", "-o", out, "../pluginhost/testdata/testplugin")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, stderr.String())
	}
	return out
}

// pluginCampaign writes a campaign requiring the given providers (name →
// constraint, one line each from line 3 of main.hcl) and installs the test
// plugin in its .escalator/plugins under each name in install.
func pluginCampaign(t *testing.T, plugin string, required [][2]string, install ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("escalator {\n  required_providers {\n")
	for _, r := range required {
		b.WriteString("    " + r[0] + " = { version = \"" + r[1] + "\" }\n")
	}
	b.WriteString("  }\n}\n")
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	plugins := filepath.Join(dir, pluginhost.CampaignPluginDir)
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range install {
		if err := os.WriteFile(filepath.Join(plugins, pluginhost.ExecutableName(name)), src, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runInit(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&InitCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

func runProviders(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&ProvidersCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

func runProvidersSchema(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&ProvidersSchemaCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

// flipByte changes one byte in the middle of the file at path.
func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, text)
		}
	}
}

// TestInitProvidersSchema walks a campaign through init, providers and
// providers schema, then changes the plugin by one byte.
func TestInitProvidersSchema(t *testing.T) {
	t.Setenv(pluginhost.EnvReattach, "")
	t.Setenv(pluginhost.EnvPluginPath, "")
	plugin := buildTestPlugin(t, t.TempDir())
	dir := pluginCampaign(t, plugin, [][2]string{{"test", ">= 1.0.0"}}, "test")
	exe := filepath.Join(dir, pluginhost.CampaignPluginDir, "escalator-provider-test")
	lockPath := filepath.Join(dir, pluginhost.LockFileName)
	sum, err := pluginhost.HashFile(exe)
	if err != nil {
		t.Fatal(err)
	}

	// Before init: not locked.
	r := runProviders(t, dir)
	if r.code != ExitError {
		t.Errorf("providers before init: exit %d", r.code)
	}
	contains(t, "providers before init", r.stdout, "test >= 1.0.0", "locked:  no", exe, `found but not locked; run "escalator init"`)
	r = runProvidersSchema(t, "-json", dir)
	if r.code != ExitError {
		t.Errorf("schema before init: exit %d", r.code)
	}
	contains(t, "schema before init", r.stderr, `Provider "test" is not locked`, `Run "escalator init"`, "main.hcl:3")

	// init writes the lock file and says what it found.
	r = runInit(t, dir)
	if r.code != ExitOK {
		t.Fatalf("init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "init output", r.stdout, "- test 1.2.3 (newly locked)", "path:     "+exe, "sha256:   "+sum, "protocol: 1",
		"escalator wrote the lock file "+lockPath+". Commit it with the campaign.")
	lock, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "lock file", string(lock), `maintained by "escalator init"`, `provider "test" {`, `version  = "1.2.3"`, `sha256   = "`+sum+`"`, `protocol = 1`)

	// Again: nothing to do.
	r = runInit(t, dir)
	if r.code != ExitOK {
		t.Fatalf("init again: exit %d\n%s", r.code, r.stderr)
	}
	contains(t, "init again", r.stdout, "(unchanged)", "is up to date")

	// providers: ok, human and JSON.
	r = runProviders(t, dir)
	if r.code != ExitOK {
		t.Errorf("providers: exit %d\n%s", r.code, r.stderr)
	}
	contains(t, "providers", r.stdout, "locked:  1.2.3, sha256 "+sum+", protocol 1", "plugin:  "+exe, "ok: matches the lock file")
	r = runProviders(t, "-json", dir)
	var list views.ProvidersOutput
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("providers -json: %v\n%s", err, r.stdout)
	}
	if len(list.Providers) != 1 || list.Providers[0].Status != views.ProviderOK || list.Providers[0].SHA256 != sum ||
		list.Providers[0].Locked.Version != "1.2.3" || list.FormatVersion != "1.0" {
		t.Errorf("providers -json: %+v", list)
	}

	// providers schema -json.
	r = runProvidersSchema(t, "-json", dir)
	if r.code != ExitOK {
		t.Fatalf("schema: exit %d\n%s", r.code, r.stderr)
	}
	var schemas map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &schemas); err != nil {
		t.Fatalf("schema: %v\n%s", err, r.stdout)
	}
	test := schemas["provider_schemas"].(map[string]any)["test"].(map[string]any)
	if got, _ := json.Marshal(test["actions"]); string(got) != `["enter_maintenance","upgrade","probe"]` {
		t.Errorf("actions %s", got)
	}
	attrs := test["provider"].(map[string]any)["attributes"].(map[string]any)
	jsonEqual(t, "zones", attrs["zones"], `{"type":["list","string"],"description":"Zones; each must start with az.","optional":true}`)
	jsonEqual(t, "token", attrs["token"], `{"type":"string","optional":true,"sensitive":true}`)
	jsonEqual(t, "block_types", test["provider"].(map[string]any)["block_types"],
		`{"limits":{"nesting_mode":"single","block":{"attributes":{"vcpus":{"type":"number","required":true}}}}}`)
	contains(t, "schema", r.stdout, `"format_version": "1.0"`, `"host_attributes"`, `"kernel"`, `"probes"`, `"ping"`, `"component"`, `"backup"`)
	if pluginhost.Running() != 0 {
		t.Errorf("%d plugins still running after providers schema", pluginhost.Running())
	}

	// One byte changes: every command refuses the plugin and names it.
	flipByte(t, exe)
	newSum, _ := pluginhost.HashFile(exe)
	r = runProvidersSchema(t, "-json", dir)
	if r.code != ExitError || r.stdout != "" {
		t.Errorf("schema after the change: exit %d, stdout %q", r.code, r.stdout)
	}
	contains(t, "schema after the change", r.stderr, `Provider "test": the plugin changed since it was locked`, exe, sum, newSum,
		`run "escalator init -upgrade" if you changed the plugin on purpose`)
	r = runProviders(t, dir)
	if r.code != ExitError {
		t.Errorf("providers after the change: exit %d", r.code)
	}
	contains(t, "providers after the change", r.stdout, "the plugin changed since it was locked", "sha256:  "+newSum)
	r = runInit(t, dir)
	if r.code != ExitError {
		t.Errorf("init after the change: exit %d", r.code)
	}
	contains(t, "init after the change", r.stderr, `Provider "test": the plugin changed since it was locked`, exe, sum, newSum,
		`escalator init -upgrade`, "main.hcl:3", "The lock file "+lockPath+" was not changed")
	if after, _ := os.ReadFile(lockPath); string(after) != string(lock) {
		t.Error("a failed init changed the lock file")
	}

	// The flipped byte broke the executable; a rebuilt plugin is accepted
	// with -upgrade.
	src, _ := os.ReadFile(plugin)
	src = append(src, 0) // a different build of the same plugin
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	newSum, _ = pluginhost.HashFile(exe)
	r = runInit(t, "-upgrade", dir)
	if r.code != ExitOK {
		t.Fatalf("init -upgrade: exit %d\n%s", r.code, r.stderr)
	}
	contains(t, "init -upgrade", r.stdout, "- test 1.2.3 (upgraded; was 1.2.3, sha256 "+sum+")", "sha256:   "+newSum, "escalator wrote the lock file")
	if r := runProvidersSchema(t, "-json", dir); r.code != ExitOK {
		t.Errorf("schema after -upgrade: exit %d\n%s", r.code, r.stderr)
	}
}

func TestInitErrors(t *testing.T) {
	t.Setenv(pluginhost.EnvReattach, "")
	t.Setenv(pluginhost.EnvPluginPath, "")
	plugin := buildTestPlugin(t, t.TempDir())

	t.Run("not found, too old, wrong name", func(t *testing.T) {
		dir := pluginCampaign(t, plugin, [][2]string{
			{"absent", ">= 0.1.0"},
			{"old", ">= 0.1.0"},
			{"liar", ">= 0.1.0"},
			{"test", ">= 1.0.0"},
		}, "old", "liar", "test")
		r := runInit(t, dir)
		if r.code != ExitError {
			t.Fatalf("exit %d", r.code)
		}
		contains(t, "stderr", r.stderr,
			`Error: Provider "absent": plugin not found`, "main.hcl:3", "no plugin executable escalator-provider-absent",
			`Error: Provider "old": wrong plugin`, "main.hcl:4", `is version 0.0.1, which does not satisfy the constraint ">= 0.1.0"`,
			`Error: Provider "liar": wrong plugin`, "main.hcl:5", `says it is provider "someone-else", not "liar"`,
			"escalator init failed: 3 errors.")
		// The good one is reported, but nothing is written.
		contains(t, "stdout", r.stdout, "- test 1.2.3")
		if _, err := os.Stat(filepath.Join(dir, pluginhost.LockFileName)); err == nil {
			t.Error("a failed init wrote the lock file")
		}
		if pluginhost.Running() != 0 {
			t.Errorf("%d plugins still running", pluginhost.Running())
		}
	})

	t.Run("corrupt lock file", func(t *testing.T) {
		dir := pluginCampaign(t, plugin, [][2]string{{"test", ">= 1.0.0"}}, "test")
		lockPath := filepath.Join(dir, pluginhost.LockFileName)
		if err := os.WriteFile(lockPath, []byte("provider \"test\" {\n  version = \n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runInit(t, dir)
		if r.code != ExitError {
			t.Fatalf("exit %d", r.code)
		}
		contains(t, "stderr", r.stderr, lockPath+":2", "Can't read the lock file", `escalator init -upgrade`)
		r = runInit(t, "-upgrade", dir)
		if r.code != ExitOK {
			t.Fatalf("-upgrade: exit %d\n%s", r.code, r.stderr)
		}
		contains(t, "stderr", r.stderr, "Warning:")
		contains(t, "stdout", r.stdout, "- test 1.2.3 (newly locked)", "escalator wrote the lock file")
	})

	t.Run("stale entries are removed", func(t *testing.T) {
		dir := pluginCampaign(t, plugin, [][2]string{{"test", ">= 1.0.0"}}, "test")
		lock := pluginhost.NewLock()
		lock.Set(&pluginhost.LockedProvider{Name: "gone", Version: "1.0.0", SHA256: strings.Repeat("a", 64), Protocol: 1})
		if err := lock.Write(filepath.Join(dir, pluginhost.LockFileName)); err != nil {
			t.Fatal(err)
		}
		r := runProviders(t, dir)
		contains(t, "providers", r.stdout, "gone\n", "no longer required")
		r = runInit(t, dir)
		if r.code != ExitOK {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		contains(t, "stdout", r.stdout, "- gone removed from the lock file")
		b, _ := os.ReadFile(filepath.Join(dir, pluginhost.LockFileName))
		if strings.Contains(string(b), "gone") {
			t.Errorf("stale entry kept:\n%s", b)
		}
	})

	t.Run("invalid campaign", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("escalator {\n  required_providers {\n    sim = { version = \"nope\" }\n  }\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runInit(t, dir)
		if r.code != ExitError {
			t.Errorf("exit %d", r.code)
		}
		contains(t, "stderr", r.stderr, "Invalid version constraint", "main.hcl:3")
	})

	t.Run("no providers", func(t *testing.T) {
		dir := pluginCampaign(t, plugin, nil)
		r := runInit(t, dir)
		if r.code != ExitOK {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		r = runProviders(t, dir)
		if r.code != ExitOK || !strings.Contains(r.stdout, "requires no providers") {
			t.Errorf("providers: exit %d\n%s", r.code, r.stdout)
		}
		r = runProvidersSchema(t, "-json", dir)
		if r.code != ExitOK || !strings.Contains(r.stdout, `"provider_schemas": {}`) {
			t.Errorf("schema: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		r := runInit(t, "-nope")
		contains(t, "init", r.stderr, "flag provided but not defined: -nope", "escalator init -help")
		r = runProvidersSchema(t, ".")
		if r.code != ExitError {
			t.Errorf("schema without -json: exit %d", r.code)
		}
		contains(t, "schema", r.stderr, "the -json flag is required")
		r = runProviders(t, "-json", "a", "b")
		var out views.ProvidersOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Diagnostics) != 1 {
			t.Errorf("providers -json with bad arguments: %v\n%s", err, r.stdout)
		}
	})
}

// TestNestedCommandHelp checks "providers schema", whose name has two
// words, the way TestMainHelp checks one-word commands.
func TestNestedCommandHelp(t *testing.T) {
	streams, _, _ := testStreams("")
	c, _ := Commands(Meta{Streams: streams})["providers schema"]()
	for _, args := range [][]string{
		{"providers", "schema", "-help"},
		{"providers", "schema", "-json", "-h"},
		{"-help", "providers", "schema"},
	} {
		r := runMain(t, args...)
		if r.code != ExitOK || r.stdout != c.Help()+"\n" {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stdout)
		}
	}
	p, _ := Commands(Meta{Streams: streams})["providers"]()
	r := runMain(t, "providers", "-help")
	if r.stdout != p.Help()+"\n" {
		t.Errorf("providers -help:\n%s", r.stdout)
	}
}

// jsonEqual compares a decoded JSON value with the JSON text want.
func jsonEqual(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}
