// Package hypervisor is the hypervisor provider: libvirt and QEMU on
// hosts reached over SSH. It is the hostos provider (plugins/hostos)
// extended: the same SSH connections, pinned package installs, service
// restarts, reboots, backups and rollbacks, plus what a hypervisor needs:
// the running daemon's versions and active domains in the inventory,
// every change disruption "host", an upgrade or rollback refused while a
// guest runs on the host, and a verification that libvirtd answers with
// the version of the packages installed. See
// website/docs/providers/hypervisor.md.
//
// It talks to libvirt with virsh over SSH, not with a libvirt RPC client
// over a forwarded socket: virsh is installed wherever libvirtd is
// (libvirt-clients), works through hostos's jump host and sudo, and keeps
// one connection and one deadline per host.
package hypervisor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/hostos"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Name and Version of the provider.
const (
	Name    = "hypervisor"
	Version = "0.1.0"
)

// Defaults of the provider block's own attributes.
const (
	DefaultURI      = "qemu:///system"
	DefaultPackage  = "libvirt-daemon"
	DefaultService  = "libvirtd"
	DefaultStateDir = "/var/lib/escalator-hypervisor"
)

// Host attributes the provider adds to hostos's.
const (
	AttrLibvirtVersion = "libvirt_version"
	AttrHypervisor     = "hypervisor"
	AttrDomains        = "domains"
	AttrDomainCount    = "domain_count"
	AttrLibvirtError   = "libvirt_error"
)

// maxNamed is how many domains a message names before "and N more".
const maxNamed = 10

// New returns an unconfigured hypervisor provider.
func New() *hostos.Provider { return hostos.NewWith(&extension{}) }

// Settings are the provider block's own attributes, decoded.
type Settings struct {
	URI     string
	Package string
}

// extension is what the hypervisor adds to hostos.
type extension struct {
	mu  sync.Mutex
	cfg Settings
}

var _ hostos.Extension = (*extension)(nil)

func (e *extension) Info() hostos.ExtensionInfo {
	return hostos.ExtensionInfo{
		Name: Name, Version: Version,
		Description: "The hypervisor of hosts reached over SSH (libvirt and QEMU): hostos's packages, reboots and backups, plus the running daemon's versions and domains; never upgraded under a running guest.",
		Attributes: []sdk.Attribute{
			{Name: "libvirt_uri", Type: cty.String, Description: "The libvirt connection virsh uses on each host. Default \"" + DefaultURI + "\"."},
			{Name: "libvirt_package", Type: cty.String, Description: "The package whose upstream version the running libvirtd must report after an upgrade or rollback (it proves the daemon was restarted onto the new binaries). Default \"" + DefaultPackage + "\"; \"\" skips the comparison."},
		},
		HostAttributes: []sdk.HostAttribute{
			{Name: AttrLibvirtVersion, Description: "The running libvirtd's version (virsh version --daemon), e.g. \"9.0.0\"."},
			{Name: AttrHypervisor, Description: "The hypervisor libvirtd drives and its version, e.g. \"QEMU 7.2.0\"."},
			{Name: AttrDomains, Description: "The active (running or paused) domains, comma-separated."},
			{Name: AttrDomainCount, Description: "How many domains are active."},
			{Name: AttrLibvirtError, Description: "Why libvirtd could not be read, when it could not."},
		},
		StateDir:        DefaultStateDir,
		DefaultServices: []string{DefaultService},
		HostDisruption:  true,
	}
}

func decode(block cty.Value) (Settings, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	s := Settings{URI: DefaultURI, Package: DefaultPackage}
	str := func(name string, dst *string) {
		v := getAttr(block, name)
		if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
			return
		}
		if !v.Type().Equals(cty.String) {
			diags = append(diags, sdk.Diagnostic{Severity: sdk.Error, Summary: "Invalid " + name, Detail: name + " must be a string.", Attribute: cty.GetAttrPath(name)})
			return
		}
		*dst = v.AsString()
	}
	str("libvirt_uri", &s.URI)
	str("libvirt_package", &s.Package)
	if strings.TrimSpace(s.URI) == "" || strings.ContainsAny(s.URI, "\n\x00") {
		diags = append(diags, sdk.Diagnostic{Severity: sdk.Error, Summary: "Invalid libvirt_uri", Detail: fmt.Sprintf("%q is not a libvirt URI: use one such as %q.", s.URI, DefaultURI), Attribute: cty.GetAttrPath("libvirt_uri")})
	}
	if strings.ContainsAny(s.Package, " \t\n'\"\\$`;|&") {
		diags = append(diags, sdk.Diagnostic{Severity: sdk.Error, Summary: "Invalid libvirt_package", Detail: fmt.Sprintf("%q is not a package name: use one such as %q.", s.Package, DefaultPackage), Attribute: cty.GetAttrPath("libvirt_package")})
	}
	return s, diags
}

// getAttr returns a block's attribute, or cty.NilVal.
func getAttr(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return cty.NilVal
	}
	switch t := v.Type(); {
	case t.IsObjectType() && t.HasAttribute(name):
		return v.GetAttr(name)
	case t.IsMapType() && v.HasIndex(cty.StringVal(name)).True():
		return v.Index(cty.StringVal(name))
	}
	return cty.NilVal
}

func (e *extension) ValidateConfig(block cty.Value) sdk.Diagnostics {
	_, diags := decode(block)
	return diags
}

func (e *extension) Configure(block cty.Value) sdk.Diagnostics {
	s, diags := decode(block)
	if !diags.HasErrors() {
		e.mu.Lock()
		e.cfg = s
		e.mu.Unlock()
	}
	return diags
}

func (e *extension) settings() Settings {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.URI == "" {
		return Settings{URI: DefaultURI, Package: DefaultPackage}
	}
	return e.cfg
}

func (e *extension) InventoryScript() string { return inventoryScript(e.settings().URI) }

// Facts reports the daemon's versions and active domains. A host whose
// libvirtd does not answer stays in the inventory (its packages can still
// be planned) with a warning: the upgrade itself checks again.
func (e *extension) Facts(out string, h *sdk.Host) string {
	version, domains, ok := parseInventory(out)
	if !ok {
		h.Attributes[AttrLibvirtError] = "virsh is not installed"
		return "virsh is not installed, so libvirt could not be read: install libvirt-clients (the hypervisor provider refuses to upgrade a host it can't see the guests of)"
	}
	var problems []string
	if version.rc == 0 {
		if v, err := ParseVersion(version.out); err == nil {
			h.Attributes[AttrLibvirtVersion] = v.Libvirt
			if v.Hypervisor != "" {
				h.Attributes[AttrHypervisor] = v.Driver + " " + v.Hypervisor
			}
		} else {
			problems = append(problems, err.Error())
		}
	} else {
		problems = append(problems, fmt.Sprintf("virsh version failed (exit %d): %s", version.rc, brief(version.out)))
	}
	if domains.rc == 0 {
		names := ParseDomains(domains.out)
		h.Attributes[AttrDomains] = strings.Join(names, ",")
		h.Attributes[AttrDomainCount] = strconv.Itoa(len(names))
	} else {
		problems = append(problems, fmt.Sprintf("virsh list failed (exit %d): %s", domains.rc, brief(domains.out)))
	}
	if len(problems) == 0 {
		return ""
	}
	msg := "libvirtd did not answer (" + strings.Join(problems, "; ") + ")"
	h.Attributes[AttrLibvirtError] = msg
	return msg + "; its versions and domains are unknown"
}

// BeforeChange refuses to change the hypervisor under a running guest:
// replacing QEMU or libvirtd, and above all the reboot a kernel or QEMU
// update may bring, would take the guest down. When libvirtd does not
// answer, the QEMU processes say whether guests run.
func (e *extension) BeforeChange(ctx context.Context, sh hostos.Shell, req sdk.ExecuteActionRequest) error {
	uri := e.settings().URI
	// Standard output only: a warning on standard error is no domain.
	out, err := sh.Output(ctx, virsh(uri, "list", "--name"))
	if err == nil {
		if names := ParseDomains(out); len(names) > 0 {
			return refusal(sh.Host(), req, names, "")
		}
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	ps, perr := sh.Output(ctx, psQEMU)
	if perr != nil {
		return fmt.Errorf("libvirtd on %s does not answer (%v) and its QEMU processes could not be listed (%v): the %s is not changed without knowing whether guests run there; fix libvirtd (or SSH) and resume the apply", sh.Host(), err, perr, what(req))
	}
	if guests := qemuGuests(ps); len(guests) > 0 {
		return refusal(sh.Host(), req, guests, fmt.Sprintf(" (libvirtd does not answer: %v; these are its QEMU processes)", err))
	}
	return nil
}

func what(req sdk.ExecuteActionRequest) string {
	switch req.Kind {
	case sdk.ActionRollback:
		return "rollback of " + req.Component
	case sdk.ActionRestore:
		return "restore of " + req.Component
	}
	return "upgrade of " + req.Component
}

func refusal(host string, req sdk.ExecuteActionRequest, names []string, why string) error {
	noun := "domains"
	if len(names) == 1 {
		noun = "domain"
	}
	return fmt.Errorf("%s still runs %d %s (%s)%s: the %s is refused, a hypervisor is never changed under running guests; have them moved off (the provider that owns the instances evacuates the host) or shut them down, then resume the apply",
		host, len(names), noun, listNames(names, maxNamed), why, what(req))
}

// Verify checks that libvirtd answers and runs the installed version:
// after an upgrade whose restart did not happen (or failed), the old
// daemon would still answer from deleted binaries.
func (e *extension) Verify(ctx context.Context, sh hostos.Shell, req sdk.ExecuteActionRequest) error {
	s := e.settings()
	out, err := sh.Output(ctx, virsh(s.URI, "version", "--daemon")+" 2>&1")
	if err != nil {
		return fmt.Errorf("libvirtd on %s does not answer: %w", sh.Host(), err)
	}
	v, err := ParseVersion(out)
	if err != nil {
		return fmt.Errorf("libvirtd on %s: %w", sh.Host(), err)
	}
	if s.Package == "" {
		return nil
	}
	st, err := sh.Installed(ctx, s.Package)
	if err != nil {
		return err
	}
	in := st[s.Package]
	if !in.OK() {
		return nil // not installed this way (another package name): nothing to compare
	}
	if want := Upstream(in.Version); v.Libvirt != want {
		return fmt.Errorf("libvirtd on %s runs version %s but %s %s is installed (upstream %s): the daemon was not restarted onto the new binaries; restart %s and verify again",
			sh.Host(), v.Libvirt, s.Package, in.Version, want, DefaultService)
	}
	return nil
}
