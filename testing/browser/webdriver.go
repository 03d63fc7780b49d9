// Package browser drives a real headless Chromium for the dashboard's
// end-to-end test (dashboard_test.go, build tag e2e_api): Debian's
// chromedriver, spoken to in W3C WebDriver (JSON over HTTP on 127.0.0.1),
// starts Debian's chromium. Only the commands the test needs are here;
// the protocol is small enough that a client library would add more than
// it saves.
package browser

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// elementKey is the W3C name of an element reference in JSON.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// Driver is a running chromedriver.
type Driver struct {
	cmd    *exec.Cmd
	base   string
	client *http.Client
	done   chan error
}

// FindChromium returns the paths of chromium and chromedriver, or an
// error that says how to install them.
func FindChromium() (chromium, chromedriver string, err error) {
	chromium = os.Getenv("ESCALATOR_CHROMIUM")
	if chromium == "" {
		chromium, err = exec.LookPath("chromium")
		if err != nil {
			return "", "", errors.New("chromium is not installed: run testing/browser/setup.sh (apt-get install chromium chromium-driver), or set ESCALATOR_CHROMIUM")
		}
	}
	chromedriver, err = exec.LookPath("chromedriver")
	if err != nil {
		return "", "", errors.New("chromedriver is not installed: run testing/browser/setup.sh (apt-get install chromium-driver)")
	}
	return chromium, chromedriver, nil
}

// StartDriver starts chromedriver on a free loopback port, logging to
// logPath, and waits until it is ready.
func StartDriver(ctx context.Context, chromedriver, logPath string) (*Driver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a port for chromedriver: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(chromedriver, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1", "--log-path="+logPath)
	// Its own process group, so that stopping it also stops the browsers
	// it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start chromedriver: %w", err)
	}
	d := &Driver{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{}, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := d.call(ctx, "GET", "/status", nil, &st); err == nil && st.Ready {
			return d, nil
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("chromedriver exited before it was ready (%v); see %s", err, logPath)
		case <-ctx.Done():
			d.Stop()
			return nil, fmt.Errorf("chromedriver was not ready in time: %w; see %s", ctx.Err(), logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends chromedriver and the browsers it started (its process
// group), and waits for it.
func (d *Driver) Stop() {
	if d.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

// Error is an error answered by WebDriver.
type Error struct {
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("webdriver: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// call sends one command; out receives the answer's "value".
func (d *Driver) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("webdriver %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("webdriver %s %s: %w", method, path, err)
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("webdriver %s %s: HTTP %d, not JSON: %.200s", method, path, resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		_ = json.Unmarshal(env.Value, e)
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Value, out); err != nil {
		return fmt.Errorf("webdriver %s %s: decode %.200s: %w", method, path, env.Value, err)
	}
	return nil
}

// Options describe the browser of a session.
type Options struct {
	// Chromium is the browser binary.
	Chromium string
	// Width and Height are the window's size in CSS pixels.
	Width, Height int
}

// Session is one browser.
type Session struct {
	d  *Driver
	id string
}

// NewSession starts a headless Chromium. It runs without the sandbox
// because tests run as root, where Chromium refuses it.
func (d *Driver) NewSession(ctx context.Context, o Options) (*Session, error) {
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-extensions", "--disable-background-networking",
		fmt.Sprintf("--window-size=%d,%d", o.Width, o.Height), "--force-device-scale-factor=1", "--lang=en-GB"}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":        "chrome",
		"goog:chromeOptions": map[string]any{"binary": o.Chromium, "args": args},
		"goog:loggingPrefs":  map[string]string{"browser": "ALL"},
	}}}
	var out struct {
		SessionID string `json:"sessionId"`
	}
	if err := d.call(ctx, "POST", "/session", caps, &out); err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	return &Session{d: d, id: out.SessionID}, nil
}

func (s *Session) call(ctx context.Context, method, path string, in, out any) error {
	return s.d.call(ctx, method, "/session/"+s.id+path, in, out)
}

// Close ends the browser.
func (s *Session) Close(ctx context.Context) error { return s.call(ctx, "DELETE", "", nil, nil) }

// Navigate opens url and waits for the page to load.
func (s *Session) Navigate(ctx context.Context, url string) error {
	return s.call(ctx, "POST", "/url", map[string]string{"url": url}, nil)
}

// Exec runs script (a function body: use return) in the page with args
// (arguments[0], …), and decodes what it returns into out (nil: ignore).
func (s *Session) Exec(ctx context.Context, out any, script string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	for i, a := range args {
		if e, ok := a.(Element); ok {
			args[i] = map[string]string{elementKey: e.id}
		}
	}
	if err := s.call(ctx, "POST", "/execute/sync", map[string]any{"script": script, "args": args}, out); err != nil {
		return fmt.Errorf("script %.60q: %w", script, err)
	}
	return nil
}

// Element is an element of the page.
type Element struct {
	s  *Session
	id string
}

// Find returns the first element that matches a CSS selector.
func (s *Session) Find(ctx context.Context, css string) (Element, error) {
	var ref map[string]string
	if err := s.call(ctx, "POST", "/element", map[string]string{"using": "css selector", "value": css}, &ref); err != nil {
		return Element{}, fmt.Errorf("find %s: %w", css, err)
	}
	return Element{s: s, id: ref[elementKey]}, nil
}

// Click clicks the element as a user would (scrolled into view; an
// element covered by another is an error).
func (e Element) Click(ctx context.Context) error {
	return e.s.call(ctx, "POST", "/element/"+e.id+"/click", map[string]string{}, nil)
}

// Type sends keystrokes to the element.
func (e Element) Type(ctx context.Context, text string) error {
	return e.s.call(ctx, "POST", "/element/"+e.id+"/value", map[string]string{"text": text}, nil)
}

// Text is the element's rendered text.
func (e Element) Text(ctx context.Context) (string, error) {
	var t string
	err := e.s.call(ctx, "GET", "/element/"+e.id+"/text", nil, &t)
	return t, err
}

// Screenshot returns a PNG of the viewport.
func (s *Session) Screenshot(ctx context.Context) ([]byte, error) {
	var b64 string
	if err := s.call(ctx, "GET", "/screenshot", nil, &b64); err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	return base64.StdEncoding.DecodeString(b64)
}

// SetWindowSize resizes the window.
func (s *Session) SetWindowSize(ctx context.Context, width, height int) error {
	return s.call(ctx, "POST", "/window/rect", map[string]int{"width": width, "height": height}, nil)
}

// LogEntry is one line of the browser's console log.
type LogEntry struct {
	Level     string `json:"level"`
	Message   string `json:"message"`
	Source    string `json:"source"`
	Timestamp int64  `json:"timestamp"`
}

// BrowserLog returns (and clears) the console log: errors, CSP
// violations, failed loads. (A chromedriver extension of WebDriver.)
func (s *Session) BrowserLog(ctx context.Context) ([]LogEntry, error) {
	var out []LogEntry
	if err := s.call(ctx, "POST", "/se/log", map[string]string{"type": "browser"}, &out); err != nil {
		return nil, fmt.Errorf("browser log: %w", err)
	}
	return out, nil
}
