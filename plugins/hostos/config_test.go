package hostos

import (
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func str(s string) cty.Value { return cty.StringVal(s) }

func strList(s ...string) cty.Value {
	if len(s) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(s))
	for i, x := range s {
		vs[i] = cty.StringVal(x)
	}
	return cty.ListVal(vs)
}

func hostsVal(m map[string]map[string]string) cty.Value {
	out := map[string]cty.Value{}
	for name, kv := range m {
		inner := map[string]cty.Value{}
		for k, v := range kv {
			inner[k] = cty.StringVal(v)
		}
		out[name] = cty.MapVal(inner)
	}
	return cty.MapVal(out)
}

// baseConfig is a valid provider block; tests override attributes.
func baseConfig(over map[string]cty.Value) cty.Value {
	attrs := map[string]cty.Value{
		"hosts":         hostsVal(map[string]map[string]string{"cmp-1": {"address": "10.0.0.11"}, "cmp-2": {"address": "fd00::12", "port": "2222", "user": "admin", "role": "controller", "availability_zone": "az2"}}),
		"identity_file": str("~/.ssh/id_ed25519"),
		"components":    cty.MapVal(map[string]cty.Value{"nova_compute": strList("nova-compute", "python3-nova")}),
	}
	for k, v := range over {
		attrs[k] = v
	}
	return cty.ObjectVal(attrs)
}

func noEnv(string) string { return "" }

func TestDecodeConfig(t *testing.T) {
	cfg, diags := DecodeConfig(baseConfig(nil), noEnv, "/home/op")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := cfg.Hosts["cmp-1"].Target(); got.Addr != "10.0.0.11:22" || got.User != "root" || got.Name != "cmp-1" {
		t.Errorf("cmp-1: %+v", got)
	}
	h2 := cfg.Hosts["cmp-2"]
	if got := h2.Target(); got.Addr != "[fd00::12]:2222" || got.User != "admin" || h2.Role != "controller" || h2.Zone != "az2" {
		t.Errorf("cmp-2: %+v %+v", h2, got)
	}
	if cfg.Hosts["cmp-1"].Role != DefaultRole {
		t.Errorf("default role: %q", cfg.Hosts["cmp-1"].Role)
	}
	if strings.Join(cfg.Names, ",") != "cmp-1,cmp-2" {
		t.Errorf("names %v", cfg.Names)
	}
	if cfg.IdentityFile != "/home/op/.ssh/id_ed25519" || cfg.KnownHostsFile != "/home/op/.ssh/known_hosts" || cfg.AgentSocket != "" {
		t.Errorf("credentials: %q %q %q", cfg.IdentityFile, cfg.KnownHostsFile, cfg.AgentSocket)
	}
	if cfg.ConnectTimeout != DefaultConnectTimeout || cfg.CommandTimeout != DefaultCommandTimeout || cfg.RebootTimeout != DefaultRebootTimeout ||
		cfg.MaxParallel != DefaultMaxParallel || cfg.StateDir != DefaultStateDir || cfg.PackageManager != "auto" {
		t.Errorf("defaults: %+v", cfg)
	}
	if strings.Join(cfg.Components["nova_compute"], " ") != "nova-compute python3-nova" {
		t.Errorf("components %v", cfg.Components)
	}

	// The agent is used when SSH_AUTH_SOCK is set, without a key file.
	env := func(k string) string {
		if k == "SSH_AUTH_SOCK" {
			return "/run/agent.sock"
		}
		return ""
	}
	cfg, diags = DecodeConfig(baseConfig(map[string]cty.Value{"identity_file": cty.NullVal(cty.String)}), env, "/root")
	if diags.HasErrors() || cfg.AgentSocket != "/run/agent.sock" {
		t.Errorf("agent: %v %q", diags, cfg.AgentSocket)
	}

	cfg, diags = DecodeConfig(baseConfig(map[string]cty.Value{
		"jump_host": str("ops@bastion.example.org:2200"), "reboot_timeout": str("90s"), "sudo": cty.True, "user": str("ops"),
	}), noEnv, "/root")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Jump == nil || cfg.Jump.Addr != "bastion.example.org:2200" || cfg.Jump.User != "ops" || cfg.RebootTimeout != 90*time.Second || !cfg.Sudo ||
		cfg.Hosts["cmp-1"].User != "ops" {
		t.Errorf("jump %+v, reboot %s, sudo %v, user %q", cfg.Jump, cfg.RebootTimeout, cfg.Sudo, cfg.Hosts["cmp-1"].User)
	}
}

func TestDecodeConfigErrors(t *testing.T) {
	p := cty.GetAttrPath
	hostPath := func(h string) cty.Path { return p("hosts").Index(cty.StringVal(h)) }
	tests := []struct {
		name    string
		over    map[string]cty.Value
		env     func(string) string
		summary string
		path    cty.Path
	}{
		{"no address", map[string]cty.Value{"hosts": hostsVal(map[string]map[string]string{"cmp-1": {"port": "22"}})}, noEnv, "Missing address", hostPath("cmp-1")},
		{"bad port", map[string]cty.Value{"hosts": hostsVal(map[string]map[string]string{"cmp-1": {"address": "a", "port": "ssh"}})}, noEnv, "Invalid port", hostPath("cmp-1").Index(cty.StringVal("port"))},
		{"unknown host key", map[string]cty.Value{"hosts": hostsVal(map[string]map[string]string{"cmp-1": {"address": "a", "adress": "b"}})}, noEnv, "Unknown host setting", hostPath("cmp-1").Index(cty.StringVal("adress"))},
		{"bad host name", map[string]cty.Value{"hosts": hostsVal(map[string]map[string]string{"-x": {"address": "a"}})}, noEnv, "Invalid host name", hostPath("-x")},
		{"no credentials", map[string]cty.Value{"identity_file": cty.NullVal(cty.String)}, noEnv, "No SSH credentials", nil},
		{"agent without socket", map[string]cty.Value{"use_agent": cty.True}, noEnv, "No ssh-agent", p("use_agent")},
		{"bad jump host", map[string]cty.Value{"jump_host": str("bastion:ssh")}, noEnv, "Invalid jump_host", p("jump_host")},
		{"bad package", map[string]cty.Value{"components": cty.MapVal(map[string]cty.Value{"a": strList("ok", "rm -rf")})}, noEnv, "Invalid package name", p("components").Index(cty.StringVal("a")).IndexInt(1)},
		{"empty component", map[string]cty.Value{"components": cty.MapVal(map[string]cty.Value{"a": strList()})}, noEnv, "Component without packages", p("components").Index(cty.StringVal("a"))},
		{"relative state dir", map[string]cty.Value{"state_dir": str("var/lib/x")}, noEnv, "Invalid state_dir", p("state_dir")},
		{"bad duration", map[string]cty.Value{"command_timeout": str("ten minutes")}, noEnv, "Invalid duration", p("command_timeout")},
		{"zero duration", map[string]cty.Value{"reboot_timeout": str("0s")}, noEnv, "Invalid reboot_timeout", p("reboot_timeout")},
		{"bad package manager", map[string]cty.Value{"package_manager": str("yum")}, noEnv, "Invalid package_manager", p("package_manager")},
		{"max_parallel 0", map[string]cty.Value{"max_parallel": cty.NumberIntVal(0)}, noEnv, "Invalid max_parallel", p("max_parallel")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := DecodeConfig(baseConfig(tt.over), tt.env, "/root")
			d := findDiag(diags, tt.summary)
			if d == nil {
				t.Fatalf("no %q in %v", tt.summary, diags)
			}
			if !d.Attribute.Equals(tt.path) {
				t.Errorf("path %#v, want %#v", d.Attribute, tt.path)
			}
		})
	}
}

func findDiag(ds sdk.Diagnostics, summary string) *sdk.Diagnostic {
	for i := range ds {
		if ds[i].Summary == summary && ds[i].Severity == sdk.Error {
			return &ds[i]
		}
	}
	return nil
}

func TestParseUserHostPort(t *testing.T) {
	tests := []struct {
		in, addr, user string
		err            bool
	}{
		{"bastion", "bastion:22", "root", false},
		{"ops@bastion:2200", "bastion:2200", "ops", false},
		{"[fd00::1]:22", "[fd00::1]:22", "root", false},
		{"fd00::1", "[fd00::1]:22", "root", false},
		{"bastion:", "", "", true},
		{"@bastion", "", "", true},
		{"bastion:99999", "", "", true},
	}
	for _, tt := range tests {
		got, err := parseUserHostPort(tt.in, "root", 22)
		if (err != nil) != tt.err || (!tt.err && (got.Addr != tt.addr || got.User != tt.user)) {
			t.Errorf("%q: %+v %v", tt.in, got, err)
		}
	}
}

func TestDecodeSettings(t *testing.T) {
	s, diags := DecodeSettings(cty.NullVal(cty.DynamicPseudoType))
	if diags.HasErrors() || s.Reboot != RebootNever || !s.RestartServices || !s.UpdateLists || len(s.Services) != 0 {
		t.Errorf("defaults: %+v %v", s, diags)
	}
	s, diags = DecodeSettings(cty.ObjectVal(map[string]cty.Value{
		"services":      strList("nova-compute", "libvirtd.service"),
		"reboot":        str("if_required"),
		"pre_commands":  strList("nova-manage db sync --check"),
		"post_commands": strList("true"),
	}))
	if diags.HasErrors() || s.Reboot != RebootIfRequired || len(s.Services) != 2 || len(s.Pre) != 1 || len(s.Post) != 1 {
		t.Errorf("%+v %v", s, diags)
	}

	p := cty.GetAttrPath
	tests := []struct {
		name    string
		v       cty.Value
		summary string
		path    cty.Path
		detail  string
	}{
		{"bad reboot", cty.ObjectVal(map[string]cty.Value{"reboot": str("sometimes")}), "Invalid reboot", p("reboot"), "if_required"},
		{"bad service", cty.ObjectVal(map[string]cty.Value{"services": strList("ok", "x;y")}), "Invalid service name", p("services").IndexInt(1), "x;y"},
		{"packages here", cty.ObjectVal(map[string]cty.Value{"packages": strList("nova-compute")}), "Unknown component setting", p("packages"), "provider block"},
		{"not a list", cty.ObjectVal(map[string]cty.Value{"services": str("nova-compute")}), "Invalid value", p("services"), "list of strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := DecodeSettings(tt.v)
			d := findDiag(diags, tt.summary)
			if d == nil {
				t.Fatalf("no %q in %v", tt.summary, diags)
			}
			if !d.Attribute.Equals(tt.path) || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("%#v %q", d.Attribute, d.Detail)
			}
		})
	}
}

func TestDecodeBackupSettings(t *testing.T) {
	b, diags := DecodeBackupSettings(cty.ObjectVal(map[string]cty.Value{"paths": strList("/etc/nova", "/var/lib/nova/keys")}))
	if diags.HasErrors() || b.Retain != DefaultBackupRetain || len(b.Paths) != 2 {
		t.Errorf("%+v %v", b, diags)
	}
	p := cty.GetAttrPath
	tests := []struct {
		name    string
		v       cty.Value
		summary string
		path    cty.Path
	}{
		{"relative", cty.ObjectVal(map[string]cty.Value{"paths": strList("etc/nova")}), "Invalid backup path", p("paths").IndexInt(0)},
		{"root", cty.ObjectVal(map[string]cty.Value{"paths": strList("/etc", "/")}), "Invalid backup path", p("paths").IndexInt(1)},
		{"unclean", cty.ObjectVal(map[string]cty.Value{"paths": strList("/etc/../root")}), "Invalid backup path", p("paths").IndexInt(0)},
		{"retain 0", cty.ObjectVal(map[string]cty.Value{"retain": cty.NumberIntVal(0)}), "Invalid retain", p("retain")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := DecodeBackupSettings(tt.v)
			d := findDiag(diags, tt.summary)
			if d == nil || !d.Attribute.Equals(tt.path) {
				t.Fatalf("want %q at %#v, got %v", tt.summary, tt.path, diags)
			}
		})
	}
}
