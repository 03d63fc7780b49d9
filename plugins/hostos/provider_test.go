package hostos

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/crypto/ssh"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
)

// keyFiles writes a client key and an empty known_hosts.
func keyFiles(t *testing.T) (key, known string) {
	t.Helper()
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key, known = filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(known, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, known
}

func newClient(t *testing.T) *sdktest.Client {
	p := New()
	p.env = noEnv
	return sdktest.Start(t, p)
}

func TestSchema(t *testing.T) {
	c := newClient(t)
	s, diags := c.Schema(t.Context())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(s.Actions) != len(Actions) || len(s.Probes) != 1 || s.Probes[0].Name != ProbeHost || len(s.HostAttributes) == 0 {
		t.Errorf("schema %+v", s)
	}
	var required []string
	for _, a := range s.Provider.Attributes {
		if a.Required {
			required = append(required, a.Name)
		}
	}
	if strings.Join(required, ",") != "hosts" {
		t.Errorf("required attributes %v", required)
	}
}

func TestConfigureOverTheProtocol(t *testing.T) {
	key, known := keyFiles(t)
	hostsMap := cty.ObjectVal(map[string]cty.Value{
		// As HCL writes it: an object of objects, the port a number.
		"cmp-1": cty.ObjectVal(map[string]cty.Value{"address": str("127.0.0.1"), "port": cty.NumberIntVal(2222)}),
	})
	tests := []struct {
		name     string
		cfg      map[string]cty.Value
		severity sdk.Severity
		summary  string
		path     cty.Path
	}{
		{name: "valid", cfg: map[string]cty.Value{"hosts": hostsMap, "identity_file": str(key), "known_hosts_file": str(known)}},
		{name: "missing hosts", cfg: map[string]cty.Value{"identity_file": str(key)}, severity: sdk.Error, summary: "Missing required argument"},
		{name: "missing known_hosts", cfg: map[string]cty.Value{"hosts": hostsMap, "identity_file": str(key), "known_hosts_file": str(known + ".nope")},
			severity: sdk.Error, summary: "Cannot set up SSH"},
		{name: "insecure is warned about", cfg: map[string]cty.Value{"hosts": hostsMap, "identity_file": str(key), "insecure_ignore_host_key": cty.True},
			severity: sdk.Warning, summary: "Host keys are not verified"},
		{name: "bad value points at it", cfg: map[string]cty.Value{"hosts": hostsMap, "identity_file": str(key), "known_hosts_file": str(known), "reboot_timeout": str("soon")},
			severity: sdk.Error, summary: "Invalid duration", path: cty.GetAttrPath("reboot_timeout")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			_, diags := c.Configure(t.Context(), cty.ObjectVal(tt.cfg))
			if tt.summary == "" {
				if len(diags) != 0 {
					t.Fatal(diags)
				}
				return
			}
			var found *sdk.Diagnostic
			for i := range diags {
				if strings.Contains(diags[i].Summary, tt.summary) {
					found = &diags[i]
				}
			}
			if found == nil || found.Severity != tt.severity {
				t.Fatalf("want %q (severity %d), got %v", tt.summary, tt.severity, diags)
			}
			if tt.path != nil && !found.Attribute.Equals(tt.path) {
				t.Errorf("path %#v", found.Attribute)
			}
		})
	}
}

func TestPlanComponent(t *testing.T) {
	key, known := keyFiles(t)
	c := newClient(t)
	if _, diags := c.Configure(t.Context(), baseConfig(map[string]cty.Value{"identity_file": str(key), "known_hosts_file": str(known), "reboot_timeout": str("3m")})); diags.HasErrors() {
		t.Fatal(diags)
	}
	reboot := cty.ObjectVal(map[string]cty.Value{"reboot": str("always")})
	tests := []struct {
		name       string
		req        sdk.PlanComponentRequest
		refused    string
		disruption sdk.Disruption
		duration   time.Duration
	}{
		{name: "plain upgrade", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "cmp-1", FromVersion: "1.0", ToVersion: "1.1"},
			duration: expectedUpgrade},
		{name: "with a reboot", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "cmp-1", FromVersion: "1.0", ToVersion: "1.1", Settings: reboot},
			disruption: sdk.DisruptionHost, duration: expectedUpgrade + 3*time.Minute},
		{name: "nothing to do", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "cmp-1", FromVersion: "1.1", ToVersion: "1.1"},
			disruption: sdk.DisruptionNone},
		{name: "unknown component", req: sdk.PlanComponentRequest{Component: "kernel", Host: "cmp-1", ToVersion: "6.1"}, refused: "components"},
		{name: "unknown host", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "cmp-9", ToVersion: "1.1"}, refused: "not in the hostos provider's hosts"},
		{name: "not a version", req: sdk.PlanComponentRequest{Component: "nova_compute", Host: "cmp-1", ToVersion: "latest please"}, refused: "not a package version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Settings == cty.NilVal {
				tt.req.Settings = cty.EmptyObjectVal
			}
			resp, diags := c.PlanComponent(t.Context(), tt.req)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if tt.refused != "" {
				if !resp.Refused || !strings.Contains(resp.RefusalReason, tt.refused) {
					t.Errorf("%+v, want refused with %q", resp, tt.refused)
				}
				return
			}
			if resp.Refused || resp.Disruption != tt.disruption || resp.ExpectedDuration != tt.duration {
				t.Errorf("%+v", resp)
			}
		})
	}
}

// A host that does not answer is down in the inventory, with a warning:
// the rest of the inventory stands. Unknown hosts and components are
// refused before any connection.
func TestInventoryAndActionsWithoutHosts(t *testing.T) {
	key, known := keyFiles(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close() // nothing listens there now: connection refused
	c := newClient(t)
	cfg := baseConfig(map[string]cty.Value{
		"identity_file": str(key), "known_hosts_file": str(known),
		"hosts": hostsVal(map[string]map[string]string{"cmp-1": {"address": "127.0.0.1", "port": strconv.Itoa(addr.Port)}}),
	})
	if _, diags := c.Configure(t.Context(), cfg); diags.HasErrors() {
		t.Fatal(diags)
	}
	inv, diags := c.ReadInventory(t.Context())
	if diags.HasErrors() || len(inv.Hosts) != 1 {
		t.Fatalf("%v %v", inv, diags)
	}
	h := inv.Hosts[0]
	if h.State != sdk.HostDown || !strings.Contains(h.Attributes[AttrUnreachableWhy], "connection refused") || len(diags) != 1 || diags[0].Summary != "Host unreachable" {
		t.Errorf("host %+v, diagnostics %v", h, diags)
	}

	tests := []struct {
		name    string
		req     sdk.ExecuteActionRequest
		summary string
		detail  string
	}{
		{"unknown host", sdk.ExecuteActionRequest{ID: "r/1", Kind: sdk.ActionUpgrade, Host: "cmp-9", Component: "nova_compute", ToVersion: "1.1"}, "Unknown host", "cmp-9"},
		{"unknown component", sdk.ExecuteActionRequest{ID: "r/2", Kind: sdk.ActionUpgrade, Host: "cmp-1", Component: "kernel", ToVersion: "1.1", Settings: cty.EmptyObjectVal}, "Upgrade failed", "components"},
		{"bad settings", sdk.ExecuteActionRequest{ID: "r/3", Kind: sdk.ActionUpgrade, Host: "cmp-1", Component: "nova_compute", ToVersion: "1.1",
			Settings: cty.ObjectVal(map[string]cty.Value{"reboot": str("maybe")})}, "Invalid reboot", "never"},
		{"unreachable", sdk.ExecuteActionRequest{ID: "r/4", Kind: sdk.ActionVerify, Host: "cmp-1", Component: "nova_compute", ToVersion: "1.1", Settings: cty.EmptyObjectVal}, "Host unreachable", "connect to cmp-1"},
		{"not a backup id", sdk.ExecuteActionRequest{ID: "r/5", Kind: sdk.ActionRestore, Host: "cmp-1", Component: "nova_compute", BackupID: "../../etc", Settings: cty.EmptyObjectVal}, "Restore failed", "not a hostos backup id"},
		{"undeclared action", sdk.ExecuteActionRequest{ID: "r/6", Kind: sdk.ActionMigrate, Host: "cmp-1", Instance: "vm"}, "", "migrate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := c.Execute(t.Context(), tt.req, nil)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags[len(diags)-1]
			if (tt.summary != "" && d.Summary != tt.summary) || !strings.Contains(d.Summary+" "+d.Detail, tt.detail) {
				t.Errorf("%s: %s", d.Summary, d.Detail)
			}
		})
	}
}
