package hosts

import (
	"crypto/ed25519"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

//go:embed scripts/boot.sh scripts/init.sh scripts/systemctl.sh
var scripts embed.FS

func script(name string) []byte {
	data, err := scripts.ReadFile("scripts/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return data
}

// writeScripts puts boot.sh where the boot command runs it from.
func (e *Env) writeScripts() error {
	e.bootScript = filepath.Join(e.Dir, "boot.sh")
	if err := writeFileAtomic(e.bootScript, script("boot.sh"), 0o755); err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	return nil
}

// makeKeys generates the client key every host accepts.
func (e *Env) makeKeys() error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("hosts: client key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return fmt.Errorf("hosts: client key: %w", err)
	}
	e.signer = signer
	block, err := ssh.MarshalPrivateKey(priv, "escalator-test@"+e.Prefix)
	if err != nil {
		return fmt.Errorf("hosts: client key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("hosts: client key: %w", err)
	}
	if err := writeFileAtomic(e.ClientKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("hosts: client key: %w", err)
	}
	if err := writeFileAtomic(e.ClientKeyFile+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		return fmt.Errorf("hosts: client key: %w", err)
	}
	return nil
}

func newHostKey() (hostKeyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return hostKeyPair{}, fmt.Errorf("host key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return hostKeyPair{}, fmt.Errorf("host key: %w", err)
	}
	return hostKeyPair{priv: priv, pub: sshPub}, nil
}

// writeHostKey installs k as the host's only SSH host key.
func writeHostKey(h *host, k hostKeyPair) error {
	block, err := ssh.MarshalPrivateKey(k.priv, "root@"+h.Name)
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	if err := writeFileAtomic(h.Path("/etc/ssh/ssh_host_ed25519_key"), pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.pub))) + " root@" + h.Name + "\n"
	if err := writeFileAtomic(h.Path("/etc/ssh/ssh_host_ed25519_key.pub"), []byte(pub), 0o644); err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	return nil
}

// sshdConfig is read before Debian's own settings (its sshd_config
// includes sshd_config.d first, and the first value of a keyword wins).
func sshdConfig(port int) string {
	return `# testing/hosts: one host key per host, key-only root login, no PAM
# (no logind, no loginuid in a namespace), no DNS (hosts have none).
Port ` + strconv.Itoa(port) + `
AddressFamily inet
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
# Providers run many commands over few connections.
MaxSessions 64
MaxStartups 64:30:128
`
}

type hostFile struct {
	path string
	data string
	mode os.FileMode
}

// writeHostFiles writes into the host's overlay what makes the shared
// image this host.
func (e *Env) writeHostFiles(h *host) error {
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n")
	fmt.Fprintf(&hosts, "%s\t%s\n", e.BridgeAddr, e.opts.ControlName)
	for i := 0; i < e.opts.Hosts; i++ {
		fmt.Fprintf(&hosts, "%s\thost%d\n", hostAddr(e.Subnet, i), i+1)
	}
	machineID := make([]byte, 16)
	if _, err := rand.Read(machineID); err != nil {
		return err
	}
	files := []hostFile{
		{"/etc/hostname", h.Name + "\n", 0o644},
		{"/etc/hosts", hosts.String(), 0o644},
		{"/etc/resolv.conf", "# testing/hosts: no DNS; the names of the environment are in /etc/hosts.\n", 0o644},
		{"/etc/machine-id", hex.EncodeToString(machineID) + "\n", 0o444},
		{"/etc/ssh/sshd_config.d/escalator-test.conf", sshdConfig(h.SSHPort), 0o644},
		{"/root/.ssh/authorized_keys", string(ssh.MarshalAuthorizedKey(e.signer.PublicKey())), 0o600},
		{"/sbin/escalator-init", string(script("init.sh")), 0o755},
		{"/usr/local/bin/systemctl", string(script("systemctl.sh")), 0o755},
		{"/usr/local/sbin/reboot", "#!/bin/sh\n# testing/hosts: the host's init reboots it.\nexec systemctl reboot\n", 0o755},
		{"/etc/escalator-test/services/ssh", "# sshd, defined by testing/hosts\nEXEC=/usr/sbin/sshd\nARGS=\"-D -e\"\n", 0o644},
	}
	if e.opts.Libvirt {
		files = append(files,
			hostFile{"/etc/libvirt/qemu.conf", qemuConf, 0o644},
			hostFile{"/etc/libvirt/libvirtd.conf", libvirtdConf(h), 0o644},
			hostFile{"/etc/escalator-test/services/libvirtd", "# libvirtd, defined by testing/hosts\nEXEC=/usr/sbin/libvirtd\nARGS=\"\"\n", 0o644},
		)
	}
	for _, f := range files {
		if err := writeFileAtomic(h.Path(f.path), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"/root", 0o700}, {"/root/.ssh", 0o700}, {FailPostinstDir, 0o755}, {"/var/log/escalator-test", 0o755}, {"/var/log/libvirt", 0o755}} {
		if err := os.MkdirAll(h.Path(d.path), d.mode); err != nil {
			return err
		}
		if err := os.Chmod(h.Path(d.path), d.mode); err != nil {
			return err
		}
	}
	// Debian's ssh.service is also sshd.service.
	alias := h.Path("/etc/escalator-test/services/sshd")
	if err := os.Symlink("ssh", alias); err != nil && !os.IsExist(err) {
		return err
	}
	return writeHostKey(h, h.key)
}
