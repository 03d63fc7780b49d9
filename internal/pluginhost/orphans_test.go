//go:build unix

package pluginhost

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// processGone reports whether pid no longer runs. A zombie counts as gone:
// it runs no code, and only its parent or init can reap it.
func processGone(pid int) bool {
	if pid <= 0 {
		return true
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return runtime.GOOS == "linux"
	}
	// "pid (comm) S …": the state follows the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// waitGone waits up to d for pid to be gone.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if processGone(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return processGone(pid)
}

// host is a running hostMain process.
type host struct {
	cmd   *exec.Cmd
	lines chan string
	pid   int // the plugin's
}

// startHost re-executes the test binary as an escalator-like host in mode
// and waits until its plugin is in a hanging call.
func startHost(t *testing.T, mode string) *host {
	t.Helper()
	path := installPlugin(t, t.TempDir(), "test")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), hostModeEnv+"="+mode, hostPluginEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &host{cmd: cmd, lines: make(chan string, 16)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host stderr:\n%s", stderr.String())
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if h.pid > 0 && !processGone(h.pid) {
			_ = syscall.Kill(h.pid, syscall.SIGKILL)
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	for {
		line := h.next(t)
		if n, ok := strings.CutPrefix(line, "pid "); ok {
			h.pid, _ = strconv.Atoi(n)
		}
		if line == "ready" {
			break
		}
	}
	if h.pid <= 0 {
		t.Fatal("the host did not report the plugin's pid")
	}
	// Give the host time to enter ReadInventory.
	time.Sleep(200 * time.Millisecond)
	return h
}

func (h *host) next(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-h.lines:
		if !ok {
			t.Fatal("the host exited early")
		}
		return line
	case <-time.After(15 * time.Second):
		t.Fatal("the host said nothing for 15s")
	}
	return ""
}

// wait waits for the host to exit and returns what it printed.
func (h *host) wait(t *testing.T) []string {
	t.Helper()
	var out []string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				_ = h.cmd.Wait()
				return out
			}
			out = append(out, line)
		case <-timeout:
			t.Fatalf("the host did not exit within 15s; it printed %q", out)
		}
	}
}

// TestNoOrphanAfterInterrupt sends SIGINT to an escalator-like process
// while its plugin hangs in a call, and checks that the plugin is gone
// when the process has exited, by the process's own cleanup.
func TestNoOrphanAfterInterrupt(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{hostInterrupt, hostStuck} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := startHost(t, mode)
			if processGone(h.pid) {
				t.Fatal("the plugin is not running")
			}
			start := time.Now()
			if err := h.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			out := h.wait(t)
			text := strings.Join(out, "\n")
			want := "was interrupted"
			if mode == hostStuck {
				// The command ignored its context; the grace kill
				// unblocked it.
				want = `Provider "test" was stopped during ReadInventory`
			}
			if !strings.Contains(text, want) {
				t.Errorf("host output lacks %q:\n%s", want, text)
			}
			if !strings.Contains(text, "after cleanup: running=0 alive=false") {
				t.Errorf("the plugin outlived the host's cleanup:\n%s", text)
			}
			if !waitGone(h.pid, 5*time.Second) {
				t.Errorf("orphan plugin process %d", h.pid)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the host took %s to exit", d)
			}
		})
	}
}

// TestNoOrphanAfterSIGKILL kills the escalator-like process outright, so
// none of its cleanup runs: the parent-death signal must end the plugin.
func TestNoOrphanAfterSIGKILL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	t.Parallel()
	h := startHost(t, hostInterrupt)
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = h.wait(t)
	if !waitGone(h.pid, 5*time.Second) {
		t.Errorf("orphan plugin process %d after its host was killed", h.pid)
	}
}

// TestNoOrphanAfterCancel cancels the context of a call in flight in this
// process, then closes the provider.
func TestNoOrphanAfterCancel(t *testing.T) {
	t.Parallel()
	opts, _ := testOptions(t)
	p := startTest(t, "test", opts)
	configure(t, p, mapOf("hang_in", "ReadInventory"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	_, ds := p.ReadInventory(ctx)
	if !ds.HasErrors() || ds[0].Summary != `ReadInventory of provider "test" was interrupted` {
		t.Errorf("got %v", ds.Err())
	}
	pid := p.Pid()
	p.Close()
	if !waitGone(pid, 5*time.Second) {
		t.Errorf("orphan plugin process %d", pid)
	}
}

// TestCleanupClients closes everything still running.
func TestCleanupClients(t *testing.T) {
	// Not parallel: CleanupClients ends the other tests' plugins too.
	opts, _ := testOptions(t)
	var pids []int
	for range 2 {
		p := startTest(t, "test", opts)
		pids = append(pids, p.Pid())
	}
	CleanupClients()
	for _, pid := range pids {
		if !waitGone(pid, 5*time.Second) {
			t.Errorf("pid %d still running", pid)
		}
	}
	if n := Running(); n != 0 {
		t.Errorf("Running() = %d", n)
	}
	CleanupClients() // again: harmless
}

func TestSignalContextSecondSignalExits(t *testing.T) {
	// Not parallel: it sends signals to this process.
	exited := make(chan int, 1)
	exit = func(code int) { exited <- code }
	defer func() { exit = os.Exit }()

	ctx, stop := SignalContext(context.Background(), time.Hour)
	defer stop()
	self, _ := os.FindProcess(os.Getpid())
	_ = self.Signal(syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first signal did not cancel the context")
	}
	if got := context.Cause(ctx).Error(); got != "interrupted by terminated" {
		t.Errorf("cause %q", got)
	}
	_ = self.Signal(syscall.SIGTERM)
	select {
	case code := <-exited:
		if code != 130 {
			t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not exit")
	}
}

// TestReattach runs the plugin in debug mode, as a developer would under a
// debugger, and attaches to it through ESCALATOR_REATTACH_PROVIDERS.
func TestReattach(t *testing.T) {
	t.Parallel()
	path := installPlugin(t, t.TempDir(), "test")
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), "TESTPLUGIN_DEBUG=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	value := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ESCALATOR_REATTACH_PROVIDERS="); ok {
				value <- strings.Trim(v, "'")
				return
			}
		}
	}()
	var env string
	select {
	case env = <-value:
	case <-time.After(15 * time.Second):
		t.Fatal("the plugin did not print its reattach line")
	}

	opts, _ := testOptions(t)
	opts.Reattach = &env
	// No path and no hash: the reattached process is used as it is.
	p, err := Start(context.Background(), Spec{Name: "test"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Reattached() || p.Protocol() != 1 || p.Path() != "" {
		t.Errorf("reattached %v protocol %d path %q", p.Reattached(), p.Protocol(), p.Path())
	}
	meta, ds := p.Metadata(context.Background())
	if ds.HasErrors() || meta.Name != "test" {
		t.Fatalf("%+v %v", meta, ds.Err())
	}
	configure(t, p, nil)
	if _, ds := p.ReadInventory(context.Background()); ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	// Test mode: the developer's process keeps running.
	p.Close()
	time.Sleep(100 * time.Millisecond)
	if processGone(cmd.Process.Pid) {
		t.Error("Close killed a reattached plugin in test mode")
	}

	// Another provider's name is started normally, not attached.
	other := installPlugin(t, t.TempDir(), "old")
	q, err := Start(context.Background(), Spec{Name: "old", Path: other}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Reattached() {
		t.Error("old was attached")
	}

	// A dead address is a clear error.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	_, err = Start(context.Background(), Spec{Name: "test"}, opts)
	if err == nil || !strings.Contains(err.Error(), "can't attach to the plugin named by ESCALATOR_REATTACH_PROVIDERS") {
		t.Errorf("got %v", err)
	}
}

func mapOf(kv ...string) map[string]ctyValue {
	m := map[string]ctyValue{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = ctyString(kv[i+1])
	}
	return m
}

var _ = fmt.Sprint
