package hosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultWaitTimeout bounds the waits of this package whose context has no
// deadline of its own.
const DefaultWaitTimeout = time.Minute

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultWaitTimeout)
}

// HostKey is host i's current SSH host key.
func (e *Env) HostKey(i int) ssh.PublicKey {
	h := e.hosts[i]
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.key.pub
}

// KnownHostsLine is host i's known_hosts line with its current key.
func (e *Env) KnownHostsLine(i int) string {
	h := e.hosts[i]
	return knownhosts.Line([]string{knownhosts.Normalize(h.SSHAddr())}, e.HostKey(i))
}

// WriteKnownHosts (re)writes KnownHostsFile with every host's current key.
// Start writes it; after RekeyHost it still holds the old key until this is
// called again.
func (e *Env) WriteKnownHosts() error {
	var b strings.Builder
	for i := range e.hosts {
		b.WriteString(e.KnownHostsLine(i))
		b.WriteByte('\n')
	}
	if err := writeFileAtomic(e.KnownHostsFile, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("hosts: known_hosts: %w", err)
	}
	return nil
}

// ClientConfig is an SSH client configuration for root@ any host: the
// harness's key, and host keys verified against KnownHostsFile (read now).
func (e *Env) ClientConfig() (*ssh.ClientConfig, error) {
	cb, err := knownhosts.New(e.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("hosts: known_hosts: %w", err)
	}
	return &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(e.signer)},
		HostKeyCallback: cb,
		Timeout:         10 * time.Second,
	}, nil
}

// Dial connects to host i as root, verifying its key against
// KnownHostsFile.
func (e *Env) Dial(ctx context.Context, i int) (*ssh.Client, error) {
	h, err := e.host(i)
	if err != nil {
		return nil, err
	}
	cfg, err := e.ClientConfig()
	if err != nil {
		return nil, err
	}
	c, err := dialSSH(ctx, h.SSHAddr(), cfg)
	if err != nil {
		return nil, fmt.Errorf("hosts: ssh %s (%s): %w", h.Name, h.SSHAddr(), err)
	}
	return c, nil
}

// Run runs a shell command on host i over SSH (a new connection, known_hosts
// verified) and returns its standard output; the error carries its
// standard error.
func (e *Env) Run(ctx context.Context, i int, cmd string) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c, err := e.Dial(ctx, i)
	if err != nil {
		return "", err
	}
	defer c.Close()
	out, err := runSSH(ctx, c, cmd)
	if err != nil {
		return out, fmt.Errorf("hosts: %s: %w", e.hosts[i].Name, err)
	}
	return out, nil
}

// dialSSH connects with the context's deadline on the TCP connection and the
// SSH handshake.
func dialSSH(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(cfg.Timeout)
	}
	_ = conn.SetDeadline(deadline)
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// runSSH runs cmd in a new session of c, until it ends or ctx does.
func runSSH(ctx context.Context, c *ssh.Client, cmd string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err := <-done:
		if err != nil {
			// dpkg and apt split their story between the two streams.
			return stdout.String(), fmt.Errorf("%q: %w: stderr: %s; stdout ends with: %s",
				cmd, err, bytesTail(stderr.Bytes(), 800), bytesTail(stdout.Bytes(), 800))
		}
		return stdout.String(), nil
	case <-ctx.Done():
		c.Close()
		return stdout.String(), fmt.Errorf("%q: %w", cmd, ctx.Err())
	}
}

// WaitUp waits until host i's sshd answers with the host's current key and
// the host reads its current boot id: the boot is complete. The error says
// which host and why (the last connection error and the end of its logs).
func (e *Env) WaitUp(ctx context.Context, i int) error {
	h, err := e.host(i)
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	start := time.Now()
	var last error
	for {
		h.mu.Lock()
		down, failed, bootID, key := h.down, h.failed, h.bootID, h.key.pub
		h.mu.Unlock()
		if failed != nil {
			return fmt.Errorf("hosts: %w", failed)
		}
		if down {
			return fmt.Errorf("hosts: %s is down", h.Name)
		}
		last = e.probe(ctx, h, key, bootID)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hosts: %s (%s) not up after %s: %v; %s ends with: %s; sshd's log %s ends with: %s",
				h.Name, h.SSHAddr(), time.Since(start).Round(time.Millisecond), last,
				h.BootLog(), fileTail(h.BootLog(), 400),
				h.Path("/var/log/escalator-test/ssh.log"), fileTail(h.Path("/var/log/escalator-test/ssh.log"), 400))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe checks one boot of h: SSH with key, then the boot id it reads.
func (e *Env) probe(ctx context.Context, h *host, key ssh.PublicKey, bootID string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(e.signer)},
		HostKeyCallback: ssh.FixedHostKey(key),
		Timeout:         3 * time.Second,
	}
	c, err := dialSSH(ctx, h.SSHAddr(), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	out, err := runSSH(ctx, c, "cat /proc/sys/kernel/random/boot_id")
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(out); got != bootID {
		return fmt.Errorf("boot id is %s, not %s yet", got, bootID)
	}
	return nil
}

// RekeyHost gives host i a new SSH host key (sshd restarted), as a
// reinstalled host has: clients whose known_hosts has the old key must
// refuse it. KnownHostsFile keeps the old key until WriteKnownHosts. It
// returns the new key once sshd serves it.
func (e *Env) RekeyHost(ctx context.Context, i int) (ssh.PublicKey, error) {
	h, err := e.host(i)
	if err != nil {
		return nil, err
	}
	k, err := newHostKey()
	if err != nil {
		return nil, err
	}
	if err := writeHostKey(h, k); err != nil {
		return nil, fmt.Errorf("hosts: rekey %s: %w", h.Name, err)
	}
	h.mu.Lock()
	h.key = k
	h.mu.Unlock()
	if _, err := e.Exec(ctx, i, "systemctl", "restart", "ssh"); err != nil {
		return nil, fmt.Errorf("hosts: rekey %s: %w", h.Name, err)
	}
	if err := e.WaitUp(ctx, i); err != nil {
		return nil, errors.Join(fmt.Errorf("hosts: rekey %s", h.Name), err)
	}
	return k.pub, nil
}
