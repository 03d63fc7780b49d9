//go:build e2e_api && linux

package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

var (
	outFlag  = flag.String("browser.out", "out", "directory for screenshots and logs (relative to testing/browser)")
	keepFlag = flag.Bool("browser.keep", false, "keep the campaign directory and print its path")
)

// The real binaries, built once by TestMain.
var bin struct {
	escalator, plugin string
}

const pluginName = "escalator-provider-sim"

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "escalator-browser-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.escalator = filepath.Join(dir, "escalator")
	bin.plugin = filepath.Join(dir, pluginName)
	for _, b := range [][2]string{{bin.escalator, "."}, {bin.plugin, "./plugins/sim/cmd/escalator-provider-sim"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Dir = "../.."
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "browser: building %s: %v\n", b[1], err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// timeScale makes the sim's actions take 1.5 % of their simulated time:
// a host's visit takes a few seconds, the apply about 40 s, enough to
// watch the dashboard change.
const timeScale = "0.015"

// campaign is the test's upgrade campaign: the quickstart's files on a
// generated cloud of 16 hosts in 2 zones (so that waves have several
// hosts), slowed down, with a canary that waits for an approval, and an
// injected failure.
type campaign struct {
	t    *testing.T
	dir  string
	plan *plans.Plan
	// canary is the first wave's host, failing a host of the last wave:
	// its upgrade fails, rollback_host rolls it back, and the run halts.
	canary, failing string
}

func newCampaign(t *testing.T) *campaign {
	t.Helper()
	c := &campaign{t: t, dir: t.TempDir()}
	if *keepFlag {
		dir, err := os.MkdirTemp("", "escalator-browser-")
		if err != nil {
			t.Fatal(err)
		}
		c.dir = dir
		t.Logf("campaign kept in %s", dir)
	}
	g := sim.DefaultGenOptions()
	g.Hosts, g.InstancesPerHost, g.Zones, g.Controllers, g.Projects = 16, 4, 2, 0, 2
	g.SpareFraction, g.Seed = 0.25, 1
	cloud, err := sim.Generate(g)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sim.EncodeCloud(&buf, cloud); err != nil {
		t.Fatal(err)
	}
	c.write("cloud.json", buf.String())

	// Nothing listens on a port just closed: the VNF manager does not
	// answer, the run proceeds and raises W_VNFM_NO_REPLY alerts.
	vnfm := freeAddr(t)
	for _, f := range []string{"main.hcl", "components.hcl", "rollout.hcl"} {
		b, err := os.ReadFile(filepath.Join("../../examples/quickstart", f))
		if err != nil {
			t.Fatal(err)
		}
		c.write(f, string(b))
	}
	c.edit("main.hcl", `cloud = "cloud.json"`, "cloud = \"cloud.json\"\n  create = false\n  time_scale = "+timeScale+"\n  #FAULTS")
	c.edit("rollout.hcl", `expected_duration = "20m"`, `expected_duration = "4s"`)
	c.edit("rollout.hcl", "count = 1", "count = 1\n    pause = true")
	// The quickstart's notify block sends nothing (mode = "none"); here it
	// sends to nobody, retrying for a second.
	c.edit("rollout.hcl", `mode          = "none"`, `url           = "http://`+vnfm+`/maintenance"`)
	c.edit("rollout.hcl", `reply_timeout = "5m"`, `reply_timeout = "1s"`)

	plugins := filepath.Join(c.dir, ".escalator", "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin.plugin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, pluginName), b, 0o755); err != nil {
		t.Fatal(err)
	}
	c.run("init")

	// Plan once to learn the waves, then inject the fault on a host
	// chosen from them (apply plans again: a fault does not change a
	// plan).
	c.run("plan", "-out=browser.plan")
	f, err := plans.Read(filepath.Join(c.dir, "browser.plan"))
	if err != nil {
		t.Fatal(err)
	}
	c.plan = f.Plan
	waves := c.waves()
	if len(waves) < 4 {
		t.Fatalf("the plan has %d waves; the test needs at least 4", len(waves))
	}
	c.canary = waves[0].Hosts[0].Host
	c.failing = waves[len(waves)-1].Hosts[0].Host
	c.edit("main.hcl", "#FAULTS", fmt.Sprintf("fault {\n    action = \"upgrade\"\n    host   = %q\n    mode   = \"fail\"\n  }", c.failing))
	return c
}

func (c *campaign) waves() []*plans.Wave {
	var out []*plans.Wave
	for _, r := range c.plan.Rollouts {
		out = append(out, r.Waves...)
	}
	return out
}

func (c *campaign) write(name, content string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func (c *campaign) edit(name, old, new string) {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		c.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		c.t.Fatalf("%s lacks %q: the quickstart changed, adapt the test", name, old)
	}
	c.write(name, strings.Replace(string(b), old, new, 1))
}

// run runs escalator to its end and returns its standard output.
func (c *campaign) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.escalator, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("escalator %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// daemon is an escalator process serving the API (apply -listen, serve).
type daemon struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

func (c *campaign) start(logPath string, args ...string) *daemon {
	c.t.Helper()
	lf, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(bin.escalator, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() {
		d.done <- cmd.Wait()
		lf.Close()
	}()
	c.t.Cleanup(func() { d.stop() })
	return d
}

// stop ends the process by its PID (SIGTERM, then SIGKILL) if it still
// runs.
func (d *daemon) stop() {
	select {
	case err := <-d.done:
		d.done <- err
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		d.done <- <-d.done
	}
}

// wait waits for the process's end and returns its exit code.
func (d *daemon) wait(ctx context.Context) (int, error) {
	select {
	case err := <-d.done:
		d.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, err
	case <-ctx.Done():
		return 0, fmt.Errorf("escalator %s did not end: %w; see %s", strings.Join(d.cmd.Args[1:], " "), ctx.Err(), d.log)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// apiGet reads a JSON answer of the API.
func apiGet(ctx context.Context, base, secret, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// page is the dashboard in a browser, with the test's helpers.
type page struct {
	t   *testing.T
	ctx context.Context
	s   *Session
}

// eval runs script and decodes its result into out.
func (p *page) eval(out any, script string, args ...any) {
	p.t.Helper()
	if err := p.s.Exec(p.ctx, out, script, args...); err != nil {
		p.t.Fatal(err)
	}
}

// waitFor polls script (a function body returning a value) until cond
// holds for its result, or fails the test after timeout saying what.
func waitFor[T any](p *page, what string, timeout time.Duration, script string, cond func(T) bool) T {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var v T
	var err error
	for {
		var got T
		err = p.s.Exec(p.ctx, &got, script)
		if err == nil {
			v = got
			if cond(got) {
				return got
			}
		}
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			p.t.Fatalf("waiting %s for %s: last value %+v, error %v", timeout, what, v, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func (p *page) click(css string) {
	p.t.Helper()
	e, err := p.s.Find(p.ctx, css)
	if err == nil {
		err = e.Click(p.ctx)
	}
	if err != nil {
		p.t.Fatalf("click %s: %v", css, err)
	}
}

func (p *page) typeInto(css, text string) {
	p.t.Helper()
	e, err := p.s.Find(p.ctx, css)
	if err == nil {
		err = e.Type(p.ctx, text)
	}
	if err != nil {
		p.t.Fatalf("type into %s: %v", css, err)
	}
}

// selectOption picks the option with value in the select css.
func (p *page) selectOption(css, value string) {
	p.t.Helper()
	p.click(fmt.Sprintf("%s option[value=%q]", css, value))
}

// screenshot saves a PNG of the whole page (the window made as tall as
// the page) and logs its path.
func (p *page) screenshot(path string) {
	p.t.Helper()
	var h int
	p.eval(&h, "return Math.ceil(document.documentElement.scrollHeight)")
	if err := p.s.SetWindowSize(p.ctx, 1280, max(h+140, 900)); err != nil {
		p.t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a frame for the new size
	png, err := p.s.Screenshot(p.ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	p.t.Logf("screenshot: %s (%d bytes)", abs, len(png))
}

// login signs in with secret.
func (p *page) login(secret string) {
	p.t.Helper()
	waitFor(p, "the sign-in form", 10*time.Second, `return !document.getElementById("login").hidden`, func(b bool) bool { return b })
	p.typeInto("#token", secret)
	p.click("#login button[type=submit]")
	waitFor(p, "the dashboard after signing in", 15*time.Second, `return !document.getElementById("main").hidden`, func(b bool) bool { return b })
}

// pageState is window.escalatorDashboard.state().
type pageState struct {
	LastSeq  int64  `json:"lastSeq"`
	Received int64  `json:"received"`
	Dropped  int64  `json:"dropped"`
	Status   string `json:"status"`
	Conn     string `json:"conn"`
	Mode     string `json:"mode"`
}

const pageStateJS = `return window.escalatorDashboard.state() || {}`

// hostRow is a row of the status table as the page shows it.
type hostRow struct {
	Host, Zone, Status, State string
}

const hostRowsJS = `return Array.from(document.querySelectorAll("#hosts tbody tr")).map(tr => ({Host: tr.dataset.host, Zone: tr.dataset.zone, Status: tr.dataset.status, State: tr.cells[3].textContent}))`

func statusOf(rows []hostRow, host string) string {
	for _, r := range rows {
		if r.Host == host {
			return r.Status
		}
	}
	return ""
}

// bar is a wave's or host's actual bar in the timeline.
type bar struct {
	State string
	MS    int64
	Width float64
}

func barJS(sel string) string {
	return fmt.Sprintf(`const b = document.querySelector(%q); if (!b || b.hidden) return {State: "", MS: 0, Width: 0}; return {State: b.dataset.state, MS: Number(b.dataset.ms), Width: b.getBoundingClientRect().width}`, sel)
}

func waveBar(n int) string { return fmt.Sprintf(`.g-wave[data-wave="%d"] .g-bar.actual`, n) }

// TestDashboardLiveApply opens the dashboard served by a running apply
// (-listen) in headless Chromium and checks what an operator relies on:
// the timeline and the host table appear and follow the run as it goes
// (the event stream), the controls act on the run (canary approval,
// pause and resume), the alerts show warnings and the failure, the page
// survives the server going away and resumes where it stopped when a
// server is back, and a viewer sees no controls.
func TestDashboardLiveApply(t *testing.T) {
	began := time.Now()
	chromium, chromedriver, err := FindChromium()
	if err != nil {
		t.Fatal(err)
	}
	out, err := filepath.Abs(*outFlag)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("output: %s", out)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	c := newCampaign(t)
	admin := strings.TrimSpace(c.run("token", "create", "-name=browser-admin", "-role=admin"))
	operator := strings.TrimSpace(c.run("token", "create", "-name=browser-operator", "-role=operator"))
	viewer := strings.TrimSpace(c.run("token", "create", "-name=browser-viewer", "-role=viewer"))
	waves := c.waves()
	t.Logf("campaign: %d hosts in %d waves; canary %s, failing %s", c.plan.Totals.Hosts, len(waves), c.canary, c.failing)

	addr := freeAddr(t)
	base := "http://" + addr
	applyStart := time.Now()
	apply := c.start(filepath.Join(out, "apply.log"), "apply", "-auto-approve", "-listen="+addr)
	waitHealth(ctx, t, base, apply)

	drv, err := StartDriver(ctx, chromedriver, filepath.Join(out, "chromedriver.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Stop()
	sess, err := drv.NewSession(ctx, Options{Chromium: chromium, Width: 1280, Height: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	p := &page{t: t, ctx: ctx, s: sess}
	if err := sess.Navigate(ctx, base+"/"); err != nil {
		t.Fatal(err)
	}
	// The pure SSE parser, with chunks cut mid-line and every line end.
	var parsed []map[string]string
	p.eval(&parsed, `const P = new window.escalatorDashboard.SSEParser(); let out = [];
		for (const c of ["id: 1\nev", "ent: step_started\r", "\ndata: {\"a\":1}\n", "\n: keep-alive\n\n", "data: x\rdata: y\r\n\r\n", "data", ":z\n"]) out = out.concat(P.push(c));
		return out.concat(P.push("\n"))`)
	wantParsed := []map[string]string{{"id": "1", "event": "step_started", "data": `{"a":1}`}, {"id": "1", "event": "message", "data": "x\ny"}, {"id": "1", "event": "message", "data": "z"}}
	if fmt.Sprint(parsed) != fmt.Sprint(wantParsed) {
		t.Errorf("SSE parser: got %v, want %v", parsed, wantParsed)
	}

	loginAt := time.Now()
	p.login(admin)
	who := waitFor(p, "the role", 5*time.Second, `return document.getElementById("who").textContent`, func(s string) bool { return s != "" })
	if !strings.Contains(who, "admin") {
		t.Errorf("signed in as %q, want the admin role shown", who)
	}
	nWaves := waitFor(p, "the timeline's wave rows", 10*time.Second, `return document.querySelectorAll(".g-wave").length`, func(n int) bool { return n == len(waves) })
	rows := waitFor(p, "the host table", 10*time.Second, hostRowsJS, func(r []hostRow) bool { return len(r) == c.plan.Totals.Hosts })
	t.Logf("timeline (%d waves) and table (%d hosts) shown %s after signing in", nWaves, len(rows), time.Since(loginAt).Round(time.Millisecond))

	// The canary wave runs, then the run waits for an approval.
	waitFor(p, "the approve button", 60*time.Second, `const b = document.getElementById("btn-approve"); return !b.hidden && !b.disabled ? b.textContent : ""`,
		func(s string) bool { return strings.Contains(s, "wave 1") })
	rows = waitFor(p, "the canary host upgraded in the table", 10*time.Second, hostRowsJS, func(r []hostRow) bool { return statusOf(r, c.canary) == "upgraded" })
	for _, h := range waves[1].Hosts {
		if st := statusOf(rows, h.Host); st != "pending" {
			t.Errorf("before the approval, wave 2's %s is %q, want pending", h.Host, st)
		}
	}
	var w1 bar
	p.eval(&w1, barJS(waveBar(1)))
	if w1.State != "done" || w1.MS <= 0 {
		t.Errorf("canary wave's actual bar: %+v, want done with a duration", w1)
	}
	if b := func() bar { var b bar; p.eval(&b, barJS(waveBar(2))); return b }(); b.MS != 0 {
		t.Errorf("wave 2 has an actual bar before it started: %+v", b)
	}
	var conn string
	p.eval(&conn, `return document.getElementById("conn").textContent`)
	if conn != "live" {
		t.Errorf("connection shown as %q, want live (the event stream)", conn)
	}
	p.screenshot(filepath.Join(out, "dashboard-canary.png"))

	// Approve: wave 2 starts, its actual bar appears and grows.
	p.click("#btn-approve")
	first := waitFor(p, "wave 2's actual bar running", 15*time.Second, barJS(waveBar(2)), func(b bar) bool { return b.State == "running" && b.MS > 0 })
	time.Sleep(1200 * time.Millisecond)
	var second bar
	p.eval(&second, barJS(waveBar(2)))
	if second.MS <= first.MS || second.Width <= first.Width {
		t.Errorf("wave 2's actual bar did not grow while it ran: %+v then %+v", first, second)
	}
	waitFor(p, "a wave 2 host in progress in the table", 10*time.Second, hostRowsJS, func(r []hostRow) bool {
		for _, h := range waves[1].Hosts {
			if st := statusOf(r, h.Host); st == "in_progress" || st == "upgraded" {
				return true
			}
		}
		return false
	})

	// Pause, then resume, from the page.
	p.click("#btn-pause")
	state := waitFor(p, "the paused state", 10*time.Second, `return document.getElementById("control-state").textContent`, func(s string) bool { return strings.Contains(s, "Paused by browser-admin") })
	var ctl struct {
		Paused    bool   `json:"paused"`
		UpdatedBy string `json:"updated_by"`
	}
	if err := apiGet(ctx, base, admin, "/v1/runs/current/control", &ctl); err != nil || !ctl.Paused || ctl.UpdatedBy != "browser-admin" {
		t.Errorf("after Pause: control %+v, %v (page: %q)", ctl, err, state)
	}
	waitFor(p, "the journal's pause note in the alerts", 20*time.Second,
		`return Array.from(document.querySelectorAll("#alerts li")).map(li => li.textContent).join("\n")`,
		func(s string) bool { return strings.Contains(s, "paused by browser-admin") })
	p.click("#btn-resume")
	waitFor(p, "the resumed state", 10*time.Second, `return document.getElementById("controls").dataset.paused`, func(s string) bool { return s == "false" })

	// The hosts in the timeline, and the table's filters.
	p.click("#expand-all")
	waitFor(p, "every host row of the timeline", 5*time.Second, `return Array.from(document.querySelectorAll(".g-host")).filter(r => !r.hidden).length`,
		func(n int) bool { return n == c.plan.Totals.Hosts })
	zoneHosts := map[string]int{}
	for _, w := range waves {
		for _, h := range w.Hosts {
			zoneHosts[h.AvailabilityZone]++
		}
	}
	p.selectOption("#filter-zone", "az2")
	rows = waitFor(p, "the zone filter", 5*time.Second, hostRowsJS, func(r []hostRow) bool { return len(r) == zoneHosts["az2"] })
	for _, r := range rows {
		if r.Zone != "az2" {
			t.Errorf("zone filter az2 shows %+v", r)
		}
	}
	p.selectOption("#filter-zone", "")
	waitFor(p, "the zone filter cleared", 5*time.Second, hostRowsJS, func(r []hostRow) bool { return len(r) == c.plan.Totals.Hosts })
	p.selectOption("#filter-status", "upgraded")
	// Upgraded so far: the canary at least, not the last wave.
	waitFor(p, "the state filter", 5*time.Second, hostRowsJS, func(r []hostRow) bool {
		for _, x := range r {
			if x.Status != "upgraded" || x.State != "upgraded" {
				return false
			}
		}
		return len(r) >= 1 && len(r) < c.plan.Totals.Hosts
	})
	p.selectOption("#filter-status", "")
	waitFor(p, "the table unfiltered", 5*time.Second, hostRowsJS, func(r []hostRow) bool { return len(r) == c.plan.Totals.Hosts })

	// The VNF manager does not answer: a warning per notification.
	waitFor(p, "the no-reply warnings", 30*time.Second,
		`return Array.from(document.querySelectorAll("#alerts li.warn")).map(li => li.dataset.code)`,
		func(codes []string) bool { return strings.Contains(strings.Join(codes, " "), "W_VNFM_NO_REPLY") })
	p.screenshot(filepath.Join(out, "dashboard-live.png"))

	// The last wave's host fails, is rolled back, and the run halts; the
	// apply ends and its server with it.
	code, err := apply.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applyWall := time.Since(applyStart)
	if code != 1 {
		t.Errorf("apply exited %d, want 1 (halted by the injected failure); see %s", code, apply.log)
	}
	t.Logf("apply: %s wall (with the approval and the pause)", applyWall.Round(time.Millisecond))
	waitFor(p, "the page to notice the server is gone", 20*time.Second, `return document.getElementById("conn").className`,
		func(s string) bool { return strings.Contains(s, "bad") || strings.Contains(s, "warn") })

	// A server again on the same address: the page reconnects by itself
	// and resumes the stream after the last event it has.
	serve := c.start(filepath.Join(out, "serve.log"), "serve", "-listen="+addr)
	waitHealth(ctx, t, base, serve)
	var run struct {
		LastSeq int64  `json:"last_seq"`
		Status  string `json:"status"`
	}
	if err := apiGet(ctx, base, admin, "/v1/runs/current", &run); err != nil {
		t.Fatal(err)
	}
	st := waitFor(p, "the page to reconnect and catch up", 30*time.Second, pageStateJS,
		func(s pageState) bool { return s.Conn == "live" && s.LastSeq == run.LastSeq })
	if st.Status != "halted" || run.Status != "halted" {
		t.Errorf("run status: page %q, API %q, want halted", st.Status, run.Status)
	}
	// Every event read once: the stream resumed after the last one the
	// page had (Last-Event-ID), it did not start over.
	if st.Received != run.LastSeq || st.Dropped != 0 {
		t.Errorf("the page read %d events (%d twice) for a journal of %d", st.Received, st.Dropped, run.LastSeq)
	}
	// The table ends as the API's report: every host upgraded but the
	// failed one, rolled back.
	var final struct {
		Report struct {
			Hosts []struct{ Name, Status string }
		}
	}
	if err := apiGet(ctx, base, admin, "/v1/runs/current/status", &final); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, h := range final.Report.Hosts {
		want[h.Name] = h.Status
		if exp := map[bool]string{true: "rolled_back", false: "upgraded"}[h.Name == c.failing]; h.Status != exp {
			t.Errorf("API: host %s is %q at the end, want %s", h.Name, h.Status, exp)
		}
	}
	waitFor(p, "the table to show the final status", 10*time.Second, hostRowsJS, func(r []hostRow) bool {
		got := map[string]string{}
		for _, x := range r {
			got[x.Host] = x.Status
		}
		return fmt.Sprint(got) == fmt.Sprint(want)
	})
	waitFor(p, "the failure in the alerts", 5*time.Second,
		fmt.Sprintf(`return Array.from(document.querySelectorAll("#alerts li.error")).some(li => li.textContent.includes(%q))`, c.failing),
		func(b bool) bool { return b })
	for _, w := range waves {
		var b bar
		p.eval(&b, barJS(waveBar(w.Number)))
		want := "done"
		if w.Number == len(waves) {
			want = "rolledback"
		}
		if b.State != want || b.MS <= 0 || b.Width <= 0 {
			t.Errorf("wave %d's actual bar at the end: %+v, want %s", w.Number, b, want)
		}
	}
	var hb bar
	p.eval(&hb, barJS(fmt.Sprintf(`.g-host[data-host=%q] .g-bar.actual`, c.failing)))
	if hb.State != "rolledback" {
		t.Errorf("failed host's bar: %+v, want rolledback", hb)
	}
	p.eval(nil, `window.scrollTo(0, 0)`)
	p.screenshot(filepath.Join(out, "dashboard-final.png"))

	// "Actual so far" zooms the axis on the run: the last wave's actual
	// bar then ends at the right edge of its track.
	p.selectOption("#axis-mode", "actual")
	waitFor(p, "the axis zoomed on the actual times", 5*time.Second, fmt.Sprintf(`const b = document.querySelector(%q).getBoundingClientRect();
		const t = document.querySelector(%q).getBoundingClientRect(); return (b.right - t.left) / t.width`, waveBar(len(waves)), fmt.Sprintf(`.g-wave[data-wave="%d"] .g-track`, len(waves))),
		func(f float64) bool { return f > 0.98 && f < 1.02 })
	p.selectOption("#axis-mode", "all")

	// An operator sees the controls when the server tells the page its
	// role (GET /v1/whoami); without that route the page cannot tell an
	// operator from a viewer and hides them.
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+operator)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hasWhoami := resp.StatusCode == 200
	p.click("#signout")
	p.login(operator)
	waitFor(p, "the operator's table", 10*time.Second, hostRowsJS, func(r []hostRow) bool { return len(r) == c.plan.Totals.Hosts })
	var hidden bool
	p.eval(&hidden, `return document.getElementById("controls").hidden`)
	p.eval(&who, `return document.getElementById("who").textContent`)
	if hidden == hasWhoami {
		t.Errorf("operator (server has /v1/whoami: %t): controls hidden %t, shown as %q", hasWhoami, hidden, who)
	}
	t.Logf("operator shown as %q (server has /v1/whoami: %t)", who, hasWhoami)

	// A viewer, polling instead of streaming (?transport=poll), sees
	// everything but the controls.
	p.click("#signout")
	if err := sess.Navigate(ctx, base+"/?transport=poll"); err != nil {
		t.Fatal(err)
	}
	p.login(viewer)
	st = waitFor(p, "the polling viewer to catch up", 15*time.Second, pageStateJS,
		func(s pageState) bool { return s.Mode == "poll" && s.LastSeq == run.LastSeq })
	if !strings.HasPrefix(st.Conn, "polling") || st.Received != run.LastSeq || st.Status != "halted" {
		t.Errorf("polling viewer: %+v, want polling, %d events, halted", st, run.LastSeq)
	}
	waitFor(p, "the viewer's table", 10*time.Second, hostRowsJS, func(r []hostRow) bool { return len(r) == c.plan.Totals.Hosts })
	var b bar
	p.eval(&b, barJS(waveBar(1)))
	if b.State != "done" {
		t.Errorf("polling viewer: wave 1's bar %+v, want done", b)
	}
	p.eval(&hidden, `return document.getElementById("controls").hidden`)
	if !hidden {
		t.Error("a viewer sees the controls")
	}
	p.eval(&who, `return document.getElementById("who").textContent`)
	t.Logf("viewer shown as %q", who)

	// No script error, no CSP violation, no failed load in the console,
	// but the ones the test caused (the server it stopped).
	logs, err := sess.BrowserLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if l.Level != "SEVERE" {
			continue
		}
		if strings.Contains(l.Message, "ERR_CONNECTION_REFUSED") || strings.Contains(l.Message, "ERR_EMPTY_RESPONSE") || strings.Contains(l.Message, "ERR_INCOMPLETE_CHUNKED_ENCODING") || strings.Contains(l.Message, "/v1/whoami") || strings.Contains(l.Message, "/v1/tokens") {
			continue
		}
		t.Errorf("browser console: %s %s", l.Level, l.Message)
	}
	t.Logf("total %s (apply %s)", time.Since(began).Round(time.Millisecond), applyWall.Round(time.Millisecond))
}

// waitHealth waits for the API to answer, failing if its process ends.
func waitHealth(ctx context.Context, t *testing.T, base string, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-d.done:
			d.done <- err
			b, _ := os.ReadFile(d.log)
			t.Fatalf("escalator %s ended before serving: %v\n%s", strings.Join(d.cmd.Args[1:], " "), err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API at %s did not answer within 30s", base)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
