package hosts

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

func TestMirrorFromOneLine(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"plain", "deb http://deb.debian.org/debian bookworm main\n", "http://deb.debian.org/debian"},
		{"options and comments", "# deb http://old bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib # x\n", "http://mirror.example/debian"},
		{"other suite first", "deb http://sec.example/debian-security bookworm-security main\ndeb http://m.example/debian bookworm main\n", "http://m.example/debian"},
		{"no main", "deb http://m.example/debian bookworm contrib\n", ""},
		{"deb-src only", "deb-src http://m.example/debian bookworm main\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mirrorFromOneLine(tt.text, "bookworm"); got != tt.want {
				t.Errorf("mirrorFromOneLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMirrorFromDeb822(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"debian.sources", `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`, "http://deb.debian.org/debian"},
		{"disabled stanza skipped", `Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
URIs: http://on.example/debian
Suites: bookworm
Components: main contrib
`, "http://on.example/debian"},
		{"third-party suite", `Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mirrorFromDeb822(tt.text, "bookworm"); got != tt.want {
				t.Errorf("mirrorFromDeb822 = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseMountInfo(t *testing.T) {
	tests := []struct {
		line string
		want mount
		ok   bool
	}{
		{
			"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
			mount{Point: "/mnt2", FSType: "ext3", Source: "/dev/root", Options: "rw,noatime,rw,errors=continue"}, true,
		},
		{
			`120 25 0:45 / /tmp/my\040dir/hosts/host1/root rw,relatime - overlay escht-host1 rw,lowerdir=/var/cache/x/rootfs-abc,upperdir=/u,workdir=/w`,
			mount{Point: "/tmp/my dir/hosts/host1/root", FSType: "overlay", Source: "escht-host1", Options: "rw,relatime,rw,lowerdir=/var/cache/x/rootfs-abc,upperdir=/u,workdir=/w"}, true,
		},
		{"garbage", mount{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMountInfo(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseMountInfo(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		check   func(t *testing.T, o Options)
	}{
		{name: "no dir", opts: Options{}, wantErr: "Options.Dir is required"},
		{name: "defaults", opts: Options{Dir: "/tmp/x"}, check: func(t *testing.T, o Options) {
			if o.Hosts != DefaultHosts || o.Prefix != DefaultPrefix || o.Subnet != DefaultSubnet || o.SSHPort != 22 ||
				o.RebootDelay != DefaultRebootDelay || o.ControlName != DefaultControlName {
				t.Errorf("defaults not applied: %+v", o)
			}
			if len(o.Install) != 1 || o.Install[0] != "escalator-test-agent=1.0" {
				t.Errorf("Install = %q, want the agent 1.0", o.Install)
			}
		}},
		{name: "empty install stays empty", opts: Options{Dir: "/tmp/x", Install: []string{}}, check: func(t *testing.T, o Options) {
			if len(o.Install) != 0 {
				t.Errorf("Install = %q, want none", o.Install)
			}
		}},
		{name: "subnet masked", opts: Options{Dir: "/tmp/x", Subnet: netip.MustParsePrefix("10.9.8.7/24")}, check: func(t *testing.T, o Options) {
			if o.Subnet.String() != "10.9.8.0/24" {
				t.Errorf("Subnet = %s", o.Subnet)
			}
		}},
		{name: "prefix too long", opts: Options{Dir: "/tmp/x", Prefix: "abcdefghij"}, wantErr: "1 to 9 lower-case"},
		{name: "prefix with dash", opts: Options{Dir: "/tmp/x", Prefix: "a-b"}, wantErr: "1 to 9 lower-case"},
		{name: "ipv6 subnet", opts: Options{Dir: "/tmp/x", Subnet: netip.MustParsePrefix("fd00::/64")}, wantErr: "IPv4"},
		{name: "too many hosts", opts: Options{Dir: "/tmp/x", Hosts: 10, Subnet: netip.MustParsePrefix("10.1.1.0/28")}, wantErr: "do not fit"},
		{name: "244 hosts fit a /24", opts: Options{Dir: "/tmp/x", Hosts: 244}},
		{name: "245 do not", opts: Options{Dir: "/tmp/x", Hosts: 245}, wantErr: "do not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.opts.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestHostAddr(t *testing.T) {
	tests := []struct {
		subnet string
		i      int
		want   string
	}{
		{"10.77.0.0/24", 0, "10.77.0.11"},
		{"10.77.0.0/24", 3, "10.77.0.14"},
		{"10.77.0.0/24", 243, "10.77.0.254"},
		{"10.77.0.0/16", 300, "10.77.1.55"},
	}
	for _, tt := range tests {
		if got := hostAddr(netip.MustParsePrefix(tt.subnet), tt.i).String(); got != tt.want {
			t.Errorf("hostAddr(%s, %d) = %s, want %s", tt.subnet, tt.i, got, tt.want)
		}
	}
}

func TestImageKey(t *testing.T) {
	base := ImageOptions{Cache: "/c", Include: []string{"b", "a"}}.withDefaults()
	tests := []struct {
		name string
		o    ImageOptions
		same bool
	}{
		{"order and duplicates do not matter", ImageOptions{Cache: "/c", Include: []string{"a", "b", "a"}}, true},
		{"the cache and the mirror do not matter", ImageOptions{Cache: "/d", Mirror: "http://m", Include: []string{"a", "b"}}, true},
		{"another package does", ImageOptions{Cache: "/c", Include: []string{"a", "b", "c"}}, false},
		{"another suite does", ImageOptions{Cache: "/c", Suite: "trixie", Include: []string{"a", "b"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			same := imageKey(tt.o.withDefaults()) == imageKey(base)
			if same != tt.same {
				t.Errorf("same key = %v, want %v", same, tt.same)
			}
		})
	}
}

func TestInstallFiles(t *testing.T) {
	pkgs := DefaultPackages()
	tests := []struct {
		specs   []string
		want    []string
		wantErr bool
	}{
		{[]string{"escalator-test-agent=1.1"}, []string{"/srv/repo/escalator-test-agent_1.1_all.deb"}, false},
		{[]string{"escalator-test-broken"}, []string{"/srv/repo/escalator-test-broken_1.0_all.deb"}, false},
		{[]string{"escalator-test-agent=9.9"}, nil, true},
		{[]string{"tzdata=1"}, nil, true},
	}
	for _, tt := range tests {
		got, err := installFiles(pkgs, tt.specs)
		if (err != nil) != tt.wantErr || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("installFiles(%q) = %q, %v; want %q, error %v", tt.specs, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDefaultPackages(t *testing.T) {
	byVersion := map[string]Package{}
	for _, p := range DefaultPackages() {
		if p.Name == AgentPackage {
			byVersion[p.Version] = p
		}
	}
	for _, v := range AgentVersions {
		p, ok := byVersion[v]
		if !ok {
			t.Fatalf("no %s %s", AgentPackage, v)
		}
		if _, ok := p.Files[AgentConfig]; !ok {
			t.Errorf("%s %s has no conffile %s", p.Name, v, AgentConfig)
		}
		if !strings.Contains(p.Postinst, FailPostinstDir) || !strings.Contains(p.Postinst, `grep -qx "`+v+`"`) {
			t.Errorf("%s %s: postinst does not honour the fault injection for its own version:\n%s", p.Name, v, p.Postinst)
		}
	}
	if byVersion["1.0"].Files[AgentConfig] != byVersion["1.1"].Files[AgentConfig] {
		t.Errorf("1.0 and 1.1 should ship the same conffile (a plain upgrade asks nothing)")
	}
	if byVersion["1.1"].Files[AgentConfig] == byVersion["1.2"].Files[AgentConfig] {
		t.Errorf("1.2 should change the conffile")
	}
	if !strings.Contains(byVersion["1.2"].Postinst, "/run/reboot-required") || strings.Contains(byVersion["1.1"].Postinst, "reboot-required") {
		t.Errorf("only 1.2 should ask for a reboot")
	}
}

func TestNewUUID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := newUUID(), newUUID()
	if !re.MatchString(a) || a == b {
		t.Errorf("newUUID = %q, %q: want two different version 4 UUIDs", a, b)
	}
}
