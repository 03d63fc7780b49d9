package arguments

import (
	"flag"
	"fmt"
	"time"
)

// Listen are the options of a command that serves the API.
type Listen struct {
	Listen          string
	TLSCert, TLSKey string
	Tokens          string
	AllowInsecure   bool

	// Keystone validation (off without KeystoneURL).
	KeystoneURL     string
	KeystoneRoles   string
	KeystoneProject string
	KeystoneCA      string
	KeystoneCache   time.Duration
	KeystoneRecheck time.Duration
}

func (l *Listen) addFlags(f *flag.FlagSet, def string) {
	f.StringVar(&l.Listen, "listen", def, "address")
	f.StringVar(&l.TLSCert, "tls-cert", "", "certificate")
	f.StringVar(&l.TLSKey, "tls-key", "", "key")
	f.StringVar(&l.Tokens, "tokens", "", "token file")
	f.BoolVar(&l.AllowInsecure, "allow-insecure-listen", false, "no TLS off loopback")
	f.StringVar(&l.KeystoneURL, "keystone-url", "", "identity v3 endpoint")
	f.StringVar(&l.KeystoneRoles, "keystone-roles", "reader=viewer,member=operator,admin=admin", "role mapping")
	f.StringVar(&l.KeystoneProject, "keystone-project", "", "project name or id")
	f.StringVar(&l.KeystoneCA, "keystone-ca", "", "CA bundle")
	f.DurationVar(&l.KeystoneCache, "keystone-cache", 12*time.Hour, "fallback window")
	f.DurationVar(&l.KeystoneRecheck, "keystone-recheck", time.Minute, "revalidation interval")
}

// Serve is the parsed command line of "escalator serve".
type Serve struct {
	Listen Listen
}

// ParseServe parses "escalator serve [-listen=ADDR] [-tls-cert=F -tls-key=F] [-tokens=F] [-allow-insecure-listen]".
func ParseServe(args []string) (*Serve, []error) {
	s := &Serve{}
	f := newFlagSet("serve")
	s.Listen.addFlags(f, "127.0.0.1:8470")
	if err := parseFlags(f, args); err != nil {
		return s, []error{err}
	}
	if extra := f.Args(); len(extra) > 0 {
		return s, []error{tooManyArgs("serve", "no arguments (the campaign is the current directory; use -chdir)", extra)}
	}
	return s, nil
}

// Token is the parsed command line of "escalator token".
type Token struct {
	Action     string // create, list, delete
	Name, Role string
	ID         string
	Tokens     string
}

// ParseToken parses "escalator token create|list|delete …".
func ParseToken(args []string) (*Token, []error) {
	t := &Token{}
	if len(args) == 0 {
		return t, []error{fmt.Errorf("token needs an action: create, list or delete")}
	}
	t.Action = args[0]
	f := newFlagSet("token " + t.Action)
	f.StringVar(&t.Tokens, "tokens", "", "token file")
	switch t.Action {
	case "create":
		f.StringVar(&t.Name, "name", "", "name")
		f.StringVar(&t.Role, "role", "", "role")
	case "list", "delete":
	default:
		return t, []error{fmt.Errorf("unknown token action %q: use create, list or delete", t.Action)}
	}
	if err := parseFlags(f, args[1:]); err != nil {
		return t, []error{err}
	}
	extra := f.Args()
	switch {
	case t.Action == "create" && (t.Name == "" || t.Role == ""):
		return t, []error{fmt.Errorf("token create needs -name (who uses it) and -role (viewer, operator or admin)")}
	case t.Action == "delete" && len(extra) != 1:
		return t, []error{fmt.Errorf("token delete needs one token ID (see token list)")}
	case t.Action == "delete":
		t.ID = extra[0]
	case len(extra) > 0:
		return t, []error{tooManyArgs("token "+t.Action, "no arguments", extra)}
	}
	return t, nil
}
