package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newPool(t *testing.T, opts Options) *Pool {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func target(s *testServer) Target { return Target{Name: "cmp-1", Addr: s.addr(), User: "root"} }

func TestRunOutputAndExitStatus(t *testing.T) {
	key, pub := clientKeyFile(t)
	srv := newTestServer(t, pub, echoHandler)
	p := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{knownHostsFile(t, srv.addr(), srv.keys[0].PublicKey())}})
	ctx := t.Context()

	tests := []struct {
		name, cmd, stdin string
		wantOut          string
		wantStatus       int
		wantErr          []string
	}{
		{name: "stdout", cmd: "echo hello", wantOut: "hello\n"},
		{name: "stdin", cmd: "cat", stdin: "a=1\nb=2\n", wantOut: "a=1\nb=2\n"},
		{name: "non-zero exit keeps both streams", cmd: "fail 100", wantStatus: 100,
			wantErr: []string{"on cmp-1", `"fail 100"`, "exit status 100", "E: Sub-process", "progress 100%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdin []byte
			if tt.stdin != "" {
				stdin = []byte(tt.stdin)
			}
			r, err := p.Run(ctx, target(srv), tt.cmd, stdin)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if r.Stdout != tt.wantOut {
					t.Errorf("stdout %q, want %q", r.Stdout, tt.wantOut)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Result.ExitStatus != tt.wantStatus {
				t.Fatalf("err %v, want an ExitError with status %d", err, tt.wantStatus)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "progress 10%") {
				t.Errorf("the error keeps a progress state a terminal would have overwritten: %q", err)
			}
		})
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("%d connections for %d commands, want 1 reused", n, len(tests))
	}
}

func TestHostKeyVerification(t *testing.T) {
	key, pub := clientKeyFile(t)
	srv := newTestServer(t, pub, echoHandler)
	other := newEd25519(t).PublicKey()

	tests := []struct {
		name     string
		known    func() string
		insecure bool
		want     []string // in the error; none means success
		wantKeys int      // len(HostKeyError.Want)
	}{
		{name: "known key", known: func() string { return knownHostsFile(t, srv.addr(), srv.keys[0].PublicKey()) }},
		{name: "unknown host", known: func() string { return knownHostsFile(t, "192.0.2.1:22", other) },
			want: []string{"host key of cmp-1", "is unknown", "ssh-keyscan", "SHA256:"}},
		{name: "mismatch", known: func() string { return knownHostsFile(t, srv.addr(), other) },
			want: []string{"HOST KEY MISMATCH for cmp-1", "known_hosts:1", ssh.FingerprintSHA256(other), ssh.FingerprintSHA256(srv.keys[0].PublicKey()), "ssh-keygen -R"}, wantKeys: 1},
		{name: "insecure accepts anything", known: func() string { return knownHostsFile(t, srv.addr(), other) }, insecure: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known := tt.known()
			p := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{known}, InsecureIgnoreHostKey: tt.insecure})
			_, err := p.Run(t.Context(), target(srv), "echo ok", nil)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var hk *HostKeyError
			if !errors.As(err, &hk) {
				t.Fatalf("err %v, want a HostKeyError", err)
			}
			if len(hk.Want) != tt.wantKeys {
				t.Errorf("Want has %d keys, want %d", len(hk.Want), tt.wantKeys)
			}
			if Unreachable(err) {
				t.Errorf("a host key error counts as unreachable")
			}
			for _, w := range append(tt.want, known) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A server with an ECDSA and an Ed25519 key, known by its Ed25519 key
// only: the client must ask for Ed25519 (x/crypto prefers ECDSA).
func TestHostKeyAlgorithmsFollowKnownHosts(t *testing.T) {
	key, pub := clientKeyFile(t)
	ed := newEd25519(t)
	srv := newTestServer(t, pub, echoHandler, newECDSA(t), ed)
	p := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{knownHostsFile(t, srv.addr(), ed.PublicKey())}})
	if _, err := p.Run(t.Context(), target(srv), "echo ok", nil); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlineCutsTheCommandShort(t *testing.T) {
	key, pub := clientKeyFile(t)
	srv := newTestServer(t, pub, echoHandler)
	p := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{knownHostsFile(t, srv.addr(), srv.keys[0].PublicKey())}})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := p.Run(ctx, target(srv), "sleep", nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("err %v, want a deadline", err)
	}
	if took := time.Since(t0); took > 3*time.Second {
		t.Errorf("returned after %s", took)
	}
	// The connection is still good for the next command.
	if _, err := p.Run(t.Context(), target(srv), "echo again", nil); err != nil {
		t.Fatal(err)
	}
}

func TestRedialAfterTheConnectionDrops(t *testing.T) {
	key, pub := clientKeyFile(t)
	srv := newTestServer(t, pub, echoHandler)
	p := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{knownHostsFile(t, srv.addr(), srv.keys[0].PublicKey())}})
	if _, err := p.Run(t.Context(), target(srv), "echo one", nil); err != nil {
		t.Fatal(err)
	}
	srv.dropAll() // a reboot, or sshd restarted
	time.Sleep(50 * time.Millisecond)
	r, err := p.Run(t.Context(), target(srv), "echo two", nil)
	if err != nil || r.Stdout != "two\n" {
		t.Fatalf("after the drop: %v %v", r, err)
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestMaxParallel(t *testing.T) {
	key, pub := clientKeyFile(t)
	var running, peak atomic.Int32
	h := func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		running.Add(-1)
		return 0
	}
	var servers []*testServer
	var lines []any
	for range 3 {
		s := newTestServer(t, pub, h)
		servers = append(servers, s)
		lines = append(lines, s.addr(), s.keys[0].PublicKey())
	}
	p := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{knownHostsFile(t, lines...)}, MaxParallel: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := servers[i%3]
			_, err := p.Run(t.Context(), Target{Name: fmt.Sprint("h", i%3), Addr: s.addr(), User: "root"}, "x", nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := peak.Load(); got > 2 || got < 1 {
		t.Errorf("%d commands ran at once, want at most 2", got)
	}
}

func TestJumpHost(t *testing.T) {
	key, pub := clientKeyFile(t)
	jump := newTestServer(t, pub, echoHandler)
	jump.forward = true
	dst := newTestServer(t, pub, echoHandler)
	known := knownHostsFile(t, jump.addr(), jump.keys[0].PublicKey(), dst.addr(), dst.keys[0].PublicKey())
	p := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{known},
		Jump: &Target{Name: "bastion", Addr: jump.addr(), User: "root"}})
	for i := range 2 {
		r, err := p.Run(t.Context(), target(dst), fmt.Sprint("echo via jump ", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Stdout != fmt.Sprint("via jump ", i, "\n") {
			t.Errorf("stdout %q", r.Stdout)
		}
	}
	if jump.forwards.Load() != 1 || dst.accepted.Load() != 1 || jump.accepted.Load() != 1 {
		t.Errorf("forwards %d, connections to the jump host %d and to the host %d: want 1 each (reused)",
			jump.forwards.Load(), jump.accepted.Load(), dst.accepted.Load())
	}

	// The host behind the jump host is checked against known_hosts too.
	bad := knownHostsFile(t, jump.addr(), jump.keys[0].PublicKey(), dst.addr(), newEd25519(t).PublicKey())
	p2 := newPool(t, Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{bad},
		Jump: &Target{Name: "bastion", Addr: jump.addr(), User: "root"}})
	_, err := p2.Run(t.Context(), target(dst), "echo x", nil)
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Host != "cmp-1" {
		t.Errorf("through the jump host, a wrong key: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	key, pub := clientKeyFile(t)
	srv := newTestServer(t, pub, echoHandler)
	otherKey, _ := clientKeyFile(t)
	known := knownHostsFile(t, srv.addr(), srv.keys[0].PublicKey())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name        string
		key, addr   string
		unreachable bool
		want        string
	}{
		{name: "refused", key: key, addr: closed, unreachable: true, want: "connection refused"},
		{name: "key not accepted", key: otherKey, addr: srv.addr(), want: "refused every key offered for user root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Options{Auth: Auth{IdentityFile: tt.key}, KnownHostsFiles: []string{known}, ConnectTimeout: 2 * time.Second})
			_, err := p.Run(t.Context(), Target{Name: "cmp-1", Addr: tt.addr, User: "root"}, "echo x", nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "connect to cmp-1") {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if Unreachable(err) != tt.unreachable {
				t.Errorf("Unreachable = %v", !tt.unreachable)
			}
		})
	}
}

func TestNewChecksCredentials(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := clientKeyFile(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no credentials", Options{KnownHostsFiles: []string{garbage}}, "no SSH credentials"},
		{"missing key", Options{Auth: Auth{IdentityFile: filepath.Join(dir, "nope")}}, "read SSH key"},
		{"not a key", Options{Auth: Auth{IdentityFile: garbage}}, "parse SSH key"},
		{"no known_hosts", Options{Auth: Auth{IdentityFile: key}}, "no known_hosts file"},
		{"missing known_hosts", Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{filepath.Join(dir, "kh")}}, "read known_hosts"},
		{"bad known_hosts", Options{Auth: Auth{IdentityFile: key}, KnownHostsFiles: []string{garbage}}, "read known_hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain-word_1.2", "plain-word_1.2"},
		{"pkg=1:2.3+dfsg-1", "pkg=1:2.3+dfsg-1"},
		{"", "''"},
		{"two words", "'two words'"},
		{"it's", `'it'\''s'`},
		{"$(rm -rf /)", "'$(rm -rf /)'"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := QuoteAll("a", "b c"); got != "a 'b c'" {
		t.Errorf("QuoteAll = %s", got)
	}
}

func TestOutputTail(t *testing.T) {
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprint("line ", i))
	}
	tests := []struct {
		name     string
		r        Result
		want     []string
		wantNone []string
	}{
		{name: "carriage returns keep the last state", r: Result{Stdout: "(Reading database ... 5%\r(Reading database ... 100%\r\nSetting up\r\n"},
			want: []string{"stdout ends with:\n(Reading database ... 100%\nSetting up"}, wantNone: []string{"5%"}},
		{name: "last lines only", r: Result{Stderr: strings.Join(many, "\n")}, want: []string{"stderr:\n…\nline 12\n", "line 19"}, wantNone: []string{"line 11\n"}},
		{name: "nothing", r: Result{}, wantNone: []string{"stdout", "stderr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OutputTail(&tt.r, 1000)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q does not contain %q", got, w)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("%q contains %q", got, w)
				}
			}
		})
	}
}
