package hosts

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Rebuilt is one package AddRebuilt added: the original Debian version and
// the rebuilt one.
type Rebuilt struct {
	Original, Version string
}

// AddRebuilt gives real Debian packages an upgrade where Debian has none:
// for each "name=version" it adds the original .deb (downloaded as
// AddDebian does, so that a rollback can reinstall it) and a copy whose
// version is version+suffix, which sorts newer. The copy holds the very
// same files (real binaries, maintainer scripts, conffiles); only its
// control file changes: the version, and every exact dependency "(= v)"
// on a package of the same call rewritten to that package's new version
// (libvirt-daemon depends on libvirt0 (= 9.0.0-4+deb12u2)). So an upgrade
// to the rebuilt set replaces the binaries on disk, runs the maintainer
// scripts and needs its daemons restarted, like a Debian point release of
// a package that bookworm ships in one version only (libvirt). Rebuilt
// .debs are cached next to the downloads.
func (r *Repo) AddRebuilt(ctx context.Context, suffix string, specs ...string) (map[string]Rebuilt, error) {
	if !regexp.MustCompile(`^[+~.][A-Za-z0-9.+~]+$`).MatchString(suffix) {
		return nil, fmt.Errorf("rebuild %s: suffix %q: use a version fragment such as \"+esc1\"", strings.Join(specs, " "), suffix)
	}
	out := map[string]Rebuilt{}
	for _, s := range specs {
		name, ver, ok := strings.Cut(s, "=")
		if !ok || name == "" || ver == "" {
			return nil, fmt.Errorf("rebuild %q: give name=version", s)
		}
		out[name] = Rebuilt{Original: ver, Version: ver + suffix}
	}
	if err := r.AddDebian(ctx, specs...); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range specs {
		name, ver, _ := strings.Cut(s, "=")
		matches, _ := filepath.Glob(filepath.Join(r.debCache, name+"_"+strings.ReplaceAll(ver, ":", "%3a")+"_*.deb"))
		if len(matches) != 1 {
			return nil, fmt.Errorf("rebuild %s: want one downloaded .deb in %s, found %d", s, r.debCache, len(matches))
		}
		orig := matches[0]
		arch := strings.TrimSuffix(orig[strings.LastIndex(orig, "_")+1:], ".deb")
		file := fmt.Sprintf("%s_%s_%s.deb", name, strings.ReplaceAll(out[name].Version, ":", "%3a"), arch)
		cached := filepath.Join(r.debCache, "rebuilt", file)
		if _, err := os.Stat(cached); err != nil {
			if err := rebuildDeb(ctx, orig, cached, filepath.Join(r.build, "rebuild-"+name), out); err != nil {
				return nil, fmt.Errorf("rebuild %s: %w", s, err)
			}
		}
		if err := copyFile(cached, filepath.Join(r.Dir, file)); err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", s, err)
		}
	}
	return out, r.index(ctx)
}

// rebuildDeb extracts orig (as root, ownership kept), rewrites its
// control file for set and builds dst.
func rebuildDeb(ctx context.Context, orig, dst, tree string, set map[string]Rebuilt) error {
	if err := os.RemoveAll(tree); err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "--raw-extract", orig, tree).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb --raw-extract: %w: %s", err, bytesTail(b, 500))
	}
	ctl := filepath.Join(tree, "DEBIAN", "control")
	data, err := os.ReadFile(ctl)
	if err != nil {
		return err
	}
	text, err := rewriteControl(string(data), set)
	if err != nil {
		return err
	}
	if err := os.WriteFile(ctl, []byte(text), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	// gzip at level 1: these debs live in a cache and a local repository;
	// xz would cost seconds per package for nothing.
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "-Zgzip", "-z1", "--build", tree, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb --build: %w: %s", err, bytesTail(b, 500))
	}
	return os.Rename(tmp, dst)
}

// relationFields are the control fields whose exact versions are
// rewritten.
var relationFields = []string{"Depends", "Pre-Depends", "Recommends", "Suggests", "Breaks", "Replaces", "Conflicts"}

// rewriteControl sets the package's own Version and rewrites "(= v)" on
// packages of set to their new version. It fails when the package is not
// in set.
func rewriteControl(control string, set map[string]Rebuilt) (string, error) {
	lines := strings.Split(control, "\n")
	var pkg string
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "Package: "); ok {
			pkg = strings.TrimSpace(v)
		}
	}
	self, ok := set[pkg]
	if !ok {
		return "", fmt.Errorf("control file of %q, which is not among the packages rebuilt", pkg)
	}
	field := ""
	for i, l := range lines {
		if l == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			k, v, _ := strings.Cut(l, ":")
			field = k
			if k == "Version" {
				if strings.TrimSpace(v) != self.Original {
					return "", fmt.Errorf("%s is version %s, not %s", pkg, strings.TrimSpace(v), self.Original)
				}
				lines[i] = "Version: " + self.Version
				continue
			}
		}
		for _, f := range relationFields {
			if field != f {
				continue
			}
			for name, rb := range set {
				re := regexp.MustCompile(`(^|[\s,|:])` + regexp.QuoteMeta(name) + `(:[a-z0-9]+)?\s*\(=\s*` + regexp.QuoteMeta(rb.Original) + `\)`)
				lines[i] = re.ReplaceAllString(lines[i], "${1}"+name+"${2} (= "+rb.Version+")")
			}
		}
	}
	return strings.Join(lines, "\n"), nil
}
