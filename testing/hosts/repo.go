package hosts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// RepoSourcesLine is the apt source of every host: the harness's flat
// repository, bind-mounted read-only at /srv/repo.
const RepoSourcesLine = "deb [trusted=yes] file:/srv/repo ./"

// The test packages of the default repository.
const (
	// AgentPackage has versions 1.0, 1.1 and 1.2: a program, a conffile
	// (/etc/escalator-test-agent/agent.conf, changed in 1.2) and maintainer
	// scripts that log to /var/lib/escalator-test-agent/history. 1.2's
	// postinst asks for a reboot (/run/reboot-required), as a kernel does.
	AgentPackage = "escalator-test-agent"
	// BrokenPackage 1.0 has a postinst that always fails.
	BrokenPackage = "escalator-test-broken"
	// AgentConfig is the agent's conffile.
	AgentConfig = "/etc/escalator-test-agent/agent.conf"
	// AgentHistory is where the agent's maintainer scripts log what ran.
	AgentHistory = "/var/lib/escalator-test-agent/history"
)

// AgentVersions are the versions of AgentPackage in the default repository.
var AgentVersions = []string{"1.0", "1.1", "1.2"}

// FailPostinstDir holds, inside a host, one file per test package naming
// (one per line) the versions whose postinst must fail there: the fault
// injection Env.FailPostinst writes. It is outside the packages' config
// paths, so a config backup and restore does not carry it.
const FailPostinstDir = "/var/lib/escalator-test/fail-postinst"

// A Package is a tiny Debian binary package the harness builds.
type Package struct {
	Name, Version string
	Architecture  string // default "all"
	Depends       string // the Depends field, as written in a control file
	Description   string
	// Files maps absolute paths in the package to their content. Files
	// under /etc are conffiles, as debhelper makes them.
	Files map[string]File
	// Maintainer scripts (whole shell scripts, with #!); empty means none.
	Preinst, Postinst, Prerm, Postrm string
}

// A File is one file of a Package.
type File struct {
	Data string
	Mode os.FileMode // default 0644
}

// Filename is the package's file name in the repository.
func (p Package) Filename() string {
	return fmt.Sprintf("%s_%s_%s.deb", p.Name, p.Version, p.arch())
}

func (p Package) arch() string {
	if p.Architecture == "" {
		return "all"
	}
	return p.Architecture
}

// DefaultPackages returns the test packages every environment's repository
// holds: AgentPackage at AgentVersions and BrokenPackage 1.0.
func DefaultPackages() []Package {
	var out []Package
	for _, v := range AgentVersions {
		out = append(out, agentPackage(v))
	}
	out = append(out, Package{
		Name: BrokenPackage, Version: "1.0",
		Description: "escalator test package whose postinst always fails",
		Files:       map[string]File{"/usr/share/escalator-test-broken/README": {Data: "installed but never configured\n"}},
		Postinst:    "#!/bin/sh\necho \"" + BrokenPackage + " 1.0: postinst fails on purpose\" >&2\nexit 1\n",
	})
	return out
}

func agentPackage(v string) Package {
	conf := "# escalator-test-agent configuration\nlisten = 127.0.0.1:7070\n"
	latest := v == AgentVersions[len(AgentVersions)-1]
	if latest {
		// A changed conffile: dpkg asks what to do when the admin edited
		// it, unless told (--force-confold / --force-confdef).
		conf += "workers = 4\n"
	}
	history := `mkdir -p /var/lib/escalator-test-agent
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $(basename "$0" | sed 's/.*\.//') $* VERSION" >>` + AgentHistory + "\n"
	postinst := `#!/bin/sh
set -e
fail=` + FailPostinstDir + `/` + AgentPackage + `
if [ "$1" = configure ] && [ -f "$fail" ] && grep -qx "VERSION" "$fail"; then
	echo "` + AgentPackage + ` VERSION: postinst fails (injected by $fail)" >&2
	exit 1
fi
` + history
	if latest {
		postinst += "touch /run/reboot-required\necho " + AgentPackage + " >>/run/reboot-required.pkgs\n"
	}
	return Package{
		Name: AgentPackage, Version: v,
		Description: "escalator test agent (a program, a conffile and maintainer scripts)",
		Files: map[string]File{
			"/usr/bin/escalator-test-agent": {Data: "#!/bin/sh\necho \"escalator-test-agent " + v + "\"\n", Mode: 0o755},
			AgentConfig:                     {Data: conf},
		},
		Postinst: strings.ReplaceAll(postinst, "VERSION", v),
		Prerm:    "#!/bin/sh\nset -e\n" + strings.ReplaceAll(history, "VERSION", v),
	}
}

// Repo is the local flat apt repository the hosts see at /srv/repo.
type Repo struct {
	Dir string // on the machine; bind-mounted read-only into every host

	mu       sync.Mutex
	build    string // scratch directory for package trees
	debCache string // where AddDebian keeps downloaded .debs
}

func newRepo(dir, build, debCache string) (*Repo, error) {
	for _, d := range []string{dir, build} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("repository: %w", err)
		}
	}
	// apt in a host reads it as _apt: the directory itself must be
	// world-readable even when the environment's directory is not.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("repository: %w", err)
	}
	return &Repo{Dir: dir, build: build, debCache: debCache}, nil
}

// Add builds the packages with dpkg-deb and reindexes the repository.
// Hosts see them after their next apt-get update.
func (r *Repo) Add(ctx context.Context, pkgs ...Package) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pkgs {
		if err := r.buildDeb(ctx, p); err != nil {
			return err
		}
	}
	return r.index(ctx)
}

func (r *Repo) buildDeb(ctx context.Context, p Package) error {
	if p.Name == "" || p.Version == "" {
		return fmt.Errorf("build package %q %q: a package needs a name and a version", p.Name, p.Version)
	}
	tree := filepath.Join(r.build, p.Name+"_"+p.Version)
	if err := os.RemoveAll(tree); err != nil {
		return fmt.Errorf("build %s: %w", p.Filename(), err)
	}
	desc := p.Description
	if desc == "" {
		desc = "escalator test package"
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: escalator tests <escalator-tests@localhost>\nSection: misc\nPriority: optional\n",
		p.Name, p.Version, p.arch())
	if p.Depends != "" {
		control += "Depends: " + p.Depends + "\n"
	}
	control += "Description: " + desc + "\n"
	write := func(rel, data string, mode os.FileMode) error {
		full := filepath.Join(tree, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, []byte(data), mode)
	}
	if err := write("DEBIAN/control", control, 0o644); err != nil {
		return fmt.Errorf("build %s: %w", p.Filename(), err)
	}
	var conffiles []string
	for name, f := range p.Files {
		if !path.IsAbs(name) || strings.Contains(name, "..") {
			return fmt.Errorf("build %s: file %q: paths in a package are absolute and clean", p.Filename(), name)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := write(name, f.Data, mode); err != nil {
			return fmt.Errorf("build %s: %w", p.Filename(), err)
		}
		// os.WriteFile honours the umask; dpkg-deb records the mode as is.
		if err := os.Chmod(filepath.Join(tree, filepath.FromSlash(name)), mode); err != nil {
			return fmt.Errorf("build %s: %w", p.Filename(), err)
		}
		if strings.HasPrefix(name, "/etc/") {
			conffiles = append(conffiles, name)
		}
	}
	if len(conffiles) > 0 {
		sort.Strings(conffiles)
		if err := write("DEBIAN/conffiles", strings.Join(conffiles, "\n")+"\n", 0o644); err != nil {
			return fmt.Errorf("build %s: %w", p.Filename(), err)
		}
	}
	for name, script := range map[string]string{"preinst": p.Preinst, "postinst": p.Postinst, "prerm": p.Prerm, "postrm": p.Postrm} {
		if script == "" {
			continue
		}
		if err := write("DEBIAN/"+name, script, 0o755); err != nil {
			return fmt.Errorf("build %s: %w", p.Filename(), err)
		}
		if err := os.Chmod(filepath.Join(tree, "DEBIAN", name), 0o755); err != nil {
			return fmt.Errorf("build %s: %w", p.Filename(), err)
		}
	}
	out := filepath.Join(r.Dir, p.Filename())
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: dpkg-deb: %w: %s", p.Filename(), err, bytesTail(b, 500))
	}
	return nil
}

// index writes Packages (every version: --multiversion) and a Release file
// listing its checksum, so apt accepts the repository without warnings.
func (r *Repo) index(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "dpkg-scanpackages", "--multiversion", ".", "/dev/null")
	cmd.Dir = r.Dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if _, lerr := exec.LookPath("dpkg-scanpackages"); lerr != nil {
			return fmt.Errorf("index repository: dpkg-scanpackages is not installed (run testing/hosts/install.sh)")
		}
		return fmt.Errorf("index repository %s: dpkg-scanpackages: %w: %s", r.Dir, err, bytesTail([]byte(stderr.String()), 500))
	}
	sum := sha256.Sum256(out)
	release := fmt.Sprintf("Origin: escalator-test\nLabel: escalator-test\nSuite: escalator-test\nCodename: escalator-test\nDate: %s\nSHA256:\n %s %d Packages\n",
		time.Now().UTC().Format(time.RFC1123), hex.EncodeToString(sum[:]), len(out))
	// Packages first, Release last: a host that reads the new Release
	// finds the Packages it describes.
	if err := writeFileAtomic(filepath.Join(r.Dir, "Packages"), out, 0o644); err != nil {
		return fmt.Errorf("index repository: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(r.Dir, "Release"), []byte(release), 0o644); err != nil {
		return fmt.Errorf("index repository: %w", err)
	}
	return nil
}

// AddDebian downloads real Debian packages ("name=version", as apt-get
// takes them) with this machine's apt into the repository, so that hosts,
// which reach no mirror, can install or upgrade them: e.g. a newer tzdata
// or qemu-system-x86 from bookworm-security. Downloads are cached next to
// the image. List every package the new version needs that the image lacks
// at the right version (e.g. qemu-system-common with qemu-system-x86).
func (r *Repo) AddDebian(ctx context.Context, specs ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(r.debCache, 0o755); err != nil {
		return fmt.Errorf("download %s: %w", strings.Join(specs, " "), err)
	}
	// apt-get download drops privileges to _apt where it can.
	_ = exec.CommandContext(ctx, "chown", "_apt", r.debCache).Run()
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", "-y")
	cmd.Args = append(cmd.Args, specs...)
	cmd.Dir = r.debCache
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("download %s: apt-get download: %w: %s (check the versions with apt-cache madison, after apt-get update)",
			strings.Join(specs, " "), err, bytesTail(out, 600))
	}
	for _, s := range specs {
		name, ver, _ := strings.Cut(s, "=")
		// apt-get download names files name_version_arch.deb with the
		// epoch's colon escaped as %3a.
		pat := name + "_" + strings.ReplaceAll(ver, ":", "%3a") + "_*.deb"
		if ver == "" {
			pat = name + "_*.deb"
		}
		matches, _ := filepath.Glob(filepath.Join(r.debCache, pat))
		if len(matches) == 0 {
			return fmt.Errorf("download %s: no %s in %s after apt-get download", s, pat, r.debCache)
		}
		for _, m := range matches {
			dst := filepath.Join(r.Dir, filepath.Base(m))
			if err := copyFile(m, dst); err != nil {
				return fmt.Errorf("download %s: %w", s, err)
			}
		}
	}
	return r.index(ctx)
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFileAtomic(dst, data, 0o644)
}

// DebianVersions returns the versions of a Debian package that this
// machine's apt knows (apt-cache madison), newest first, for tests that
// pick a real upgrade without hard-coding a version the mirror may drop.
func DebianVersions(ctx context.Context, pkg string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "madison", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache madison %s: %w (run apt-get update first)", pkg, err)
	}
	var vs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 3 {
			continue
		}
		v := strings.TrimSpace(f[1])
		if v != "" && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return vs, nil
}
