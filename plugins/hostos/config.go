package hostos

import (
	"fmt"
	"math/big"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
	"github.com/escalator-nfv/escalator/plugins/hostos/remote"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Defaults of the provider block.
const (
	DefaultUser           = "root"
	DefaultPort           = 22
	DefaultRole           = "compute"
	DefaultStateDir       = "/var/lib/escalator-hostos"
	DefaultConnectTimeout = remote.DefaultConnectTimeout
	DefaultCommandTimeout = 20 * time.Minute
	DefaultRebootTimeout  = 10 * time.Minute
	DefaultMaxParallel    = remote.DefaultMaxParallel
	DefaultBackupRetain   = 3
)

// Reboot policies of a component.
const (
	RebootNever      = "never"
	RebootIfRequired = "if_required"
	RebootAlways     = "always"
)

// Config is the provider block, decoded and checked.
type Config struct {
	Hosts map[string]HostConfig
	// Names are the hosts' names in order.
	Names []string

	IdentityFile       string
	IdentityPassphrase string
	AgentSocket        string
	KnownHostsFile     string
	Insecure           bool
	Jump               *remote.Target
	Sudo               bool

	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	RebootTimeout  time.Duration
	MaxParallel    int

	StateDir       string
	PackageManager string // "auto", "apt" or "dnf"
	// Components maps a component's name to its packages; the first is
	// the one whose version is the component's.
	Components map[string][]string
}

// HostConfig is one entry of the hosts map.
type HostConfig struct {
	Name, Address, User string
	Port                int
	Role, Zone          string
}

// Target is how the pool reaches the host.
func (h HostConfig) Target() remote.Target {
	return remote.Target{Name: h.Name, Addr: net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), User: h.User}
}

// hostKeys are the keys a hosts entry may set.
var hostKeys = []string{"address", "port", "user", "role", "availability_zone"}

func providerSchema() sdk.Block {
	return sdk.Block{
		Description: "Hosts reached over SSH: their packages (apt or dnf), reboots, configuration backups.",
		Attributes: []sdk.Attribute{
			{Name: "hosts", Type: cty.Map(cty.Map(cty.String)), Required: true, Description: "The hosts, by the name the inventory gives them (the same names as the provider that evacuates them, e.g. Nova's): { cmp-01 = { address = \"10.0.0.11\" } }. Keys of each entry: " + strings.Join(hostKeys, ", ") + "; all but address default to the provider's settings."},
			{Name: "user", Type: cty.String, Description: "SSH user. Default \"root\"; another user needs sudo = true."},
			{Name: "port", Type: cty.Number, Description: "SSH port. Default 22."},
			{Name: "role", Type: cty.String, Description: "Role of every host without its own. Default \"compute\"."},
			{Name: "identity_file", Type: cty.String, Description: "Private key file. Default: none (use ssh-agent); one of the two is needed."},
			{Name: "identity_passphrase", Type: cty.String, Sensitive: true, Description: "Passphrase of identity_file, if encrypted. Prefer ssh-agent."},
			{Name: "use_agent", Type: cty.Bool, Description: "Offer the keys of the ssh-agent at SSH_AUTH_SOCK. Default: true when SSH_AUTH_SOCK is set."},
			{Name: "known_hosts_file", Type: cty.String, Description: "known_hosts file that every host key (the jump host's too) is checked against. Default ~/.ssh/known_hosts."},
			{Name: "insecure_ignore_host_key", Type: cty.Bool, Description: "Accept any host key. For throwaway test hosts only: anyone on the network path can then impersonate a host. Default false."},
			{Name: "jump_host", Type: cty.String, Description: "Bastion every connection goes through: [user@]host[:port]. Default: none."},
			{Name: "sudo", Type: cty.Bool, Description: "Run every command through sudo -n (for a user other than root). Default false."},
			{Name: "connect_timeout", Type: cty.String, Description: "Bound on a TCP connect plus SSH handshake. Default \"15s\"."},
			{Name: "command_timeout", Type: cty.String, Description: "Bound on one command (apt-get install, a pre command, …); the step's own deadline applies too. Default \"20m\"."},
			{Name: "reboot_timeout", Type: cty.String, Description: "How long a reboot may take until SSH answers with a new boot id and the component's services are active. Default \"10m\"."},
			{Name: "max_parallel", Type: cty.Number, Description: "Commands in flight over all hosts at once (inventory included). Default 32."},
			{Name: "state_dir", Type: cty.String, Description: "Directory on each host for the provider's records and backups. Default \"/var/lib/escalator-hostos\"."},
			{Name: "package_manager", Type: cty.String, Description: "\"apt\", \"dnf\" or \"auto\" (detected per host). Default \"auto\"."},
			{Name: "components", Type: cty.Map(cty.List(cty.String)), Description: "Packages of each component, by component name: { nova_compute = [\"nova-compute\", \"python3-nova\"] }. The first package's installed version is the component's version in the inventory; an upgrade installs every package at the component's version."},
		},
	}
}

func componentSchema() sdk.Block {
	return sdk.Block{
		Description: "How the hostos provider upgrades a component; its packages are in the provider block's components.",
		Attributes: []sdk.Attribute{
			{Name: "services", Type: cty.List(cty.String), Description: "Services of the component: restarted after its packages change (apt never starts or restarts them here), active after a reboot, checked by verify."},
			{Name: "restart_services", Type: cty.Bool, Description: "Restart services after the packages change. Default true."},
			{Name: "reboot", Type: cty.String, Description: "\"never\", \"if_required\" (the packages asked for it: /run/reboot-required) or \"always\". Default \"never\"; anything else makes the change disruption \"host\"."},
			{Name: "pre_commands", Type: cty.List(cty.String), Description: "Shell commands run, in order, before the packages change; one failing fails the upgrade."},
			{Name: "post_commands", Type: cty.List(cty.String), Description: "Shell commands run after the packages changed (and the host rebooted)."},
			{Name: "verify_commands", Type: cty.List(cty.String), Description: "Shell commands verify runs; each must exit 0."},
			{Name: "update_package_lists", Type: cty.Bool, Description: "Refresh the package lists (apt-get update) before installing. Default true."},
		},
	}
}

func backupSchema() sdk.Block {
	return sdk.Block{
		Description: "A backup records the component's exact package versions and archives these paths on the host, under state_dir.",
		Attributes: []sdk.Attribute{
			{Name: "paths", Type: cty.List(cty.String), Description: "Absolute paths (files or directories) to archive, e.g. [\"/etc/nova\"]; a path missing on the host is skipped with a warning."},
			{Name: "retain", Type: cty.Number, Description: "Backups of the component kept on each host; older ones are deleted. Default 3."},
		},
	}
}

// Settings are a component's settings, decoded.
type Settings struct {
	Services        []string
	RestartServices bool
	Reboot          string
	Pre, Post       []string
	Verify          []string
	UpdateLists     bool
}

// BackupSettings are a backup block's settings, decoded.
type BackupSettings struct {
	Paths  []string
	Retain int
}

// ProbeSettings are a check's settings for the host probe.
type ProbeSettings struct {
	Services []string
	Commands []string
}

// DecodeConfig checks a provider block. env looks up environment
// variables and home is the home directory, for the defaults that depend
// on them.
func DecodeConfig(v cty.Value, env func(string) string, home string) (*Config, sdk.Diagnostics) {
	d := &decoder{}
	p := cty.GetAttrPath
	cfg := &Config{
		IdentityFile:       d.str(attr(v, "identity_file"), p("identity_file"), ""),
		IdentityPassphrase: d.str(attr(v, "identity_passphrase"), p("identity_passphrase"), ""),
		KnownHostsFile:     d.str(attr(v, "known_hosts_file"), p("known_hosts_file"), ""),
		Insecure:           d.boolean(attr(v, "insecure_ignore_host_key"), p("insecure_ignore_host_key"), false),
		Sudo:               d.boolean(attr(v, "sudo"), p("sudo"), false),
		ConnectTimeout:     d.duration(attr(v, "connect_timeout"), p("connect_timeout"), DefaultConnectTimeout),
		CommandTimeout:     d.duration(attr(v, "command_timeout"), p("command_timeout"), DefaultCommandTimeout),
		RebootTimeout:      d.duration(attr(v, "reboot_timeout"), p("reboot_timeout"), DefaultRebootTimeout),
		MaxParallel:        int(d.integer(attr(v, "max_parallel"), p("max_parallel"), DefaultMaxParallel)),
		StateDir:           d.str(attr(v, "state_dir"), p("state_dir"), DefaultStateDir),
		PackageManager:     d.str(attr(v, "package_manager"), p("package_manager"), "auto"),
		Hosts:              map[string]HostConfig{},
		Components:         map[string][]string{},
	}
	user := d.str(attr(v, "user"), p("user"), DefaultUser)
	port := int(d.integer(attr(v, "port"), p("port"), DefaultPort))
	role := d.str(attr(v, "role"), p("role"), DefaultRole)
	if port < 1 || port > 65535 {
		d.errorf(p("port"), "Invalid port", "%d is not a TCP port: use 1 to 65535.", port)
	}
	if user == "" {
		d.errorf(p("user"), "Empty user", "Set user to the SSH login, such as \"root\".")
	}
	if cfg.MaxParallel < 1 {
		d.errorf(p("max_parallel"), "Invalid max_parallel", "max_parallel must be at least 1.")
	}
	for _, x := range []struct {
		name string
		d    time.Duration
	}{{"connect_timeout", cfg.ConnectTimeout}, {"command_timeout", cfg.CommandTimeout}, {"reboot_timeout", cfg.RebootTimeout}} {
		if x.d == 0 && set(attr(v, x.name)) {
			d.errorf(p(x.name), "Invalid "+x.name, "%s must be more than zero.", x.name)
		}
	}
	if !path.IsAbs(cfg.StateDir) || path.Clean(cfg.StateDir) == "/" {
		d.errorf(p("state_dir"), "Invalid state_dir", "%q: use an absolute directory other than /, such as %q.", cfg.StateDir, DefaultStateDir)
	}
	cfg.StateDir = path.Clean(cfg.StateDir)
	switch cfg.PackageManager {
	case "auto", "apt", "dnf":
	default:
		d.errorf(p("package_manager"), "Invalid package_manager", "%q: use \"apt\", \"dnf\" or \"auto\".", cfg.PackageManager)
	}

	// Credentials: a key file, the agent, or both.
	useAgent := d.boolean(attr(v, "use_agent"), p("use_agent"), env("SSH_AUTH_SOCK") != "")
	if useAgent {
		cfg.AgentSocket = env("SSH_AUTH_SOCK")
		if cfg.AgentSocket == "" {
			d.errorf(p("use_agent"), "No ssh-agent", "use_agent is true but SSH_AUTH_SOCK is not set in escalator's environment: start ssh-agent, or set identity_file.")
		}
	}
	if cfg.IdentityFile == "" && !useAgent {
		d.diags.AddError("No SSH credentials", "Set identity_file to a private key file, or run escalator with an ssh-agent (SSH_AUTH_SOCK) that holds the key.")
	}
	cfg.IdentityFile = expandHome(cfg.IdentityFile, home)
	if cfg.KnownHostsFile == "" && !cfg.Insecure {
		cfg.KnownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
	}
	cfg.KnownHostsFile = expandHome(cfg.KnownHostsFile, home)

	if j := d.str(attr(v, "jump_host"), p("jump_host"), ""); j != "" {
		t, err := parseUserHostPort(j, user, DefaultPort)
		if err != nil {
			d.errorf(p("jump_host"), "Invalid jump_host", "%v.", err)
		} else {
			t.Name = "jump host " + t.Addr
			cfg.Jump = &t
		}
	}

	hostsVal := attr(v, "hosts")
	if !set(hostsVal) && !d.diags.HasErrors() && hostsVal.IsKnown() {
		d.errorf(p("hosts"), "No hosts", "Set hosts to the hosts to manage: { cmp-01 = { address = \"10.0.0.11\" } }.")
	}
	each(hostsVal, func(k, e cty.Value) {
		name := k.AsString()
		hp := p("hosts").Index(k)
		h := HostConfig{Name: name, User: user, Port: port, Role: role}
		if err := checkHostName(name); err != nil {
			d.errorf(hp, "Invalid host name", "%v.", err)
		}
		known := map[string]bool{}
		for _, key := range hostKeys {
			known[key] = true
		}
		each(e, func(kk, ev cty.Value) {
			key := kk.AsString()
			kp := hp.Index(kk)
			if !known[key] {
				d.errorf(kp, "Unknown host setting", "%q is not a host setting; use %s.", key, strings.Join(hostKeys, ", "))
				return
			}
			val := d.str(ev, kp, "")
			switch key {
			case "address":
				h.Address = strings.TrimSuffix(strings.TrimPrefix(val, "["), "]")
			case "user":
				h.User = val
			case "role":
				h.Role = val
			case "availability_zone":
				h.Zone = val
			case "port":
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 || n > 65535 {
					d.errorf(kp, "Invalid port", "%q is not a TCP port: use 1 to 65535.", val)
					return
				}
				h.Port = n
			}
		})
		if h.Address == "" {
			d.errorf(hp, "Missing address", "Host %q has no address: set address = \"10.0.0.11\" (or a DNS name).", name)
		} else if strings.ContainsAny(h.Address, " /@") {
			d.errorf(hp.GetAttr("address"), "Invalid address", "%q is not a host name or IP address.", h.Address)
		}
		cfg.Hosts[name] = h
		cfg.Names = append(cfg.Names, name)
	})
	sort.Strings(cfg.Names)

	each(attr(v, "components"), func(k, e cty.Value) {
		name := k.AsString()
		cp := p("components").Index(k)
		if !componentNameRE.MatchString(name) {
			d.errorf(cp, "Invalid component name", "%q: component names here are those of the campaign's component blocks (letters, digits, _ and -).", name)
		}
		var list []string
		i := 0
		each(e, func(_, pv cty.Value) {
			pkg := d.str(pv, cp.IndexInt(i), "")
			if err := pkgs.CheckName(pkg); err != nil {
				d.errorf(cp.IndexInt(i), "Invalid package name", "%v.", err)
			}
			list = append(list, pkg)
			i++
		})
		if len(list) == 0 && e.IsKnown() {
			d.errorf(cp, "Component without packages", "Component %q lists no package: name at least one, the first being the one whose version is the component's.", name)
		}
		cfg.Components[name] = list
	})
	return cfg, d.diags
}

var componentNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

var hostNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func checkHostName(name string) error {
	if !hostNameRE.MatchString(name) {
		return fmt.Errorf("%q: use letters, digits and . _ -, starting with a letter or digit", name)
	}
	return nil
}

// parseUserHostPort reads [user@]host[:port], IPv6 in brackets.
func parseUserHostPort(s, defUser string, defPort int) (remote.Target, error) {
	t := remote.Target{User: defUser}
	if u, rest, ok := strings.Cut(s, "@"); ok {
		t.User, s = u, rest
	}
	host, port := s, strconv.Itoa(defPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Count(s, ":") == 1 {
		return t, fmt.Errorf("%q: write host:port with a port number", s)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || host == "" || t.User == "" {
		return t, fmt.Errorf("%q: write [user@]host[:port], such as \"admin@bastion.example.org:22\"", s)
	}
	t.Addr = net.JoinHostPort(host, port)
	return t, nil
}

func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// DecodeSettings reads a component's settings (null: every default).
func DecodeSettings(v cty.Value) (Settings, sdk.Diagnostics) {
	d := &decoder{}
	p := cty.GetAttrPath
	s := Settings{
		Services:        d.strings(attr(v, "services"), p("services")),
		RestartServices: d.boolean(attr(v, "restart_services"), p("restart_services"), true),
		Reboot:          d.str(attr(v, "reboot"), p("reboot"), RebootNever),
		Pre:             d.strings(attr(v, "pre_commands"), p("pre_commands")),
		Post:            d.strings(attr(v, "post_commands"), p("post_commands")),
		Verify:          d.strings(attr(v, "verify_commands"), p("verify_commands")),
		UpdateLists:     d.boolean(attr(v, "update_package_lists"), p("update_package_lists"), true),
	}
	switch s.Reboot {
	case RebootNever, RebootIfRequired, RebootAlways:
	default:
		d.errorf(p("reboot"), "Invalid reboot", "%q: use \"never\", \"if_required\" or \"always\".", s.Reboot)
	}
	d.services(s.Services, p("services"))
	d.known(v, componentSchema(), "component setting")
	return s, d.diags
}

// DecodeBackupSettings reads a backup block's settings.
func DecodeBackupSettings(v cty.Value) (BackupSettings, sdk.Diagnostics) {
	d := &decoder{}
	p := cty.GetAttrPath
	b := BackupSettings{
		Paths:  d.strings(attr(v, "paths"), p("paths")),
		Retain: int(d.integer(attr(v, "retain"), p("retain"), DefaultBackupRetain)),
	}
	for i, x := range b.Paths {
		if !path.IsAbs(x) || path.Clean(x) != x || x == "/" {
			d.errorf(p("paths").IndexInt(i), "Invalid backup path", "%q: use a clean absolute path other than /, such as \"/etc/nova\".", x)
		}
	}
	if b.Retain < 1 {
		d.errorf(p("retain"), "Invalid retain", "retain must be at least 1.")
	}
	d.known(v, backupSchema(), "backup setting")
	return b, d.diags
}

// DecodeProbeSettings reads the settings of a check running the host probe.
func DecodeProbeSettings(v cty.Value) (ProbeSettings, sdk.Diagnostics) {
	d := &decoder{}
	p := cty.GetAttrPath
	s := ProbeSettings{
		Services: d.strings(attr(v, "services"), p("services")),
		Commands: d.strings(attr(v, "commands"), p("commands")),
	}
	d.services(s.Services, p("services"))
	d.known(v, probeSettingsSchema(), "probe setting")
	return s, d.diags
}

func probeSettingsSchema() sdk.Block {
	return sdk.Block{Attributes: []sdk.Attribute{
		{Name: "services", Type: cty.List(cty.String), Description: "Services that must be active."},
		{Name: "commands", Type: cty.List(cty.String), Description: "Shell commands that must exit 0."},
	}}
}

var serviceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9@:._-]*$`)

func (d *decoder) services(list []string, p cty.Path) {
	for i, s := range list {
		if !serviceRE.MatchString(s) {
			d.errorf(p.IndexInt(i), "Invalid service name", "%q is not a service name (such as \"nova-compute\" or \"libvirtd.service\").", s)
		}
	}
}

// known reports attributes the schema does not have: settings arrive as
// the operator wrote them.
func (d *decoder) known(v cty.Value, b sdk.Block, what string) {
	if !set(v) || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		return
	}
	names := map[string]bool{}
	var list []string
	for _, a := range b.Attributes {
		names[a.Name] = true
		list = append(list, a.Name)
	}
	each(v, func(k, _ cty.Value) {
		if !names[k.AsString()] {
			hint := ""
			if k.AsString() == "packages" {
				hint = " The packages of a component are listed in the provider block (components = { NAME = [\"pkg\", …] }), because the inventory needs them before any component is planned."
			}
			d.errorf(cty.GetAttrPath(k.AsString()), "Unknown "+what, "%q is not a hostos %s; use %s.%s", k.AsString(), what, strings.Join(list, ", "), hint)
		}
	})
}

// attr returns the named attribute of an object or map, null when absent.
func attr(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	ty := v.Type()
	switch {
	case ty.IsObjectType():
		if ty.HasAttribute(name) {
			return v.GetAttr(name)
		}
	case ty.IsMapType():
		if v.HasIndex(cty.StringVal(name)).True() {
			return v.Index(cty.StringVal(name))
		}
	}
	return cty.NullVal(cty.DynamicPseudoType)
}

// set reports whether v holds a usable value; unknown values (escalator
// validate before variables are known) are skipped, not errors.
func set(v cty.Value) bool { return v != cty.NilVal && !v.IsNull() && v.IsKnown() }

func each(v cty.Value, fn func(k, e cty.Value)) {
	if !set(v) || !v.CanIterateElements() {
		return
	}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		fn(k, e)
	}
}

// decoder reads typed values out of cty, collecting diagnostics that point
// at the offending attribute.
type decoder struct {
	diags sdk.Diagnostics
}

func (d *decoder) errorf(p cty.Path, summary, format string, args ...any) {
	d.diags.AddAttributeError(p, summary, fmt.Sprintf(format, args...))
}

func (d *decoder) str(v cty.Value, p cty.Path, def string) string {
	if !set(v) {
		return def
	}
	if v.Type() == cty.Number {
		return v.AsBigFloat().Text('f', -1)
	}
	if v.Type() != cty.String {
		d.errorf(p, "Invalid value", "Want a string, got %s.", v.Type().FriendlyName())
		return def
	}
	return v.AsString()
}

func (d *decoder) boolean(v cty.Value, p cty.Path, def bool) bool {
	if !set(v) {
		return def
	}
	if v.Type() != cty.Bool {
		d.errorf(p, "Invalid value", "Want true or false, got %s.", v.Type().FriendlyName())
		return def
	}
	return v.True()
}

func (d *decoder) integer(v cty.Value, p cty.Path, def int64) int64 {
	if !set(v) {
		return def
	}
	if v.Type() != cty.Number {
		d.errorf(p, "Invalid value", "Want a whole number, got %s.", v.Type().FriendlyName())
		return def
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact {
		d.errorf(p, "Invalid value", "Want a whole number, got %s.", bf.Text('g', -1))
		return def
	}
	return n
}

func (d *decoder) duration(v cty.Value, p cty.Path, def time.Duration) time.Duration {
	s := d.str(v, p, "")
	if s == "" {
		return def
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur < 0 {
		d.errorf(p, "Invalid duration", "%q is not a duration; write it like \"90s\", \"2m\" or \"1h30m\".", s)
		return def
	}
	return dur
}

func (d *decoder) strings(v cty.Value, p cty.Path) []string {
	if !set(v) {
		return nil
	}
	if !v.Type().IsListType() && !v.Type().IsTupleType() && !v.Type().IsSetType() {
		d.errorf(p, "Invalid value", "Want a list of strings, got %s.", v.Type().FriendlyName())
		return nil
	}
	var out []string
	i := 0
	each(v, func(_, e cty.Value) {
		if s := d.str(e, p.IndexInt(i), ""); s != "" {
			out = append(out, s)
		} else if set(e) {
			d.errorf(p.IndexInt(i), "Empty value", "Remove the empty string from the list.")
		}
		i++
	})
	return out
}

// homeDir is the home directory for ~ in paths, "" when unknown.
func homeDir() string {
	h, _ := os.UserHomeDir()
	return h
}
