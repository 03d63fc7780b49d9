package hostos

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
)

func TestParseSections(t *testing.T) {
	out := inventorySeparator + "os\nID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n" +
		inventorySeparator + "kernel\n6.1.0-26-amd64\n" +
		inventorySeparator + "reboot\n" +
		inventorySeparator + "pm\napt\n"
	got := parseSections(out)
	if got["kernel"] != "6.1.0-26-amd64\n" || got["reboot"] != "" || got["pm"] != "apt\n" || !strings.Contains(got["os"], "bookworm") {
		t.Errorf("%q", got)
	}
	osr := parseOSRelease(got["os"] + "# a comment\nVERSION_ID='12'\nNAME=\"say \\\"hi\\\"\"\n")
	if osr["ID"] != "debian" || osr["PRETTY_NAME"] != "Debian GNU/Linux 12 (bookworm)" || osr["VERSION_ID"] != "12" || osr["NAME"] != `say "hi"` {
		t.Errorf("%q", osr)
	}
}

func TestComponentVersion(t *testing.T) {
	ok := func(v string) pkgs.Installed { return pkgs.Installed{Version: v, Status: pkgs.StatusInstalled} }
	tests := []struct {
		name string
		pkgs []string
		st   map[string]pkgs.Installed
		want string
	}{
		{"one package", []string{"a"}, map[string]pkgs.Installed{"a": ok("1.0")}, "1.0"},
		{"all at one version", []string{"a", "b"}, map[string]pkgs.Installed{"a": ok("1.1"), "b": ok("1.1")}, "1.1"},
		{"first not installed", []string{"a"}, map[string]pkgs.Installed{"a": {Status: pkgs.StatusNotInstalled}}, ""},
		{"first removed, config kept", []string{"a"}, map[string]pkgs.Installed{"a": {Version: "1.0", Status: pkgs.StatusConfigFiles}}, ""},
		{"half-configured", []string{"a"}, map[string]pkgs.Installed{"a": {Version: "1.1", Status: pkgs.StatusHalfConfigured}}, "1.1 (half-configured)"},
		{"mixed", []string{"a", "b", "c"}, map[string]pkgs.Installed{"a": ok("1.1"), "b": ok("1.0"), "c": {Status: pkgs.StatusNotInstalled}},
			"1.1 (mixed: b 1.0, c not installed)"},
	}
	for _, tt := range tests {
		if got := componentVersion(tt.pkgs, tt.st); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The inventory script runs as written on this machine (read-only: it
// reads /etc/os-release, the kernel, /run and dpkg): the sections and the
// parsers agree with real tools.
func TestInventoryScriptOnThisMachine(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("needs dpkg-query (a Debian or Ubuntu machine)")
	}
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, maintenanceFileName), []byte("escalator run r1, wave 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{StateDir: state, PackageManager: "auto", Components: map[string][]string{"dpkg": {"dpkg"}, "none": {"escalator-no-such-package"}}}
	names := allPackages(cfg)
	out, err := exec.Command("sh", "-c", inventoryScript(cfg, names, "echo from-the-extension")).Output()
	if err != nil {
		t.Fatal(err)
	}
	sec := parseSections(string(out))
	if strings.TrimSpace(sec["ext"]) != "from-the-extension" {
		t.Errorf("extension section %q", sec["ext"])
	}
	if strings.TrimSpace(sec["pm"]) != "apt" || strings.TrimSpace(sec["kernel"]) == "" || len(strings.TrimSpace(sec["boot"])) != 36 ||
		strings.TrimSpace(sec["maintenance"]) != "escalator run r1, wave 2" || parseOSRelease(sec["os"])["ID"] == "" {
		t.Errorf("sections %q", sec)
	}
	st, err := pkgs.Apt{}.ParseQuery(sec["packages"], names)
	if err != nil {
		t.Fatal(err)
	}
	if componentVersion(cfg.Components["dpkg"], st) == "" || componentVersion(cfg.Components["none"], st) != "" {
		t.Errorf("versions %+v", st)
	}
}

// An extension's section is there even when the package query ends the
// script: dnf's query exits, here with 127 because the PATH it gets holds
// only cat and uname (no rpm).
func TestInventoryScriptExtensionBeforePackages(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"cat", "uname"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &Config{StateDir: t.TempDir(), PackageManager: "dnf", Components: map[string][]string{"c": {"p"}}}
	cmd := exec.Command("/bin/sh", "-c", inventoryScript(cfg, allPackages(cfg), "echo from-the-extension"))
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.Output()
	if err == nil {
		t.Fatalf("the package query did not exit early: %s", out)
	}
	if got := strings.TrimSpace(parseSections(string(out))["ext"]); got != "from-the-extension" {
		t.Errorf("extension section %q in %q", got, out)
	}
}

func TestRecord(t *testing.T) {
	r := record{"pre": "done", "installed": "b7e3", "odd": "two\nlines"}
	back := parseRecord(r.String())
	if back["pre"] != "done" || back["installed"] != "b7e3" || back["odd"] != "two lines" || len(back) != 3 {
		t.Errorf("%q -> %q", r.String(), back)
	}
	if len(parseRecord("")) != 0 || parseRecord("=x\nk=v=w\n")["k"] != "v=w" {
		t.Errorf("edge cases")
	}
}

func TestParseInactive(t *testing.T) {
	got := parseInactive("nova-compute active\nlibvirtd inactive\n", []string{"nova-compute", "libvirtd", "ovs"})
	if strings.Join(got, ",") != "libvirtd,ovs" {
		t.Errorf("%v", got)
	}
}

func TestStepAndBackupIDs(t *testing.T) {
	if got := runID("20261122T073652Z-1a2b/w3/cmp-a1/upgrade/nova"); got != "20261122T073652Z-1a2b" {
		t.Errorf("runID %q", got)
	}
	if got := runID("../../etc/w1"); got != "_" {
		t.Errorf("runID of a hostile id: %q", got)
	}
	a, b := backupID("r1/w1/h/backup/c/x"), backupID("r1/w1/h/backup/c/y")
	if a == b || !strings.HasPrefix(a, "r1-") || !backupIDRE.MatchString(a) || a != backupID("r1/w1/h/backup/c/x") {
		t.Errorf("backup ids %q %q", a, b)
	}
}

// The backup script runs on this machine against a directory of its own:
// it archives what exists, reports what does not, keeps retain backups.
func TestBackupScript(t *testing.T) {
	root := t.TempDir()
	conf := filepath.Join(root, "etc", "agent")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "agent.conf"), []byte("listen = 10.0.0.1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(root, "backups", "agent")
	take := func(id string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", backupScript(filepath.Join(parent, id), []string{conf, filepath.Join(root, "missing")}, 2))
		cmd.Stdin = strings.NewReader("agent=1.0\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return string(out)
	}
	out := take("r1-aaaa")
	if !strings.Contains(out, "missing "+filepath.Join(root, "missing")) || !strings.Contains(out, "size ") {
		t.Errorf("output %q", out)
	}
	d := filepath.Join(parent, "r1-aaaa")
	for _, f := range []string{"versions", "paths", "config.tar.gz", "created"} {
		if _, err := os.Stat(filepath.Join(d, f)); err != nil {
			t.Error(err)
		}
	}
	if v, _ := os.ReadFile(filepath.Join(d, "versions")); string(v) != "agent=1.0\n" {
		t.Errorf("versions %q", v)
	}

	// Restore: the archive puts the file back as it was.
	if err := os.WriteFile(filepath.Join(conf, "agent.conf"), []byte("broken\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xzpf", filepath.Join(d, "config.tar.gz"), "-C", "/").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "agent.conf")); string(b) != "listen = 10.0.0.1\n" {
		t.Errorf("restored %q", b)
	}

	// Retain 2: the oldest of three goes.
	take("r2-bbbb")
	take("r3-cccc")
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, ",") != "r2-bbbb,r3-cccc" {
		t.Errorf("kept %v, want the two newest", left)
	}
}
