package openstack

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Defaults of the provider block.
const (
	DefaultPollInterval     = 2 * time.Second
	DefaultMaxRetries       = 5
	DefaultRequestTimeout   = 2 * time.Minute
	DefaultInventoryWorkers = 8
	minPollInterval         = 100 * time.Millisecond
)

// What to do with a migration still running when its time is up.
const (
	OnTimeoutAbort         = "abort"
	OnTimeoutForceComplete = "force_complete"
)

// Config is the provider block, decoded and checked. Secrets are kept
// here only until Configure has authenticated; nothing prints a Config.
type Config struct {
	Cloud      string
	CloudsFile string
	Auth       AuthSettings

	Region    string
	Interface string
	CACert    string
	Cert      string
	Key       string
	// Insecure: skip TLS verification. Set only by insecure = true.
	Insecure bool

	// TakeOverDisabled lets enter_maintenance adopt a compute service
	// disabled for another reason (its reason is kept and put back by
	// leave_maintenance).
	TakeOverDisabled bool
	// OnMigrationTimeout: abort or force_complete a live migration still
	// running when its time is up.
	OnMigrationTimeout string
	// MigrationTimeout bounds one migration below the step's deadline; 0
	// means the deadline alone.
	MigrationTimeout time.Duration
	PollInterval     time.Duration
	MaxRetries       int
	RequestTimeout   time.Duration
	InventoryWorkers int
}

// AuthSettings are the Keystone settings an operator may give explicitly.
// Empty fields are unset.
type AuthSettings struct {
	AuthURL                     string
	Username                    string
	UserID                      string
	Password                    string
	UserDomainName              string
	UserDomainID                string
	ProjectName                 string
	ProjectID                   string
	ProjectDomainName           string
	ProjectDomainID             string
	DomainName                  string
	DomainID                    string
	ApplicationCredentialID     string
	ApplicationCredentialName   string
	ApplicationCredentialSecret string
	Token                       string
	SystemScope                 string
}

// authAttrs maps provider block attribute names to AuthSettings fields;
// the same names as clouds.yaml's auth section.
var authAttrs = []struct {
	name      string
	sensitive bool
	desc      string
	field     func(*AuthSettings) *string
}{
	{"auth_url", false, "Keystone URL, such as https://keystone.example.com:5000/v3.", func(a *AuthSettings) *string { return &a.AuthURL }},
	{"username", false, "User name (with user_domain_name or user_domain_id).", func(a *AuthSettings) *string { return &a.Username }},
	{"user_id", false, "User ID, instead of username.", func(a *AuthSettings) *string { return &a.UserID }},
	{"password", true, "Password. Prefer clouds.yaml/secure.yaml or OS_PASSWORD to writing it in the campaign.", func(a *AuthSettings) *string { return &a.Password }},
	{"user_domain_name", false, "Domain of the user, by name.", func(a *AuthSettings) *string { return &a.UserDomainName }},
	{"user_domain_id", false, "Domain of the user, by ID.", func(a *AuthSettings) *string { return &a.UserDomainID }},
	{"project_name", false, "Project to scope the token to (with project_domain_name or project_domain_id).", func(a *AuthSettings) *string { return &a.ProjectName }},
	{"project_id", false, "Project to scope the token to, by ID.", func(a *AuthSettings) *string { return &a.ProjectID }},
	{"project_domain_name", false, "Domain of the project, by name.", func(a *AuthSettings) *string { return &a.ProjectDomainName }},
	{"project_domain_id", false, "Domain of the project, by ID.", func(a *AuthSettings) *string { return &a.ProjectDomainID }},
	{"domain_name", false, "Default for user_domain_name and project_domain_name.", func(a *AuthSettings) *string { return &a.DomainName }},
	{"domain_id", false, "Default for user_domain_id and project_domain_id.", func(a *AuthSettings) *string { return &a.DomainID }},
	{"application_credential_id", false, "Application credential ID (with application_credential_secret).", func(a *AuthSettings) *string { return &a.ApplicationCredentialID }},
	{"application_credential_name", false, "Application credential name (with username and application_credential_secret).", func(a *AuthSettings) *string { return &a.ApplicationCredentialName }},
	{"application_credential_secret", true, "Application credential secret.", func(a *AuthSettings) *string { return &a.ApplicationCredentialSecret }},
	{"token", true, "An existing Keystone token. It is not renewed: the run fails when it expires.", func(a *AuthSettings) *string { return &a.Token }},
	{"system_scope", false, `"all" for a system-scoped token (clouds with system-scoped admin roles).`, func(a *AuthSettings) *string { return &a.SystemScope }},
}

func providerSchema() sdk.Block {
	attrs := []sdk.Attribute{
		{Name: "cloud", Type: cty.String, Description: "Name of the cloud in clouds.yaml, as OS_CLOUD. The arguments below override the entry's values."},
		{Name: "clouds_file", Type: cty.String, Description: "Path of clouds.yaml (relative to the campaign directory). Default: OS_CLIENT_CONFIG_FILE, then ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml. A secure.yaml next to it is merged in."},
	}
	for _, a := range authAttrs {
		attrs = append(attrs, sdk.Attribute{Name: a.name, Type: cty.String, Description: a.desc, Sensitive: a.sensitive})
	}
	attrs = append(attrs,
		sdk.Attribute{Name: "region", Type: cty.String, Description: "Region of the endpoints to use (region_name in clouds.yaml, OS_REGION_NAME)."},
		sdk.Attribute{Name: "interface", Type: cty.String, Description: `Endpoint interface: "public" (default), "internal" or "admin".`},
		sdk.Attribute{Name: "cacert", Type: cty.String, Description: "CA bundle (PEM) that signs the API endpoints' certificates."},
		sdk.Attribute{Name: "cert", Type: cty.String, Description: "Client certificate (PEM), with key, for endpoints that ask for one."},
		sdk.Attribute{Name: "key", Type: cty.String, Description: "Key of the client certificate (PEM)."},
		sdk.Attribute{Name: "insecure", Type: cty.Bool, Description: "Skip TLS certificate verification. Never in production: anyone on the path can read the credentials. Every run warns."},
		sdk.Attribute{Name: "take_over_disabled", Type: cty.Bool, Description: "Put into maintenance a compute service that is disabled for another reason (default false: refuse). Its reason is kept and restored, disabled, when maintenance ends."},
		sdk.Attribute{Name: "on_migration_timeout", Type: cty.String, Description: `What to do with a live migration still running when its time is up: "abort" (default: the instance stays on its source) or "force_complete" (pause it to finish the copy).`},
		sdk.Attribute{Name: "migration_timeout", Type: cty.String, Description: "Longest one migration may run, such as \"10m\"; the step's deadline (rollout evacuate timeout) applies anyway. Default: the deadline alone."},
		sdk.Attribute{Name: "poll_interval", Type: cty.String, Description: "How often migration records and service states are read while waiting. Default \"2s\"."},
		sdk.Attribute{Name: "max_retries", Type: cty.Number, Description: "Retries of a request that failed with 409, 502, 503, 504 or a connection error, with exponential backoff. Default 5."},
		sdk.Attribute{Name: "request_timeout", Type: cty.String, Description: "Longest one HTTP request may take. Default \"2m\"."},
		sdk.Attribute{Name: "inventory_parallelism", Type: cty.Number, Description: "Placement requests in flight at once while reading the inventory. Default 8."},
	)
	return sdk.Block{
		Description: "An OpenStack cloud: Nova, Placement and Keystone through their APIs. Credentials come from clouds.yaml (cloud), the OS_* environment, or the arguments here, which override both.",
		Attributes:  attrs,
	}
}

// decoder reads typed values out of a cty object, collecting diagnostics
// that point at the offending attribute. Unknown values (escalator
// validate before variables are known) count as unset.
type decoder struct {
	v     cty.Value
	diags sdk.Diagnostics
}

func (d *decoder) get(name string) (cty.Value, bool) {
	if d.v.IsNull() || !d.v.IsKnown() || !d.v.Type().IsObjectType() || !d.v.Type().HasAttribute(name) {
		return cty.NilVal, false
	}
	v := d.v.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) errorf(name, summary, format string, args ...any) {
	d.diags.AddAttributeError(cty.GetAttrPath(name), summary, fmt.Sprintf(format, args...))
}

func (d *decoder) str(name string) string {
	v, ok := d.get(name)
	if !ok {
		return ""
	}
	if v.Type() != cty.String {
		d.errorf(name, "Invalid value", "Want a string, got %s.", v.Type().FriendlyName())
		return ""
	}
	return strings.TrimSpace(v.AsString())
}

func (d *decoder) boolean(name string) bool {
	v, ok := d.get(name)
	if !ok {
		return false
	}
	if v.Type() != cty.Bool {
		d.errorf(name, "Invalid value", "Want true or false, got %s.", v.Type().FriendlyName())
		return false
	}
	return v.True()
}

func (d *decoder) integer(name string, def, min int) int {
	v, ok := d.get(name)
	if !ok {
		return def
	}
	if v.Type() != cty.Number {
		d.errorf(name, "Invalid value", "Want a whole number, got %s.", v.Type().FriendlyName())
		return def
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact || n < int64(min) || n > 1<<20 {
		d.errorf(name, "Invalid value", "Want a whole number of at least %d, got %s.", min, bf.Text('g', -1))
		return def
	}
	return int(n)
}

func (d *decoder) duration(name string, def, min time.Duration) time.Duration {
	s := d.str(name)
	if s == "" {
		return def
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur < min {
		d.errorf(name, "Invalid duration", "%q is not a duration of at least %s; write it like \"90s\", \"2m\" or \"1h30m\".", s, min)
		return def
	}
	return dur
}

// DecodeConfig checks a provider block without contacting the cloud.
func DecodeConfig(v cty.Value) (*Config, sdk.Diagnostics) {
	d := &decoder{v: v}
	cfg := &Config{
		Cloud:              d.str("cloud"),
		CloudsFile:         d.str("clouds_file"),
		Region:             d.str("region"),
		Interface:          d.str("interface"),
		CACert:             d.str("cacert"),
		Cert:               d.str("cert"),
		Key:                d.str("key"),
		Insecure:           d.boolean("insecure"),
		TakeOverDisabled:   d.boolean("take_over_disabled"),
		OnMigrationTimeout: d.str("on_migration_timeout"),
		MigrationTimeout:   d.duration("migration_timeout", 0, time.Second),
		PollInterval:       d.duration("poll_interval", DefaultPollInterval, minPollInterval),
		MaxRetries:         d.integer("max_retries", DefaultMaxRetries, 0),
		RequestTimeout:     d.duration("request_timeout", DefaultRequestTimeout, time.Second),
		InventoryWorkers:   d.integer("inventory_parallelism", DefaultInventoryWorkers, 1),
	}
	for _, a := range authAttrs {
		*a.field(&cfg.Auth) = d.str(a.name)
	}
	switch cfg.Interface {
	case "", "public", "internal", "admin", "publicURL", "internalURL", "adminURL":
	default:
		d.errorf("interface", "Invalid interface", "%q is not an endpoint interface; use \"public\", \"internal\" or \"admin\".", cfg.Interface)
	}
	switch cfg.OnMigrationTimeout {
	case "":
		cfg.OnMigrationTimeout = OnTimeoutAbort
	case OnTimeoutAbort, OnTimeoutForceComplete:
	default:
		d.errorf("on_migration_timeout", "Invalid on_migration_timeout", "%q: use \"abort\" (the instance stays on its source) or \"force_complete\".", cfg.OnMigrationTimeout)
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		name := "cert"
		if cfg.Cert != "" {
			name = "key"
		}
		d.errorf(name, "Incomplete client certificate", "Set both cert and key, or neither.")
	}
	if s := cfg.Auth.SystemScope; s != "" && s != "all" {
		d.errorf("system_scope", "Invalid system_scope", "%q: the only system scope is \"all\".", s)
	}
	return cfg, d.diags
}
