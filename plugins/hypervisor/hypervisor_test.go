package hypervisor

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/crypto/ssh"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
)

const libvirt9 = `Compiled against library: libvirt 9.0.0
Using library: libvirt 9.0.0
Using API: QEMU 9.0.0
Running hypervisor: QEMU 7.2.0
Running against daemon: 9.0.0
`

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name, out string
		want      Versions
		err       bool
	}{
		{"libvirt 9 with QEMU", libvirt9, Versions{Libvirt: "9.0.0", Driver: "QEMU", Hypervisor: "7.2.0"}, false},
		{"CRLF and indentation", strings.ReplaceAll("  Running hypervisor: QEMU 8.2.2\n  Running against daemon: 10.0.0\n", "\n", "\r\n"), Versions{Libvirt: "10.0.0", Driver: "QEMU", Hypervisor: "8.2.2"}, false},
		{"no hypervisor line", "Running against daemon: 9.0.0\n", Versions{Libvirt: "9.0.0"}, false},
		{"connection error", "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n", Versions{}, true},
		{"empty", "", Versions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersion(tt.out)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseVersion = %+v, %v; want %+v, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseDomains(t *testing.T) {
	for _, tt := range []struct {
		out  string
		want []string
	}{
		{"", nil},
		{"\n", nil},
		{"instance-00000001\ninstance-00000002\n\n", []string{"instance-00000001", "instance-00000002"}},
		{"  vnf-a  \r\n", []string{"vnf-a"}},
	} {
		if got := ParseDomains(tt.out); !slices.Equal(got, tt.want) {
			t.Errorf("ParseDomains(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

func TestUpstream(t *testing.T) {
	for in, want := range map[string]string{
		"9.0.0-4+deb12u2":          "9.0.0",
		"9.0.0-4+deb12u2+esc1":     "9.0.0",
		"1:7.2+dfsg-7+deb12u18+b3": "7.2",
		"9.0.0-1.el9":              "9.0.0",
		"10.0.0-2ubuntu8.4":        "10.0.0",
		"9.0.0~rc1-1":              "9.0.0",
		"9.0.0":                    "9.0.0",
		"2:8.0.0":                  "8.0.0",
	} {
		if got := Upstream(in); got != want {
			t.Errorf("Upstream(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQEMUGuests(t *testing.T) {
	ps := `/usr/bin/qemu-system-x86_64 -name guest=instance-00000007,debug-threads=on -S -object secret
/usr/libexec/qemu-kvm -name vnf-b -m 512
qemu-system-x86_64 -m 64
/usr/sbin/libvirtd
grep -E qemu-system
`
	want := []string{"instance-00000007", "vnf-b", "(unnamed QEMU process)"}
	if got := qemuGuests(ps); !slices.Equal(got, want) {
		t.Errorf("qemuGuests = %q, want %q", got, want)
	}
}

func TestFacts(t *testing.T) {
	rc := func(n int) string { return markRC + fmt.Sprint(n) + "\n" }
	tests := []struct {
		name, out string
		attrs     map[string]string
		warn      string
	}{
		{"answers, two domains", markVersion + "\n" + libvirt9 + rc(0) + markDomains + "\nvm-a\nvm-b\n\n" + rc(0),
			map[string]string{AttrLibvirtVersion: "9.0.0", AttrHypervisor: "QEMU 7.2.0", AttrDomains: "vm-a,vm-b", AttrDomainCount: "2"}, ""},
		{"answers, no domains", markVersion + "\n" + libvirt9 + rc(0) + markDomains + "\n\n" + rc(0),
			map[string]string{AttrLibvirtVersion: "9.0.0", AttrHypervisor: "QEMU 7.2.0", AttrDomains: "", AttrDomainCount: "0"}, ""},
		{"daemon down", markVersion + "\nerror: failed to connect to the hypervisor\n" + rc(1) + markDomains + "\nerror: failed to connect to the hypervisor\n" + rc(1),
			map[string]string{AttrLibvirtError: "libvirtd did not answer (virsh version failed (exit 1): error: failed to connect to the hypervisor; virsh list failed (exit 1): error: failed to connect to the hypervisor)"}, "libvirtd did not answer"},
		{"hung daemon (timeout's 124)", markVersion + "\n" + rc(124) + markDomains + "\n" + rc(124),
			map[string]string{AttrLibvirtError: "libvirtd did not answer (virsh version failed (exit 124): (nothing); virsh list failed (exit 124): (nothing))"}, "exit 124"},
		{"no virsh", markNoVirsh + "\n", map[string]string{AttrLibvirtError: "virsh is not installed"}, "install libvirt-clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &sdk.Host{Attributes: map[string]string{}}
			warn := (&extension{}).Facts(tt.out, h)
			if tt.warn == "" && warn != "" || !strings.Contains(warn, tt.warn) {
				t.Errorf("warning %q, want one containing %q", warn, tt.warn)
			}
			if fmt.Sprint(h.Attributes) != fmt.Sprint(tt.attrs) {
				t.Errorf("attributes\n got %v\nwant %v", h.Attributes, tt.attrs)
			}
		})
	}
}

// fakeShell answers commands by their first matching substring.
type fakeShell struct {
	answers   map[string]string
	fail      map[string]error
	installed map[string]pkgs.Installed
	ran       []string
}

func (f *fakeShell) Host() string { return "cmp-01" }

func (f *fakeShell) Output(_ context.Context, cmd string) (string, error) {
	f.ran = append(f.ran, cmd)
	for k, err := range f.fail {
		if strings.Contains(cmd, k) {
			return "", err
		}
	}
	for k, out := range f.answers {
		if strings.Contains(cmd, k) {
			return out, nil
		}
	}
	return "", errors.New("unexpected command " + cmd)
}

func (f *fakeShell) Installed(_ context.Context, names ...string) (map[string]pkgs.Installed, error) {
	return f.installed, nil
}

func TestBeforeChange(t *testing.T) {
	down := errors.New("exit status 1: error: failed to connect to the hypervisor")
	many := make([]string, 12)
	for i := range many {
		many[i] = fmt.Sprintf("instance-%08d", i+1)
	}
	tests := []struct {
		name  string
		sh    *fakeShell
		kind  sdk.ActionKind
		err   []string // substrings; nil: allowed
		noErr bool
	}{
		{"no domains", &fakeShell{answers: map[string]string{"list --name": "\n"}}, sdk.ActionUpgrade, nil, true},
		{"one running domain", &fakeShell{answers: map[string]string{"list --name": "instance-00000001\n"}}, sdk.ActionUpgrade,
			[]string{"cmp-01 still runs 1 domain (instance-00000001)", "upgrade of libvirt is refused", "resume the apply"}, false},
		{"twelve domains, ten named", &fakeShell{answers: map[string]string{"list --name": strings.Join(many, "\n")}}, sdk.ActionRollback,
			[]string{"runs 12 domains", "instance-00000010 and 2 more", "rollback of libvirt is refused"}, false},
		{"libvirtd down, QEMU guest running", &fakeShell{fail: map[string]error{"list --name": down},
			answers: map[string]string{"ps -eo": "/usr/bin/qemu-system-x86_64 -name guest=vm-x,debug-threads=on\n"}}, sdk.ActionUpgrade,
			[]string{"1 domain (vm-x)", "libvirtd does not answer"}, false},
		{"libvirtd down, no QEMU", &fakeShell{fail: map[string]error{"list --name": down}, answers: map[string]string{"ps -eo": ""}}, sdk.ActionUpgrade, nil, true},
		{"libvirtd down, ps fails", &fakeShell{fail: map[string]error{"list --name": down, "ps -eo": errors.New("ssh: lost")}}, sdk.ActionUpgrade,
			[]string{"does not answer", "could not be listed", "without knowing whether guests run"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&extension{}).BeforeChange(t.Context(), tt.sh, sdk.ExecuteActionRequest{Kind: tt.kind, Component: "libvirt"})
			if tt.noErr {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed")
			}
			for _, s := range tt.err {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	inst := func(v string) map[string]pkgs.Installed {
		return map[string]pkgs.Installed{"libvirt-daemon": {Name: "libvirt-daemon", Version: v, Status: pkgs.StatusInstalled}}
	}
	tests := []struct {
		name string
		sh   *fakeShell
		err  string
	}{
		{"new daemon", &fakeShell{answers: map[string]string{"version --daemon": libvirt9}, installed: inst("9.0.0-4+deb12u2+esc1")}, ""},
		{"old daemon still running", &fakeShell{answers: map[string]string{"version --daemon": libvirt9}, installed: inst("10.0.0-1")}, "runs version 9.0.0 but libvirt-daemon 10.0.0-1 is installed"},
		{"package not installed", &fakeShell{answers: map[string]string{"version --daemon": libvirt9}, installed: map[string]pkgs.Installed{}}, ""},
		{"daemon down", &fakeShell{fail: map[string]error{"version --daemon": errors.New("exit status 1")}}, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&extension{}).Verify(t.Context(), tt.sh, sdk.ExecuteActionRequest{Kind: sdk.ActionVerify, Component: "libvirt"})
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("Verify = %v, want %q", err, tt.err)
			}
		})
	}
}

// keyFile writes an SSH private key.
func keyFile(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVirshQuotesURI(t *testing.T) {
	got := virsh("qemu+ssh://x/system?keyfile=a'b", "list")
	if want := `timeout 20 virsh -c 'qemu+ssh://x/system?keyfile=a'\''b' list`; got != want {
		t.Errorf("virsh = %s, want %s", got, want)
	}
}

// The provider over the plugin protocol: hostos's schema with the
// hypervisor's attributes, its own name, its attributes decoded and
// checked, every change disruption "host".
func TestProviderOverTheProtocol(t *testing.T) {
	c := sdktest.Start(t, New())
	s, diags := c.Schema(t.Context())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var names []string
	for _, a := range s.Provider.Attributes {
		names = append(names, a.Name)
	}
	for _, want := range []string{"hosts", "components", "libvirt_uri", "libvirt_package"} {
		if !slices.Contains(names, want) {
			t.Errorf("provider attributes %v lack %s", names, want)
		}
	}
	var hattrs []string
	for _, a := range s.HostAttributes {
		hattrs = append(hattrs, a.Name)
	}
	if !slices.Contains(hattrs, AttrDomains) || !slices.Contains(hattrs, "kernel") {
		t.Errorf("host attributes %v", hattrs)
	}
	md, _ := c.Metadata(t.Context())
	if md.Name != Name {
		t.Errorf("name %q", md.Name)
	}

	block := func(extra map[string]cty.Value) cty.Value {
		m := map[string]cty.Value{
			"hosts":                    cty.ObjectVal(map[string]cty.Value{"cmp-01": cty.ObjectVal(map[string]cty.Value{"address": cty.StringVal("127.0.0.1")})}),
			"insecure_ignore_host_key": cty.True,
			"identity_file":            cty.StringVal("/nonexistent/key"),
			"components":               cty.ObjectVal(map[string]cty.Value{"libvirt": cty.TupleVal([]cty.Value{cty.StringVal("libvirt-daemon")})}),
		}
		for k, v := range extra {
			m[k] = v
		}
		return cty.ObjectVal(m)
	}
	for _, tt := range []struct {
		name    string
		extra   map[string]cty.Value
		summary string
	}{
		{"defaults", nil, ""},
		{"own attributes", map[string]cty.Value{"libvirt_uri": cty.StringVal("qemu:///session"), "libvirt_package": cty.StringVal("libvirt-daemon-system")}, ""},
		{"bad uri", map[string]cty.Value{"libvirt_uri": cty.StringVal(" ")}, "Invalid libvirt_uri"},
		{"bad package", map[string]cty.Value{"libvirt_package": cty.StringVal("x; rm -rf /")}, "Invalid libvirt_package"},
		{"unknown attribute still refused", map[string]cty.Value{"libvirt_url": cty.StringVal("x")}, "Unsupported argument"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			diags := c.ValidateConfig(t.Context(), block(tt.extra))
			var errs []string
			for _, d := range diags {
				if d.Severity == sdk.Error {
					errs = append(errs, d.Summary)
				}
			}
			if tt.summary == "" && len(errs) > 0 || tt.summary != "" && !slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, tt.summary) }) {
				t.Errorf("errors %v, want %q", errs, tt.summary)
			}
		})
	}

	if _, diags := c.Configure(t.Context(), block(map[string]cty.Value{"identity_file": cty.StringVal(keyFile(t))})); diags.HasErrors() {
		t.Fatal(diags)
	}
	resp, diags := c.PlanComponent(t.Context(), sdk.PlanComponentRequest{Component: "libvirt", FromVersion: "9.0.0-4+deb12u2", ToVersion: "9.0.0-4+deb12u2+esc1", Settings: cty.NullVal(cty.DynamicPseudoType)})
	if diags.HasErrors() || resp == nil || resp.Disruption != sdk.DisruptionHost {
		t.Fatalf("plan: %+v, %v", resp, diags)
	}
}

// The inventory script against a fake virsh on this machine: the domain
// list is standard output only, and a failing virsh reports its error.
func TestInventoryScriptWithFakeVirsh(t *testing.T) {
	bin := t.TempDir()
	fake := `#!/bin/sh
case "$*" in
*"version --daemon"*) printf 'Running hypervisor: QEMU 7.2.0\nRunning against daemon: 9.0.0\n' ;;
*"list --name"*) [ -n "$FAIL_LIST" ] && { echo "error: failed to connect to the hypervisor" >&2; exit 1; }
  echo "warning: deprecated setting" >&2; printf 'vm-1\n\n' ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "virsh"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		fail      string
		domains   string
		errSubstr string
	}{{"", "vm-1", ""}, {"1", "", "failed to connect"}} {
		cmd := exec.Command("/bin/sh", "-c", inventoryScript(DefaultURI))
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAIL_LIST="+tt.fail)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		h := &sdk.Host{Attributes: map[string]string{}}
		warn := (&extension{}).Facts(string(out), h)
		if h.Attributes[AttrDomains] != tt.domains || h.Attributes[AttrLibvirtVersion] != "9.0.0" || !strings.Contains(warn, tt.errSubstr) || (tt.errSubstr == "") != (warn == "") {
			t.Errorf("FAIL_LIST=%q: attributes %v, warning %q (output %q)", tt.fail, h.Attributes, warn, out)
		}
	}
}
