// Package remote runs commands on hosts over SSH (golang.org/x/crypto/ssh):
// key or agent authentication, host keys verified against known_hosts (a
// clear error naming the host and the file on a mismatch), an optional
// jump host, one reused connection per host, a deadline on every command
// from its context, and a cap on the commands in flight.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults of Options.
const (
	DefaultConnectTimeout     = 15 * time.Second
	DefaultMaxParallel        = 32
	DefaultMaxSessionsPerHost = 4
	// maxOutput bounds what a command's stdout or stderr keeps in memory;
	// beyond it the beginning is dropped (errors quote the end).
	maxOutput = 4 << 20
)

// Target is one host to reach.
type Target struct {
	// Name is the host's name in the inventory, for messages.
	Name string
	// Addr is host:port.
	Addr string
	User string
}

func (t Target) key() string { return t.User + "@" + t.Addr }

// Options configure a Pool.
type Options struct {
	Auth Auth
	// KnownHostsFiles are the OpenSSH known_hosts files every host key
	// (the jump host's included) is checked against.
	KnownHostsFiles []string
	// InsecureIgnoreHostKey accepts any host key. For throwaway tests
	// only: anyone on the path can then impersonate a host.
	InsecureIgnoreHostKey bool
	// Jump, when set, is the bastion every connection goes through.
	Jump *Target
	// ConnectTimeout bounds a TCP connect plus SSH handshake, and opening
	// a session on a reused connection.
	ConnectTimeout time.Duration
	// MaxParallel caps the commands in flight over all hosts.
	MaxParallel int
	// MaxSessionsPerHost caps the commands in flight on one host (sshd's
	// MaxSessions is 10 by default).
	MaxSessionsPerHost int
	// Wrap, when set, turns a command into the line actually sent (say,
	// under sudo); messages quote the command as given.
	Wrap func(cmd string) string
}

// Pool keeps one SSH connection per host and runs commands over it. It is
// safe for concurrent use.
type Pool struct {
	opts Options
	auth []ssh.AuthMethod
	keys *hostKeys
	sem  chan struct{}

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool
}

// conn is the cached connection to one host.
type conn struct {
	dial     sync.Mutex // one dial at a time per host
	sessions chan struct{}

	mu     sync.Mutex
	client *ssh.Client
}

// New checks the options (reading the key and known_hosts files) and
// returns a pool that has not connected anywhere yet.
func New(opts Options) (*Pool, error) {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.MaxParallel <= 0 {
		opts.MaxParallel = DefaultMaxParallel
	}
	if opts.MaxSessionsPerHost <= 0 {
		opts.MaxSessionsPerHost = DefaultMaxSessionsPerHost
	}
	auth, err := opts.Auth.methods()
	if err != nil {
		return nil, err
	}
	keys, err := newHostKeys(opts.KnownHostsFiles, opts.InsecureIgnoreHostKey)
	if err != nil {
		return nil, err
	}
	return &Pool{
		opts:  opts,
		auth:  auth,
		keys:  keys,
		sem:   make(chan struct{}, opts.MaxParallel),
		conns: map[string]*conn{},
	}, nil
}

// Result is what a command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	ExitStatus     int
}

// ExitError is a command that ran and exited non-zero (or was killed by a
// signal).
type ExitError struct {
	Target Target
	Cmd    string
	Result *Result
	Signal string
}

func (e *ExitError) Error() string {
	how := fmt.Sprintf("exit status %d", e.Result.ExitStatus)
	if e.Signal != "" {
		how = "killed by signal " + e.Signal
	}
	return fmt.Sprintf("on %s: %s: %s%s", e.Target.Name, summarize(e.Cmd), how, OutputTail(e.Result, 1000))
}

// OutputTail quotes the end of a command's stderr and stdout for an error
// message, at most tailLines lines and n bytes of each: apt and dpkg split
// their story between the two, and tell the end of it last.
func OutputTail(r *Result, n int) string {
	var b strings.Builder
	if s := cleanOutput(r.Stderr); s != "" {
		b.WriteString("\nstderr:\n")
		b.WriteString(tail(lastLines(s, tailLines), n))
	}
	if s := cleanOutput(r.Stdout); s != "" {
		b.WriteString("\nstdout ends with:\n")
		b.WriteString(tail(lastLines(s, tailLines), n))
	}
	return b.String()
}

const tailLines = 8

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// cleanOutput keeps what a terminal would show of each line: progress
// counters rewritten with carriage returns ("Reading database ... 45%")
// leave only their last state.
func cleanOutput(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		parts := strings.Split(l, "\r")
		l = ""
		for j := len(parts) - 1; j >= 0; j-- {
			if strings.TrimSpace(parts[j]) != "" {
				l = parts[j]
				break
			}
		}
		lines[i] = l
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// ErrConnectionLost is a command whose connection ended before it did:
// the host rebooted, lost its network, or sshd was restarted.
var ErrConnectionLost = errors.New("the connection ended before the command did")

// ErrNotAnswering is a reused connection that no longer answers (its host
// went away without closing it).
var ErrNotAnswering = errors.New("the connection stopped answering")

// Run runs cmd (a shell command line, run by the user's login shell) on t
// until it exits or ctx is done, over the host's cached connection (dialled
// when there is none, or again when it broke). A non-zero exit is an
// *ExitError carrying the output; the Result is returned in every case
// where the command started.
func (p *Pool) Run(ctx context.Context, t Target, cmd string, stdin []byte) (*Result, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("on %s: waiting for a free connection slot: %w", t.Name, ctx.Err())
	}
	defer func() { <-p.sem }()

	s, c, err := p.session(ctx, t)
	if err != nil {
		return nil, err
	}
	defer func() { <-c.sessions }()
	defer s.Close()

	stdout, stderr := &tailBuffer{max: maxOutput}, &tailBuffer{max: maxOutput}
	s.Stdout, s.Stderr = stdout, stderr
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	result := func() *Result { return &Result{Stdout: stdout.String(), Stderr: stderr.String()} }
	started := time.Now()
	line := cmd
	if p.opts.Wrap != nil {
		line = p.opts.Wrap(cmd)
	}
	if err := s.Start(line); err != nil {
		return nil, fmt.Errorf("on %s: start %s: %w", t.Name, summarize(cmd), err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Best effort: OpenSSH delivers the signal to the command; the
		// session is closed either way. A command that ignores it (dpkg
		// in a maintainer script) may go on after we return; apt's lock
		// makes the next attempt wait for it.
		_ = s.Signal(ssh.SIGKILL)
		_ = s.Close()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		r := result()
		return r, fmt.Errorf("on %s: %s cut short after %s: %w%s", t.Name, summarize(cmd), time.Since(started).Round(time.Millisecond), ctx.Err(), OutputTail(r, 600))
	}
	r := result()
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &ee):
		r.ExitStatus = ee.ExitStatus()
		return r, &ExitError{Target: t, Cmd: cmd, Result: r, Signal: ee.Signal()}
	case errors.As(err, &missing), errors.Is(err, io.EOF):
		p.Forget(t)
		return r, fmt.Errorf("on %s: %s: %w", t.Name, summarize(cmd), ErrConnectionLost)
	default:
		p.Forget(t)
		return r, fmt.Errorf("on %s: %s: %w", t.Name, summarize(cmd), err)
	}
}

// session opens a session on t's connection, dialling once more if the
// cached connection turns out to be dead.
func (p *Pool) session(ctx context.Context, t Target) (*ssh.Session, *conn, error) {
	c, err := p.conn(t)
	if err != nil {
		return nil, nil, err
	}
	select {
	case c.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("on %s: waiting for a free session: %w", t.Name, ctx.Err())
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		cl, fresh, err := p.client(ctx, t, c)
		if err != nil {
			<-c.sessions
			return nil, nil, err
		}
		s, err := p.newSession(ctx, cl)
		if err == nil {
			return s, c, nil
		}
		c.drop(cl)
		lastErr = err
		if fresh || ctx.Err() != nil {
			break
		}
	}
	<-c.sessions
	return nil, nil, fmt.Errorf("on %s: open a session on %s: %w", t.Name, t.Addr, lastErr)
}

// newSession opens a session, bounded by the connect timeout: on a
// connection whose peer vanished (powered off, cable pulled) it would
// wait for TCP to give up, minutes later.
func (p *Pool) newSession(ctx context.Context, cl *ssh.Client) (*ssh.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout)
	defer cancel()
	type res struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := cl.NewSession()
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		cl.Close() // unblocks NewSession
		if r := <-ch; r.s != nil {
			r.s.Close()
		}
		return nil, fmt.Errorf("%w: %w", ErrNotAnswering, ctx.Err())
	}
}

func (p *Pool) conn(t Target) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("the SSH pool is closed")
	}
	c := p.conns[t.key()]
	if c == nil {
		c = &conn{sessions: make(chan struct{}, p.opts.MaxSessionsPerHost)}
		p.conns[t.key()] = c
	}
	return c, nil
}

// client returns c's connection, dialling it when there is none; fresh
// says it was just dialled.
func (p *Pool) client(ctx context.Context, t Target, c *conn) (cl *ssh.Client, fresh bool, err error) {
	c.dial.Lock()
	defer c.dial.Unlock()
	c.mu.Lock()
	cl = c.client
	c.mu.Unlock()
	if cl != nil {
		return cl, false, nil
	}
	cl, err = p.dial(ctx, t)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	c.client = cl
	c.mu.Unlock()
	return cl, true, nil
}

// drop closes cl and forgets it, unless another goroutine replaced it.
func (c *conn) drop(cl *ssh.Client) {
	c.mu.Lock()
	if c.client == cl {
		c.client = nil
	}
	c.mu.Unlock()
	cl.Close()
}

// Forget closes t's cached connection: the next command dials again. Call
// it when the host is going away (a reboot).
func (p *Pool) Forget(t Target) {
	p.mu.Lock()
	c := p.conns[t.key()]
	p.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	cl := c.client
	c.client = nil
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// Close closes every connection; later calls fail.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[string]*conn{}
	p.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		if c.client != nil {
			c.client.Close()
			c.client = nil
		}
		c.mu.Unlock()
	}
	return nil
}

// dial connects to t, through the jump host when there is one, and
// authenticates, all within the connect timeout.
func (p *Pool) dial(ctx context.Context, t Target) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout)
	defer cancel()
	via := ""
	var nc net.Conn
	var err error
	if j := p.opts.Jump; j != nil && j.key() != t.key() {
		via = " via " + j.Addr
		nc, err = p.dialThroughJump(ctx, t)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", t.Addr)
	}
	if err != nil {
		return nil, &DialError{Target: t, Via: via, Err: err}
	}
	// ssh.NewClientConn takes no context: closing the connection is what
	// ends a handshake that hangs.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              p.auth,
		HostKeyCallback:   p.keys.callback(t.Name),
		HostKeyAlgorithms: p.keys.algorithms(t.Addr),
		Timeout:           p.opts.ConnectTimeout,
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, t.Addr, cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, &DialError{Target: t, Via: via, Err: fmt.Errorf("SSH handshake: %w", ctx.Err())}
	}
	if err != nil {
		nc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		return nil, &DialError{Target: t, Via: via, Err: err, Handshake: true}
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// dialThroughJump opens a TCP connection to t from the jump host, over the
// jump host's cached connection (dialled again once if it broke).
func (p *Pool) dialThroughJump(ctx context.Context, t Target) (net.Conn, error) {
	j := *p.opts.Jump
	jc, err := p.conn(j)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		cl, fresh, err := p.client(ctx, j, jc)
		if err != nil {
			return nil, fmt.Errorf("jump host: %w", err)
		}
		nc, err := cl.DialContext(ctx, "tcp", t.Addr)
		if err == nil {
			return nc, nil
		}
		if fresh || attempt > 0 || ctx.Err() != nil {
			return nil, err
		}
		jc.drop(cl)
	}
}

// DialError is a host that could not be reached or refused the login.
type DialError struct {
	Target Target
	Via    string
	Err    error
	// Handshake is set when TCP connected but SSH failed (authentication,
	// protocol).
	Handshake bool
}

func (e *DialError) Error() string {
	hint := ""
	msg := e.Err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"):
		hint = fmt.Sprintf(": the host refused every key offered for user %s; check that user's authorized_keys and the provider's identity_file or ssh-agent", e.Target.User)
	case errors.Is(e.Err, context.DeadlineExceeded):
		hint = ": no answer in time (host down, filtered, or a slow network: connect_timeout)"
	}
	return fmt.Sprintf("connect to %s (%s@%s%s): %v%s", e.Target.Name, e.Target.User, e.Target.Addr, e.Via, e.Err, hint)
}

func (e *DialError) Unwrap() error { return e.Err }

// Unreachable reports whether err means the host did not answer (or no
// longer does): the host is down or rebooting, as opposed to refusing us
// (host key, authentication) or a command failing.
func Unreachable(err error) bool {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return false
	}
	if errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrNotAnswering) {
		return true
	}
	var de *DialError
	if errors.As(err, &de) {
		return !de.Handshake || errors.Is(de.Err, io.EOF) || errors.Is(de.Err, context.DeadlineExceeded)
	}
	return false
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max       int
	buf       []byte
	truncated bool
	mu        sync.Mutex
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.truncated = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return "[…]" + string(b.buf)
	}
	return string(b.buf)
}

// tail is the last n bytes of s, marked when cut.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// summarize shortens a command line for messages: the first line, at most
// 200 bytes.
func summarize(cmd string) string {
	s := strings.TrimSpace(cmd)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}
