package hostos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
	"github.com/escalator-nfv/escalator/plugins/hostos/remote"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Host attribute keys.
const (
	AttrAddress         = "address"
	AttrOS              = "os"
	AttrOSID            = "os_id"
	AttrOSVersion       = "os_version"
	AttrKernel          = "kernel"
	AttrBootID          = "boot_id"
	AttrRebootRequired  = "reboot_required"
	AttrRebootPackages  = "reboot_required_packages"
	AttrPackageManager  = "package_manager"
	AttrPackagePrefix   = "package:"
	AttrUnreachableWhy  = "unreachable"
	inventorySeparator  = "##escalator-hostos## "
	maintenanceFileName = "maintenance"
)

var hostAttributes = []sdk.HostAttribute{
	{Name: AttrAddress, Description: "The SSH address the provider uses (host:port)."},
	{Name: AttrOS, Description: "PRETTY_NAME of /etc/os-release, e.g. \"Debian GNU/Linux 12 (bookworm)\"."},
	{Name: AttrOSID, Description: "ID of /etc/os-release: debian, ubuntu, rhel, rocky …"},
	{Name: AttrOSVersion, Description: "VERSION_ID of /etc/os-release, e.g. \"12\"."},
	{Name: AttrKernel, Description: "The running kernel (uname -r)."},
	{Name: AttrBootID, Description: "The kernel's boot id: changes at every boot."},
	{Name: AttrRebootRequired, Description: "\"true\" when a package asked for a reboot (/run/reboot-required), else \"false\"."},
	{Name: AttrRebootPackages, Description: "The packages that asked for it (/run/reboot-required.pkgs), comma-separated."},
	{Name: AttrPackageManager, Description: "apt or dnf."},
	{Name: AttrPackagePrefix + "NAME", Description: "The state of each package a component names: its version, \"not installed\", or the version and a dpkg state such as \"1.1 (half-configured)\"."},
	{Name: AttrUnreachableWhy, Description: "Why the host could not be read, when it is reported down."},
}

// inventoryScript prints, in sections, everything ReadInventory reports
// about a host: one SSH round trip per host. ext, an Extension's script,
// runs before the package query, which may end the script (exit).
func inventoryScript(cfg *Config, names []string, ext string) string {
	sec := func(name string) string { return "echo '" + inventorySeparator + name + "'; " }
	var b strings.Builder
	b.WriteString(sec("os") + "cat /etc/os-release 2>/dev/null; ")
	b.WriteString(sec("kernel") + "uname -r; ")
	b.WriteString(sec("boot") + bootIDCommand + "; ")
	b.WriteString(sec("reboot") + "if [ -e /run/reboot-required ]; then echo yes; cat /run/reboot-required.pkgs 2>/dev/null; fi; ")
	b.WriteString(sec("maintenance") + "cat " + remote.Quote(cfg.StateDir+"/"+maintenanceFileName) + " 2>/dev/null; ")
	if ext != "" {
		b.WriteString(sec("ext") + "{ " + ext + "; }; ")
	}
	if cfg.PackageManager == "auto" {
		b.WriteString("pm=$(" + pkgs.DetectCommand + "); ")
	} else {
		b.WriteString("pm=" + cfg.PackageManager + "; ")
	}
	b.WriteString(sec("pm") + "echo $pm; ")
	if len(names) > 0 {
		b.WriteString(sec("packages") + "case $pm in apt) " + pkgs.Apt{}.Query(names) + " ;; dnf) " + pkgs.Dnf{}.Query(names) + " ;; esac")
	}
	return b.String()
}

// parseSections splits inventoryScript's output.
func parseSections(out string) map[string]string {
	sections := map[string]string{}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur != "" {
			sections[cur] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(line, inventorySeparator); ok {
			flush()
			cur = strings.TrimSpace(name)
			continue
		}
		b.WriteString(line)
	}
	flush()
	return sections
}

// parseOSRelease reads /etc/os-release (shell-style KEY=value).
func parseOSRelease(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = strings.ReplaceAll(v, `\"`, `"`)
	}
	return out
}

// componentVersion is what the inventory reports as a component's
// version: the first package's version when every package is installed
// at it; with a package left half-configured or at another version, a
// marked version that matches no target, so the plan upgrades it again.
// "" when the first package is not installed.
func componentVersion(packages []string, st map[string]pkgs.Installed) string {
	if len(packages) == 0 {
		return ""
	}
	first := st[packages[0]]
	if first.Version == "" || first.Status == pkgs.StatusConfigFiles || first.Status == pkgs.StatusNotInstalled {
		return ""
	}
	if !first.OK() {
		return first.Describe()
	}
	var odd []string
	for _, p := range packages[1:] {
		if in := st[p]; !in.OK() || in.Version != first.Version {
			odd = append(odd, p+" "+in.Describe())
		}
	}
	if len(odd) > 0 {
		return first.Version + " (mixed: " + strings.Join(odd, ", ") + ")"
	}
	return first.Version
}

// allPackages is every package any component names, sorted, once each.
func allPackages(cfg *Config) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range cfg.Components {
		for _, p := range list {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ReadInventory reads every host at once (bounded by max_parallel). A
// host that does not answer is reported down, with a warning; a host that
// answers but can't be read (its key not in known_hosts, our key refused)
// is an error: the inventory would otherwise quietly leave it out.
func (p *Provider) ReadInventory(ctx context.Context, _ sdk.ReadInventoryRequest, resp *sdk.ReadInventoryResponse) {
	cfg, ok := p.configured(&resp.Diagnostics)
	if !ok {
		return
	}
	names := allPackages(cfg)
	ext := ""
	if p.ext != nil {
		ext = p.ext.InventoryScript()
	}
	script := inventoryScript(cfg, names, ext)
	hosts := make([]sdk.Host, len(cfg.Names))
	errs := make([]error, len(cfg.Names))
	warnings := make([]string, len(cfg.Names))
	var wg sync.WaitGroup
	for i, name := range cfg.Names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, _ := p.host(cfg, name)
			hosts[i], warnings[i], errs[i] = h.inventory(ctx, script, names)
		}()
	}
	wg.Wait()
	resp.Hosts = hosts
	for i, w := range warnings {
		if w != "" {
			resp.Diagnostics.AddWarning("Host partly read", fmt.Sprintf("%s: %s.", cfg.Names[i], strings.TrimSuffix(w, ".")))
		}
	}
	for i, err := range errs {
		if err == nil {
			continue
		}
		var hk *remote.HostKeyError
		switch {
		case errors.As(err, &hk):
			resp.Diagnostics.AddError("Host key not trusted", err.Error()+".")
		case remote.Unreachable(err):
			resp.Diagnostics.AddWarning("Host unreachable", fmt.Sprintf("%s is reported down: %v.", cfg.Names[i], err))
		default:
			// Refused logins, sudo that asks for a password, a package
			// database that can't be read: the configuration or the host
			// is wrong, and an inventory without the host would hide it.
			resp.Diagnostics.AddError("Cannot read host", fmt.Sprintf("%s: %v.", cfg.Names[i], err))
		}
	}
}

// inventory reads one host. The host is always returned; it is down when
// err is not nil. warning is the extension's, about a host that answered.
func (h *host) inventory(ctx context.Context, script string, names []string) (_ sdk.Host, warning string, _ error) {
	out := sdk.Host{
		Name:             h.hc.Name,
		Role:             h.hc.Role,
		AvailabilityZone: h.hc.Zone,
		State:            sdk.HostUp,
		Versions:         map[string]string{},
		Attributes:       map[string]string{AttrAddress: h.t.Addr},
	}
	r, err := h.run(ctx, script, nil)
	if err != nil {
		out.State = sdk.HostDown
		out.StateReason = "unreachable over SSH"
		out.Attributes[AttrUnreachableWhy] = err.Error()
		return out, "", err
	}
	sec := parseSections(r.Stdout)
	if h.p.ext != nil {
		warning = h.p.ext.Facts(sec["ext"], &out)
	}
	osr := parseOSRelease(sec["os"])
	out.Attributes[AttrOS] = osr["PRETTY_NAME"]
	out.Attributes[AttrOSID] = osr["ID"]
	out.Attributes[AttrOSVersion] = osr["VERSION_ID"]
	out.Attributes[AttrKernel] = strings.TrimSpace(sec["kernel"])
	out.Attributes[AttrBootID] = strings.TrimSpace(sec["boot"])
	reboot := strings.Fields(sec["reboot"])
	out.Attributes[AttrRebootRequired] = fmt.Sprint(len(reboot) > 0)
	if len(reboot) > 1 {
		out.Attributes[AttrRebootPackages] = strings.Join(reboot[1:], ",")
	}
	if reason := strings.TrimSpace(sec["maintenance"]); reason != "" {
		out.State, out.StateReason = sdk.HostMaintenance, reason
	}
	pm := strings.TrimSpace(sec["pm"])
	out.Attributes[AttrPackageManager] = pm
	if len(names) == 0 {
		return out, warning, nil
	}
	m, err := pkgs.ByName(pm)
	if err != nil {
		out.State, out.StateReason = sdk.HostDown, "no supported package manager"
		return out, warning, fmt.Errorf("%s has neither dpkg/apt-get nor rpm/dnf (package_manager says %q): hostos can't read its packages", h.hc.Name, pm)
	}
	st, err := m.ParseQuery(sec["packages"], names)
	if err != nil {
		out.State, out.StateReason = sdk.HostDown, "package database unreadable"
		return out, warning, err
	}
	for _, n := range names {
		out.Attributes[AttrPackagePrefix+n] = st[n].Describe()
	}
	for comp, list := range h.cfg.Components {
		if v := componentVersion(list, st); v != "" {
			out.Versions[comp] = v
		}
	}
	h.p.mu.Lock()
	h.p.managers[h.hc.Name] = m
	h.p.mu.Unlock()
	return out, warning, nil
}
