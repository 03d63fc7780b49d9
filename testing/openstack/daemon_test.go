//go:build linux

package openstack

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testEnv(t *testing.T) *Env {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"run", "log", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &Env{Dir: dir}
}

func shDaemon(e *Env, name, script string) daemon {
	return daemon{Name: name, Argv: []string{"/bin/sh", "-c", script}, Env: e.baseEnv(), Dir: e.path("home")}
}

// waitFile waits for a file the test's shell writes once it has forked.
func waitFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never written", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStopDaemons(t *testing.T) {
	tests := []struct {
		name   string
		script string
		// child is a file the script writes the PID of a helper into.
		child string
	}{
		{"exits on SIGTERM", "exec sleep 300", ""},
		{"ignores SIGTERM", "trap '' TERM; sleep 300; sleep 300", ""},
		{"helper in its own session", "setsid sh -c 'echo $$ > helper.pid; exec sleep 300' & sleep 300", "helper.pid"},
		{"uwsgi-like worker left by a dead master", "sh -c 'echo $$ > helper.pid; trap \"\" TERM; sleep 300; sleep 300' & exec sleep 300", "helper.pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEnv(t)
			if err := e.start(shDaemon(e, "d", tt.script)); err != nil {
				t.Fatal(err)
			}
			var helper int
			if tt.child != "" {
				helper = waitFile(t, filepath.Join(e.path("home"), tt.child))
			}
			time.Sleep(100 * time.Millisecond) // let the shell set its traps
			if !e.running("d") {
				t.Fatal("daemon not running after start")
			}
			if err := e.start(shDaemon(e, "d", tt.script)); err == nil {
				t.Error("a second start under the same name succeeded")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := e.stopDaemons(ctx, []string{"d"}, 500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if e.running("d") {
				t.Error("daemon still running after stop")
			}
			if helper != 0 {
				if st, err := readProcStat(helper); err == nil && st.State != 'Z' {
					t.Errorf("helper PID %d survived the stop (state %c)", helper, st.State)
					_ = syscall.Kill(helper, syscall.SIGKILL)
				}
			}
			if _, err := os.Stat(e.pidFile("d")); !os.IsNotExist(err) {
				t.Errorf("pid file left: %v", err)
			}
			// Idempotent.
			if err := e.stopDaemons(ctx, []string{"d"}, time.Second); err != nil {
				t.Errorf("second stop: %v", err)
			}
		})
	}
}

// A helper that double-forked out of the daemon's lineage before the stop
// escapes the process tree; Stop must report it rather than claim success.
func TestStopReportsEscapedProcess(t *testing.T) {
	e := testEnv(t)
	if err := e.start(shDaemon(e, "d", "(setsid sh -c 'echo $$ > escaped.pid; exec sleep 300' &); exec sleep 300")); err != nil {
		t.Fatal(err)
	}
	pid := waitFile(t, filepath.Join(e.path("home"), "escaped.pid"))
	defer syscall.Kill(pid, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "survived") || !strings.Contains(err.Error(), "PID "+strconv.Itoa(pid)) {
		t.Fatalf("Stop = %v, want an error naming PID %d as a survivor", err, pid)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for len(e.Leftovers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := e.Leftovers(); len(left) > 0 {
		t.Errorf("leftovers after killing the escaped process: %v", left)
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name, in string
		want     procStat
		wantErr  bool
	}{
		{
			name: "plain",
			in:   "1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000000 256 18446744073709551615",
			want: procStat{State: 'S', PPid: 1, Pgrp: 1234, Sid: 1234, Start: 98765, RSSPages: 256},
		},
		{
			name: "name with spaces and parentheses",
			in:   "77 (uWSGI (worker) 1) R 70 70 70 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 4242 1 9 0",
			want: procStat{State: 'R', PPid: 70, Pgrp: 70, Sid: 70, Start: 4242, RSSPages: 9},
		},
		{name: "truncated", in: "1 (x) S 1 1", wantErr: true},
		{name: "no name", in: "garbage", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		want string
	}{{2, "c\nd"}, {10, "a\nb\nc\nd"}}
	for _, tt := range tests {
		if got := tail(p, tt.n); got != tt.want {
			t.Errorf("tail(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := tail(filepath.Join(t.TempDir(), "missing"), 3); !strings.HasPrefix(got, "(no log") {
		t.Errorf("tail of a missing file = %q", got)
	}
}
