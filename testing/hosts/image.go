package hosts

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// DefaultImageCache is where the hosts' image is built and kept when neither
// ImageOptions.Cache nor $ESCALATOR_HOSTS_IMAGE names another directory.
// The Makefile passes the same path, so CI builds it once per machine.
const DefaultImageCache = "/var/cache/escalator-test/hosts-image"

// DefaultSuite is the Debian release of the hosts (the one this machine runs).
const DefaultSuite = "bookworm"

// DefaultInclude is what debootstrap installs on top of the minbase variant.
// libvirt and QEMU are in it although only the hypervisor tests run them:
// one image for every suite costs one cold build in CI (1 to 2.5 minutes
// depending on the mirror, ≈250 MB once on disk, shared read-only by every
// host) where a base image plus a libvirt image would cost two. They must be inside the image, not on
// the machine, because each host upgrades them in its own dpkg database.
var DefaultInclude = []string{
	"openssh-server", "iproute2", "procps",
	"libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients", "qemu-system-x86",
}

// imageRecipe versions what buildImage does after debootstrap: bump it when
// that changes, and every cache rebuilds.
const imageRecipe = 1

// ImageOptions say which image to build and where to keep it.
type ImageOptions struct {
	// Cache is the directory that holds the image(s). Default:
	// $ESCALATOR_HOSTS_IMAGE, then DefaultImageCache.
	Cache string
	// Mirror is the Debian mirror debootstrap downloads from. Default: the
	// one this machine's apt uses for the suite (MirrorFromAptSources).
	Mirror string
	// Suite is the Debian release. Default DefaultSuite.
	Suite string
	// Include lists the packages installed on top of minbase. Default
	// DefaultInclude. A different list is a different image (built once).
	Include []string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Image is a built root file system, read-only once built.
type Image struct {
	Root     string        // the root file system (overlay lower dir)
	Include  []string      // what debootstrap installed on top of minbase
	Cached   bool          // found ready in the cache
	Duration time.Duration // build (or lookup) time
	Bytes    int64         // disk usage of Root
}

// imageStamp is written next to a finished image; its presence marks the
// image complete.
type imageStamp struct {
	Suite   string    `json:"suite"`
	Variant string    `json:"variant"`
	Include []string  `json:"include"`
	Recipe  int       `json:"recipe"`
	Mirror  string    `json:"mirror"`
	Built   time.Time `json:"built"`
	Seconds float64   `json:"seconds"`
	Bytes   int64     `json:"bytes"`
	Command string    `json:"command"`
}

// DefaultImageCacheDir returns $ESCALATOR_HOSTS_IMAGE or DefaultImageCache.
func DefaultImageCacheDir() string {
	if d := os.Getenv("ESCALATOR_HOSTS_IMAGE"); d != "" {
		return d
	}
	return DefaultImageCache
}

func (o ImageOptions) withDefaults() ImageOptions {
	if o.Cache == "" {
		o.Cache = DefaultImageCacheDir()
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if len(o.Include) == 0 {
		o.Include = DefaultInclude
	}
	o.Include = slices.Clone(o.Include)
	slices.Sort(o.Include)
	o.Include = slices.Compact(o.Include)
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// imageKey names an image by what decides its content, so that a changed
// include list builds a new image instead of reusing a stale one.
func imageKey(o ImageOptions) string {
	h := sha256.New()
	fmt.Fprintf(h, "suite=%s\nvariant=minbase\nrecipe=%d\n", o.Suite, imageRecipe)
	for _, p := range o.Include {
		fmt.Fprintf(h, "include=%s\n", p)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// BuildImage returns the image o describes, building it with debootstrap
// if the cache does not hold it yet. Concurrent callers (several test
// binaries) build it once: the cache is locked while building. Images of
// other include lists that no mounted host uses are removed after a build.
func BuildImage(ctx context.Context, o ImageOptions) (Image, error) {
	o = o.withDefaults()
	start := time.Now()
	key := imageKey(o)
	root := filepath.Join(o.Cache, "rootfs-"+key)
	stampPath := root + ".stamp"
	img := Image{Root: root, Include: o.Include}

	if err := os.MkdirAll(o.Cache, 0o755); err != nil {
		return img, fmt.Errorf("image cache %s: %w (run as root, or set $ESCALATOR_HOSTS_IMAGE)", o.Cache, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(o.Cache, ".lock"), "image cache "+o.Cache)
	if err != nil {
		return img, err
	}
	defer unlock()

	if st, ok := readStamp(stampPath); ok {
		img.Cached = true
		img.Duration = time.Since(start)
		img.Bytes = st.Bytes
		return img, nil
	}

	if o.Mirror == "" {
		o.Mirror = MirrorFromAptSources(o.Suite)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return img, errors.New("build image: debootstrap is not installed (run testing/hosts/install.sh)")
	}
	o.Logf("hosts: building image %s (debootstrap %s from %s, include %s); this takes a minute or two once", root, o.Suite, o.Mirror, strings.Join(o.Include, ","))

	tmp := root + ".build"
	if err := removeTree(tmp); err != nil {
		return img, fmt.Errorf("build image: remove the remains of an earlier build: %w", err)
	}
	logPath := root + ".debootstrap.log"
	args := []string{"--variant=minbase", "--components=main", "--include=" + strings.Join(o.Include, ","), o.Suite, tmp, o.Mirror}
	if err := runLogged(ctx, logPath, "debootstrap", args...); err != nil {
		_ = removeTree(tmp)
		return img, fmt.Errorf("build image: debootstrap %s: %w (its log: %s; check that %s is reachable)", o.Suite, err, logPath, o.Mirror)
	}
	if err := prepareImage(ctx, tmp); err != nil {
		_ = removeTree(tmp)
		return img, fmt.Errorf("build image: %w", err)
	}
	if err := removeTree(root); err != nil {
		return img, fmt.Errorf("build image: %w", err)
	}
	if err := os.Rename(tmp, root); err != nil {
		return img, fmt.Errorf("build image: %w", err)
	}
	img.Bytes = diskUsage(root)
	img.Duration = time.Since(start)
	st := imageStamp{
		Suite: o.Suite, Variant: "minbase", Include: o.Include, Recipe: imageRecipe,
		Mirror: o.Mirror, Built: time.Now().UTC(), Seconds: img.Duration.Seconds(), Bytes: img.Bytes,
		Command: strings.Join(append([]string{"debootstrap"}, args...), " "),
	}
	data, _ := json.MarshalIndent(st, "", "  ")
	if err := writeFileAtomic(stampPath, append(data, '\n'), 0o644); err != nil {
		return img, fmt.Errorf("build image: %w", err)
	}
	o.Logf("hosts: image built in %s (%d MB)", img.Duration.Round(time.Second), img.Bytes>>20)
	pruneImages(o.Cache, root, o.Logf)
	return img, nil
}

func readStamp(path string) (imageStamp, bool) {
	var st imageStamp
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &st) != nil || st.Recipe != imageRecipe {
		return st, false
	}
	if fi, err := os.Stat(strings.TrimSuffix(path, ".stamp")); err != nil || !fi.IsDir() {
		return st, false
	}
	return st, true
}

// prepareImage turns a fresh debootstrap tree into the hosts' common image:
// no downloaded .debs, apt pointed at the local repository only (hosts have
// no route to a mirror), no service ever started by a maintainer script
// (the harness starts them), no shared SSH host keys (each host gets its
// own), no documentation (smaller image and faster upgrades).
func prepareImage(ctx context.Context, root string) error {
	rm := []string{"var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*",
		"etc/ssh/ssh_host_*", "usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*"}
	for _, pat := range rm {
		matches, _ := filepath.Glob(filepath.Join(root, pat))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("prepare image: %w", err)
			}
		}
	}
	files := []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"etc/apt/sources.list", "# Test hosts reach no mirror: only the harness's repository.\n" + RepoSourcesLine + "\n", 0o644},
		{"usr/sbin/policy-rc.d", "#!/bin/sh\n# testing/hosts: maintainer scripts never start services; the harness does.\nexit 101\n", 0o755},
		{"etc/dpkg/dpkg.cfg.d/escalator-test-nodoc", "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\npath-exclude=/usr/share/locale/*\n", 0o644},
		{"etc/hostname", "localhost\n", 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(root, f.path), []byte(f.data), f.mode); err != nil {
			return fmt.Errorf("prepare image: %w", err)
		}
	}
	for _, d := range []string{"srv/repo", "var/lib/escalator-test", "etc/escalator-test/services"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("prepare image: %w", err)
		}
	}
	// libvirt-daemon-system would create these, but it drags in polkit,
	// firewalld or iptables and a default network: the QEMU driver only
	// needs the account to exist even when qemu.conf says root.
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/libvirtd")); err == nil {
		for _, argv := range [][]string{
			{"groupadd", "--system", "kvm"},
			{"groupadd", "--system", "libvirt-qemu"},
			{"useradd", "--system", "--no-create-home", "--home-dir", "/var/lib/libvirt", "--gid", "kvm", "--shell", "/usr/sbin/nologin", "libvirt-qemu"},
		} {
			cmd := exec.CommandContext(ctx, "chroot", append([]string{root}, argv...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("prepare image: %s: %w: %s", strings.Join(argv, " "), err, bytesTail(out, 500))
			}
		}
	}
	return nil
}

// pruneImages removes the images of other include lists that no overlay
// mount uses any more, so that the cache does not grow with every change.
func pruneImages(cache, keep string, logf func(string, ...any)) {
	mounts, err := readMounts()
	if err != nil {
		return
	}
	old, _ := filepath.Glob(filepath.Join(cache, "rootfs-*"))
	for _, p := range old {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(p, ".stamp"), ".debootstrap.log"), ".build")
		if base == keep {
			continue
		}
		inUse := false
		for _, m := range mounts {
			if m.FSType == "overlay" && strings.Contains(m.Options, "lowerdir="+base) {
				inUse = true
			}
		}
		if !inUse {
			logf("hosts: removing unused image %s", p)
			_ = removeTree(p)
		}
	}
}

// MirrorFromAptSources returns the Debian mirror this machine's apt uses for
// suite (main component), from /etc/apt/sources.list and the .list and
// .sources files beside it, so debootstrap reaches the mirror apt reaches.
// It falls back to http://deb.debian.org/debian.
func MirrorFromAptSources(suite string) string {
	var files []string
	files = append(files, "/etc/apt/sources.list")
	for _, pat := range []string{"/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uri string
		if strings.HasSuffix(f, ".sources") {
			uri = mirrorFromDeb822(string(data), suite)
		} else {
			uri = mirrorFromOneLine(string(data), suite)
		}
		if uri != "" {
			return uri
		}
	}
	return "http://deb.debian.org/debian"
}

// mirrorFromOneLine reads the one-line format: "deb [options] uri suite comp...".
func mirrorFromOneLine(text, suite string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if !strings.HasPrefix(line, "deb ") && !strings.HasPrefix(line, "deb\t") {
			continue
		}
		rest := strings.TrimSpace(line[3:])
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) >= 3 && f[1] == suite && slices.Contains(f[2:], "main") {
			return f[0]
		}
	}
	return ""
}

// mirrorFromDeb822 reads the deb822 format: stanzas of Types, URIs, Suites,
// Components (and Enabled), separated by blank lines.
func mirrorFromDeb822(text, suite string) string {
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		var last string
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if (line[0] == ' ' || line[0] == '\t') && last != "" {
				fields[last] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
		if strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		if !slices.Contains(strings.Fields(fields["types"]), "deb") ||
			!slices.Contains(strings.Fields(fields["suites"]), suite) ||
			!slices.Contains(strings.Fields(fields["components"]), "main") {
			continue
		}
		if uris := strings.Fields(fields["uris"]); len(uris) > 0 {
			return uris[0]
		}
	}
	return ""
}

// runLogged runs a command with its output appended to logPath; on failure
// the error carries the end of the log. Cancelling ctx sends SIGTERM to its
// process group first, so debootstrap can unmount what it mounted.
func runLogged(ctx context.Context, logPath, name string, args ...string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, fileTail(logPath, 800))
	}
	return nil
}

// removeTree removes path, first unmounting anything still mounted below it
// (an interrupted debootstrap leaves proc and sys mounted in its target).
func removeTree(path string) error {
	if mounts, err := readMounts(); err == nil {
		for i := len(mounts) - 1; i >= 0; i-- {
			if m := mounts[i].Point; m == path || strings.HasPrefix(m, path+"/") {
				_ = syscall.Unmount(m, syscall.MNT_DETACH)
			}
		}
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
