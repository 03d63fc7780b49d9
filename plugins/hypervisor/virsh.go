package hypervisor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// virshTimeout bounds every virsh call: a libvirtd that hangs must not
// hang the inventory of a thousand hosts or a step (coreutils timeout, on
// every distribution hostos supports).
const virshTimeout = 20

// virsh is the command line of one virsh call against uri.
func virsh(uri string, args ...string) string {
	return fmt.Sprintf("timeout %d virsh -c %s %s", virshTimeout, quote(uri), strings.Join(args, " "))
}

// quote quotes s for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Markers of the inventory script's output.
const (
	markVersion = "@@version"
	markDomains = "@@domains"
	markRC      = "@@rc "
	markNoVirsh = "@@novirsh"
)

// inventoryScript prints the daemon's versions and the active domains,
// each followed by virsh's exit status, or that virsh is missing. The
// domain list is virsh's standard output only (a warning on its standard
// error must not read as a domain name), its standard error when it fails.
func inventoryScript(uri string) string {
	return "if command -v virsh >/dev/null 2>&1; then " +
		"echo " + markVersion + "; " + virsh(uri, "version", "--daemon") + " 2>&1; echo \"" + markRC + "$?\"; " +
		"t=$(mktemp) && { " + virsh(uri, "list", "--name") + " >\"$t\" 2>\"$t.err\"; rc=$?; echo " + markDomains + "; " +
		"if [ $rc -eq 0 ]; then cat \"$t\"; else cat \"$t.err\"; fi; echo \"" + markRC + "$rc\"; rm -f \"$t\" \"$t.err\"; }; " +
		"else echo " + markNoVirsh + "; fi"
}

// Versions is what `virsh version --daemon` says of the running daemon.
type Versions struct {
	// Libvirt is the daemon's version ("Running against daemon: 9.0.0").
	Libvirt string
	// Hypervisor is its driver and version ("Running hypervisor: QEMU
	// 7.2.0"): QEMU 7.2.0.
	Driver, Hypervisor string
}

var (
	daemonRE     = regexp.MustCompile(`(?m)^\s*Running against daemon:\s*(\S+)\s*$`)
	hypervisorRE = regexp.MustCompile(`(?m)^\s*Running hypervisor:\s*(\S+)\s+(\S+)\s*$`)
)

// ParseVersion reads `virsh version --daemon`. A daemon that answers
// always names its own version; the hypervisor line is missing when the
// driver has none to give.
func ParseVersion(out string) (Versions, error) {
	var v Versions
	m := daemonRE.FindStringSubmatch(out)
	if m == nil {
		return v, fmt.Errorf("virsh version printed no \"Running against daemon\" line: %s", brief(out))
	}
	v.Libvirt = m[1]
	if m := hypervisorRE.FindStringSubmatch(out); m != nil {
		v.Driver, v.Hypervisor = m[1], m[2]
	}
	return v, nil
}

// ParseDomains reads `virsh list --name`: one active (running, paused,
// …) domain per line, blank lines between none.
func ParseDomains(out string) []string {
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names
}

// section is one virsh call's output and exit status in the inventory
// script's output.
type section struct {
	out string
	rc  int
}

// parseInventory splits the inventory script's output. ok is false when
// the host has no virsh.
func parseInventory(out string) (version, domains section, ok bool) {
	if strings.Contains(out, markNoVirsh) {
		return section{}, section{}, false
	}
	cur := (*section)(nil)
	var b strings.Builder
	version.rc, domains.rc = -1, -1
	for _, l := range strings.SplitAfter(out, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == markVersion:
			cur = &version
			b.Reset()
		case t == markDomains:
			cur = &domains
			b.Reset()
		case strings.HasPrefix(t, markRC):
			if cur != nil {
				cur.out = b.String()
				if n, err := strconv.Atoi(strings.TrimPrefix(t, markRC)); err == nil {
					cur.rc = n
				}
			}
			cur = nil
		default:
			b.WriteString(l)
		}
	}
	return version, domains, true
}

// qemuNameRE finds the guest name on a QEMU command line: "-name
// guest=NAME,debug-threads=on" (libvirt) or "-name NAME".
var qemuNameRE = regexp.MustCompile(`(?:^|\s)-name\s+(?:guest=)?([^,\s]+)`)

// qemuGuests lists the guests of QEMU processes from `ps -eo args`
// lines: what runs when libvirtd can't say.
func qemuGuests(ps string) []string {
	var out []string
	for _, l := range strings.Split(ps, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.Contains(f[0], "qemu-system") && !strings.HasSuffix(f[0], "qemu-kvm") {
			continue
		}
		if m := qemuNameRE.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		} else {
			out = append(out, "(unnamed QEMU process)")
		}
	}
	return out
}

// psQEMU prints the command lines of QEMU processes.
const psQEMU = "ps -eo args= | grep -E '^[^ ]*(qemu-system|qemu-kvm)' || true"

// Upstream is the upstream part of a package version, as the daemon
// reports its own: no epoch, no Debian or RPM revision, no "+dfsg" or
// "~rc" suffix. "1:9.0.0-4+deb12u2+esc1" → "9.0.0"; "9.0.0-1.el9" →
// "9.0.0".
func Upstream(version string) string {
	v := version
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i]
	}
	if i := strings.IndexAny(v, "+~"); i > 0 {
		v = v[:i]
	}
	return v
}

// listNames is "a, b, c" for at most max names, then "and N more".
func listNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}

// brief is the start of a command's output, on one line, for messages.
func brief(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "(nothing)"
	}
	return s
}
