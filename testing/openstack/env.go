package openstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultCacheDir is where install.sh unpacks the *-common packages (the
// paste .ini files); $OSENV_CACHE overrides it for both.
const DefaultCacheDir = "/var/cache/escalator-openstack"

// Options say what environment Start builds.
type Options struct {
	// Dir is the state directory: configuration, databases, logs, pid
	// files, clouds.yaml. Created if missing; it must be empty or hold a
	// stopped environment of this harness (which is then wiped).
	Dir string
	// Computes is the number of nova-compute processes (compute1 …),
	// default 2; Zones the number of availability zones they are split
	// into in contiguous blocks (az1 …), default 1.
	Computes, Zones int
	// BasePort is the first of the environment's consecutive loopback
	// ports (see Ports); 0 picks the first free block from DefaultBasePort.
	BasePort int
	// CacheDir is install.sh's cache (default $OSENV_CACHE, then
	// DefaultCacheDir).
	CacheDir string
	// Sizing is what each fake hypervisor reports; zero fields take
	// DefaultSizing's.
	Sizing Sizing
	// Log receives one line per start-up step, with the elapsed time;
	// nil discards them.
	Log io.Writer
	// Timeout bounds Start (default 6 minutes), inside ctx's deadline.
	Timeout time.Duration
	// KeystoneOnly starts MariaDB and Keystone and nothing else: for
	// tests of escalator's own Keystone authentication (≈10 s instead of
	// the whole cloud's 40–60 s).
	KeystoneOnly bool
}

// Sizing is the capacity of one fake hypervisor.
type Sizing struct {
	VCPUs    int `json:"vcpus"`
	MemoryMB int `json:"memory_mb"`
	DiskGB   int `json:"disk_gb"`
}

// DefaultSizing is a modest real host, so that capacity checks mean
// something (the fake driver alone reports 1000 vCPUs and 800 GB of RAM).
var DefaultSizing = Sizing{VCPUs: 8, MemoryMB: 16384, DiskGB: 200}

// Compute is one nova-compute of the environment.
type Compute struct {
	Name string `json:"name"` // its host name in Nova: compute1 …
	Zone string `json:"zone"` // its availability zone: az1 …
}

// Timings are the measured durations of Start.
type Timings struct {
	ControlPlane time.Duration `json:"control_plane"` // from Start to every API, conductor and scheduler up
	Computes     time.Duration `json:"computes"`      // from then to every compute up, discovered, zoned, in Placement
	Total        time.Duration `json:"total"`
}

// Env is a running (or stopped) environment. Its fields are saved in
// Dir/osenv.json, so Load gives another process the same view.
type Env struct {
	Dir        string    `json:"dir"`
	Ports      Ports     `json:"ports"`
	AuthURL    string    `json:"auth_url"`
	Region     string    `json:"region"`
	Username   string    `json:"username"`    // admin, in domain Default
	Password   string    `json:"password"`    // random per environment
	Project    string    `json:"project"`     // admin, in domain Default
	Domain     string    `json:"domain"`      // Default: user and project domain
	CloudName  string    `json:"cloud_name"`  // the entry of clouds.yaml
	CloudsYAML string    `json:"clouds_yaml"` // path of clouds.yaml
	OpenRC     string    `json:"openrc"`      // path of a shell file of OS_* variables
	Computes   []Compute `json:"computes"`    // in name order
	Zones      []string  `json:"zones"`       // az1 …
	Sizing     Sizing    `json:"sizing"`      // of every compute
	ImageID    string    `json:"image_id"`    // a 1 MiB raw image, public
	Flavors    []Flavor  `json:"flavors"`     // m1.tiny, m1.small
	Aggregates []string  `json:"aggregates"`  // one per zone, named after it
	CacheDir   string    `json:"cache_dir"`   // install.sh's cache it was built from
	Timings    Timings   `json:"timings"`     // of Start
	Started    time.Time `json:"started"`     // when Start began
	// KeystoneOnly: only MariaDB and Keystone run (Options.KeystoneOnly).
	KeystoneOnly bool `json:"keystone_only,omitempty"`
	logw         io.Writer
	logMu        sync.Mutex
	t0           time.Time
}

// Flavor is one flavor the environment created.
type Flavor struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	VCPUs  int    `json:"vcpus"`
	RAMMB  int    `json:"ram_mb"`
	DiskGB int    `json:"disk_gb"`
}

const stateFile = "osenv.json"

// Start builds and starts an environment in opts.Dir and returns when its
// APIs answer and every compute is up, discovered, in its zone and in
// Placement. On failure it stops whatever it started and keeps the
// directory (the error names the daemon and shows the tail of its log).
func Start(ctx context.Context, opts Options) (*Env, error) {
	e, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 6 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := e.writeConfig(e.CacheDir); err != nil {
		return nil, fmt.Errorf("write the configuration into %s: %w", e.Dir, err)
	}
	if err := e.save(); err != nil {
		return nil, err
	}
	if err := e.bringUp(ctx); err != nil {
		// A fresh context: ctx may be the one that expired.
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if serr := e.Stop(sctx); serr != nil {
			err = fmt.Errorf("%w\n(and stopping what had started: %v)", err, serr)
		}
		return nil, fmt.Errorf("start the OpenStack environment in %s: %w\nlogs: %s", e.Dir, err, filepath.Join(e.Dir, "log"))
	}
	e.Timings.Total = time.Since(e.t0)
	if err := os.WriteFile(e.CloudsYAML, []byte(e.cloudsYAMLText()), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(e.OpenRC, []byte(e.openRCText()), 0o600); err != nil {
		return nil, err
	}
	if err := e.save(); err != nil {
		return nil, err
	}
	e.logf("environment up in %s (control plane %s, computes %s)", e.Timings.Total.Round(time.Second),
		e.Timings.ControlPlane.Round(100*time.Millisecond), e.Timings.Computes.Round(100*time.Millisecond))
	return e, nil
}

// prepare validates the options and readies the directory.
func prepare(opts Options) (*Env, error) {
	if opts.Dir == "" {
		return nil, errors.New("openstack environment: Options.Dir is required (the state directory)")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.Computes == 0 {
		opts.Computes = 2
	}
	if opts.Zones == 0 {
		opts.Zones = 1
	}
	if opts.Computes < 1 || opts.Zones < 1 || opts.Zones > opts.Computes {
		return nil, fmt.Errorf("openstack environment: %d computes in %d zones: want at least one compute per zone", opts.Computes, opts.Zones)
	}
	cache := opts.CacheDir
	if cache == "" {
		cache = os.Getenv("OSENV_CACHE")
	}
	if cache == "" {
		cache = DefaultCacheDir
	}
	if err := checkInstalled(cache); err != nil {
		return nil, err
	}
	if err := clearDir(dir); err != nil {
		return nil, err
	}
	// MariaDB's socket path must fit in sun_path (108 bytes).
	if n := len(filepath.Join(dir, "run", "mysql.sock")); n > 107 {
		return nil, fmt.Errorf("state directory %s is too deep: the MariaDB socket path would be %d bytes, over the 107 a unix socket allows; use a shorter path", dir, n)
	}
	ports, err := choosePorts(opts.BasePort, dir)
	if err != nil {
		return nil, err
	}
	sz := opts.Sizing
	if sz.VCPUs == 0 {
		sz.VCPUs = DefaultSizing.VCPUs
	}
	if sz.MemoryMB == 0 {
		sz.MemoryMB = DefaultSizing.MemoryMB
	}
	if sz.DiskGB == 0 {
		sz.DiskGB = DefaultSizing.DiskGB
	}
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	e := &Env{
		Dir: dir, Ports: ports, Region: "RegionOne",
		AuthURL:  fmt.Sprintf("http://127.0.0.1:%d/v3", ports.Keystone),
		Username: "admin", Password: hex.EncodeToString(pw), Project: "admin", Domain: "Default",
		CloudName:  "escalator-test",
		CloudsYAML: filepath.Join(dir, "clouds.yaml"),
		OpenRC:     filepath.Join(dir, "openrc"),
		Sizing:     sz, CacheDir: cache,
		Started: time.Now(), logw: opts.Log, t0: time.Now(), KeystoneOnly: opts.KeystoneOnly,
	}
	if !opts.KeystoneOnly {
		e.Computes, e.Zones = layout(opts.Computes, opts.Zones)
	}
	return e, nil
}

// layout names the computes and splits them into zones in contiguous
// blocks, the first zones taking one more when the split is uneven.
func layout(computes, zones int) ([]Compute, []string) {
	var cs []Compute
	var zs []string
	for z := 1; z <= zones; z++ {
		zs = append(zs, fmt.Sprintf("az%d", z))
	}
	for i := 0; i < computes; i++ {
		z := i * zones / computes
		cs = append(cs, Compute{Name: fmt.Sprintf("compute%d", i+1), Zone: zs[z]})
	}
	return cs, zs
}

// checkInstalled fails with the command to run when install.sh has not
// run: better than a daemon failing on a missing module.
func checkInstalled(cache string) error {
	var missing []string
	for _, p := range []string{"/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/bin/epmd", "/usr/bin/uwsgi-core", "/usr/lib/uwsgi/plugins/python3_plugin.so"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, m := range []string{"keystone", "placement", "nova", "glance", "neutron", "pymysql"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/python3/dist-packages", m)); err != nil {
			missing = append(missing, "python3 module "+m)
		}
	}
	for _, src := range pasteFiles {
		if _, err := os.Stat(filepath.Join(cache, "root", src)); err != nil {
			missing = append(missing, filepath.Join(cache, "root", src))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the OpenStack test environment is not installed (missing %s): run sudo testing/openstack/install.sh", strings.Join(missing, ", "))
	}
	return nil
}

// clearDir makes dir an empty directory, refusing to wipe anything that is
// not a stopped environment of this harness.
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("state directory %s is not empty and holds no %s: choose an empty or new directory", dir, stateFile)
	}
	old, err := Load(dir)
	if err != nil {
		return err
	}
	if running := old.runningDaemons(); len(running) > 0 {
		return fmt.Errorf("an environment is already running in %s (%s): stop it first (osenv down -dir %s)", dir, strings.Join(running, ", "), dir)
	}
	for _, ent := range ents {
		if err := os.RemoveAll(filepath.Join(dir, ent.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Load reads the environment saved in dir by Start, running or not.
func Load(dir string) (*Env, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("no OpenStack test environment in %s: %w", dir, err)
	}
	e := &Env{}
	if err := json.Unmarshal(b, e); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return e, nil
}

func (e *Env) save() error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(e.Dir, stateFile), append(b, '\n'))
}

func (e *Env) logf(format string, args ...any) {
	if e.logw == nil {
		return
	}
	e.logMu.Lock()
	defer e.logMu.Unlock()
	fmt.Fprintf(e.logw, "osenv %6.1fs  %s\n", time.Since(e.t0).Seconds(), fmt.Sprintf(format, args...))
}

// SetLog sends progress lines to w (e.g. after Load).
func (e *Env) SetLog(w io.Writer) { e.logw, e.t0 = w, time.Now() }

// stopTier orders the stop: the OpenStack services, then the servers they
// use, then epmd last (RabbitMQ's shutdown still talks to it).
func stopTier(name string) int {
	switch name {
	case "mariadb", "rabbitmq":
		return 1
	case "epmd":
		return 2
	}
	return 0
}

// daemonNames lists the daemons that have a pid file, in name order.
func (e *Env) daemonNames() []string {
	files, _ := filepath.Glob(filepath.Join(e.Dir, "run", "*.pid"))
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".pid"))
	}
	sort.Strings(names)
	return names
}

func (e *Env) runningDaemons() []string {
	var out []string
	for _, n := range e.daemonNames() {
		if e.running(n) {
			out = append(out, n)
		}
	}
	return out
}

// Stop stops every daemon of the environment by PID (its whole process
// group): the OpenStack services first, then RabbitMQ, epmd and MariaDB.
// It returns once none is left, and fails naming any survivor. Stopping a
// stopped environment does nothing. The directory is kept.
func (e *Env) Stop(ctx context.Context) error {
	tiers := make([][]string, 3)
	for _, n := range e.daemonNames() {
		tiers[stopTier(n)] = append(tiers[stopTier(n)], n)
	}
	var errs []error
	for i, names := range tiers {
		grace := 10 * time.Second
		if i == 1 {
			grace = 20 * time.Second // MariaDB and RabbitMQ flush to disk
		}
		errs = append(errs, e.stopDaemons(ctx, names, grace))
	}
	if left := e.Leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes of the environment survived the stop: %s", strings.Join(left, "; ")))
	} else if e.Ports.MariaDB != 0 {
		e.releasePorts()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop the environment in %s: %w", e.Dir, err)
	}
	return nil
}

// Leftovers lists what of the environment still runs, whatever started
// it: processes whose HOME is inside the state directory (every daemon
// gets one there, and its helpers inherit it, even those that left its
// process group), and listeners on the environment's ports. Empty after a
// successful Stop.
func (e *Env) Leftovers() []string {
	var out []string
	self := os.Getpid()
	home := []byte("HOME=" + e.Dir + "/")
	for pid, st := range readProcTable() {
		if pid == self || st.State == 'Z' {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.HasPrefix(env, home) && !bytes.Contains(env, append([]byte{0}, home...)) {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, fmt.Sprintf("PID %d %s", pid, strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))))
	}
	for _, p := range e.Ports.list() {
		if busyPort([]int{p}) != 0 {
			out = append(out, fmt.Sprintf("a listener on 127.0.0.1:%d", p))
		}
	}
	sort.Strings(out)
	return out
}

// DaemonStatus is one daemon's line of Status.
type DaemonStatus struct {
	Name    string
	PID     int
	Running bool
	RSS     int64 // bytes, all processes of its group
	Log     string
}

// Status lists the daemons with their PIDs and memory.
func (e *Env) Status() []DaemonStatus {
	var out []DaemonStatus
	table := readProcTable()
	for _, n := range e.daemonNames() {
		rec, _ := readPidFile(e.pidFile(n))
		st := DaemonStatus{Name: n, PID: rec.PID, Log: e.LogFile(n)}
		if len(table.tree(rec)) > 0 {
			st.Running = true
			st.RSS = groupRSS(table, rec)
		}
		out = append(out, st)
	}
	return out
}

// RSS is the resident memory of every process of the environment, in
// bytes: the control plane and the computes apart.
func (e *Env) RSS() (controlPlane, computes int64) {
	for _, st := range e.Status() {
		if strings.HasPrefix(st.Name, "nova-compute-") {
			computes += st.RSS
		} else {
			controlPlane += st.RSS
		}
	}
	return controlPlane, computes
}

func (e *Env) compute(name string) (Compute, error) {
	for _, c := range e.Computes {
		if c.Name == name {
			return c, nil
		}
	}
	var names []string
	for _, c := range e.Computes {
		names = append(names, c.Name)
	}
	return Compute{}, fmt.Errorf("no compute %q in the environment (it has %s)", name, strings.Join(names, ", "))
}

func computeDaemon(name string) string { return "nova-compute-" + name }

// StopKeystone stops Keystone (SIGTERM, then SIGKILL after 10 s), as
// its upgrade would, and returns when its processes are gone.
func (e *Env) StopKeystone(ctx context.Context) error {
	if err := e.stopDaemons(ctx, []string{"keystone"}, 10*time.Second); err != nil {
		return fmt.Errorf("stop keystone: %w", err)
	}
	return nil
}

// StartKeystone starts Keystone again and returns when it answers.
func (e *Env) StartKeystone(ctx context.Context) error {
	if e.running("keystone") {
		return nil
	}
	return e.startKeystone(ctx)
}

// StopCompute stops one nova-compute (SIGTERM, then SIGKILL after 10 s)
// and returns when its processes are gone. Nova reports the service down
// service_down_time (10 s) after its last report; WaitComputeState waits
// for that. Stopping a stopped compute does nothing.
func (e *Env) StopCompute(ctx context.Context, name string) error {
	if _, err := e.compute(name); err != nil {
		return err
	}
	if err := e.stopDaemons(ctx, []string{computeDaemon(name)}, 10*time.Second); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	return nil
}

// StartCompute starts one nova-compute again and returns when Nova reports
// it up from a report made after the start. Starting a running compute
// only waits for it to be up.
func (e *Env) StartCompute(ctx context.Context, name string) error {
	c, err := e.compute(name)
	if err != nil {
		return err
	}
	since := time.Now()
	if !e.running(computeDaemon(name)) {
		if err := e.start(e.computeDaemon(c)); err != nil {
			return err
		}
	} else {
		since = time.Time{}
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cl, err := e.clients(ctx)
	if err != nil {
		return err
	}
	return e.waitComputes(ctx, cl, []string{name}, "up", since)
}

// WaitComputeState waits until Nova reports the compute's service in state
// "up" or "down" (a stopped compute turns down within service_down_time).
func (e *Env) WaitComputeState(ctx context.Context, name, state string) error {
	if _, err := e.compute(name); err != nil {
		return err
	}
	if state != "up" && state != "down" {
		return fmt.Errorf("compute state %q: want up or down", state)
	}
	cl, err := e.clients(ctx)
	if err != nil {
		return err
	}
	return e.waitComputes(ctx, cl, []string{name}, state, time.Time{})
}
