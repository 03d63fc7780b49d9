package hosts

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// qemuConf lets libvirt run QEMU in a host that has no systemd, no
// cgroup hierarchy of its own and no security module: QEMU as root, no
// private /dev per domain (it would not see /dev/kvm), domain logs to
// files instead of virtlogd (one daemon less to run).
const qemuConf = `# testing/hosts: libvirt in a namespace host without systemd.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
`

// libvirtdConf logs to a file in the host and gives each host its own
// UUID (libvirt would otherwise read the machine's SMBIOS, the same for
// every host, and refuse a migration between two of them).
func libvirtdConf(h *host) string {
	return `# testing/hosts
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
host_uuid = "` + newUUID() + `"
`
}

// virsh runs virsh against the host's libvirtd.
func (e *Env) virsh(ctx context.Context, i int, args ...string) (string, error) {
	out, err := e.Exec(ctx, i, append([]string{"virsh", "-c", "qemu:///system"}, args...)...)
	return string(out), err
}

// WaitLibvirt waits until host i's libvirtd answers (virsh version).
func (e *Env) WaitLibvirt(ctx context.Context, i int) error {
	h, err := e.host(i)
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	start := time.Now()
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := e.virsh(actx, i, "version")
		acancel()
		if err == nil {
			return nil
		}
		// A libvirtd that exited will not answer later: say why now.
		_, dead := e.Exec(ctx, i, "systemctl", "is-active", "--quiet", "libvirtd")
		if dead == nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		return fmt.Errorf("hosts: libvirtd on %s did not answer within %s: %v; %s ends with: %s; %s ends with: %s",
			h.Name, time.Since(start).Round(time.Millisecond), err,
			h.Path("/var/log/escalator-test/libvirtd.log"), fileTail(h.Path("/var/log/escalator-test/libvirtd.log"), 300),
			h.Path("/var/log/libvirt/libvirtd.log"), fileTail(h.Path("/var/log/libvirt/libvirtd.log"), 600))
	}
}

var domainNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// DomainXML is a diskless domain: SeaBIOS finds nothing to boot and waits,
// which is all a test of "running domains" needs. KVM when the machine has
// /dev/kvm, else QEMU's emulator.
func DomainXML(name string, kvm bool) string {
	typ := "qemu"
	if kvm {
		typ = "kvm"
	}
	return `<domain type="` + typ + `">
  <name>` + name + `</name>
  <memory unit="MiB">32</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64" machine="pc">hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <memballoon model="none"/>
  </devices>
</domain>
`
}

// StartDomain defines and starts a diskless domain on host i (persistent,
// as Nova defines them: after a reboot it is defined but shut off).
func (e *Env) StartDomain(ctx context.Context, i int, name string) error {
	if !domainNameRE.MatchString(name) {
		return fmt.Errorf("hosts: domain name %q: use letters, digits, '.', '_' and '-'", name)
	}
	_, kvm := os.Stat("/dev/kvm")
	path := "/var/lib/escalator-test/domains/" + name + ".xml"
	if err := e.WriteFile(i, path, []byte(DomainXML(name, kvm == nil)), 0o644); err != nil {
		return err
	}
	if _, err := e.virsh(ctx, i, "define", path); err != nil {
		return fmt.Errorf("hosts: define domain %s: %w", name, err)
	}
	if _, err := e.virsh(ctx, i, "start", name); err != nil {
		return fmt.Errorf("hosts: start domain %s: %w", name, err)
	}
	return nil
}

// DestroyDomain stops (if running) and undefines a domain of host i.
func (e *Env) DestroyDomain(ctx context.Context, i int, name string) error {
	if _, err := e.virsh(ctx, i, "destroy", name); err != nil && !strings.Contains(err.Error(), "not running") {
		return fmt.Errorf("hosts: destroy domain %s: %w", name, err)
	}
	if _, err := e.virsh(ctx, i, "undefine", name); err != nil {
		return fmt.Errorf("hosts: undefine domain %s: %w", name, err)
	}
	return nil
}

// Domains lists the running domains of host i.
func (e *Env) Domains(ctx context.Context, i int) ([]string, error) {
	out, err := e.virsh(ctx, i, "list", "--name")
	if err != nil {
		return nil, fmt.Errorf("hosts: list domains: %w", err)
	}
	return strings.Fields(out), nil
}
