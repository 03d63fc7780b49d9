// Package pkgs builds the package manager commands the hostos provider
// runs on a host, and parses what they print: dpkg-query and apt-get on
// Debian and Ubuntu, rpm and dnf on RHEL and its kin. It runs nothing
// itself, so every command line is unit-tested as a string.
package pkgs

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Spec is a package at an exact version.
type Spec struct {
	Name, Version string
}

func (s Spec) String() string { return s.Name + "=" + s.Version }

// Package states, as Installed.Status reports them. Only StatusInstalled
// counts as installed at its version; the others are what dpkg leaves
// after a failure (or a removal that kept the configuration).
const (
	StatusInstalled       = "installed"
	StatusNotInstalled    = "not-installed"
	StatusConfigFiles     = "config-files"
	StatusHalfInstalled   = "half-installed"
	StatusUnpacked        = "unpacked"
	StatusHalfConfigured  = "half-configured"
	StatusTriggersAwaited = "triggers-awaited"
	StatusTriggersPending = "triggers-pending"
)

// Installed is what the package database says about one package.
type Installed struct {
	Name string
	// Version is the version in the database, even for a package dpkg
	// left half-configured; "" when not installed at all.
	Version string
	Status  string
	// Held is set when the package is on hold (apt-mark hold): apt
	// refuses to change it without --allow-change-held-packages.
	Held bool
}

// OK reports whether the package is fully installed (configured).
func (i Installed) OK() bool { return i.Status == StatusInstalled }

// Describe is the state for messages and inventory: "1.1", "1.1
// (half-configured)", "not installed".
func (i Installed) Describe() string {
	switch {
	case i.Status == StatusInstalled:
		return i.Version
	case i.Version == "" || i.Status == StatusNotInstalled || i.Status == StatusConfigFiles:
		return "not installed"
	default:
		return i.Version + " (" + i.Status + ")"
	}
}

// Manager is one package manager.
type Manager interface {
	// Name is "apt" or "dnf".
	Name() string
	// Query is a command that prints the state of pkgs, one line each
	// that the database knows, and fails only when the database can't
	// be read.
	Query(pkgs []string) string
	// ParseQuery reads Query's output. Every package asked for is in the
	// result; one the database does not know is not installed.
	ParseQuery(out string, pkgs []string) (map[string]Installed, error)
	// Refresh updates the package lists ("" when the manager needs no
	// separate step).
	Refresh() string
	// Install installs exactly these versions, keeping configuration
	// files the administrator changed; allowDowngrades lets it go back.
	Install(specs []Spec, allowDowngrades bool) string
	// Interrupted reports whether a failed command's output says that an
	// earlier run of the package manager was interrupted and must be
	// finished (Repair) before anything else can be installed.
	Interrupted(output string) bool
	// Repair finishes an interrupted run.
	Repair() string
}

// ByName returns the manager called name ("apt" or "dnf").
func ByName(name string) (Manager, error) {
	switch name {
	case "apt":
		return Apt{}, nil
	case "dnf":
		return Dnf{}, nil
	}
	return nil, fmt.Errorf("unknown package manager %q: use \"apt\" or \"dnf\"", name)
}

// DetectCommand prints "apt", "dnf" or "none": which manager the host has.
const DetectCommand = `if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then echo apt; elif command -v rpm >/dev/null 2>&1 && command -v dnf >/dev/null 2>&1; then echo dnf; else echo none; fi`

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+._-]*$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+~:_-]*$`)
)

// CheckName says what is wrong with a package name, or nil. Names are
// checked before they reach a command line (as well as quoted there).
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%q is not a package name: use letters, digits and + . _ -, starting with a letter or digit", name)
	}
	return nil
}

// CheckVersion says what is wrong with a version, or nil.
func CheckVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("%q is not a package version: use letters, digits and . + ~ : _ -, as in 2:26.2.2-1~deb12u5", v)
	}
	return nil
}

// quote quotes words for a POSIX shell (package names and versions are
// checked, but quoting costs nothing).
func quote(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:+,@%~") == "" {
			q[i] = w
		} else {
			q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

func specWords(specs []Spec, sep string) []string {
	words := make([]string, len(specs))
	for i, s := range specs {
		words[i] = s.Name + sep + s.Version
	}
	return words
}

// Apt is dpkg-query and apt-get.
type Apt struct{}

// Name is "apt".
func (Apt) Name() string { return "apt" }

// aptLockTimeout is how long apt waits for another apt or dpkg (an
// unattended-upgrades run, or our own earlier attempt cut short) rather
// than failing at once.
const aptLockTimeout = "300"

// Query prints name, version and the three-letter status (desired, state,
// error) of each package dpkg knows. dpkg-query exits 1 when some are
// unknown, which is an answer, not a failure.
func (Apt) Query(pkgs []string) string {
	return "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' -- " + quote(pkgs...) + " 2>/dev/null; rc=$?; [ $rc -le 1 ] || { echo \"dpkg-query failed with status $rc\" >&2; exit $rc; }"
}

// dpkgStates maps the second letter of db:Status-Abbrev to the state.
var dpkgStates = map[byte]string{
	'n': StatusNotInstalled,
	'c': StatusConfigFiles,
	'H': StatusHalfInstalled,
	'U': StatusUnpacked,
	'F': StatusHalfConfigured,
	'W': StatusTriggersAwaited,
	't': StatusTriggersPending,
	'i': StatusInstalled,
}

// ParseQuery reads Query's lines. A package with several architectures
// installed is reported by its first fully installed line.
func (Apt) ParseQuery(out string, pkgs []string) (map[string]Installed, error) {
	res := make(map[string]Installed, len(pkgs))
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || len(f[2]) < 2 {
			return nil, fmt.Errorf("unexpected dpkg-query line %q: want package, version and status", line)
		}
		state, ok := dpkgStates[f[2][1]]
		if !ok {
			return nil, fmt.Errorf("unexpected dpkg status %q for %s", f[2], f[0])
		}
		in := Installed{Name: f[0], Version: f[1], Status: state, Held: f[2][0] == 'h'}
		if state == StatusNotInstalled {
			in.Version = ""
		}
		if prev, seen := res[in.Name]; seen && prev.OK() {
			continue
		}
		res[in.Name] = in
	}
	fillMissing(res, pkgs)
	return res, nil
}

func fillMissing(res map[string]Installed, pkgs []string) {
	for _, p := range pkgs {
		if _, ok := res[p]; !ok {
			res[p] = Installed{Name: p, Status: StatusNotInstalled}
		}
	}
}

// Refresh is apt-get update.
func (Apt) Refresh() string {
	return "apt-get -q -o DPkg::Lock::Timeout=" + aptLockTimeout + " update"
}

// Install is a non-interactive apt-get install of exact versions.
// --force-confold keeps a configuration file the administrator changed
// when the package ships a new one (the new one lands next to it as
// .dpkg-dist); without it dpkg would ask, and with no terminal, fail.
func (Apt) Install(specs []Spec, allowDowngrades bool) string {
	cmd := "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=" + aptLockTimeout + " -o Dpkg::Options::=--force-confold"
	if allowDowngrades {
		cmd += " --allow-downgrades"
	}
	return cmd + " install " + quote(specWords(specs, "=")...)
}

// Interrupted matches apt's "dpkg was interrupted, you must manually run
// 'dpkg --configure -a'".
func (Apt) Interrupted(output string) bool {
	return strings.Contains(output, "dpkg was interrupted")
}

// Repair finishes what dpkg was doing when it was interrupted.
func (Apt) Repair() string {
	return "DEBIAN_FRONTEND=noninteractive dpkg --force-confold --configure -a"
}

// Dnf is rpm and dnf.
type Dnf struct{}

// Name is "dnf".
func (Dnf) Name() string { return "dnf" }

// Query prints name and epoch:version-release of each installed package;
// rpm says "package X is not installed" for the others and exits with
// their number, which is an answer, not a failure.
func (Dnf) Query(pkgs []string) string {
	return "command -v rpm >/dev/null || { echo 'rpm not found' >&2; exit 127; }; rpm -q --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n' -- " + quote(pkgs...) + "; exit 0"
}

// ParseQuery reads Query's lines. The epoch 0 is dropped, as dnf writes
// versions ("1.2-3", not "0:1.2-3").
func (Dnf) ParseQuery(out string, pkgs []string) (map[string]Installed, error) {
	res := make(map[string]Installed, len(pkgs))
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "package ") && strings.HasSuffix(line, " is not installed") {
			continue
		}
		name, ver, ok := strings.Cut(line, "\t")
		if !ok || name == "" || ver == "" {
			return nil, fmt.Errorf("unexpected rpm line %q: want package and version", line)
		}
		ver = strings.TrimPrefix(ver, "0:")
		if _, seen := res[name]; !seen {
			res[name] = Installed{Name: name, Version: ver, Status: StatusInstalled}
		}
	}
	fillMissing(res, pkgs)
	return res, nil
}

// Refresh is dnf makecache: dnf refreshes expired metadata by itself, but
// a failing repository is then reported by its own step.
func (Dnf) Refresh() string { return "dnf -q -y makecache" }

// Install is dnf install of exact versions (name-[epoch:]version-release).
// dnf keeps changed configuration files by itself (.rpmnew). With
// allowDowngrades, packages a plain install does not take back are
// downgraded in a second transaction.
func (Dnf) Install(specs []Spec, allowDowngrades bool) string {
	words := quote(specWords(specs, "-")...)
	cmd := "dnf -y install " + words
	if allowDowngrades {
		cmd += " || dnf -y downgrade " + words
	}
	return cmd
}

// Interrupted is always false: an rpm transaction cut short is rolled
// back by rpm itself, there is nothing to finish.
func (Dnf) Interrupted(string) bool { return false }

// Repair is never needed (see Interrupted).
func (Dnf) Repair() string { return "true" }

// SortedNames returns the keys of m in order, for stable output.
func SortedNames(m map[string]Installed) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
