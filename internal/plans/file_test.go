package plans

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sample() *File {
	return &File{
		FormatVersion: FormatVersion, EscalatorVersion: "0.1.0", CreatedAt: time.Unix(1700000000, 0).UTC(),
		ConfigDigest: "c1", LockDigest: "l1", InventoryDigest: "i1", InventoryTime: time.Unix(1700000000, 0).UTC(),
		HostDigests: map[string]string{"a": "1", "b": "2", "c": "3"},
		Plan: &Plan{Rollouts: []*Rollout{{Name: "compute", Waves: []*Wave{{Number: 1, Hosts: []*HostVisit{{Host: "a",
			Changes: []Change{{Component: "nova", From: "26", To: "27"}}, Moves: []Move{{Instance: "vm1", From: "a", To: "b", Live: true}}}}}}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.json")
	f := sample()
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode %v, %v; want 0600", fi.Mode(), err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"not json":      "hello",
		"not a plan":    `{"a": 1}`,
		"future format": `{"format_version": 99, "plan": {}}`,
		"corrupted":     `{"format_version": 1, "plan": {"rollouts": "x"}}`,
		"plan missing":  `{"format_version": 1}`,
	}
	want := map[string]string{
		"not json": "not an escalator plan", "not a plan": "not an escalator plan",
		"future format": "format 99", "corrupted": "corrupted", "plan missing": "holds no plan",
	}
	for name, src := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p)
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: err = %v, want %q", name, err, want[name])
		}
	}
}

func TestCheckStale(t *testing.T) {
	f := sample()
	cur := Current{EscalatorVersion: "0.1.0", ConfigDigest: "c1", LockDigest: "l1", InventoryDigest: "i1", HostDigests: f.HostDigests}
	if err := f.CheckStale(cur); err != nil {
		t.Fatalf("fresh plan: %v", err)
	}
	cur.InventoryDigest = "i2"
	cur.HostDigests = map[string]string{"a": "1", "b": "9", "d": "4"}
	err := f.CheckStale(cur)
	if !IsStale(err) || !strings.Contains(err.Error(), "3 hosts changed since 2023-11-14T22:13:20Z (b, c, d)") {
		t.Errorf("err = %v", err)
	}
	cur = Current{EscalatorVersion: "0.2.0", ConfigDigest: "c2", LockDigest: "l2", InventoryDigest: "i1", HostDigests: f.HostDigests}
	err = f.CheckStale(cur)
	for _, want := range []string{"made by escalator 0.1.0, this is 0.2.0", "files or variable values changed", "lock file changed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}
