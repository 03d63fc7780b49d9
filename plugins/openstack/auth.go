package openstack

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// connection is how to reach and authenticate to the cloud, resolved
// from clouds.yaml, the OS_* environment and the provider block.
type connection struct {
	Auth     gophercloud.AuthOptions
	Endpoint gophercloud.EndpointOpts
	CACert   string
	Cert     string
	Key      string
	Insecure bool
	// Source says where the credentials came from, for messages.
	Source string
	// Method is password, application credential or token.
	Method string
	// Warnings are shown at Configure (an insecure connection…).
	Warnings []string
	// secrets are the values redact hides in messages.
	secrets []string
}

// envAuth maps OS_* variables to clouds.yaml auth keys, in the order
// python-openstackclient reads them (later aliases lose).
var envAuth = []struct{ env, key string }{
	{"OS_AUTH_URL", "auth_url"},
	{"OS_USERNAME", "username"},
	{"OS_USER_ID", "user_id"},
	{"OS_PASSWORD", "password"},
	{"OS_USER_DOMAIN_NAME", "user_domain_name"},
	{"OS_USER_DOMAIN_ID", "user_domain_id"},
	{"OS_PROJECT_NAME", "project_name"},
	{"OS_TENANT_NAME", "project_name"},
	{"OS_PROJECT_ID", "project_id"},
	{"OS_TENANT_ID", "project_id"},
	{"OS_PROJECT_DOMAIN_NAME", "project_domain_name"},
	{"OS_PROJECT_DOMAIN_ID", "project_domain_id"},
	{"OS_DOMAIN_NAME", "domain_name"},
	{"OS_DOMAIN_ID", "domain_id"},
	{"OS_APPLICATION_CREDENTIAL_ID", "application_credential_id"},
	{"OS_APPLICATION_CREDENTIAL_NAME", "application_credential_name"},
	{"OS_APPLICATION_CREDENTIAL_SECRET", "application_credential_secret"},
	{"OS_TOKEN", "token"},
	{"OS_AUTH_TOKEN", "token"},
	{"OS_SYSTEM_SCOPE", "system_scope"},
}

// resolveConnection layers the sources: the clouds.yaml entry named by
// cloud (or OS_CLOUD), otherwise the OS_* environment when OS_AUTH_URL is
// set and the block sets no auth_url; then every argument set in the
// provider block overrides. getenv is os.Getenv outside tests.
func resolveConnection(cfg *Config, getenv func(string) string) (*connection, error) {
	c := &connection{}
	auth := map[string]string{}
	var region, iface, cacert, cert, key string
	var verify *bool

	cloud := cfg.Cloud
	if cloud == "" && cfg.Auth.AuthURL == "" {
		cloud = getenv("OS_CLOUD")
	}
	switch {
	case cloud != "":
		file, err := findCloudsFile(cfg.CloudsFile, getenv)
		if err != nil {
			return nil, err
		}
		e, err := loadCloud(file, cloud)
		if err != nil {
			return nil, err
		}
		auth = e.Auth
		region, iface, cacert, cert, key, verify = e.Region, e.Interface, e.CACert, e.Cert, e.Key, e.Verify
		c.Source = fmt.Sprintf("cloud %q of %s", cloud, file)
	case cfg.Auth.AuthURL == "" && getenv("OS_AUTH_URL") != "":
		for _, ev := range envAuth {
			if v := getenv(ev.env); v != "" && auth[ev.key] == "" {
				auth[ev.key] = v
			}
		}
		region = getenv("OS_REGION_NAME")
		iface = firstOf(getenv("OS_INTERFACE"), getenv("OS_ENDPOINT_TYPE"))
		cacert, cert, key = getenv("OS_CACERT"), getenv("OS_CERT"), getenv("OS_KEY")
		c.Source = "the OS_* environment variables"
	default:
		c.Source = "the provider block"
	}
	if getenv("OS_INSECURE") != "" && !cfg.Insecure {
		c.Warnings = append(c.Warnings, "OS_INSECURE is set in the environment and ignored: certificate checks stay on. To skip them (never in production), set insecure = true in the provider block.")
	}

	for _, a := range authAttrs {
		if v := *a.field(&cfg.Auth); v != "" {
			auth[a.name] = v
		}
	}
	region = firstOf(cfg.Region, region)
	iface = firstOf(cfg.Interface, iface)
	c.CACert, c.Cert, c.Key = firstOf(cfg.CACert, cacert), firstOf(cfg.Cert, cert), firstOf(cfg.Key, key)
	switch {
	case cfg.Insecure:
		c.Insecure = true
		c.Warnings = append(c.Warnings, "insecure = true: TLS certificates of the OpenStack endpoints are not verified, so anyone on the network path can read the credentials and the API traffic. Set cacert to the CA bundle instead.")
	case verify != nil && !*verify:
		c.Insecure = true
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s sets verify: false: TLS certificates of the OpenStack endpoints are not verified, so anyone on the network path can read the credentials. Set cacert to the CA bundle instead.", c.Source))
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, fmt.Errorf("a client certificate needs both cert and key (from %s)", c.Source)
	}

	ao, method, err := authOptions(auth, c.Source)
	if err != nil {
		return nil, err
	}
	c.Auth, c.Method = ao, method
	for _, k := range []string{"password", "application_credential_secret", "token"} {
		if v := auth[k]; v != "" {
			c.secrets = append(c.secrets, v)
		}
	}
	c.Endpoint = gophercloud.EndpointOpts{Region: region}
	switch strings.TrimSuffix(iface, "URL") {
	case "", "public":
		c.Endpoint.Availability = gophercloud.AvailabilityPublic
	case "internal":
		c.Endpoint.Availability = gophercloud.AvailabilityInternal
	case "admin":
		c.Endpoint.Availability = gophercloud.AvailabilityAdmin
	default:
		return nil, fmt.Errorf("interface %q (from %s) is not public, internal or admin", iface, c.Source)
	}
	return c, nil
}

// authOptions builds gophercloud's options for one of the three methods.
func authOptions(a map[string]string, source string) (gophercloud.AuthOptions, string, error) {
	ao := gophercloud.AuthOptions{IdentityEndpoint: a["auth_url"], AllowReauth: true}
	if ao.IdentityEndpoint == "" {
		return ao, "", fmt.Errorf("no Keystone URL: set cloud to an entry of clouds.yaml, or the OS_* environment variables (OS_AUTH_URL …), or auth_url in the provider block (looked in %s)", source)
	}
	userDomainName := firstOf(a["user_domain_name"], a["domain_name"])
	userDomainID := firstOf(a["user_domain_id"], a["domain_id"])
	var method string
	switch {
	case a["token"] != "":
		method = "token"
		ao.TokenID = a["token"]
		// A bare token can't be renewed: escalator fails when it expires.
		ao.AllowReauth = false
	case a["application_credential_id"] != "" || a["application_credential_name"] != "":
		method = "application credential"
		ao.ApplicationCredentialID = a["application_credential_id"]
		ao.ApplicationCredentialName = a["application_credential_name"]
		ao.ApplicationCredentialSecret = a["application_credential_secret"]
		if ao.ApplicationCredentialSecret == "" {
			return ao, "", fmt.Errorf("application credential without its secret: set application_credential_secret (from %s)", source)
		}
		if ao.ApplicationCredentialID == "" {
			// By name, the credential is looked up under its user.
			ao.UserID, ao.Username = a["user_id"], a["username"]
			ao.DomainID, ao.DomainName = userDomainID, userDomainName
			if ao.UserID == "" && ao.Username == "" {
				return ao, "", fmt.Errorf("application_credential_name needs its user: set username (and user_domain_name) or user_id (from %s)", source)
			}
		}
		// Application credentials carry their own scope.
		return ao, method, nil
	default:
		method = "password"
		ao.UserID, ao.Username, ao.Password = a["user_id"], a["username"], a["password"]
		if ao.UserID == "" && ao.Username == "" {
			return ao, "", fmt.Errorf("no credentials: set username and password, an application credential or a token (looked in %s)", source)
		}
		if ao.Password == "" {
			return ao, "", fmt.Errorf("no password for user %s (from %s): set password in clouds.yaml or secure.yaml, OS_PASSWORD, or the provider block", firstOf(ao.Username, ao.UserID), source)
		}
		if ao.UserID == "" {
			ao.DomainID, ao.DomainName = userDomainID, userDomainName
			if ao.DomainID == "" && ao.DomainName == "" {
				return ao, "", fmt.Errorf("user %q needs its domain: set user_domain_name (most clouds use \"Default\") or user_domain_id (from %s)", ao.Username, source)
			}
		}
	}
	switch {
	case a["system_scope"] != "":
		ao.Scope = &gophercloud.AuthScope{System: true}
	case a["project_id"] != "":
		ao.Scope = &gophercloud.AuthScope{ProjectID: a["project_id"]}
	case a["project_name"] != "":
		s := &gophercloud.AuthScope{
			ProjectName: a["project_name"],
			DomainID:    firstOf(a["project_domain_id"], a["domain_id"]),
			DomainName:  firstOf(a["project_domain_name"], a["domain_name"]),
		}
		if s.DomainID == "" && s.DomainName == "" {
			return ao, "", fmt.Errorf("project %q needs its domain: set project_domain_name (most clouds use \"Default\") or project_domain_id (from %s)", s.ProjectName, source)
		}
		ao.Scope = s
	case method == "password":
		return ao, "", fmt.Errorf("no project: escalator needs an admin token scoped to a project (project_name and project_domain_name, or project_id) or to the system (system_scope = \"all\") (from %s)", source)
	}
	return ao, method, nil
}

// tlsConfig builds the client's TLS settings; nil when the defaults do.
func (c *connection) tlsConfig() (*tls.Config, error) {
	if c.CACert == "" && c.Cert == "" && !c.Insecure {
		return nil, nil
	}
	// InsecureSkipVerify only by the explicit, warned opt-in.
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("read the CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bytes.TrimSpace(pem)) {
			return nil, fmt.Errorf("the CA bundle %s holds no PEM certificate", c.CACert)
		}
		tc.RootCAs = pool
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("load the client certificate %s and key %s: %w", c.Cert, c.Key, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// who names the identity used, without secrets.
func (c *connection) who() string {
	a := c.Auth
	user := firstOf(a.Username, a.UserID)
	switch {
	case a.ApplicationCredentialID != "":
		return "application credential " + a.ApplicationCredentialID
	case a.ApplicationCredentialName != "":
		return fmt.Sprintf("application credential %q of user %s", a.ApplicationCredentialName, user)
	case a.TokenID != "":
		return "a pre-issued token"
	}
	s := "user " + user
	if a.Scope != nil {
		switch {
		case a.Scope.System:
			s += ", system scope"
		case a.Scope.ProjectID != "":
			s += ", project " + a.Scope.ProjectID
		case a.Scope.ProjectName != "":
			s += ", project " + a.Scope.ProjectName
		}
	}
	return s
}

// redact replaces every secret in s, so that no message or log line can
// carry one even if an API echoes it.
func (c *connection) redact(s string) string {
	for _, sec := range c.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
