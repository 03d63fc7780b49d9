package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/escalator-nfv/escalator/plugins/sim"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	gen := func(name string, extra ...string) []byte {
		t.Helper()
		out := filepath.Join(dir, name)
		var stderr bytes.Buffer
		args := append([]string{"-hosts", "120", "-instances-per-host", "10", "-group-size", "3", "-zones", "3", "-seed", "5", "-out", out}, extra...)
		if err := run(args, &bytes.Buffer{}, &stderr); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stderr.String(), "simgen: 123 hosts (120 compute)") {
			t.Errorf("summary: %s", stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := gen("a.json"), gen("b.json")
	if !bytes.Equal(a, b) {
		t.Error("the same flags wrote two different clouds")
	}
	c, err := sim.DecodeCloud(a)
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, h := range c.Hosts {
		zones[h.AvailabilityZone] = true
	}
	if len(zones) != 3 {
		t.Errorf("zones %v", zones)
	}
	if d := gen("c.json", "-seed", "6"); bytes.Equal(a, d) {
		t.Error("another seed wrote the same cloud")
	}
}

func TestRunStdoutAndErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-hosts", "5", "-controllers", "0", "-out", "-", "-q"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.DecodeCloud(stdout.Bytes()); err != nil {
		t.Errorf("stdout is not a cloud: %v", err)
	}
	if stderr.Len() != 0 {
		t.Errorf("-q printed %q", stderr.String())
	}
	for _, args := range [][]string{{"-hosts", "0"}, {"-bogus"}, {"extra"}} {
		if err := run(append(args, "-out", filepath.Join(t.TempDir(), "x.json")), &stdout, &stderr); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
