// Package clitest runs the real escalator binary and its plugins in
// end-to-end tests of providers: it builds them into a campaign
// directory, runs commands there and samples a plugin's memory.
package clitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FourHostCloud is a sim provider cloud named name: hosts host1 to host4
// (compute, one zone) as a namespace-host test environment names its
// hosts, with instances to evacuate: an anti-affinity pair on host1 and
// host2, a lone instance on host3.
func FourHostCloud(name string) string {
	return fmt.Sprintf(`{
  "format_version": 1,
  "name": %q,
  "hosts": [
    {"name":"host1","role":"compute","availability_zone":"az1","capacity":{"vcpus":16,"memory_mb":32768,"disk_gb":200},"versions":{},"state":"up"},
    {"name":"host2","role":"compute","availability_zone":"az1","capacity":{"vcpus":16,"memory_mb":32768,"disk_gb":200},"versions":{},"state":"up"},
    {"name":"host3","role":"compute","availability_zone":"az1","capacity":{"vcpus":16,"memory_mb":32768,"disk_gb":200},"versions":{},"state":"up"},
    {"name":"host4","role":"compute","availability_zone":"az1","capacity":{"vcpus":16,"memory_mb":32768,"disk_gb":200},"versions":{},"state":"up"}
  ],
  "instances": [
    {"id":"vm-a","name":"vnf-a","flavor":{"name":"small","vcpus":2,"memory_mb":4096,"disk_gb":20},"host":"host1","status":"ACTIVE","project":"demo","server_group":"sg1","live_migratable":true},
    {"id":"vm-b","name":"vnf-b","flavor":{"name":"small","vcpus":2,"memory_mb":4096,"disk_gb":20},"host":"host2","status":"ACTIVE","project":"demo","server_group":"sg1","live_migratable":true},
    {"id":"vm-c","name":"vnf-c","flavor":{"name":"small","vcpus":2,"memory_mb":4096,"disk_gb":20},"host":"host3","status":"ACTIVE","project":"demo","live_migratable":true}
  ],
  "server_groups": [
    {"id":"sg1","name":"vnf-pair","policy":"anti-affinity","project":"demo","members":["vm-a","vm-b"]}
  ],
  "vnf_managers": []
}
`, name)
}

// repoRoot is the module's root, from this file's place in it.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("clitest: cannot find the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build builds escalator into a temporary directory and each named
// plugin ("sim", "hostos", …: plugins/NAME/cmd/escalator-provider-NAME)
// into campaign/.escalator/plugins, where a campaign finds its own
// plugins. It returns escalator's path and each plugin's.
func Build(t testing.TB, ctx context.Context, campaign string, plugins ...string) (escalator string, pluginPaths map[string]string) {
	t.Helper()
	bin := t.TempDir()
	dir := filepath.Join(campaign, ".escalator", "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	escalator = filepath.Join(bin, "escalator")
	builds := [][2]string{{escalator, "."}}
	pluginPaths = map[string]string{}
	for _, p := range plugins {
		out := filepath.Join(dir, "escalator-provider-"+p)
		pluginPaths[p] = out
		builds = append(builds, [2]string{out, "./plugins/" + p + "/cmd/escalator-provider-" + p})
	}
	root := repoRoot(t)
	for _, b := range builds {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	return escalator, pluginPaths
}

// CLI runs escalator in a campaign directory.
type CLI struct {
	T   testing.TB
	Bin string
	Dir string
}

// Run runs escalator with args; wantOK says whether it must succeed or
// fail. It returns the combined output.
func (c *CLI) Run(ctx context.Context, wantOK bool, args ...string) string {
	c.T.Helper()
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	c.T.Logf("escalator %s: %v in %s", strings.Join(args, " "), err, time.Since(t0).Round(time.Millisecond))
	if (err == nil) != wantOK {
		c.T.Fatalf("escalator %s: %v (want success %v)\n%s", strings.Join(args, " "), err, wantOK, out.String())
	}
	return out.String()
}

// PeakRSS samples the peak resident memory (VmHWM) of every process
// running exe until stop is closed; the func returns it in bytes.
func PeakRSS(exe string, stop <-chan struct{}) func() int64 {
	var mu sync.Mutex
	var peak int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				if _, err := strconv.Atoi(e.Name()); err != nil {
					continue
				}
				if p, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || p != exe {
					continue
				}
				status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
				if err != nil {
					continue
				}
				for _, line := range strings.Split(string(status), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
						mu.Lock()
						peak = max(peak, kb<<10)
						mu.Unlock()
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
