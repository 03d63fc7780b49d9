package pkgs

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestAptCommands(t *testing.T) {
	specs := []Spec{{"qemu-system-x86", "1:7.2+dfsg-7+deb12u7"}, {"qemu-system-common", "1:7.2+dfsg-7+deb12u7"}}
	tests := []struct {
		name, got, want string
	}{
		{"install", Apt{}.Install(specs, false),
			"DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold install qemu-system-x86=1:7.2+dfsg-7+deb12u7 qemu-system-common=1:7.2+dfsg-7+deb12u7"},
		{"downgrade", Apt{}.Install(specs[:1], true),
			"DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold --allow-downgrades install qemu-system-x86=1:7.2+dfsg-7+deb12u7"},
		{"refresh", Apt{}.Refresh(), "apt-get -q -o DPkg::Lock::Timeout=300 update"},
		{"query", Apt{}.Query([]string{"a", "b+c"}),
			`dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n' -- a b+c 2>/dev/null; rc=$?; [ $rc -le 1 ] || { echo "dpkg-query failed with status $rc" >&2; exit $rc; }`},
		{"repair", Apt{}.Repair(), "DEBIAN_FRONTEND=noninteractive dpkg --force-confold --configure -a"},
		{"dnf install", Dnf{}.Install([]Spec{{"kernel", "5.14.0-427.el9"}}, false), "dnf -y install kernel-5.14.0-427.el9"},
		{"dnf downgrade", Dnf{}.Install([]Spec{{"nova", "1:27.1.0-1.el9"}}, true), "dnf -y install nova-1:27.1.0-1.el9 || dnf -y downgrade nova-1:27.1.0-1.el9"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestAptParseQuery(t *testing.T) {
	tests := []struct {
		name string
		out  string
		ask  []string
		want map[string]Installed
		err  string
	}{
		{
			name: "installed, half-configured, config-files, unknown",
			out:  "agent\t1.1\tiF \nlibvirt0\t9.0.0-4\tii \nold\t2.0\trc \nheld\t3\thi \n",
			ask:  []string{"agent", "libvirt0", "old", "held", "missing"},
			want: map[string]Installed{
				"agent":    {Name: "agent", Version: "1.1", Status: StatusHalfConfigured},
				"libvirt0": {Name: "libvirt0", Version: "9.0.0-4", Status: StatusInstalled},
				"old":      {Name: "old", Version: "2.0", Status: StatusConfigFiles},
				"held":     {Name: "held", Version: "3", Status: StatusInstalled, Held: true},
				"missing":  {Name: "missing", Status: StatusNotInstalled},
			},
		},
		{
			name: "two architectures: the installed one wins",
			out:  "libc6\t2.36-9\tiU \nlibc6\t2.36-9+deb12u4\tii \nlibc6\t2.36-9\tiU \n",
			ask:  []string{"libc6"},
			want: map[string]Installed{"libc6": {Name: "libc6", Version: "2.36-9+deb12u4", Status: StatusInstalled}},
		},
		{
			name: "not installed (purged but known)",
			out:  "gone\t\tun \n",
			ask:  []string{"gone"},
			want: map[string]Installed{"gone": {Name: "gone", Status: StatusNotInstalled}},
		},
		{name: "garbage", out: "what is this\n", err: "unexpected dpkg-query line"},
		{name: "unknown state", out: "x\t1\tiZ \n", err: "unexpected dpkg status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apt{}.ParseQuery(tt.out, tt.ask)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDnfParseQuery(t *testing.T) {
	out := "kernel\t0:5.14.0-427.el9\nkernel\t0:5.14.0-362.el9\nopenstack-nova-compute\t1:27.1.0-1.el9\npackage missing is not installed\n"
	got, err := Dnf{}.ParseQuery(out, []string{"kernel", "openstack-nova-compute", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Installed{
		"kernel":                 {Name: "kernel", Version: "5.14.0-427.el9", Status: StatusInstalled},
		"openstack-nova-compute": {Name: "openstack-nova-compute", Version: "1:27.1.0-1.el9", Status: StatusInstalled},
		"missing":                {Name: "missing", Status: StatusNotInstalled},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := (Dnf{}).ParseQuery("nonsense\n", nil); err == nil {
		t.Errorf("a line without a version parsed")
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		in   Installed
		want string
	}{
		{Installed{Version: "1.1", Status: StatusInstalled}, "1.1"},
		{Installed{Version: "1.1", Status: StatusHalfConfigured}, "1.1 (half-configured)"},
		{Installed{Version: "2.0", Status: StatusConfigFiles}, "not installed"},
		{Installed{Status: StatusNotInstalled}, "not installed"},
	}
	for _, tt := range tests {
		if got := tt.in.Describe(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckNameAndVersion(t *testing.T) {
	for _, ok := range []string{"nova-compute", "libstdc++6", "python3.11", "NetworkManager", "kernel_rt"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-rf", "a b", "a;b", "pkg=1.0", "x*"} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"1.0", "2:26.2.2-1~deb12u5", "1:7.2+dfsg-7+deb12u7", "5.14.0-427.el9", "2026f-0+deb12u1"} {
		if err := CheckVersion(ok); err != nil {
			t.Errorf("CheckVersion(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1.0 (half-configured)", "1.0;reboot", "$(x)", "~1"} {
		if CheckVersion(bad) == nil {
			t.Errorf("CheckVersion(%q) accepted", bad)
		}
	}
}

// The query runs as written against this machine's own dpkg, read-only:
// the command line and the parser agree with the real tool.
func TestAptQueryAgainstRealDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("needs dpkg-query (a Debian or Ubuntu machine)")
	}
	names := []string{"dpkg", "escalator-no-such-package"}
	out, err := exec.Command("sh", "-c", Apt{}.Query(names)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Apt{}.ParseQuery(string(out), names)
	if err != nil {
		t.Fatal(err)
	}
	if !got["dpkg"].OK() || got["dpkg"].Version == "" {
		t.Errorf("dpkg: %+v", got["dpkg"])
	}
	if got["escalator-no-such-package"].Status != StatusNotInstalled {
		t.Errorf("unknown package: %+v", got["escalator-no-such-package"])
	}
}
