//go:build e2e_hosts && linux

package hosts

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

var (
	flagCold = flag.Bool("hosts.cold", false, "first build the image in an empty cache, to measure a cold build")
	flagKeep = flag.Bool("hosts.keep", false, "on failure, leave the hosts running for a look (stop them with hostsenv cleanup)")
)

// TestHosts starts 4 hosts and checks what the providers' suites rely on,
// one concern per subtest, in an order where each leaves the hosts as the
// next expects. It prints the figures the docs quote.
func TestHosts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	imgOpts := ImageOptions{Logf: t.Logf}
	if *flagCold {
		imgOpts.Cache = t.TempDir()
	}
	img, err := BuildImage(ctx, imgOpts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildImage(ctx, imgOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Root != img.Root {
		t.Fatalf("second BuildImage: cached %v at %s, want the cached %s", again.Cached, again.Root, img.Root)
	}
	if img.Cached {
		t.Logf("FIGURE image: cached (%d MB), lookup %s; -hosts.cold measures a cold build", img.Bytes>>20, img.Duration.Round(time.Microsecond))
	} else {
		t.Logf("FIGURE image: cold build %s (%d MB); cached lookup %s", img.Duration.Round(time.Second), img.Bytes>>20, again.Duration.Round(time.Microsecond))
	}

	dir := t.TempDir()
	if *flagKeep {
		// t.TempDir's removal would trip over the mounts of kept hosts.
		if dir, err = os.MkdirTemp("", "escalator-hosts-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("environment in %s", dir)
	}
	env, err := Start(ctx, Options{Dir: dir, Hosts: 4, Libvirt: true, Image: imgOpts, Logf: t.Logf, RebootDelay: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if stopped || (*flagKeep && t.Failed()) {
			return
		}
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if err := env.Stop(sctx); err != nil {
			t.Error(err)
		}
	})
	tm := env.Timings
	t.Logf("FIGURE start of 4 hosts: %s total (network %s, boot to sshd %s, agent 1.0 install %s, libvirtd %s, repository %s)",
		tm.Total.Round(time.Millisecond), tm.Network.Round(time.Millisecond), tm.Boot.Round(time.Millisecond),
		tm.Install.Round(time.Millisecond), tm.Libvirt.Round(time.Millisecond), tm.Repo.Round(time.Millisecond))

	run := func(t *testing.T, i int, cmd string) string {
		t.Helper()
		out, err := env.Run(ctx, i, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	agentVersion := func(t *testing.T, i int) string {
		t.Helper()
		return run(t, i, "dpkg-query -W -f='${Version} ${db:Status-Abbrev}' "+AgentPackage)
	}

	t.Run("ssh with the test key and known_hosts", func(t *testing.T) {
		cfg, err := env.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range env.Hosts() {
			c, err := dialSSH(ctx, h.SSHAddr(), cfg)
			if err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
			out, err := runSSH(ctx, c, "hostname; cat /etc/machine-id; ip route")
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if lines[0] != h.Name {
				t.Errorf("host %d says it is %q, want %q", i, lines[0], h.Name)
			}
			if strings.Contains(out, "default") {
				t.Errorf("%s has a default route:\n%s", h.Name, out)
			}
		}
		// Every host has its own key: a known_hosts that gives host2 the
		// key of host1 (a cloned image) is refused.
		bad := filepath.Join(t.TempDir(), "known_hosts")
		line := knownhosts.Line([]string{knownhosts.Normalize(env.Host(1).SSHAddr())}, env.HostKey(0))
		if err := os.WriteFile(bad, []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		assertKeyMismatch(t, ctx, env, 1, bad)
	})

	t.Run("apt upgrade on one host only", func(t *testing.T) {
		for i := range env.N() {
			if got := agentVersion(t, i); got != "1.0 ii" {
				t.Fatalf("host %d starts with %q, want 1.0 installed", i, got)
			}
		}
		t0 := time.Now()
		run(t, 0, "apt-get update -q && "+aptInstall+AgentPackage+"=1.1")
		t.Logf("FIGURE apt-get update + install 1.0 -> 1.1 on one host: %s", time.Since(t0).Round(time.Millisecond))
		if got := run(t, 0, "escalator-test-agent"); got != "escalator-test-agent 1.1" {
			t.Errorf("host1 runs %q", got)
		}
		for i := 1; i < env.N(); i++ {
			if got := agentVersion(t, i); got != "1.0 ii" {
				t.Errorf("host %d changed too: %q", i, got)
			}
		}
		// The same upgrade on the three others at once, as a rolling
		// wave would: one figure per host.
		errs := make([]error, env.N())
		took := make([]time.Duration, env.N())
		_ = env.eachHost(func(h *host) error {
			if h.Index == 0 {
				return nil
			}
			t0 := time.Now()
			_, errs[h.Index] = env.Run(ctx, h.Index, "apt-get update -q && "+aptInstall+AgentPackage+"=1.1")
			took[h.Index] = time.Since(t0)
			return nil
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		t.Logf("FIGURE the same on 3 hosts at once: %s, %s, %s", took[1].Round(time.Millisecond), took[2].Round(time.Millisecond), took[3].Round(time.Millisecond))
		// Back to 1.0 for the next subtests: a downgrade works too.
		for i := range env.N() {
			run(t, i, aptInstall+"--allow-downgrades "+AgentPackage+"=1.0")
		}
	})

	t.Run("changed conffile and reboot-required", func(t *testing.T) {
		run(t, 0, "echo 'listen = 0.0.0.0:7070' >"+AgentConfig)
		run(t, 0, aptInstall+"-o Dpkg::Options::=--force-confold "+AgentPackage+"=1.2")
		if got := run(t, 0, "cat "+AgentConfig); got != "listen = 0.0.0.0:7070" {
			t.Errorf("the edited conffile was not kept: %q", got)
		}
		run(t, 0, "test -f "+AgentConfig+".dpkg-dist")
		if got := run(t, 0, "cat /run/reboot-required.pkgs"); got != AgentPackage {
			t.Errorf("reboot-required.pkgs = %q", got)
		}
		if err := env.Reboot(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Run(ctx, 0, "test -e /run/reboot-required"); err == nil {
			t.Errorf("/run/reboot-required survived the reboot")
		}
	})

	t.Run("failing postinst fails the install", func(t *testing.T) {
		_, err := env.Run(ctx, 1, aptInstall+BrokenPackage)
		if err == nil || !strings.Contains(err.Error(), "postinst fails on purpose") {
			t.Fatalf("installing %s: %v, want the postinst's failure", BrokenPackage, err)
		}
		if got := run(t, 1, "dpkg-query -W -f='${db:Status-Status}' "+BrokenPackage); got != "half-configured" {
			t.Errorf("%s is %q, want half-configured", BrokenPackage, got)
		}
		run(t, 1, "dpkg --purge "+BrokenPackage)

		// The injected failure: only 1.1, only on host2; the rollback to
		// 1.0 configures, and the admin's config survives both.
		run(t, 1, "echo 'listen = 10.0.0.1:7070' >"+AgentConfig)
		if err := env.FailPostinst(1, AgentPackage, "1.1"); err != nil {
			t.Fatal(err)
		}
		_, err = env.Run(ctx, 1, aptInstall+AgentPackage+"=1.1")
		if err == nil || !strings.Contains(err.Error(), "postinst fails (injected") {
			t.Fatalf("upgrade with an injected failure: %v", err)
		}
		if got := agentVersion(t, 1); got != "1.1 iF" {
			t.Errorf("after the failed upgrade: %q, want 1.1 half-configured", got)
		}
		run(t, 1, aptInstall+"--allow-downgrades "+AgentPackage+"=1.0")
		if got := agentVersion(t, 1); got != "1.0 ii" {
			t.Errorf("after the rollback: %q", got)
		}
		if got := run(t, 1, "cat "+AgentConfig); got != "listen = 10.0.0.1:7070" {
			t.Errorf("config after the rollback: %q", got)
		}
		// Host 3 is not affected by host 2's injection.
		run(t, 2, aptInstall+AgentPackage+"=1.1")
		run(t, 2, aptInstall+"--allow-downgrades "+AgentPackage+"=1.0")
		if err := env.FailPostinst(1, AgentPackage); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("reboot", func(t *testing.T) {
		const i = 2
		before := run(t, i, "cat /proc/sys/kernel/random/boot_id")
		run(t, i, "touch /run/before-reboot /var/tmp/before-reboot")
		t0 := time.Now()
		if err := env.Reboot(ctx, i); err != nil {
			t.Fatal(err)
		}
		t.Logf("FIGURE Reboot (off %s, boot, sshd answers): %s", env.opts.RebootDelay, time.Since(t0).Round(time.Millisecond))
		after := run(t, i, "cat /proc/sys/kernel/random/boot_id")
		if after == before || after != env.BootID(i) {
			t.Errorf("boot id %s -> %s, harness says %s", before, after, env.BootID(i))
		}
		run(t, i, "test ! -e /run/before-reboot && test -e /var/tmp/before-reboot")
		run(t, i, "systemctl is-active ssh sshd libvirtd")
		if up := run(t, i, "cut -d. -f1 /proc/uptime"); env.timeNS && mustAtoi(t, up) > 60 {
			t.Errorf("uptime %s s after a reboot", up)
		}

		// A reboot asked from inside, as a provider does it: the SSH
		// session ends, the host comes back with another boot id.
		boots := env.Boots(i)
		_, _ = env.Run(ctx, i, "systemctl reboot")
		deadline := time.Now().Add(30 * time.Second)
		for env.Boots(i) == boots && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if err := env.WaitUp(ctx, i); err != nil {
			t.Fatal(err)
		}
		if again := run(t, i, "cat /proc/sys/kernel/random/boot_id"); again == after {
			t.Errorf("boot id unchanged by systemctl reboot: %s", again)
		}
	})

	t.Run("rekey refuses the old known_hosts", func(t *testing.T) {
		const i = 3
		if _, err := env.RekeyHost(ctx, i); err != nil {
			t.Fatal(err)
		}
		assertKeyMismatch(t, ctx, env, i, env.KnownHostsFile)
		if err := env.WriteKnownHosts(); err != nil {
			t.Fatal(err)
		}
		run(t, i, "true")
	})

	t.Run("libvirt domain", func(t *testing.T) {
		const i = 0
		if got := run(t, i, "virsh -c qemu:///system version --daemon | grep -c 'libvirt 9'"); got == "0" {
			t.Errorf("no libvirt 9")
		}
		t0 := time.Now()
		if err := env.StartDomain(ctx, i, "vnf1"); err != nil {
			t.Fatal(err)
		}
		t.Logf("FIGURE define + start a diskless domain: %s", time.Since(t0).Round(time.Millisecond))
		doms, err := env.Domains(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(doms, ",") != "vnf1" {
			t.Errorf("domains %q, want vnf1", doms)
		}
		if got := run(t, i, "virsh -c qemu:///system list --name"); got != "vnf1" {
			t.Errorf("over SSH: %q", got)
		}
		if others, err := env.Domains(ctx, 1); err != nil || len(others) != 0 {
			t.Errorf("host2 has domains %q (%v)", others, err)
		}
		m, err := env.Memory(i)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("FIGURE host1 with libvirtd and one running domain: %d processes, RSS %d MB, PSS %d MB", m.Procs, m.RSS>>20, m.PSS>>20)
		if err := env.DestroyDomain(ctx, i, "vnf1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("memory per host", func(t *testing.T) {
		for i := range env.N() {
			m, err := env.Memory(i)
			if err != nil {
				t.Fatal(err)
			}
			if m.Procs < 3 {
				t.Errorf("host %d: %d processes, want at least init, sshd, libvirtd", i, m.Procs)
			}
			t.Logf("FIGURE host%d idle: %d processes, RSS %.1f MB, PSS %.1f MB, of which libvirtd %.1f MB (without libvirtd: PSS %.1f MB)",
				i+1, m.Procs, float64(m.RSS)/(1<<20), float64(m.PSS)/(1<<20),
				float64(m.PSSByCommand["libvirtd"])/(1<<20), float64(m.PSS-m.PSSByCommand["libvirtd"])/(1<<20))
		}
	})

	t.Run("real Debian package from the mirror", func(t *testing.T) {
		// tzdata has a version in bookworm, bookworm-updates and
		// bookworm-security most of the time; any one the host does not
		// have is a real dpkg upgrade or downgrade.
		have := run(t, 1, "dpkg-query -W -f='${Version}' tzdata")
		vs, err := DebianVersions(ctx, "tzdata")
		if err != nil {
			t.Fatal(err)
		}
		other := ""
		for _, v := range vs {
			if v != have {
				other = v
				break
			}
		}
		if other == "" {
			t.Skipf("the mirror has no tzdata but %s, the image's: nothing to change to", have)
		}
		if err := env.Repo.AddDebian(ctx, "tzdata="+other); err != nil {
			t.Fatal(err)
		}
		run(t, 1, "apt-get update -q && "+aptInstall+"--allow-downgrades tzdata="+other)
		if got := run(t, 1, "dpkg-query -W -f='${Version}' tzdata"); got != other {
			t.Errorf("tzdata %s, want %s", got, other)
		}
	})

	t.Run("down never comes back", func(t *testing.T) {
		const i = 3
		if err := env.Down(ctx, i); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		defer wcancel()
		if err := env.WaitUp(wctx, i); err == nil || !strings.Contains(err.Error(), "down") {
			t.Errorf("WaitUp on a down host: %v", err)
		}
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		defer dcancel()
		if _, err := env.Dial(dctx, i); err == nil {
			t.Errorf("a down host answered SSH")
		}
		if err := env.Reboot(ctx, i); err == nil {
			t.Errorf("Reboot of a down host succeeded")
		}
		if down, _ := env.IsDown(i); !down {
			t.Errorf("IsDown = false")
		}

		// A host that does not come back from its own reboot.
		const j = 2
		env.DownOnReboot(j)
		_, _ = env.Run(ctx, j, "reboot")
		deadline := time.Now().Add(10 * time.Second)
		for {
			if down, _ := env.IsDown(j); down {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("host3 did not go down at its reboot")
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(3 * env.opts.RebootDelay)
		if env.Boots(j) != 3 {
			t.Errorf("host3 booted %d times, want 3 (no boot after the last reboot)", env.Boots(j))
		}
	})

	t.Run("stop leaves nothing behind", func(t *testing.T) {
		var pids []int
		for _, h := range env.hosts {
			if pid, err := readPid(filepath.Join(h.Dir, "init.pid")); err == nil {
				pids = append(pids, pid)
			}
		}
		sctx, scancel := context.WithTimeout(ctx, time.Minute)
		defer scancel()
		t0 := time.Now()
		if err := env.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		stopped = true
		t.Logf("FIGURE stop: %s", time.Since(t0).Round(time.Millisecond))
		if err := env.Stop(sctx); err != nil {
			t.Errorf("second Stop: %v", err)
		}
		assertNothingLeft(t, env.Prefix, dir, pids)
	})
}

// assertKeyMismatch checks that x/crypto/ssh refuses host i with the given
// known_hosts file, with a knownhosts.KeyError that knows the key it wanted.
func assertKeyMismatch(t *testing.T, ctx context.Context, env *Env, i int, knownHostsFile string) {
	t.Helper()
	cb, err := knownhosts.New(knownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(env.Signer())}, HostKeyCallback: cb, Timeout: 5 * time.Second}
	c, err := dialSSH(ctx, env.Host(i).SSHAddr(), cfg)
	if err == nil {
		c.Close()
		t.Fatalf("%s accepted with a known_hosts that has another key for it", env.Host(i).Name)
	}
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		t.Fatalf("dial %s: %v, want a knownhosts.KeyError with the expected key", env.Host(i).Name, err)
	}
}

// assertNothingLeft checks, without the harness's own bookkeeping, that no
// namespace, link, mount or process of the environment remains.
func assertNothingLeft(t *testing.T, prefix, dir string, pids []int) {
	t.Helper()
	for _, ns := range netnsNames() {
		if strings.HasPrefix(ns, prefix+"-") {
			t.Errorf("network namespace %s left", ns)
		}
	}
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), prefix+"-") {
		t.Errorf("links left:\n%s", out)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), dir) || strings.Contains(sc.Text(), " "+prefix+"-") {
			t.Errorf("mount left: %s", sc.Text())
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			if _, serr := procStartTime(pid); serr == nil {
				t.Errorf("init PID %d still running", pid)
			}
		}
	}
	for _, p := range allPids() {
		if root, err := os.Readlink("/proc/" + strconv.Itoa(p) + "/root"); err == nil && strings.HasPrefix(root, dir) {
			t.Errorf("process %d still has its root in %s", p, root)
		}
	}
}

// aptInstall is how a provider must call apt: no debconf questions (the
// session has no terminal and no input).
const aptInstall = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q "

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

// TestMain runs the crash helper instead of the tests when
// TestCleanupAfterCrash starts this binary as its victim.
func TestMain(m *testing.M) {
	flag.Parse()
	if dir := os.Getenv("ESCALATOR_HOSTS_CRASH_DIR"); dir != "" {
		os.Exit(crashHelper(dir))
	}
	os.Exit(m.Run())
}

const crashPrefix = "eshcrash"

// TestCleanupAfterCrash kills a process that runs an environment with
// SIGKILL, as a crashed or timed-out test run dies, and checks that its
// hosts died with it (no process outlives the harness) and that Cleanup
// removes the namespaces, links and mounts it left.
func TestCleanupAfterCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "ESCALATOR_HOSTS_CRASH_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var pids []int
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "CRASH-HELPER-UP "); ok {
			for _, f := range strings.Fields(rest) {
				pids = append(pids, mustAtoi(t, f))
			}
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(pids) == 0 {
		t.Fatal("the helper did not start its environment")
	}

	left := find(crashPrefix, nil)
	if len(left.netns) != 2 || len(left.mounts) != 2 {
		t.Errorf("after the crash: namespaces %q, mounts %q; want the 2 hosts' (else this test proves nothing)", left.netns, left.mounts)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(find(crashPrefix, nil).pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l := find(crashPrefix, nil); len(l.pids) > 0 {
		t.Errorf("hosts' processes outlived the harness: %s", strings.Join(l.procs, ", "))
	}
	if err := Cleanup(ctx, crashPrefix); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, crashPrefix, dir, pids)
}

// crashHelper starts 2 hosts, prints their init PIDs and waits to be
// killed.
func crashHelper(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env, err := Start(ctx, Options{Dir: dir, Hosts: 2, Prefix: crashPrefix, Subnet: netip.MustParsePrefix("10.77.1.0/24"), Install: []string{}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		return 1
	}
	var pids []string
	for _, h := range env.hosts {
		h.mu.Lock()
		pids = append(pids, strconv.Itoa(h.initPID))
		h.mu.Unlock()
	}
	fmt.Println("CRASH-HELPER-UP " + strings.Join(pids, " "))
	<-ctx.Done()
	return 1
}
