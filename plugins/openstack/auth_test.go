package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/zclconf/go-cty/cty"
)

func TestDecodeConfig(t *testing.T) {
	tests := []struct {
		name     string
		cfg      map[string]cty.Value
		wantPath string // attribute of the first error; "" for none
	}{
		{name: "empty is fine (OS_* environment)", cfg: nil},
		{name: "clouds.yaml", cfg: map[string]cty.Value{"cloud": cty.StringVal("prod")}},
		{name: "bad interface", cfg: map[string]cty.Value{"interface": cty.StringVal("private")}, wantPath: "interface"},
		{name: "bad on_migration_timeout", cfg: map[string]cty.Value{"on_migration_timeout": cty.StringVal("kill")}, wantPath: "on_migration_timeout"},
		{name: "bad duration", cfg: map[string]cty.Value{"migration_timeout": cty.StringVal("ten minutes")}, wantPath: "migration_timeout"},
		{name: "poll too fast", cfg: map[string]cty.Value{"poll_interval": cty.StringVal("1ms")}, wantPath: "poll_interval"},
		{name: "negative retries", cfg: map[string]cty.Value{"max_retries": cty.NumberIntVal(-1)}, wantPath: "max_retries"},
		{name: "cert without key", cfg: map[string]cty.Value{"cert": cty.StringVal("c.pem")}, wantPath: "key"},
		{name: "system scope", cfg: map[string]cty.Value{"system_scope": cty.StringVal("project")}, wantPath: "system_scope"},
		{name: "unknown values are left for later", cfg: map[string]cty.Value{"interface": cty.UnknownVal(cty.String)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := cty.EmptyObjectVal
			if tt.cfg != nil {
				v = cty.ObjectVal(tt.cfg)
			}
			cfg, diags := DecodeConfig(v)
			if tt.wantPath == "" {
				if diags.HasErrors() {
					t.Fatalf("unexpected errors: %v", diags)
				}
				if cfg.PollInterval != DefaultPollInterval || cfg.OnMigrationTimeout != OnTimeoutAbort || cfg.MaxRetries != DefaultMaxRetries {
					t.Errorf("defaults: %+v", cfg)
				}
				return
			}
			if !diags.HasErrors() {
				t.Fatalf("no error")
			}
			if got := diags[0].Attribute; !got.Equals(cty.GetAttrPath(tt.wantPath)) {
				t.Errorf("error at %#v, want %s: %v", got, tt.wantPath, diags)
			}
		})
	}
}

// TestValidateThroughTheProtocol: the SDK checks the schema, then ours.
func TestValidateThroughTheProtocol(t *testing.T) {
	f := newFakeCloud(t)
	cl := f.mustProvider(t, nil)
	diags := cl.ValidateConfig(context.Background(), cty.ObjectVal(map[string]cty.Value{"interface": cty.StringVal("private")}))
	if !diags.HasErrors() || !diags[0].Attribute.Equals(cty.GetAttrPath("interface")) {
		t.Errorf("validate: %v", diags)
	}
	diags = cl.ValidateConfig(context.Background(), cty.ObjectVal(map[string]cty.Value{"passwd": cty.StringVal("x")}))
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, `Did you mean "password"?`) {
		t.Errorf("validate an unknown argument: %v", diags)
	}
}

func TestParseYAML(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    any
		wantErr string
	}{
		{name: "clouds.yaml as the harness writes it", in: `# comment
clouds:
  prod:
    auth:
      auth_url: http://127.0.0.1:5000/v3   # trailing comment
      password: "p#ss:word"
      project_name: 'it''s'
    region_name: RegionOne
    identity_api_version: 3
`, want: map[string]any{"clouds": map[string]any{"prod": map[string]any{
			"auth":                 map[string]any{"auth_url": "http://127.0.0.1:5000/v3", "password": "p#ss:word", "project_name": "it's"},
			"region_name":          "RegionOne",
			"identity_api_version": "3",
		}}}},
		{name: "sequences and nulls", in: `---
regions:
- RegionOne
- name: RegionTwo
  values:
    x: y
empty:
nothing: ~
list: []
`, want: map[string]any{
			"regions": []any{"RegionOne", map[string]any{"name": "RegionTwo", "values": map[string]any{"x": "y"}}},
			"empty":   nil, "nothing": nil, "list": []any{},
		}},
		{name: "anchor", in: "a: &x 1\n", wantErr: "line 1: anchors"},
		{name: "block scalar", in: "a:\n  b: |\n    text\n", wantErr: "line 2: block scalars"},
		{name: "flow map", in: "a: {b: 1}\n", wantErr: "flow collections"},
		{name: "tab", in: "a:\n\tb: 1\n", wantErr: "line 2: tab"},
		{name: "bad indentation", in: "a:\n    b: 1\n  c: 2\n", wantErr: "line 3: unexpected indentation"},
		{name: "duplicate key", in: "a: 1\na: 2\n", wantErr: `line 2: key "a" appears twice`},
		{name: "unterminated quote", in: "a: \"x\n", wantErr: "unterminated"},
		{name: "multi-line plain scalar", in: "a: b\n  c\n", wantErr: "line 2: unexpected indentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseYAML([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveConnection(t *testing.T) {
	dir := t.TempDir()
	clouds := writeFile(t, dir, "clouds.yaml", `clouds:
  prod:
    auth:
      auth_url: https://keystone.prod:5000/v3
      username: escalator
      user_domain_name: Default
      project_name: admin
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
  lab:
    auth:
      auth_url: https://keystone.lab:5000/v3
      application_credential_id: ac-1
    verify: false
  profiled:
    profile: vexxhost
`)
	writeFile(t, dir, "secure.yaml", `clouds:
  prod:
    auth:
      password: from-secure-yaml
  lab:
    auth:
      application_credential_secret: ac-secret
`)
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	osEnv := map[string]string{
		"OS_AUTH_URL": "https://keystone.env:5000/v3", "OS_USERNAME": "envuser", "OS_PASSWORD": "env-pass",
		"OS_PROJECT_NAME": "ops", "OS_USER_DOMAIN_NAME": "Users", "OS_PROJECT_DOMAIN_ID": "d-ops", "OS_REGION_NAME": "RegionEnv",
	}
	tests := []struct {
		name     string
		cfg      Config
		env      map[string]string
		want     gophercloud.AuthOptions
		region   string
		avail    gophercloud.Availability
		source   string
		insecure bool
		wantErr  string
	}{
		{name: "clouds.yaml with secure.yaml", cfg: Config{Cloud: "prod", CloudsFile: clouds},
			want: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.prod:5000/v3", Username: "escalator", Password: "from-secure-yaml", DomainName: "Default", AllowReauth: true,
				Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"}},
			region: "RegionTwo", avail: gophercloud.AvailabilityInternal, source: `cloud "prod" of ` + clouds},
		{name: "OS_CLOUD and OS_CLIENT_CONFIG_FILE", env: map[string]string{"OS_CLOUD": "prod", "OS_CLIENT_CONFIG_FILE": clouds},
			want: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.prod:5000/v3", Username: "escalator", Password: "from-secure-yaml", DomainName: "Default", AllowReauth: true,
				Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"}},
			region: "RegionTwo", avail: gophercloud.AvailabilityInternal, source: `cloud "prod" of ` + clouds},
		{name: "block overrides clouds.yaml", cfg: Config{Cloud: "prod", CloudsFile: clouds, Region: "RegionOne", Interface: "public", Auth: AuthSettings{ProjectID: "p-1"}},
			want: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.prod:5000/v3", Username: "escalator", Password: "from-secure-yaml", DomainName: "Default", AllowReauth: true,
				Scope: &gophercloud.AuthScope{ProjectID: "p-1"}},
			region: "RegionOne", avail: gophercloud.AvailabilityPublic, source: `cloud "prod" of ` + clouds},
		{name: "application credential; verify false is insecure", cfg: Config{Cloud: "lab", CloudsFile: clouds},
			want:  gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.lab:5000/v3", ApplicationCredentialID: "ac-1", ApplicationCredentialSecret: "ac-secret", AllowReauth: true},
			avail: gophercloud.AvailabilityPublic, source: `cloud "lab" of ` + clouds, insecure: true},
		{name: "OS_* environment, with its domain variables", env: osEnv,
			want: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.env:5000/v3", Username: "envuser", Password: "env-pass", DomainName: "Users", AllowReauth: true,
				Scope: &gophercloud.AuthScope{ProjectName: "ops", DomainID: "d-ops"}},
			region: "RegionEnv", avail: gophercloud.AvailabilityPublic, source: "the OS_* environment variables"},
		{name: "an auth_url in the block ignores the environment", env: osEnv,
			cfg:   Config{Auth: AuthSettings{AuthURL: "https://k/v3", Token: "tok", SystemScope: "all"}},
			want:  gophercloud.AuthOptions{IdentityEndpoint: "https://k/v3", TokenID: "tok", Scope: &gophercloud.AuthScope{System: true}},
			avail: gophercloud.AvailabilityPublic, source: "the provider block"},
		{name: "explicit insecure", cfg: Config{Insecure: true, Auth: AuthSettings{AuthURL: "https://k/v3", Token: "tok", ProjectID: "p"}},
			want:  gophercloud.AuthOptions{IdentityEndpoint: "https://k/v3", TokenID: "tok", Scope: &gophercloud.AuthScope{ProjectID: "p"}},
			avail: gophercloud.AvailabilityPublic, source: "the provider block", insecure: true},
		{name: "unknown cloud", cfg: Config{Cloud: "nope", CloudsFile: clouds}, wantErr: `cloud "nope" is not in ` + clouds + " (it has lab, prod, profiled)"},
		{name: "public cloud profiles", cfg: Config{Cloud: "profiled", CloudsFile: clouds}, wantErr: `public cloud profile "vexxhost"`},
		{name: "nothing at all", wantErr: "no Keystone URL"},
		{name: "user without domain", cfg: Config{Auth: AuthSettings{AuthURL: "https://k/v3", Username: "u", Password: "p", ProjectID: "x"}}, wantErr: "needs its domain"},
		{name: "no password", cfg: Config{Auth: AuthSettings{AuthURL: "https://k/v3", Username: "u", UserDomainName: "D"}}, wantErr: "no password for user u"},
		{name: "secretless application credential", cfg: Config{Auth: AuthSettings{AuthURL: "https://k/v3", ApplicationCredentialID: "ac"}}, wantErr: "without its secret"},
		{name: "missing clouds.yaml", cfg: Config{Cloud: "prod"}, env: map[string]string{"HOME": dir + "/nohome"}, wantErr: "no clouds.yaml found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// ./clouds.yaml is searched too: from an empty directory.
			t.Chdir(t.TempDir())
			cfg := tt.cfg
			c, err := resolveConnection(&cfg, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, c.Auth); d != "" {
				t.Errorf("auth options (-want +got):\n%s", d)
			}
			if c.Endpoint.Region != tt.region || c.Endpoint.Availability != tt.avail || c.Source != tt.source || c.Insecure != tt.insecure {
				t.Errorf("region %q interface %q source %q insecure %v; want %q %q %q %v", c.Endpoint.Region, c.Endpoint.Availability, c.Source, c.Insecure, tt.region, tt.avail, tt.source, tt.insecure)
			}
			if tt.insecure && len(c.Warnings) == 0 {
				t.Errorf("insecure without a warning")
			}
		})
	}
}

func TestOSInsecureIsIgnored(t *testing.T) {
	c, err := resolveConnection(&Config{}, func(k string) string {
		return map[string]string{"OS_AUTH_URL": "https://k/v3", "OS_TOKEN": "t", "OS_PROJECT_ID": "p", "OS_INSECURE": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Insecure || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "OS_INSECURE is set in the environment and ignored") {
		t.Errorf("OS_INSECURE: insecure %v, warnings %v", c.Insecure, c.Warnings)
	}
}

func TestRedact(t *testing.T) {
	c := &connection{secrets: []string{"hunter22", "abc"}}
	if got := c.redact("password hunter22 and abc"); got != "password *** and abc" {
		t.Errorf("redact: %q", got)
	}
	if got := (&connection{Auth: gophercloud.AuthOptions{Username: "u", Password: "hunter22", Scope: &gophercloud.AuthScope{ProjectName: "p"}}}).who(); strings.Contains(got, "hunter22") {
		t.Errorf("who() prints the password: %q", got)
	}
}

func TestRetryable(t *testing.T) {
	code := func(n int) error {
		return gophercloud.ErrUnexpectedResponseCode{Actual: n, Method: "GET", URL: "http://x", Body: []byte("{}")}
	}
	netErr := &net.OpError{Op: "read", Err: syscall.ECONNRESET}
	tests := []struct {
		method string
		err    error
		want   bool
	}{
		{"GET", code(409), true},
		{"POST", code(409), true},
		{"PUT", code(503), true},
		{"POST", code(503), true},
		{"GET", code(502), true},
		{"GET", code(504), true},
		{"GET", code(429), true},
		{"GET", code(500), false},
		{"GET", code(404), false},
		{"GET", code(403), false},
		{"GET", code(400), false},
		{"GET", netErr, true},
		{"DELETE", io.ErrUnexpectedEOF, true},
		{"POST", netErr, false}, // may have reached Nova: migrate looks for its record
		{"POST", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"GET", errors.New("json: cannot unmarshal"), false},
	}
	for _, tt := range tests {
		if got := retryable(tt.method, tt.err); got != tt.want {
			t.Errorf("retryable(%s, %v) = %v, want %v", tt.method, tt.err, got, tt.want)
		}
	}
	for attempt := uint(1); attempt <= 8; attempt++ {
		d := backoff(attempt)
		hi := 500 * 1e6 * float64(int(1)<<min(attempt-1, 5))
		if float64(d) < hi/2 || float64(d) > hi {
			t.Errorf("backoff(%d) = %s, want between %v and %v", attempt, d, hi/2e9, hi/1e9)
		}
	}
}

func TestAPIErrorMessages(t *testing.T) {
	c := &cloud{conn: &connection{Source: "the provider block", secrets: []string{"hunter22"},
		Auth: gophercloud.AuthOptions{Username: "ops", Scope: &gophercloud.AuthScope{ProjectName: "admin"}}}}
	tests := []struct {
		err  error
		want []string
	}{
		{gophercloud.ErrUnexpectedResponseCode{Actual: 403, Method: "GET", URL: "http://nova/os-services", Body: []byte(`{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-services:list to be performed."}}`)},
			[]string{"list services: forbidden (403) by policy os_compute_api:os-services:list", "user ops, project admin", "admin role"}},
		{gophercloud.ErrUnexpectedResponseCode{Actual: 403, Method: "GET", URL: "http://placement/resource_providers", Body: []byte(`{"errors": [{"status": 403, "title": "Forbidden", "detail": "Access was denied to this resource."}]}`)},
			[]string{"forbidden (403) by the API's admin policy", "openstack role add"}},
		{gophercloud.ErrUnexpectedResponseCode{Actual: 401, Method: "GET", URL: "http://nova/os-services", Body: []byte(`{}`)},
			[]string{"unauthorized (401)", "the provider block"}},
		{gophercloud.ErrUnexpectedResponseCode{Actual: 409, Method: "POST", URL: "http://nova/servers/x/action?a=b", Body: []byte(`{"conflictingRequest": {"code": 409, "message": "Cannot 'os-migrateLive' instance hunter22"}}`)},
			[]string{"POST http://nova/servers/x/action answered 409: Cannot 'os-migrateLive' instance ***"}},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), []string{"list services: dial: connection refused"}},
	}
	for _, tt := range tests {
		got := c.apiError("list services", tt.err).Error()
		for _, s := range tt.want {
			if !strings.Contains(got, s) {
				t.Errorf("apiError(%v) = %q, does not say %q", tt.err, got, s)
			}
		}
		if strings.Contains(got, "hunter22") {
			t.Errorf("apiError prints a secret: %q", got)
		}
	}
}

// TestForbiddenScope: Keystone refusing to scope the token is reported
// as a missing role.
func TestForbiddenScope(t *testing.T) {
	f := newFakeCloud(t)
	f.forbidden["POST /v3/auth/tokens"] = "identity:scope"
	_, diags := f.provider(t, nil)
	if got := errorText(diags); !strings.Contains(got, "403 Forbidden") || !strings.Contains(got, "no role on that project") {
		t.Errorf("configure with a user without a role: %s", got)
	}
}
