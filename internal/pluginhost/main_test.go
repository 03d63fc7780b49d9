package pluginhost

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The tests run a real plugin: testdata/testplugin, built once per test
// run into a temporary directory and linked under the names that select
// its behaviour (see its package comment).

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// Re-executed as an escalator-like host process (see orphans_test.go).
	if mode := os.Getenv(hostModeEnv); mode != "" {
		os.Exit(hostMain(mode))
	}
	// go-plugin logs to hclog's default output when given no logger.
	hclog.DefaultOutput = io.Discard
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// builtPlugin returns the path of the test plugin binary, building it on
// first use.
func builtPlugin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "pluginhost-test-")
		if buildErr != nil {
			return
		}
		out := filepath.Join(buildDir, "testplugin")
		cmd := exec.Command("go", "build", "-o", out, "./testdata/testplugin")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("building the test plugin: %v\n%s", err, stderr.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "testplugin")
}

// installPlugin puts the test plugin in dir as escalator-provider-NAME and
// returns its path. A hard link when possible (fast, and tests that modify
// the file use copyPlugin), else a copy.
func installPlugin(t testing.TB, dir, name string) string {
	t.Helper()
	src := builtPlugin(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, ExecutableName(name))
	if err := os.Link(src, dst); err == nil {
		return dst
	}
	return copyPlugin(t, dir, name)
}

// copyPlugin is installPlugin with a private copy of the file.
func copyPlugin(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(builtPlugin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, ExecutableName(name))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testOptions returns Options with a debug logger whose output is shown
// when the test fails, and no reattach configuration from the environment.
func testOptions(t testing.TB) (Options, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	none := ""
	return Options{
		Logger:   hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: buf}),
		Reattach: &none,
	}, buf
}
