package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// handler runs one exec request: the command line, its stdin, where to
// write, and a context cancelled when the client goes away. It returns
// the exit status.
type handler func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int

// testServer is an in-process sshd: public key authentication with one
// client key, exec requests served by a handler, direct-tcpip (for jump
// host tests) when allowed.
type testServer struct {
	t        *testing.T
	ln       net.Listener
	cfg      *ssh.ServerConfig
	keys     []ssh.Signer // host keys
	handle   handler
	forward  bool
	accepted atomic.Int32
	forwards atomic.Int32

	mu    sync.Mutex
	conns []net.Conn
}

// newTestServer starts a server with the given host keys (one ed25519 key
// when none) that accepts client.
func newTestServer(t *testing.T, client ssh.PublicKey, h handler, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	if len(hostKeys) == 0 {
		hostKeys = []ssh.Signer{newEd25519(t)}
	}
	s := &testServer{t: t, keys: hostKeys, handle: h}
	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(client.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	for _, k := range hostKeys {
		s.cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.dropAll()
	})
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

// dropAll closes every connection, as a host that reboots does.
func (s *testServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *testServer) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns = append(s.conns, nc)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

func (s *testServer) serveConn(nc net.Conn) {
	_, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		nc.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			go s.session(nch)
		case "direct-tcpip":
			if !s.forward {
				nch.Reject(ssh.Prohibited, "no forwarding")
				continue
			}
			go s.directTCPIP(nch)
		default:
			nch.Reject(ssh.UnknownChannelType, "unknown channel type")
		}
	}
}

func (s *testServer) session(nch ssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			done := make(chan int, 1)
			go func() { done <- s.handle(ctx, p.Command, ch, ch, ch.Stderr()) }()
			// A signal or a closed channel cancels the command.
			go func() {
				for r := range reqs {
					if r.Type == "signal" {
						cancel()
					}
					if r.WantReply {
						r.Reply(false, nil)
					}
				}
				cancel()
			}()
			code := <-done
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, uint32(code))
			ch.SendRequest("exit-status", false, status)
			return
		default:
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

func (s *testServer) directTCPIP(nch ssh.NewChannel) {
	var p struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
		nch.Reject(ssh.ConnectionFailed, "bad payload")
		return
	}
	nc, err := net.Dial("tcp", net.JoinHostPort(p.Host, fmt.Sprint(p.Port)))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		nc.Close()
		return
	}
	s.forwards.Add(1)
	go ssh.DiscardRequests(reqs)
	go func() { io.Copy(nc, ch); nc.Close() }()
	io.Copy(ch, nc)
	ch.Close()
}

func newEd25519(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newECDSA(t *testing.T) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// clientKeyFile writes a fresh client key in OpenSSH form and returns its
// path and public key.
func clientKeyFile(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return p, signer.PublicKey()
}

// knownHostsFile writes known_hosts lines (address, key).
func knownHostsFile(t *testing.T, entries ...any) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(entries); i += 2 {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(entries[i].(string))}, entries[i+1].(ssh.PublicKey)))
		b.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// echoHandler answers "echo X" with X, "fail N" with status N and output
// on both streams, "cat" with its stdin, and "sleep" by waiting until
// cancelled.
func echoHandler(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case strings.HasPrefix(cmd, "echo "):
		fmt.Fprintln(stdout, strings.TrimPrefix(cmd, "echo "))
		return 0
	case strings.HasPrefix(cmd, "fail "):
		fmt.Fprintln(stdout, "Setting up pkg (1.1) ...\r\nprogress 10%\rprogress 100%")
		fmt.Fprintln(stderr, "E: Sub-process /usr/bin/dpkg returned an error code (1)")
		var n int
		fmt.Sscan(strings.TrimPrefix(cmd, "fail "), &n)
		return n
	case cmd == "cat":
		io.Copy(stdout, stdin)
		return 0
	case cmd == "sleep":
		<-ctx.Done()
		return 130
	}
	fmt.Fprintf(stderr, "unknown command %q\n", cmd)
	return 127
}
