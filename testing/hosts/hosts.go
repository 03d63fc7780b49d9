// Package hosts is the real hosts test environment: Debian 12 hosts, each a
// network namespace on a private bridge with its own sshd, root file system
// (an overlay over one shared debootstrap image), dpkg database, hostname,
// host key and boot id, reached from the machine's root namespace over SSH
// exactly as a provider reaches a compute host. A local apt repository of
// tiny packages gives real dpkg/apt upgrades; libvirt and QEMU can run in
// every host for the hypervisor provider.
//
//	env, err := hosts.Start(ctx, hosts.Options{Dir: t.TempDir(), Hosts: 4})
//	defer env.Stop(ctx)
//	out, err := env.Run(ctx, 0, "apt-get update && apt-get install -y escalator-test-agent=1.1")
//
// It needs root, Linux namespaces and the tools of install.sh, and never
// reaches an address outside the bridge's subnet: hosts have no default
// route and the machine does not forward. See website/docs/testing-hosts.md.
package hosts

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults of Options.
const (
	DefaultPrefix      = "escht"
	DefaultHosts       = 4
	DefaultRebootDelay = time.Second
	// DefaultControlName is the name /etc/hosts gives the bridge address in
	// every host: where a control plane in the root namespace listens.
	DefaultControlName = "control"
	// firstHostOctet numbers the hosts' addresses from .11, leaving room
	// below for other test services on the bridge.
	firstHostOctet = 11
)

// DefaultSubnet is the hosts' network. 10.77.0.0/24 is in no Debian,
// Docker, libvirt or cloud default; Start refuses a subnet that an
// interface of the machine already uses.
var DefaultSubnet = netip.MustParsePrefix("10.77.0.0/24")

// Options configure an environment.
type Options struct {
	// Dir holds everything of this environment: the hosts' upper dirs,
	// logs, keys and the apt repository. Required; it is not removed by
	// Stop (t.TempDir() removes it).
	Dir string
	// Hosts is the number of hosts. Default DefaultHosts.
	Hosts int
	// Prefix names the namespaces, links and mounts of this environment
	// (PREFIX-host1, PREFIX-br, PREFIX-v1 …): 1 to 9 lower-case letters or
	// digits, starting with a letter. Start first removes what a crashed
	// run with the same prefix left. Default DefaultPrefix.
	Prefix string
	// Subnet is the hosts' network: the bridge takes the first address,
	// host i the eleventh plus i. Default DefaultSubnet.
	Subnet netip.Prefix
	// SSHPort is the port of every host's sshd. Default 22.
	SSHPort int
	// Image selects and caches the hosts' image (see BuildImage).
	Image ImageOptions
	// Libvirt starts libvirtd in every host at every boot (service
	// "libvirtd") and waits for it in Start. The image must include it
	// (DefaultInclude does).
	Libvirt bool
	// RebootDelay is how long a rebooting host stays off the network.
	// Default DefaultRebootDelay.
	RebootDelay time.Duration
	// Packages are added to the repository besides DefaultPackages.
	Packages []Package
	// Install lists "name=version" packages of the repository that every
	// host has installed when Start returns. nil means
	// AgentPackage=1.0; an empty, non-nil slice installs nothing.
	Install []string
	// ControlName is the name of the bridge address in the hosts'
	// /etc/hosts. Default DefaultControlName.
	ControlName string
	// Logf receives progress lines (t.Logf); nil discards them.
	Logf func(format string, args ...any)
}

// Host describes one test host.
type Host struct {
	Index   int        // 0-based, as the methods of Env take it
	Name    string     // hostname inside the host: host1, host2 …
	Addr    netip.Addr // its address on the bridge
	SSHPort int
	Root    string // its root file system as the machine sees it (an overlay)
	Dir     string // its directory: upper, work, boot.log, boot_id
	Netns   string // its network namespace (ip netns exec NAME …)
	Link    string // the machine's end of its veth pair, on the bridge
}

// SSHAddr is host:port for ssh.Dial.
func (h Host) SSHAddr() string { return net.JoinHostPort(h.Addr.String(), strconv.Itoa(h.SSHPort)) }

// Path returns where the host's absolute path p is on the machine.
func (h Host) Path(p string) string { return filepath.Join(h.Root, filepath.FromSlash(p)) }

// BootLog is the file that receives the output of the host's boot and of
// its init, for every boot.
func (h Host) BootLog() string { return filepath.Join(h.Dir, "boot.log") }

// Timings are what Start measured.
type Timings struct {
	Image       time.Duration // image build, or cache lookup when ImageCached
	ImageCached bool
	Repo        time.Duration // building and indexing the test packages
	Network     time.Duration // bridge, namespaces, veth pairs
	Boot        time.Duration // from the first boot until every sshd answered
	Install     time.Duration // Options.Install on every host
	Libvirt     time.Duration // until every libvirtd answered (Options.Libvirt)
	Total       time.Duration
}

// Env is a running environment. Its methods are safe for concurrent use.
type Env struct {
	Dir            string
	Prefix         string
	Subnet         netip.Prefix
	Bridge         string     // the bridge's name in the root namespace
	BridgeAddr     netip.Addr // the root namespace's address on the bridge
	KnownHostsFile string     // known_hosts for every host (see UpdateKnownHosts)
	ClientKeyFile  string     // the private key root@ every host accepts
	Repo           *Repo
	Image          Image
	Timings        Timings

	opts       Options
	signer     ssh.Signer
	hosts      []*host
	bootScript string
	timeNS     bool
	unlock     func()

	mu      sync.Mutex
	stopped bool
	stopErr error
}

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,8}$`)

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("hosts: Options.Dir is required (e.g. t.TempDir())")
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("hosts: Options.Dir: %w", err)
	}
	o.Dir = abs
	if o.Hosts == 0 {
		o.Hosts = DefaultHosts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(o.Prefix) {
		return o, fmt.Errorf("hosts: Options.Prefix %q: use 1 to 9 lower-case letters or digits, starting with a letter (interface names are at most 15 bytes)", o.Prefix)
	}
	if !o.Subnet.IsValid() {
		o.Subnet = DefaultSubnet
	}
	o.Subnet = o.Subnet.Masked()
	if !o.Subnet.Addr().Is4() {
		return o, fmt.Errorf("hosts: Options.Subnet %s: use an IPv4 subnet", o.Subnet)
	}
	if room := (1 << (32 - o.Subnet.Bits())) - firstHostOctet - 1; o.Hosts < 1 || o.Hosts > room || o.Hosts > 999 {
		return o, fmt.Errorf("hosts: %d hosts do not fit in %s (addresses from .%d): use between 1 and %d hosts, or a larger subnet", o.Hosts, o.Subnet, firstHostOctet, min(room, 999))
	}
	if o.SSHPort == 0 {
		o.SSHPort = 22
	}
	if o.RebootDelay == 0 {
		o.RebootDelay = DefaultRebootDelay
	}
	if o.Install == nil {
		o.Install = []string{AgentPackage + "=" + AgentVersions[0]}
	}
	if o.ControlName == "" {
		o.ControlName = DefaultControlName
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Image.Logf == nil {
		o.Image.Logf = o.Logf
	}
	return o, nil
}

// hostAddr is the address of host i in subnet.
func hostAddr(subnet netip.Prefix, i int) netip.Addr {
	a := subnet.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n += uint32(firstHostOctet + i)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// Start builds (or reuses) the image, creates the network, boots every host
// and returns once each one answers SSH with the harness's key, has
// Options.Install installed and, with Options.Libvirt, a libvirtd that
// answers. On error everything it created is removed again. ctx bounds
// the whole start (an image build included: allow a few minutes cold).
func Start(ctx context.Context, opts Options) (*Env, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("hosts: Start needs root (network namespaces, mounts, debootstrap)")
	}
	t0 := time.Now()
	e := &Env{
		Dir:            opts.Dir,
		Prefix:         opts.Prefix,
		Subnet:         opts.Subnet,
		Bridge:         opts.Prefix + "-br",
		BridgeAddr:     opts.Subnet.Addr().Next(),
		KnownHostsFile: filepath.Join(opts.Dir, "ssh", "known_hosts"),
		ClientKeyFile:  filepath.Join(opts.Dir, "ssh", "id_ed25519"),
		opts:           opts,
	}
	// One environment per prefix at a time: a second one waits, so that
	// its leftover cleanup never touches a live environment.
	unlock, err := lockFile(ctx, filepath.Join(lockDir, opts.Prefix+".lock"), "hosts environment "+opts.Prefix)
	if err != nil {
		return nil, err
	}
	e.unlock = unlock
	if err := e.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if serr := e.Stop(stopCtx); serr != nil {
			err = fmt.Errorf("%w (and stopping what had started: %v)", err, serr)
		}
		return nil, err
	}
	e.Timings.Total = time.Since(t0)
	opts.Logf("hosts: %d hosts up in %s (image %s, boot %s, install %s, libvirt %s)",
		len(e.hosts), e.Timings.Total.Round(time.Millisecond), e.Timings.Image.Round(time.Millisecond),
		e.Timings.Boot.Round(time.Millisecond), e.Timings.Install.Round(time.Millisecond), e.Timings.Libvirt.Round(time.Millisecond))
	return e, nil
}

// lockDir holds one lock file per prefix.
const lockDir = "/run/escalator-test-hosts"

func (e *Env) start(ctx context.Context) error {
	o := e.opts
	if err := Cleanup(ctx, o.Prefix); err != nil {
		return fmt.Errorf("hosts: remove what an earlier run with prefix %s left: %w", o.Prefix, err)
	}
	if err := checkSubnetFree(ctx, o.Subnet); err != nil {
		return err
	}

	t := time.Now()
	img, err := BuildImage(ctx, o.Image)
	if err != nil {
		return err
	}
	e.Image = img
	e.Timings.Image, e.Timings.ImageCached = time.Since(t), img.Cached
	if o.Libvirt {
		if _, err := os.Stat(filepath.Join(img.Root, "usr/sbin/libvirtd")); err != nil {
			return fmt.Errorf("hosts: Options.Libvirt needs libvirt in the image, and %s has none: include libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients and qemu-system-x86 in Options.Image.Include", img.Root)
		}
	}

	// A fresh environment every time: the hosts of an earlier run in the
	// same directory are gone (Cleanup unmounted them).
	for _, d := range []string{"hosts", "build"} {
		if err := removeTree(filepath.Join(o.Dir, d)); err != nil {
			return fmt.Errorf("hosts: %w", err)
		}
	}
	if err := e.writeScripts(); err != nil {
		return err
	}
	if err := e.makeKeys(); err != nil {
		return err
	}

	t = time.Now()
	e.Repo, err = newRepo(filepath.Join(o.Dir, "repo"), filepath.Join(o.Dir, "build"), filepath.Join(o.Image.withDefaults().Cache, "debs"))
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	pkgs := append(DefaultPackages(), o.Packages...)
	if err := e.Repo.Add(ctx, pkgs...); err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	install, err := installFiles(pkgs, o.Install)
	if err != nil {
		return err
	}
	e.Timings.Repo = time.Since(t)

	e.timeNS = probeTimeNamespace(ctx)
	if !e.timeNS {
		o.Logf("hosts: no time namespaces here: uptime is not reset by a reboot (the boot id is)")
	}

	t = time.Now()
	if err := e.setupBridge(ctx); err != nil {
		return err
	}
	for i := 0; i < o.Hosts; i++ {
		h, err := e.newHost(i)
		if err != nil {
			return err
		}
		e.hosts = append(e.hosts, h)
		if err := e.setupHostNet(ctx, h); err != nil {
			return err
		}
	}
	e.Timings.Network = time.Since(t)
	if err := e.WriteKnownHosts(); err != nil {
		return err
	}

	t = time.Now()
	if err := e.eachHost(func(h *host) error {
		if err := e.prepareHost(h); err != nil {
			return err
		}
		return e.powerOn(h)
	}); err != nil {
		return err
	}
	if err := e.eachHost(func(h *host) error { return e.WaitUp(ctx, h.Index) }); err != nil {
		return err
	}
	e.Timings.Boot = time.Since(t)

	t = time.Now()
	if len(install) > 0 {
		if err := e.eachHost(func(h *host) error {
			_, err := e.Exec(ctx, h.Index, append([]string{"dpkg", "-i"}, install...)...)
			return err
		}); err != nil {
			return fmt.Errorf("hosts: install %s: %w", strings.Join(o.Install, " "), err)
		}
	}
	e.Timings.Install = time.Since(t)

	if o.Libvirt {
		t = time.Now()
		if err := e.eachHost(func(h *host) error { return e.WaitLibvirt(ctx, h.Index) }); err != nil {
			return err
		}
		e.Timings.Libvirt = time.Since(t)
	}
	return nil
}

// installFiles maps "name=version" to the repository's files as the hosts
// see them.
func installFiles(pkgs []Package, specs []string) ([]string, error) {
	var out []string
	for _, s := range specs {
		name, ver, _ := strings.Cut(s, "=")
		found := ""
		for _, p := range pkgs {
			if p.Name == name && (ver == "" || p.Version == ver) {
				found = "/srv/repo/" + p.Filename()
			}
		}
		if found == "" {
			return nil, fmt.Errorf("hosts: Options.Install: %s is not a package of the repository (DefaultPackages or Options.Packages)", s)
		}
		out = append(out, found)
	}
	return out, nil
}

// eachHost runs f on every host concurrently and joins the errors.
func (e *Env) eachHost(f func(h *host) error) error {
	errs := make([]error, len(e.hosts))
	var wg sync.WaitGroup
	for i, h := range e.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// N is the number of hosts.
func (e *Env) N() int { return len(e.hosts) }

// Host returns host i (0-based). It panics on an index out of range, as a
// slice does: that is a bug in the test.
func (e *Env) Host(i int) Host { return e.hosts[i].Host }

// Hosts returns every host.
func (e *Env) Hosts() []Host {
	out := make([]Host, len(e.hosts))
	for i, h := range e.hosts {
		out[i] = h.Host
	}
	return out
}

// Signer is the client key every host's root accepts.
func (e *Env) Signer() ssh.Signer { return e.signer }

// Stop powers every host off (SIGKILL to each host's init, which ends all
// its processes), unmounts the overlays and deletes the namespaces, the
// veth pairs and the bridge, then checks that nothing is left. It is
// idempotent: later calls return the first call's result. Files under Dir
// stay (logs, upper dirs) for the test to read or remove.
func (e *Env) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return e.stopErr
	}
	e.stopped = true
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var errs []error
	for _, h := range e.hosts {
		h.mu.Lock()
		if !h.stopping {
			h.stopping = true
			close(h.stop)
		}
		h.mu.Unlock()
		h.killInit()
	}
	for _, h := range e.hosts {
		h.mu.Lock()
		started := h.started
		h.mu.Unlock()
		if !started {
			continue
		}
		select {
		case <-h.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("stop %s: its init did not end: %w", h.Name, ctx.Err()))
		}
	}
	if err := Cleanup(ctx, e.Prefix); err != nil {
		errs = append(errs, err)
	}
	if left := e.Leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
	}
	if e.unlock != nil {
		e.unlock()
	}
	if len(errs) > 0 {
		e.stopErr = fmt.Errorf("hosts: stop %s: %w (hostsenv cleanup -prefix %s removes leftovers)", e.Prefix, errors.Join(errs...), e.Prefix)
	}
	return e.stopErr
}

// hostKeyPair is a host's current SSH host key.
type hostKeyPair struct {
	priv ed25519.PrivateKey
	pub  ssh.PublicKey
}

// probeTimeNamespace reports whether this kernel and util-linux give a
// host a time namespace (so /proc/uptime restarts at a reboot).
func probeTimeNamespace(ctx context.Context) bool {
	return exec.CommandContext(ctx, "unshare", "--time", "--fork", "true").Run() == nil
}
