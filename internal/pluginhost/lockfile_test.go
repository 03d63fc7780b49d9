package pluginhost

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	hashA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hashB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestLockRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), LockFileName)
	lock := NewLock()
	lock.Set(&LockedProvider{Name: "sim", Version: "0.1.0", SHA256: hashA, Protocol: 1})
	lock.Set(&LockedProvider{Name: "hostos", Version: "1.2.3-beta.1", SHA256: hashB, Protocol: 1})
	if err := lock.Write(path); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := lockHeader + `
provider "hostos" {
  version  = "1.2.3-beta.1"
  sha256   = "` + hashB + `"
  protocol = 1
}

provider "sim" {
  version  = "0.1.0"
  sha256   = "` + hashA + `"
  protocol = 1
}
`
	if diff := cmp.Diff(want, string(src)); diff != "" {
		t.Errorf("lock file (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(src), "maintained by \"escalator init\"") || !strings.Contains(string(src), "Commit it") {
		t.Error("the header does not say who maintains the file and that it should be committed")
	}

	got, ds := ReadLockFile(path)
	if len(ds) > 0 {
		t.Fatal(ds.Err())
	}
	if !got.Exists {
		t.Error("Exists is false")
	}
	if diff := cmp.Diff(lock.Providers, got.Providers, cmpopts.IgnoreFields(LockedProvider{}, "DeclRange")); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if r := got.Get("sim").DeclRange; r.Filename != path || r.Start.Line != 14 {
		t.Errorf("sim declared at %v, want %s line 14", r, path)
	}

	// Writing what was read changes nothing: the file is stable under
	// version control.
	if err := got.Write(path); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	if string(again) != string(src) {
		t.Error("rewriting the lock file changed it")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestReadLockFileMissing(t *testing.T) {
	lock, ds := ReadLockFile(filepath.Join(t.TempDir(), LockFileName))
	if len(ds) > 0 || lock == nil || lock.Exists || len(lock.Providers) != 0 {
		t.Errorf("got %+v, %v", lock, ds)
	}
	if lock.Get("sim") != nil {
		t.Error("Get on an empty lock")
	}
	var nilLock *Lock
	if nilLock.Get("sim") != nil {
		t.Error("Get on a nil lock")
	}
}

func TestReadLockFileCorrupt(t *testing.T) {
	good := `provider "sim" {
  version  = "0.1.0"
  sha256   = "` + hashA + `"
  protocol = 1
}
`
	tests := map[string]struct {
		src     string
		summary string
		// line and col of the diagnostic's subject.
		line, col int
		// keeps lists the providers still read.
		keeps []string
	}{
		"syntax error": {
			src:     "provider \"sim\" {\n  version = \n}\n",
			summary: "Invalid expression", line: 2, col: 13,
		},
		"unknown block": {
			src:     good + "module \"x\" {}\n",
			summary: "Unsupported block type", line: 6, col: 1, keeps: []string{"sim"},
		},
		"missing label": {
			src:     "provider {\n}\n",
			summary: "Missing name for provider", line: 1, col: 10,
		},
		"missing sha256": {
			src:     "provider \"sim\" {\n  version  = \"0.1.0\"\n  protocol = 1\n}\n",
			summary: "Missing required argument", line: 1, col: 16,
		},
		"unknown attribute": {
			src:     "provider \"sim\" {\n  version  = \"0.1.0\"\n  sha256   = \"" + hashA + "\"\n  protocol = 1\n  path = \"/x\"\n}\n",
			summary: "Unsupported argument", line: 5, col: 3,
		},
		"bad sha256": {
			src:     "provider \"sim\" {\n  version  = \"0.1.0\"\n  sha256   = \"ABC\"\n  protocol = 1\n}\n",
			summary: "Invalid lock file entry", line: 3, col: 14,
		},
		"bad version": {
			src:     "provider \"sim\" {\n  version  = \"latest\"\n  sha256   = \"" + hashA + "\"\n  protocol = 1\n}\n",
			summary: "Invalid lock file entry", line: 2, col: 14,
		},
		"version is not a string": {
			src:     "provider \"sim\" {\n  version  = [1]\n  sha256   = \"" + hashA + "\"\n  protocol = 1\n}\n",
			summary: "Invalid lock file entry", line: 2, col: 14,
		},
		"protocol zero": {
			src:     "provider \"sim\" {\n  version  = \"0.1.0\"\n  sha256   = \"" + hashA + "\"\n  protocol = 0\n}\n",
			summary: "Invalid lock file entry", line: 4, col: 14,
		},
		"protocol fraction": {
			src:     "provider \"sim\" {\n  version  = \"0.1.0\"\n  sha256   = \"" + hashA + "\"\n  protocol = 1.5\n}\n",
			summary: "Invalid lock file entry", line: 4, col: 14,
		},
		"an expression that needs evaluation": {
			src:     "provider \"sim\" {\n  version  = var.v\n  sha256   = \"" + hashA + "\"\n  protocol = 1\n}\n",
			summary: "Variables not allowed", line: 2, col: 14,
		},
		"duplicate provider": {
			src:     good + good,
			summary: "Duplicate provider in the lock file", line: 6, col: 10, keeps: []string{"sim"},
		},
		"invalid name": {
			src:     "provider \"a/b\" {\n  version  = \"0.1.0\"\n  sha256   = \"" + hashA + "\"\n  protocol = 1\n}\n",
			summary: "Invalid provider name in the lock file", line: 1, col: 10,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), LockFileName)
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			lock, ds := ReadLockFile(path)
			if !ds.HasErrors() {
				t.Fatalf("no error for:\n%s", tt.src)
			}
			d := ds[0]
			if d.Summary != tt.summary {
				t.Errorf("summary %q, want %q (all: %v)", d.Summary, tt.summary, ds.Err())
			}
			if d.Subject == nil {
				t.Fatalf("no subject: %v", ds.Err())
			}
			if d.Subject.Filename != path || d.Subject.Start.Line != tt.line || d.Subject.Start.Column != tt.col {
				t.Errorf("at %s:%d:%d, want line %d col %d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, tt.line, tt.col)
			}
			if !strings.Contains(ds.Err().Error(), `delete it and run "escalator init"`) {
				t.Errorf("no advice on what to do: %v", ds.Err())
			}
			if lock.Files[path] == nil {
				t.Error("the file is not kept for rendering the diagnostic")
			}
			var got []string
			for n := range lock.Providers {
				got = append(got, n)
			}
			if diff := cmp.Diff(tt.keeps, got); diff != "" {
				t.Errorf("providers kept (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLockFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be can't be read as one.
	path := filepath.Join(dir, LockFileName)
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	_, ds := ReadLockFile(path)
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "Can't read the lock file") {
		t.Errorf("got %v", ds.Err())
	}
}

func TestCheckHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), ExecutableName("sim"))
	if err := os.WriteFile(path, []byte("plugin"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x", sha256.Sum256([]byte("plugin"))); sum != want {
		t.Fatalf("hash %q, want %q", sum, want)
	}
	if err := CheckHash("sim", path, sum); err != nil {
		t.Errorf("same file: %v", err)
	}
	err = CheckHash("sim", path, hashA)
	var hm *HashMismatchError
	if !errors.As(err, &hm) || hm.Expected != hashA || hm.Actual != sum {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{`provider "sim"`, path, hashA, sum, `escalator init -upgrade`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message does not contain %q:\n%s", want, err)
		}
	}
	if _, err := HashFile(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("no error for a missing file")
	}
}
