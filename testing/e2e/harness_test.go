//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/vnfm"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

// The real binaries, built once per test binary by TestMain.
var bin struct {
	escalator, plugin string
}

var keep = flag.Bool("e2e.keep", false, "keep the campaign directories of failed tests and print their paths")

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "escalator-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.escalator = filepath.Join(dir, "escalator")
	bin.plugin = filepath.Join(dir, pluginName)
	build := func(out, pkg string) error {
		args := []string{"build", "-o", out}
		if os.Getenv("ESCALATOR_E2E_RACE") != "" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = "../.."
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := build(bin.escalator, "."); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building escalator:", err)
		os.Exit(1)
	}
	if err := build(bin.plugin, "./plugins/sim/cmd/escalator-provider-sim"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the sim plugin:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const pluginName = "escalator-provider-sim"

// The generated cloud of every scenario: 32 compute hosts in 2 zones, 6
// instances per loaded host, anti-affinity groups of 3 (a fifth soft),
// 10 % of each zone's hosts empty spares, 2 projects. The same for every
// test, so a plan's shape is known.
var cloudOnce struct {
	sync.Once
	data []byte
	err  error
}

func genOptions() sim.GenOptions {
	g := sim.DefaultGenOptions()
	g.Hosts, g.InstancesPerHost, g.Zones, g.Controllers, g.Projects = 32, 6, 2, 0, 2
	g.SpareFraction, g.Seed = 0.1, 1
	return g
}

func cloudBytes(t *testing.T) []byte {
	t.Helper()
	cloudOnce.Do(func() {
		c, err := sim.Generate(genOptions())
		if err != nil {
			cloudOnce.err = err
			return
		}
		var b bytes.Buffer
		cloudOnce.err = sim.EncodeCloud(&b, c)
		cloudOnce.data = b.Bytes()
	})
	if cloudOnce.err != nil {
		t.Fatal(cloudOnce.err)
	}
	return cloudOnce.data
}

// spec shapes a scenario's campaign.
type spec struct {
	// timeScale is the sim's; "" means 0.001 (a run takes a few seconds).
	timeScale string
	// onFailure is the body of the on_failure block; "" means halt.
	onFailure string
	// canaryPause sets canary { pause = true }.
	canaryPause bool
	// notifyNone uses notify mode "none" instead of the webhook recorder.
	notifyNone bool
	faults     []fault
	// qemu and nova are the target versions; "" means 7.2.0 and 27.1.0.
	qemu, nova string
}

// fault is a sim fault block.
type fault struct {
	action, host, instance, mode, at string
	times                            int
}

func (f fault) hcl() string {
	var b strings.Builder
	b.WriteString("\n  fault {\n")
	fmt.Fprintf(&b, "    action = %q\n    mode   = %q\n", f.action, f.mode)
	if f.host != "" {
		fmt.Fprintf(&b, "    host   = %q\n", f.host)
	}
	if f.instance != "" {
		fmt.Fprintf(&b, "    instance = %q\n", f.instance)
	}
	if f.at != "" {
		fmt.Fprintf(&b, "    at     = %q\n", f.at)
	}
	if f.times != 0 {
		fmt.Fprintf(&b, "    times  = %d\n", f.times)
	}
	b.WriteString("  }\n")
	return b.String()
}

const notifySecret = "e2e-not-a-secret"

// config renders the campaign: qemu (disruption host: every host is
// evacuated) then nova_compute on every compute host, 25 % of the hosts
// at once, one zone at a time, a canary, live migration two at a time, the
// VNF managers notified, a per-host check, an anti-affinity guard of 1.
func (s spec) config(hookURL string) string {
	ts := s.timeScale
	if ts == "" {
		ts = "0.001"
	}
	qemu, nova := s.qemu, s.nova
	if qemu == "" {
		qemu = "7.2.0"
	}
	if nova == "" {
		nova = "27.1.0"
	}
	var faults string
	for _, f := range s.faults {
		faults += f.hcl()
	}
	onFailure := s.onFailure
	if onFailure == "" {
		onFailure = `action = "halt"`
	}
	notify := fmt.Sprintf("url           = %q\n    secret        = %q\n    reply_timeout = \"10s\"\n    on_timeout    = \"halt\"", hookURL, notifySecret)
	if s.notifyNone {
		notify = `mode = "none"`
	}
	return fmt.Sprintf(`escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {
  cloud        = "cloud.json"
  create       = false
  time_scale   = %s
  lock_timeout = "20s"
%s}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
}

component "qemu" {
  hosts      = hosts.compute
  version    = %q
  disruption = "host"
}

component "nova_compute" {
  hosts      = hosts.compute
  version    = %q
  disruption = "service"
  depends_on = [component.qemu]
}

rollout "compute" {
  components      = [component.qemu, component.nova_compute]
  max_unavailable = "25%%"
  group_by        = host.availability_zone

  canary {
    count = 1
    pause = %t
  }

  evacuate {
    mode     = "live"
    parallel = 2
    timeout  = "1m"
  }

  notify "vnfm" {
    %s
  }

  verify {
    checks  = [check.compute_service_up]
    timeout = "1m"
  }

  on_failure {
    %s
  }
}

guard "anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity", "soft-anti-affinity"]
  max_unavailable = 1
}

check "compute_service_up" {
  kind     = "provider"
  provider = provider.sim
  probe    = "compute_service_up"
  when     = ["after"]
}
`, ts, faults, qemu, nova, s.canaryPause, notify, onFailure)
}

// campaign is one scenario's campaign directory with its cloud.
type campaign struct {
	t       *testing.T
	dir     string
	spec    spec
	hook    *webhook
	initial *sim.Cloud
}

// newCampaign writes the generated cloud, the campaign and the plugin
// into a new directory and runs escalator init.
func newCampaign(t *testing.T, s spec) *campaign {
	t.Helper()
	c := &campaign{t: t, spec: s, hook: newWebhook(t)}
	c.dir = t.TempDir()
	if *keep {
		dir, err := os.MkdirTemp("", "escalator-e2e-"+strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())+"-")
		if err != nil {
			t.Fatal(err)
		}
		c.dir = dir
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("campaign kept in %s", dir)
			} else {
				os.RemoveAll(dir)
			}
		})
	}
	data := cloudBytes(t)
	if err := os.WriteFile(c.path("cloud.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if c.initial, err = sim.DecodeCloud(data); err != nil {
		t.Fatal(err)
	}
	c.writeConfig()
	plugins := c.path(".escalator", "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	// A hard link costs nothing; a copy when the temporary directories
	// are on different file systems.
	if err := os.Link(bin.plugin, filepath.Join(plugins, pluginName)); err != nil {
		if err := copyFile(bin.plugin, filepath.Join(plugins, pluginName)); err != nil {
			t.Fatal(err)
		}
	}
	if r := c.run("init"); r.code != 0 {
		t.Fatalf("escalator init: %s", r)
	}
	return c
}

func (c *campaign) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

func (c *campaign) writeConfig() {
	c.t.Helper()
	if err := os.WriteFile(c.path("main.hcl"), []byte(c.spec.config(c.hook.srv.URL)), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// result is how a command ended.
type result struct {
	args           []string
	code           int
	stdout, stderr string
	wall           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("escalator %s: exit %d after %s\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), r.code, r.wall.Round(time.Millisecond), tail(r.stdout, 6000), tail(r.stderr, 6000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// cmdTimeout bounds every command: a stuck apply fails the test instead
// of hanging it.
const cmdTimeout = 90 * time.Second

func (c *campaign) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin.escalator, args...)
	cmd.Dir = c.dir
	env := []string{"NO_COLOR=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ESCALATOR_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	// A plugin that outlives escalator and holds a pipe must not hang the
	// test: that is a failure the kill scenarios report themselves.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// run runs escalator to its end.
func (c *campaign) run(args ...string) result {
	c.t.Helper()
	r, err := c.runErr(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// runErr is run for other goroutines than the test's (which must not
// call t.Fatal): the error says why the command could not run to its end.
func (c *campaign) runErr(args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := c.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), wall: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		return r, fmt.Errorf("escalator %s: %v (stuck? killed after %s)\n%s", strings.Join(args, " "), err, cmdTimeout, r)
	}
	return r, nil
}

// plan runs escalator plan -out=plan.json and reads the plan.
func (c *campaign) plan() *plans.File {
	c.t.Helper()
	if r := c.run("plan", "-out=plan.json"); r.code != 0 {
		c.t.Fatalf("plan: %s", r)
	}
	f, err := plans.Read(c.path("plan.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// status runs escalator status -json.
func (c *campaign) status() *state.State {
	c.t.Helper()
	st, err := c.statusErr()
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// statusErr is status for other goroutines than the test's.
func (c *campaign) statusErr() (*state.State, error) {
	r, err := c.runErr("status", "-json")
	if err != nil {
		return nil, err
	}
	var st state.State
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		return nil, fmt.Errorf("status -json: %s", r)
	}
	return &st, nil
}

// cloud reads the cloud as it is now, the way a provider does: the cloud
// file with its step log (completed steps live there, not in the file).
func (c *campaign) cloud() *sim.Cloud {
	c.t.Helper()
	cl, err := sim.ReadCloud(context.Background(), c.path("cloud.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// events reads the sim's event log.
func (c *campaign) events() []sim.Event {
	c.t.Helper()
	evs, err := sim.ReadEvents(c.path("cloud.json.events.jsonl"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		c.t.Fatal(err)
	}
	return evs
}

// journal reads every run's journal, oldest run first.
func (c *campaign) journal() []state.Event {
	c.t.Helper()
	files, err := filepath.Glob(c.path(".escalator", "state.journal", "*.jsonl"))
	if err != nil {
		c.t.Fatal(err)
	}
	sort.Strings(files)
	var out []state.Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			e, err := state.DecodeEvent(line)
			if err != nil {
				continue // a torn last record, which the backend ignores too
			}
			out = append(out, e)
		}
	}
	return out
}

// check runs the invariant checker over the campaign's cloud, event log,
// journal and (in webhook mode) the notifications received, and fails
// the test on any violation.
func (c *campaign) check(allowMaintenance ...string) *Report {
	c.t.Helper()
	return c.checkWith(func(in *Input) { in.AllowMaintenance = allowMaintenance })
}

// checkWith is check with the checker's input adjusted by edit.
func (c *campaign) checkWith(edit func(in *Input)) *Report {
	c.t.Helper()
	in := Input{Initial: c.initial, Final: c.cloud(), Events: c.events(), Journal: c.journal(), Status: c.status()}
	if !c.spec.notifyNone {
		in.Notifications = c.hook.received()
	}
	if edit != nil {
		edit(&in)
	}
	rep := Check(in)
	if !rep.OK() {
		c.t.Errorf("invariants: %s", rep)
	} else {
		c.t.Logf("invariants: %s", rep)
	}
	if n := c.hook.badSignatures(); n > 0 {
		c.t.Errorf("%d notifications with a bad signature", n)
	}
	return rep
}

// computeHosts lists the cloud's compute hosts.
func (c *campaign) computeHosts() []string {
	var out []string
	for _, h := range c.initial.Hosts {
		if h.Role == "compute" {
			out = append(out, h.Name)
		}
	}
	return out
}

// targets are the versions the campaign upgrades to.
func (c *campaign) targets() (qemu, nova string) {
	qemu, nova = c.spec.qemu, c.spec.nova
	if qemu == "" {
		qemu = "7.2.0"
	}
	if nova == "" {
		nova = "27.1.0"
	}
	return qemu, nova
}

// assertUpgraded checks that status -json and the cloud agree that every
// compute host is upgraded and in service, except those in skip.
func (c *campaign) assertUpgraded(skip ...string) {
	c.t.Helper()
	qemu, nova := c.targets()
	st := c.status()
	cl := c.cloud()
	for _, name := range c.computeHosts() {
		if containsStr(skip, name) {
			continue
		}
		h := st.Hosts[name]
		if h == nil || h.Status != state.HostUpgraded || h.Versions["qemu"] != qemu || h.Versions["nova_compute"] != nova {
			c.t.Errorf("status of %s: %+v, want upgraded to qemu %s, nova_compute %s", name, h, qemu, nova)
		}
		ch := cl.Host(name)
		if ch.Versions["qemu"] != qemu || ch.Versions["nova_compute"] != nova || ch.State != sim.StateUp {
			c.t.Errorf("cloud host %s: %s, qemu %s, nova_compute %s; want up, %s, %s", name, ch.State, ch.Versions["qemu"], ch.Versions["nova_compute"], qemu, nova)
		}
	}
}

// assertOld checks that hosts are in service at their initial versions.
func (c *campaign) assertOld(hosts ...string) {
	c.t.Helper()
	cl := c.cloud()
	for _, name := range hosts {
		h, h0 := cl.Host(name), c.initial.Host(name)
		if h.State != sim.StateUp || h.Versions["qemu"] != h0.Versions["qemu"] || h.Versions["nova_compute"] != h0.Versions["nova_compute"] {
			c.t.Errorf("cloud host %s: %s, qemu %s, nova_compute %s; want up at qemu %s, nova_compute %s", name, h.State,
				h.Versions["qemu"], h.Versions["nova_compute"], h0.Versions["qemu"], h0.Versions["nova_compute"])
		}
	}
}

// jsonEvents decodes apply -json output: the events, and the outcome line.
func jsonEvents(out string) (evs []state.Event, outcome map[string]any) {
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.Contains(line, `"type":"outcome"`) {
			_ = json.Unmarshal([]byte(line), &outcome)
			continue
		}
		var e state.Event
		if json.Unmarshal([]byte(line), &e) == nil {
			evs = append(evs, e)
		}
	}
	return evs, outcome
}

func countKind(evs []state.Event, k state.Kind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// webhook is a VNF manager: it records every notification with the time
// it arrived and was answered, checks its signature, and replies 200.
type webhook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []Notification
	badSig int
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		received := time.Now()
		body, _ := io.ReadAll(r.Body)
		var n Notification
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(rw, "bad notification: "+err.Error(), http.StatusBadRequest)
			return
		}
		good := vnfm.Verify(notifySecret, r.Header.Get(vnfm.SignatureHeader), body, time.Now()) == nil
		n.Event = "available"
		if n.State == vnfm.StatePlannedMaintenance {
			n.Event = "maintenance"
		}
		n.Received = received
		w.mu.Lock()
		if !good {
			w.badSig++
		}
		// Replied is taken before the answer goes out: escalator can
		// only act on it later.
		n.Replied = time.Now()
		w.got = append(w.got, n)
		w.mu.Unlock()
		rw.WriteHeader(http.StatusOK)
		if n.Event == "maintenance" {
			_, _ = rw.Write([]byte(`{"state":"ACK_PLANNED_MAINTENANCE"}`))
		}
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) received() []Notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Notification{}, w.got...)
}

func (w *webhook) badSignatures() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.badSig
}

// Processes.

// children lists the processes whose parent is pid (every thread's
// children: Go forks from any thread), from /proc/PID/task/*/children,
// or every process's stat on a kernel without those lists.
func children(pid int) []int {
	lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, l := range lists {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				out = append(out, p)
			}
		}
	}
	if len(lists) > 0 {
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// alive reports whether any thread of pid runs (a zombie does not: it
// waits for a parent that may never reap it in a container without an
// init; but a zombie leader may still have threads exiting).
func alive(pid int) bool {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			continue
		}
		if st := b[i+2]; st != 'Z' && st != 'X' {
			return true
		}
	}
	return false
}

// waitGone waits up to d for the processes to end and returns those still
// running.
func waitGone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var live []int
		for _, p := range pids {
			if alive(p) {
				live = append(live, p)
			}
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return live
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockHolders describes the processes /proc/locks says hold a lock on path.
func lockHolders(path string) string {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return "?"
	}
	b, _ := os.ReadFile("/proc/locks")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if strings.HasSuffix(f[5], fmt.Sprintf(":%d", st.Ino)) {
			pid, _ := strconv.Atoi(f[4])
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			out = append(out, fmt.Sprintf("%s [%s]", line, strings.TrimSpace(string(stat))))
		}
	}
	return strings.Join(out, "; ")
}

// lockFree reports whether nobody holds a flock on path.
func lockFree(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, err
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true, nil
}

// lineWriter calls fn with every complete line written to it.
type lineWriter struct {
	buf bytes.Buffer
	all bytes.Buffer
	fn  func(line []byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.all.Write(p)
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := append([]byte(nil), w.buf.Bytes()[:i]...)
		w.buf.Next(i + 1)
		w.fn(line)
	}
}

// killed is what applyKill saw.
type killed struct {
	// at is the event after which the kill was sent; nil when the apply
	// ended before the trigger fired.
	at *state.Event
	// started counts step_started events seen before the kill.
	started int
	// exitedFirst: the apply ended by itself before the signal landed.
	exitedFirst bool
	// pid is escalator's; plugins are its children at the kill.
	pid     int
	plugins []int
	out     result
}

// applyKill runs escalator apply -auto-approve -json (plus args), and
// sends SIGKILL right after the event for which trigger returns true.
// trigger runs on another goroutine than the test's: it must not call
// t.Fatal (nor helpers that do).
// It then checks what a kill -9 must leave: no plugin process and no
// lock held.
func (c *campaign) applyKill(trigger func(e state.Event, started int) bool, args ...string) killed {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	all := append([]string{"apply", "-auto-approve", "-json"}, args...)
	cmd := c.command(ctx, all...)
	var k killed
	var stderr bytes.Buffer
	var mu sync.Mutex
	lw := &lineWriter{fn: func(line []byte) {
		mu.Lock()
		defer mu.Unlock()
		if k.at != nil {
			return
		}
		var e state.Event
		if json.Unmarshal(line, &e) != nil || e.Kind == "" {
			return
		}
		if e.Kind == state.KindStepStarted {
			k.started++
		}
		if trigger(e, k.started) {
			k.plugins = children(cmd.Process.Pid)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			k.at = &e
		}
	}}
	cmd.Stdout, cmd.Stderr = lw, &stderr
	start := time.Now()
	mu.Lock()
	if err := cmd.Start(); err != nil {
		mu.Unlock()
		c.t.Fatal(err)
	}
	k.pid = cmd.Process.Pid
	mu.Unlock()
	err := cmd.Wait()
	k.out = result{args: all, stdout: lw.all.String(), stderr: stderr.String(), wall: time.Since(start)}
	if ctx.Err() != nil {
		c.t.Fatalf("apply did not end within %s: %s", cmdTimeout, k.out)
	}
	var ee *exec.ExitError
	if k.at == nil {
		if errors.As(err, &ee) {
			k.out.code = ee.ExitCode()
		} else if err != nil {
			c.t.Fatalf("apply: %v", err)
		}
		return k
	}
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		// SIGKILL cannot be caught: the run ended by itself between the
		// trigger event (one of its last) and the signal. Nothing was
		// killed; the resume that follows is an ordinary one.
		c.t.Logf("apply ended by itself (%v) before the SIGKILL sent after %s landed", err, k.at.Kind)
		k.exitedFirst = true
		return k
	}
	if len(k.plugins) == 0 {
		c.t.Errorf("no plugin process was running under escalator at the kill")
	}
	if live := waitGone(k.plugins, 5*time.Second); len(live) > 0 {
		c.t.Errorf("plugin processes %v still run 5s after escalator was killed (no parent-death signal?)", live)
	}
	// The kernel releases a dead process's flocks as its last thread
	// exits, a moment after the process shows as a zombie.
	for _, p := range []string{c.path(".escalator", "state.lock"), c.path("cloud.json.lock")} {
		deadline := time.Now().Add(2 * time.Second)
		for {
			free, err := lockFree(p)
			if err != nil {
				c.t.Fatal(err)
			}
			if free {
				break
			}
			if time.Now().After(deadline) {
				c.t.Errorf("%s is still locked 2s after the kill; holders: %s", p, lockHolders(p))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return k
}

// okBeforeStartedAfter returns the steps the journal shows finished OK before
// the first run_resumed event at or after seq from, and the steps
// started after it.
func okBeforeStartedAfter(j []state.Event, runID string, from int64) (ok map[string]int64, again map[string]int64) {
	ok, again = map[string]int64{}, map[string]int64{}
	resumed := false
	for _, e := range j {
		if e.RunID != runID {
			continue
		}
		if e.Kind == state.KindRunResumed && e.Seq >= from {
			resumed = true
		}
		switch {
		case !resumed && e.Kind == state.KindStepFinished && e.Status == string(state.StepOK):
			ok[e.StepID] = e.Seq
		case resumed && e.Kind == state.KindStepStarted:
			if _, dup := again[e.StepID]; !dup {
				again[e.StepID] = e.Seq
			}
		}
	}
	return ok, again
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// editCloud changes the cloud file under the sim's lock, as a sim action
// would, so that no provider process reads a half-made change.
func (c *campaign) editCloud(edit func(cl *sim.Cloud)) {
	c.t.Helper()
	// Under the sim's own lock and through its store, as an operator's
	// tool would: the change is not logged as an action.
	err := sim.OpenStore(c.path("cloud.json")).Update(context.Background(), func(cl *sim.Cloud, tx *sim.Tx) error {
		edit(cl)
		tx.Changed()
		return cl.Index()
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// waveHosts returns the plan's waves as lists of hosts with moves, by wave
// number.
func waveHosts(f *plans.File) map[int][]*plans.HostVisit {
	out := map[int][]*plans.HostVisit{}
	for _, r := range f.Plan.Rollouts {
		for _, w := range r.Waves {
			out[w.Number] = append(out[w.Number], w.Hosts...)
		}
	}
	return out
}
