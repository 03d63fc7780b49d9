package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/addrs"
)

// writeCampaign writes files into a fresh directory and returns it.
func writeCampaign(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const preamble = `
escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}
provider "sim" {}
hosts "compute" {
  provider = provider.sim
  where    = host.availability_zone != "az9"
}
`

func TestQuickstartModel(t *testing.T) {
	cfg, ds := Load("../../examples/quickstart", Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	r := cfg.Rollouts["compute"]
	if r == nil {
		t.Fatal("no rollout compute")
	}
	if diff := cmp.Diff([]addrs.Ref{addrs.Component("qemu"), addrs.Component("nova_compute")}, r.Components); diff != "" {
		t.Errorf("components: %s", diff)
	}
	if r.MaxUnavailable != Percent(25) {
		t.Errorf("max_unavailable = %v", r.MaxUnavailable)
	}
	if r.Canary == nil || r.Canary.Count != Count(1) || r.Canary.Soak.String() != "5s" {
		t.Errorf("canary = %+v", r.Canary)
	}
	if r.OnFailure.Action != FailureRollbackHost || r.Evacuate.Parallel != 2 || len(r.Notify) != 1 {
		t.Errorf("rollout = %+v", r)
	}
	if n := r.Notify[0]; n.Mode != NotifyNone || n.OnTimeout != OnTimeoutProceed || !n.Wait || n.OwnActionTimeout != DefaultOwnActionTimeout {
		t.Errorf("notify = %+v", r.Notify[0])
	}
	nc := cfg.Components["nova_compute"]
	if nc.Version != "27.1.0" || nc.Provider != addrs.Provider("sim") || nc.Disruption != DisruptionService {
		t.Errorf("nova_compute = %+v", nc)
	}
	if diff := cmp.Diff([][]addrs.Ref{{addrs.Component("qemu")}, {addrs.Component("nova_compute")}}, cfg.ComponentLayers); diff != "" {
		t.Errorf("layers: %s", diff)
	}

	// The deferred expressions evaluate per host.
	host := func(zone, state string) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal("cmp-1"), "role": cty.StringVal("compute"),
			"availability_zone": cty.StringVal(zone), "aggregates": cty.ListValEmpty(cty.String),
			"vcpus": cty.NumberIntVal(64), "memory_mb": cty.NumberIntVal(262144), "state": cty.StringVal(state),
			"versions": cty.MapValEmpty(cty.String), "attributes": cty.MapValEmpty(cty.String),
		})
	}
	for _, tt := range []struct {
		zone, state string
		want        bool
	}{{"az1", "up", true}, {"az3", "up", false}, {"az2", "down", false}} {
		v, ds := cfg.EvalHost(cfg.HostSets["compute"].Where, host(tt.zone, tt.state), cty.Bool)
		if ds.HasErrors() || v.True() != tt.want {
			t.Errorf("where(%s,%s) = %#v, %v", tt.zone, tt.state, v, ds.Err())
		}
	}
	g, ds := cfg.EvalHost(r.GroupBy, host("az2", "up"), cty.String)
	if ds.HasErrors() || g.AsString() != "az2" {
		t.Errorf("group_by = %#v, %v", g, ds.Err())
	}
}

func TestVariableSources(t *testing.T) {
	campaign := preamble + `
variable "version" {
  type    = string
  default = "1.0.0"
}
variable "zones" {
  type    = list(string)
  default = []
}
variable "required" {
  type = number
}
component "c" {
  hosts   = hosts.compute
  version = "${var.version}-${var.required}-${length(var.zones)}"
}
rollout "r" {
  components = [component.c]
}
`
	tests := []struct {
		name    string
		files   map[string]string
		opts    Options
		want    string // component version, which spells out all three variables
		wantErr string
	}{
		{name: "defaults and -var", opts: Options{Vars: []VarArg{{Name: "required", Value: "7"}}}, want: "1.0.0-7-0"},
		{name: "environment", opts: Options{Environ: []string{"ESCALATOR_VAR_required=3", "ESCALATOR_VAR_unrelated=1", "HOME=/root"}}, want: "1.0.0-3-0"},
		{
			name:  "auto file beats environment, -var beats auto file",
			files: map[string]string{"escalator.hclvars": "required = 1\nversion = \"2.0.0\"\n", "b.auto.hclvars": "required = 2\n"},
			opts:  Options{Environ: []string{"ESCALATOR_VAR_required=3"}, Vars: []VarArg{{Name: "version", Value: "3.0.0"}}},
			want:  "3.0.0-2-0",
		},
		{
			name:  "var-file in command-line order",
			files: map[string]string{"x.vars": "zones = [\"a\", \"b\"]\nrequired = 5\n"},
			opts:  Options{Vars: []VarArg{{Name: "required", Value: "9"}, {File: "x.vars"}}},
			want:  "1.0.0-5-2",
		},
		{name: "list from -var parses HCL", opts: Options{Vars: []VarArg{{Name: "required", Value: "1"}, {Name: "zones", Value: `["a","b","c"]`}}}, want: "1.0.0-1-3"},
		{name: "missing required", wantErr: "No value for required variable"},
		{name: "unset allowed for validate", opts: Options{AllowUnsetVariables: true}, want: ""},
		{name: "undeclared -var", opts: Options{Vars: []VarArg{{Name: "requierd", Value: "1"}}}, wantErr: `Did you mean "required"?`},
		{name: "wrong type", opts: Options{Vars: []VarArg{{Name: "required", Value: "many"}}}, wantErr: "Invalid value for variable"},
		{name: "undeclared in var-file", files: map[string]string{"x.vars": "nope = 1\n"}, opts: Options{Vars: []VarArg{{Name: "required", Value: "1"}, {File: "x.vars"}}}, wantErr: "Value for undeclared variable"},
		{name: "missing var-file", opts: Options{Vars: []VarArg{{Name: "required", Value: "1"}, {File: "nope.vars"}}}, wantErr: "nope.vars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"main.hcl": campaign}
			for k, v := range tt.files {
				files[k] = v
			}
			dir := writeCampaign(t, files)
			for i, v := range tt.opts.Vars {
				if v.File != "" {
					tt.opts.Vars[i].File = filepath.Join(dir, v.File)
				}
			}
			if tt.opts.Environ == nil {
				tt.opts.Environ = []string{}
			}
			cfg, ds := Load(dir, tt.opts)
			if tt.wantErr != "" {
				if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), tt.wantErr) {
					t.Fatalf("want error containing %q, got %v", tt.wantErr, ds.Err())
				}
				return
			}
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			if got := cfg.Components["c"].Version; got != tt.want {
				t.Errorf("version = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVariableValidation(t *testing.T) {
	src := preamble + `
variable "pct" {
  type = number
  validation {
    condition     = var.pct > 0 && var.pct <= 50
    error_message = "pct must be between 1 and 50."
  }
}
variable "token" {
  type      = string
  sensitive = true
  default   = "s3cret"
}
locals {
  header = "Bearer ${var.token}"
}
`
	dir := writeCampaign(t, map[string]string{"main.hcl": src})
	_, ds := Load(dir, Options{Vars: []VarArg{{Name: "pct", Value: "75"}}})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "pct must be between 1 and 50.") {
		t.Fatalf("want the validation message, got %v", ds.Err())
	}
	cfg, ds := Load(dir, Options{Vars: []VarArg{{Name: "pct", Value: "10"}}})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	// Values computed from a sensitive variable stay marked.
	if !cfg.Locals["header"].Value.HasMark(SensitiveMark) {
		t.Error("local computed from a sensitive variable lost its mark")
	}
}

func TestImplicitDependencies(t *testing.T) {
	src := preamble + `
locals {
  control = component.nova_api.version
}
component "nova_api" {
  hosts   = hosts.compute
  version = "27.1.0"
}
component "nova_compute" {
  hosts   = hosts.compute
  version = local.control
}
component "ovs" {
  hosts      = hosts.compute
  version    = "3.1"
  depends_on = [component.nova_compute]
}
rollout "r" {
  components = [component.nova_api, component.nova_compute, component.ovs]
}
`
	cfg, ds := Load(writeCampaign(t, map[string]string{"main.hcl": src}), Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if got := cfg.Components["nova_compute"]; got.Version != "27.1.0" || !cmp.Equal(got.DependsOn, []addrs.Ref{addrs.Component("nova_api")}) {
		t.Errorf("nova_compute = %+v", got)
	}
	want := [][]addrs.Ref{{addrs.Component("nova_api")}, {addrs.Component("nova_compute")}, {addrs.Component("ovs")}}
	if diff := cmp.Diff(want, cfg.ComponentLayers); diff != "" {
		t.Errorf("layers: %s", diff)
	}
}

func TestLoadDirectoryErrors(t *testing.T) {
	_, ds := Load(filepath.Join(t.TempDir(), "missing"), Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "does not exist") {
		t.Errorf("missing dir: %v", ds.Err())
	}
	_, ds = Load(t.TempDir(), Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "no *.hcl files") {
		t.Errorf("empty dir: %v", ds.Err())
	}
}

func TestUnknownValuesSkipCrossChecks(t *testing.T) {
	src := preamble + `
variable "action" {
  type = string
}
variable "disruption" {
  type = string
}
component "c" {
  hosts      = hosts.compute
  version    = "1"
  disruption = var.disruption
}
locals {
  d = component.c.disruption
  p = component.c.provider
}
rollout "r" {
  components = [component.c]
  on_failure {
    action     = var.action
    max_failed = 2
  }
}
`
	cfg, ds := Load(writeCampaign(t, map[string]string{"main.hcl": src}), Options{AllowUnsetVariables: true})
	if len(ds) > 0 {
		t.Fatalf("unexpected diagnostics: %v", ds.Err())
	}
	if cfg.Locals["d"].Value.IsKnown() {
		t.Errorf("component.c.disruption = %#v, want unknown", cfg.Locals["d"].Value)
	}
	if p := cfg.Locals["p"].Value; !p.IsKnown() || p.AsString() != "sim" {
		t.Errorf("component.c.provider = %#v, want the hosts block's provider", p)
	}
}

func TestVariableOptionalDefaultsAndSecrets(t *testing.T) {
	src := preamble + `
variable "window" {
  type = object({
    start = string
    hours = optional(number, 4)
  })
}
variable "token" {
  type      = string
  sensitive = true
  validation {
    condition     = length(var.token) >= 8
    error_message = "token ${var.token} is too short."
  }
}
`
	dir := writeCampaign(t, map[string]string{"main.hcl": src})
	cfg, ds := Load(dir, Options{Vars: []VarArg{{Name: "window", Value: `{ start = "02:00" }`}, {Name: "token", Value: "longenough"}}})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if h := cfg.Variables["window"].Value.GetAttr("hours"); !h.RawEquals(cty.NumberIntVal(4)) {
		t.Errorf("optional default not applied to a -var value: hours = %#v", h)
	}
	_, ds = Load(dir, Options{Vars: []VarArg{{Name: "window", Value: `{ start = "02:00" }`}, {Name: "token", Value: "hunter2"}}})
	if !ds.HasErrors() {
		t.Fatal("want a validation error")
	}
	if msg := ds.Err().Error(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, "sensitive") {
		t.Errorf("validation message leaks or lacks the reason: %s", msg)
	}
}

func TestDigest(t *testing.T) {
	src := preamble + `
variable "v" {
  type    = string
  default = "a"
}
`
	dir := writeCampaign(t, map[string]string{"main.hcl": src})
	c1, _ := Load(dir, Options{})
	c2, _ := Load(dir, Options{})
	c3, _ := Load(dir, Options{Vars: []VarArg{{Name: "v", Value: "b"}}})
	if c1.Digest() != c2.Digest() {
		t.Error("digest is not deterministic")
	}
	if c1.Digest() == c3.Digest() {
		t.Error("digest ignores variable values")
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src+"\n# comment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c4, _ := Load(dir, Options{})
	if c1.Digest() == c4.Digest() {
		t.Error("digest ignores file contents")
	}
}

func TestNotifySettings(t *testing.T) {
	dir := writeCampaign(t, map[string]string{"main.hcl": preamble + `
component "os" {
  hosts   = hosts.compute
  version = "12.8"
}
rollout "all" {
  components = [component.os]
  notify "ims" {
    url                = "http://127.0.0.1:9797/"
    wait               = false
    lead_time          = "2m"
    reply_url          = "https://escalator.example.net:8470/v1/vnfm/ims/replies"
    on_timeout         = "fail_host"
    own_action_timeout = "5m"
  }
  notify "defaults" {
    url = "http://127.0.0.1:9798/"
  }
}
`})
	cfg, ds := Load(dir, Options{Environ: []string{}})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	n := cfg.Rollouts["all"].Notify
	if n[0].Wait || n[0].LeadTime.String() != "2m" || n[0].OnTimeout != OnTimeoutFailHost || n[0].OwnActionTimeout.String() != "5m" ||
		n[0].ReplyURL != "https://escalator.example.net:8470/v1/vnfm/ims/replies" {
		t.Errorf("ims = %+v", n[0])
	}
	if !n[1].Wait || n[1].LeadTime != 0 || n[1].OnTimeout != OnTimeoutProceed || n[1].OwnActionTimeout != DefaultOwnActionTimeout || n[1].ReplyURL != "" {
		t.Errorf("defaults = %+v", n[1])
	}
}
