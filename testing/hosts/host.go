package hosts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// host is the harness's side of one host: its power state and the process
// that is its current boot.
type host struct {
	Host
	env *Env

	mu           sync.Mutex
	key          hostKeyPair
	bootID       string // of the current (or next) boot
	boots        int    // boots started
	initPID      int    // PID of the host's init in the root namespace; 0 when off
	initStart    uint64 // its start time, so a recycled PID is never killed
	down         bool   // powered off for good (Down, DownOnReboot, a failed boot)
	downOnReboot bool
	killed       bool   // the harness killed the current boot's init
	failed       error  // why the last boot failed, if it did
	netnsID      string // "net:[inode]" of its network namespace, to find its processes
	stopping     bool
	started      bool          // the supervisor runs (done will close)
	stop         chan struct{} // closed by Stop
	done         chan struct{} // closed when the supervisor returns
}

func (e *Env) newHost(i int) (*host, error) {
	name := "host" + strconv.Itoa(i+1)
	h := &host{
		Host: Host{
			Index:   i,
			Name:    name,
			Addr:    hostAddr(e.Subnet, i),
			SSHPort: e.opts.SSHPort,
			Dir:     filepath.Join(e.Dir, "hosts", name),
			Netns:   e.Prefix + "-" + name,
			Link:    e.Prefix + "-v" + strconv.Itoa(i+1),
		},
		env:  e,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	h.Root = filepath.Join(h.Dir, "root")
	key, err := newHostKey()
	if err != nil {
		return nil, fmt.Errorf("hosts: %s: %w", name, err)
	}
	h.key = key
	h.bootID = newUUID()
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.MkdirAll(filepath.Join(h.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("hosts: %s: %w", name, err)
		}
	}
	// The overlay's root directory takes the upper dir's mode: sshd's
	// StrictModes wants / not writable by others.
	if err := os.Chmod(filepath.Join(h.Dir, "upper"), 0o755); err != nil {
		return nil, fmt.Errorf("hosts: %s: %w", name, err)
	}
	return h, nil
}

// prepareHost mounts the host's overlay (in the root namespace, so that
// the harness and the tests read and write the host's files at Host.Root)
// and writes what makes the image this host: name, keys, init, services.
func (e *Env) prepareHost(h *host) error {
	// The source names the mount after the environment, so Cleanup finds
	// the overlays of a crashed run without knowing its directory.
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", e.Image.Root, filepath.Join(h.Dir, "upper"), filepath.Join(h.Dir, "work"))
	if err := syscall.Mount(h.Netns, h.Root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("hosts: %s: mount overlay on %s: %w", h.Name, h.Root, err)
	}
	if err := e.writeHostFiles(h); err != nil {
		return fmt.Errorf("hosts: %s: %w", h.Name, err)
	}
	return nil
}

// powerOn starts the host's supervisor: it boots the host, and boots it
// again after each reboot, until the host is downed or the environment
// stops. It returns once the first boot has its init running.
func (e *Env) powerOn(h *host) error {
	first := make(chan error, 1)
	h.mu.Lock()
	h.started = true
	h.mu.Unlock()
	go e.supervise(h, first)
	return <-first
}

func (e *Env) supervise(h *host, first chan<- error) {
	defer close(h.done)
	for {
		exited, err := e.boot(h)
		if first != nil {
			first <- err
			first = nil
		}
		if err != nil {
			h.mu.Lock()
			h.failed, h.down = err, true
			h.mu.Unlock()
			return
		}
		werr := <-exited
		h.mu.Lock()
		h.initPID = 0
		status := "powered off"
		var ee *exec.ExitError
		switch {
		case h.killed:
			// The harness cut the power (Reboot, Down, Stop). unshare
			// reports its child's SIGKILL as an error exit of its own
			// (util-linux 2.38: "sigprocmask unblock failed").
			h.killed = false
		case errors.As(werr, &ee) && ee.Exited() && ee.ExitCode() != 0:
			// init died on its own with an error: a broken boot, not a
			// reboot. Booting again would fail the same way.
			h.failed = fmt.Errorf("%s: boot %d failed (exit status %d); its log %s ends with: %s",
				h.Name, h.boots, ee.ExitCode(), h.BootLog(), fileTail(h.BootLog(), 600))
			h.down = true
			status = "boot failed"
		case werr == nil:
			status = "rebooted from inside"
		}
		if h.downOnReboot {
			h.down = true
		}
		stay := h.stopping || h.down
		h.mu.Unlock()
		h.logBoot("=== %s: %s (%v)\n", time.Now().Format(time.RFC3339Nano), status, werr)
		// The host vanishes from the network while it is off, as a real
		// one does: connections time out instead of being refused.
		if !h.isStopping() {
			if err := e.setLink(h, false); err != nil {
				h.logBoot("=== link down: %v\n", err)
			}
		}
		if stay {
			return
		}
		select {
		case <-h.stop:
			return
		case <-time.After(e.opts.RebootDelay):
		}
		h.mu.Lock()
		if h.down || h.stopping {
			h.mu.Unlock()
			return
		}
		h.bootID = newUUID()
		h.mu.Unlock()
		if err := e.setLink(h, true); err != nil {
			h.mu.Lock()
			h.failed, h.down = fmt.Errorf("%s: %w", h.Name, err), true
			h.mu.Unlock()
			return
		}
	}
}

func (h *host) isStopping() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopping
}

func (h *host) logBoot(format string, args ...any) {
	f, err := os.OpenFile(h.BootLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format, args...)
}

// boot starts one boot of h: boot.sh as PID 1 of new namespaces inside the
// host's network namespace. It returns once init's PID is known, with a
// channel that receives the boot's end.
func (e *Env) boot(h *host) (<-chan error, error) {
	h.mu.Lock()
	h.boots++
	n, bootID := h.boots, h.bootID
	h.mu.Unlock()
	pidFile := filepath.Join(h.Dir, "init.pid")
	os.Remove(pidFile)
	// What the host reads at /proc/sys/kernel/random/boot_id: a new
	// file for each boot (the bind mount of the previous boot went with
	// its mount namespace).
	if err := writeFileAtomic(filepath.Join(h.Dir, "boot_id"), []byte(bootID+"\n"), 0o444); err != nil {
		return nil, fmt.Errorf("%s: boot %d: %w", h.Name, n, err)
	}
	logf, err := os.OpenFile(h.BootLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: boot %d: %w", h.Name, n, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: boot %d, boot id %s\n", time.Now().Format(time.RFC3339Nano), n, bootID)

	args := []string{"--net=/run/netns/" + h.Netns, "--",
		"unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child", "--propagation", "private"}
	if e.timeNS {
		// uptime restarts near 0 at every boot, as after a real reboot.
		args = append(args, "--time", "--boottime="+strconv.FormatInt(-int64(math.Floor(uptime())), 10))
	}
	args = append(args, "/bin/sh", e.bootScript)
	cmd := exec.Command("nsenter", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
		"ROOT=" + h.Root, "HOSTDIR=" + h.Dir, "HOST_NAME=" + h.Name, "REPO=" + e.Repo.Dir}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session, so no terminal signal reaches it; and if the test
	// process dies, unshare dies, and --kill-child takes the host with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: boot %d: %w", h.Name, n, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.After(15 * time.Second)
	for {
		if pid, err := readPid(pidFile); err == nil {
			start, serr := procStartTime(pid)
			if serr == nil {
				h.mu.Lock()
				h.initPID, h.initStart = pid, start
				h.mu.Unlock()
				return exited, nil
			}
		}
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("%s: boot %d ended before init started (%v); %s ends with: %s", h.Name, n, err, h.BootLog(), fileTail(h.BootLog(), 600))
		case <-deadline:
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			return nil, fmt.Errorf("%s: boot %d: init did not start within 15s; %s ends with: %s", h.Name, n, h.BootLog(), fileTail(h.BootLog(), 600))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// killInit powers the host off now: SIGKILL to its init, from the parent
// PID namespace, ends every process of the host (unshare --fork would
// ignore a SIGTERM, and init itself ignores signals it has no handler for).
func (h *host) killInit() {
	h.mu.Lock()
	pid, start := h.initPID, h.initStart
	h.mu.Unlock()
	if pid == 0 {
		return
	}
	if st, err := procStartTime(pid); err == nil && st == start {
		h.mu.Lock()
		h.killed = true
		h.mu.Unlock()
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (e *Env) host(i int) (*host, error) {
	if i < 0 || i >= len(e.hosts) {
		return nil, fmt.Errorf("hosts: no host %d (the environment has hosts 0 to %d)", i, len(e.hosts)-1)
	}
	return e.hosts[i], nil
}

// BootID is the boot id host i reads at /proc/sys/kernel/random/boot_id in
// its current boot (or will read in the boot it is waiting for).
func (e *Env) BootID(i int) string {
	h := e.hosts[i]
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bootID
}

// Boots is the number of boots host i has started.
func (e *Env) Boots(i int) int {
	h := e.hosts[i]
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.boots
}

// IsDown reports whether host i is off for good (Down, DownOnReboot, or a
// boot that failed), and why it failed if it did.
func (e *Env) IsDown(i int) (bool, error) {
	h := e.hosts[i]
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down, h.failed
}

// Reboot power-cycles host i as an unplanned reboot would: every process of
// the host dies at once, the host is off the network for RebootDelay, then
// boots with a new boot id, an empty /run and its services started again.
// It returns when the new boot answers SSH. A provider's own "reboot"
// command (systemctl reboot, reboot) does the same through the host's
// init, without this call.
func (e *Env) Reboot(ctx context.Context, i int) error {
	h, err := e.host(i)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.down || h.stopping {
		h.mu.Unlock()
		return fmt.Errorf("hosts: reboot %s: the host is down", h.Name)
	}
	boots := h.boots
	h.mu.Unlock()
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	h.killInit()
	// Wait for the next boot to start, then for its sshd.
	for {
		h.mu.Lock()
		next, down, failed := h.boots > boots, h.down, h.failed
		h.mu.Unlock()
		if failed != nil {
			return fmt.Errorf("hosts: reboot %s: %w", h.Name, failed)
		}
		if down {
			return fmt.Errorf("hosts: reboot %s: the host went down", h.Name)
		}
		if next {
			return e.WaitUp(ctx, i)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hosts: reboot %s: it did not boot again: %w", h.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Down powers host i off for good: its processes die, it leaves the
// network (connections to it time out) and it never boots again.
func (e *Env) Down(ctx context.Context, i int) error {
	h, err := e.host(i)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.down = true
	h.mu.Unlock()
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	h.killInit()
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hosts: down %s: its init did not end: %w", h.Name, ctx.Err())
	}
}

// DownOnReboot makes host i's next reboot (its own or Reboot) never come
// back: the host that does not return after an upgrade's reboot.
func (e *Env) DownOnReboot(i int) {
	h := e.hosts[i]
	h.mu.Lock()
	h.downOnReboot = true
	h.mu.Unlock()
}

// Exec runs argv inside host i as root — in its namespaces and its root
// file system, as a command run over SSH would but without SSH — and
// returns its standard output. The error carries the end of its standard
// error. The command dies with the host if the host reboots.
func (e *Env) Exec(ctx context.Context, i int, argv ...string) ([]byte, error) {
	h, err := e.host(i)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	pid := h.initPID
	h.mu.Unlock()
	if pid == 0 {
		return nil, fmt.Errorf("hosts: exec on %s: the host is not running", h.Name)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	args := []string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net", "--pid"}
	if e.timeNS {
		args = append(args, "--time")
	}
	args = append(args, "--root", "--wd", "--")
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = hostEnv
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %s: %w: %s", h.Name, strings.Join(argv, " "), err, bytesTail([]byte(stderr.String()), 800))
	}
	return out, nil
}

// hostEnv is the environment of commands the harness runs in a host.
var hostEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C", "DEBIAN_FRONTEND=noninteractive"}

// WriteFile writes a file of host i (absolute path p inside the host),
// creating its directory. It works whether the host is up or not.
func (e *Env) WriteFile(i int, p string, data []byte, mode os.FileMode) error {
	h, err := e.host(i)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("hosts: write %s on %s: use an absolute path", p, h.Name)
	}
	if err := writeFileAtomic(h.Path(p), data, mode); err != nil {
		return fmt.Errorf("hosts: write %s on %s: %w", p, h.Name, err)
	}
	return nil
}

// ReadFile reads a file of host i (absolute path p inside the host).
func (e *Env) ReadFile(i int, p string) ([]byte, error) {
	h, err := e.host(i)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(h.Path(p))
	if err != nil {
		return nil, fmt.Errorf("hosts: read %s on %s: %w", p, h.Name, err)
	}
	return data, nil
}

// FailPostinst makes the postinst of the named versions of a test package
// (AgentPackage honours it) fail on host i from now on; no versions clears
// the injection. Other hosts and other versions are unaffected, so a
// rollback to the old version still configures.
func (e *Env) FailPostinst(i int, pkg string, versions ...string) error {
	p := FailPostinstDir + "/" + pkg
	if len(versions) == 0 {
		h, err := e.host(i)
		if err != nil {
			return err
		}
		if err := os.Remove(h.Path(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("hosts: clear the postinst failure of %s on %s: %w", pkg, h.Name, err)
		}
		return nil
	}
	return e.WriteFile(i, p, []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}

// A Service is a daemon that a host's init starts at every boot and that
// "systemctl start|stop|restart|is-active NAME" controls inside the host.
// This is how a later suite runs e.g. nova-compute (fake virt driver) in a
// host: its packages in the image (ImageOptions.Include), its nova.conf
// written with WriteFile (pointing at ControlName, the bridge address, where
// the control plane listens), then AddService.
type Service struct {
	Name string   // the unit name: letters, digits, '-', '_', '.', '@'
	Exec string   // absolute path of the program inside the host
	Args []string // its arguments (no spaces or quotes inside one)
	User string   // run as this user (default root)
}

var serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]*$`)

// AddService defines s on host i (from the next boot on) and, if start,
// starts it now.
func (e *Env) AddService(ctx context.Context, i int, s Service, start bool) error {
	if !serviceNameRE.MatchString(s.Name) || !filepath.IsAbs(s.Exec) {
		return fmt.Errorf("hosts: service %q: give a simple name and an absolute Exec path", s.Name)
	}
	for _, a := range append([]string{s.Exec, s.User}, s.Args...) {
		if strings.ContainsAny(a, " \t\n'\"\\$`") {
			return fmt.Errorf("hosts: service %s: argument %q: no spaces, quotes or shell characters (put them in a config file)", s.Name, a)
		}
	}
	def := fmt.Sprintf("# %s, defined by testing/hosts\nEXEC=%s\nARGS=\"%s\"\nUSER=%s\n", s.Name, s.Exec, strings.Join(s.Args, " "), s.User)
	if err := e.WriteFile(i, "/etc/escalator-test/services/"+s.Name, []byte(def), 0o644); err != nil {
		return err
	}
	if start {
		if _, err := e.Exec(ctx, i, "systemctl", "start", s.Name); err != nil {
			return fmt.Errorf("hosts: start service %s: %w", s.Name, err)
		}
	}
	return nil
}

// newUUID returns a random version 4 UUID, formatted as the kernel's
// boot_id.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
