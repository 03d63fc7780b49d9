package pluginhost

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/go-plugin"
)

// EnvReattach names plugins that are already running (typically under a
// debugger) for escalator to attach to instead of starting them. Its value
// is a JSON object, the shape Terraform's TF_REATTACH_PROVIDERS uses:
//
//	{"sim": {"Protocol": "grpc", "ProtocolVersion": 1, "Pid": 4242,
//	         "Test": true, "Addr": {"Network": "unix", "String": "/tmp/plugin123"}}}
//
// A plugin started in debug mode prints this line. With "Test": true,
// escalator leaves the process running when it is done (the developer owns
// it); otherwise it kills it as it would a plugin it started. Reattached
// plugins are not discovered, hashed or checked against the lock file:
// the developer chose them.
const EnvReattach = "ESCALATOR_REATTACH_PROVIDERS"

// reattachEntry is one plugin of EnvReattach, in its JSON form.
type reattachEntry struct {
	Protocol        string
	ProtocolVersion int
	Pid             int
	Test            bool
	Addr            struct {
		Network string
		String  string
	}
}

// ParseReattach parses the value of EnvReattach into go-plugin reattach
// configurations by provider name. The empty string is no plugins.
func ParseReattach(value string) (map[string]*plugin.ReattachConfig, error) {
	out := map[string]*plugin.ReattachConfig{}
	if strings.TrimSpace(value) == "" {
		return out, nil
	}
	var raw map[string]reattachEntry
	if err := json.Unmarshal([]byte(value), &raw); err != nil {
		return nil, fmt.Errorf("%s is not valid: %v. It is a JSON object such as "+
			`{"sim":{"Protocol":"grpc","ProtocolVersion":1,"Pid":4242,"Test":true,"Addr":{"Network":"unix","String":"/tmp/plugin123"}}}, `+
			"as a plugin started in debug mode prints it; unset it to start plugins normally", EnvReattach, err)
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		e := raw[name]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s: provider %q: %s", EnvReattach, name, fmt.Sprintf(format, args...))
		}
		if err := checkName(name); err != nil {
			return nil, bad("%v", err)
		}
		proto := plugin.Protocol(e.Protocol)
		if proto == "" {
			proto = plugin.ProtocolGRPC
		}
		if proto != plugin.ProtocolGRPC {
			return nil, bad("protocol %q is not supported; escalator plugins speak %q", e.Protocol, plugin.ProtocolGRPC)
		}
		if !supportedVersion(e.ProtocolVersion) {
			return nil, bad("%s", noCommonVersion(e.ProtocolVersion))
		}
		var addr net.Addr
		var err error
		switch e.Addr.Network {
		case "unix":
			addr, err = net.ResolveUnixAddr("unix", e.Addr.String)
		case "tcp":
			addr, err = net.ResolveTCPAddr("tcp", e.Addr.String)
		default:
			return nil, bad("address network %q is not supported; use \"unix\" or \"tcp\"", e.Addr.Network)
		}
		if err != nil {
			return nil, bad("address %q: %v", e.Addr.String, err)
		}
		if e.Pid <= 0 {
			// go-plugin watches the process by pid to notice it exit.
			return nil, bad("Pid is required (the plugin's process id)")
		}
		out[name] = &plugin.ReattachConfig{
			Protocol:        proto,
			ProtocolVersion: e.ProtocolVersion,
			Addr:            addr,
			Pid:             e.Pid,
			Test:            e.Test,
		}
	}
	return out, nil
}

// reattachConfigs returns the reattach configurations from opts or the
// environment.
func reattachConfigs(opts Options) (map[string]*plugin.ReattachConfig, error) {
	v := os.Getenv(EnvReattach)
	if opts.Reattach != nil {
		v = *opts.Reattach
	}
	return ParseReattach(v)
}
