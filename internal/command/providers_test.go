//go:build unix

package command

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/pluginhost"
)

// TestCLIPluginLifecycle runs the escalator binary itself against a plugin
// that hangs in GetSchema: Ctrl-C (SIGINT) must end escalator and its
// plugin, and a plugin killed during the call must become a diagnostic
// naming it. No escalator-provider- process may survive either.
func TestCLIPluginLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds escalator")
	}
	bin := t.TempDir()
	escalator := filepath.Join(bin, "escalator")
	build := exec.Command("go", "build", "-o", escalator, "../..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building escalator: %v\n%s", err, out)
	}
	plugin := buildTestPlugin(t, bin)
	dir := pluginCampaign(t, plugin, [][2]string{{"test", ">= 1.0.0"}}, "test")

	run := func(env []string, args ...string) *exec.Cmd {
		cmd := exec.Command(escalator, args...)
		cmd.Env = append(os.Environ(), pluginhost.EnvReattach+"=", pluginhost.EnvPluginPath+"=")
		cmd.Env = append(cmd.Env, env...)
		return cmd
	}
	if out, err := run(nil, "init", dir).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}

	// start runs "providers schema -json" with the plugin hanging in
	// GetSchema and returns once the plugin runs, with its pid.
	start := func(t *testing.T) (*exec.Cmd, *bytes.Buffer, int) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		cmd := run([]string{"TESTPLUGIN_HANG=GetSchema", "TESTPLUGIN_PIDFILE=" + pidFile}, "providers", "schema", "-json", dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		deadline := time.Now().Add(15 * time.Second)
		for {
			b, _ := os.ReadFile(pidFile)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				// Let escalator get into the GetSchema call.
				time.Sleep(300 * time.Millisecond)
				return cmd, &stderr, pid
			}
			if time.Now().After(deadline) {
				t.Fatalf("the plugin did not start; stderr:\n%s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait := func(t *testing.T, cmd *exec.Cmd) int {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("escalator did not exit within 20s")
		}
		return cmd.ProcessState.ExitCode()
	}
	gone := func(pid int) bool {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if syscall.Kill(pid, 0) != nil {
				return true
			}
			// A zombie (reparented, not yet reaped) runs nothing.
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
				if s := string(b); strings.Contains(s[strings.LastIndexByte(s, ')'):], ") Z") {
					return true
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}

	t.Run("Ctrl-C", func(t *testing.T) {
		cmd, stderr, pid := start(t)
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := wait(t, cmd); code != ExitError {
			t.Errorf("exit %d, want 1", code)
		}
		contains(t, "stderr", stderr.String(), `GetSchema of provider "test" was interrupted`)
		if !gone(pid) {
			t.Errorf("orphan plugin process %d after Ctrl-C", pid)
		}
	})

	t.Run("plugin killed during a call", func(t *testing.T) {
		cmd, stderr, pid := start(t)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if code := wait(t, cmd); code != ExitError {
			t.Errorf("exit %d, want 1", code)
		}
		contains(t, "stderr", stderr.String(), `Provider "test" crashed during GetSchema`, "signal: killed")
		if !gone(pid) {
			t.Errorf("plugin process %d still there", pid)
		}
	})

}
