package command

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

	"github.com/escalator-nfv/escalator/internal/api"
	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/command/views"
	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/notify"
	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/session"
	"github.com/escalator-nfv/escalator/internal/state"
)

// DefaultListen is where the API listens unless told otherwise: loopback.
const DefaultListen = "127.0.0.1:8470"

// tokensPath is the campaign's token file unless -tokens says otherwise.
func tokensPath(cfg *config.Config, flag string) string {
	if flag != "" {
		return flag
	}
	p := cfg.Settings.State.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(cfg.Dir, p)
	}
	return filepath.Join(filepath.Dir(p), "tokens.json")
}

// apiServer is a running API server.
type apiServer struct {
	srv  *http.Server
	addr string
	tls  bool
	done chan error
}

// URL is where the server answers.
func (a *apiServer) URL() string {
	scheme := "http"
	if a.tls {
		scheme = "https"
	}
	return scheme + "://" + a.addr
}

// Shutdown stops the server, letting requests (event streams aside)
// finish for a few seconds.
func (a *apiServer) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
}

// startAPI serves the campaign's API on o.Listen. It refuses to listen on
// a non-loopback address without TLS unless o.AllowInsecure: the tokens
// would cross the network in clear.
func startAPI(cfg *config.Config, b state.Backend, o arguments.Listen) (*apiServer, error) {
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("invalid -listen=%s: %v (give host:port, like %s)", o.Listen, err, DefaultListen)
	}
	useTLS := o.TLSCert != "" || o.TLSKey != ""
	if useTLS && (o.TLSCert == "" || o.TLSKey == "") {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	if ip := net.ParseIP(host); !useTLS && !o.AllowInsecure && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return nil, fmt.Errorf("refusing to serve the API on %s without TLS: tokens would cross the network in clear. Give -tls-cert and -tls-key, listen on a loopback address, or, on a network you trust, add -allow-insecure-listen", o.Listen)
	}
	tokPath := tokensPath(cfg, o.Tokens)
	tokens, err := api.OpenTokens(tokPath)
	if err != nil {
		return nil, err
	}
	var keystone *api.Keystone
	if o.KeystoneURL != "" {
		roles, err := api.ParseKeystoneRoles(o.KeystoneRoles)
		if err != nil {
			return nil, fmt.Errorf("-keystone-roles: %w", err)
		}
		// 0 on the command line means none (the options' 0 means the default).
		cacheFor, recheck := o.KeystoneCache, o.KeystoneRecheck
		if cacheFor == 0 {
			cacheFor = -1
		}
		if recheck == 0 {
			recheck = -1
		}
		keystone, err = api.NewKeystone(api.KeystoneOptions{URL: o.KeystoneURL, Roles: roles, Project: o.KeystoneProject, CAFile: o.KeystoneCA,
			CacheFor: cacheFor, Recheck: recheck, CachePath: filepath.Join(filepath.Dir(tokPath), "keystone-cache.json")})
		if err != nil {
			return nil, err
		}
	}
	s := &api.Server{Keystone: keystone,
		Backend: b, Control: session.ControlFile(cfg), Tokens: tokens, Inbox: session.Inbox(cfg),
		VNFMSecret: func(name string) (string, error) { return notify.Secret(cfg, name) },
		Plan: func(id string) (*plans.Plan, error) {
			f, err := session.RunPlan(cfg, id)
			if err != nil {
				return nil, err
			}
			return f.Plan, nil
		},
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	if useTLS {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	a := &apiServer{srv: srv, addr: ln.Addr().String(), tls: useTLS, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.done <- err
	}()
	return a, nil
}

// ServeCommand is "escalator serve".
type ServeCommand struct {
	Meta
}

var (
	_ cli.Command             = (*ServeCommand)(nil)
	_ cli.CommandAutocomplete = (*ServeCommand)(nil)
)

func (c *ServeCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseServe(rawArgs)
	view := views.NewView(c.Streams)
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt("serve")
		return ExitError
	}
	cfg, ds := loadCampaign(".")
	if ds.HasErrors() {
		view.Errors([]error{ds.Err()})
		return ExitError
	}
	b, err := session.OpenBackend(cfg)
	if err != nil {
		view.Errors([]error{err})
		return ExitError
	}
	defer b.Close()
	a, err := startAPI(cfg, b, args.Listen)
	if err != nil {
		view.Errors([]error{err})
		return ExitError
	}
	fmt.Fprintf(c.Streams.Stdout, "Serving the API and dashboard of %s on %s (Ctrl-C to stop).\n", cfg.Dir, a.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
		a.Shutdown()
		return ExitOK
	case err := <-a.done:
		if err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		return ExitOK
	}
}

func (c *ServeCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] serve [options]

  Serves the HTTP API and the dashboard of the campaign in the current
  directory: runs, plans, events (also as a Server-Sent Events stream),
  status, Prometheus metrics, and the operator actions pause, resume,
  abort and canary approval, which reach a running apply through the
  campaign's control file. Every route but health, the OpenAPI document
  and the dashboard's files needs a bearer token (escalator token create).
  "escalator apply -listen=ADDR" serves the same during an apply.

Options:

  -listen=HOST:PORT        Where to listen (default 127.0.0.1:8470).

  -tls-cert=FILE           TLS certificate (PEM), with -tls-key.
  -tls-key=FILE

  -tokens=FILE             The token file (default: tokens.json next to the
                           state).

  -allow-insecure-listen   Serve on a non-loopback address without TLS.

  -keystone-url=URL        Also accept Keystone tokens (Authorization: Bearer
                           or X-Auth-Token), validated against this identity
                           v3 endpoint, e.g. https://keystone:5000/v3.
                           Tokens of the token file never depend on it.

  -keystone-roles=MAP      Keystone role to escalator role (default
                           reader=viewer,member=operator,admin=admin).

  -keystone-project=NAME   Accept only tokens scoped to this project (name
                           or id). Default: any project, or system scope.

  -keystone-ca=FILE        CA bundle (PEM) for an https Keystone.

  -keystone-cache=DURATION How long a token Keystone validated keeps working
                           while Keystone cannot be reached (its upgrade),
                           never past the token's expiry (default 12h; 0
                           turns the fallback off).

  -keystone-recheck=DURATION
                           How long a validation is reused before Keystone
                           is asked again: a revoked token is refused within
                           it (default 1m; 0 asks on every request).
`)
}

func (c *ServeCommand) Synopsis() string { return "Serve the HTTP API and the dashboard" }

func (c *ServeCommand) AutocompleteArgs() complete.Predictor { return complete.PredictNothing }

func (c *ServeCommand) AutocompleteFlags() complete.Flags { return listenFlags() }

func listenFlags() complete.Flags {
	return complete.Flags{"-listen": complete.PredictAnything, "-tls-cert": complete.PredictFiles("*"),
		"-tls-key": complete.PredictFiles("*"), "-tokens": complete.PredictFiles("*.json"), "-allow-insecure-listen": complete.PredictNothing,
		"-keystone-url": complete.PredictAnything, "-keystone-roles": complete.PredictAnything, "-keystone-project": complete.PredictAnything,
		"-keystone-ca": complete.PredictFiles("*"), "-keystone-cache": complete.PredictAnything, "-keystone-recheck": complete.PredictAnything}
}

// TokenCommand is "escalator token create|list|delete".
type TokenCommand struct {
	Meta
}

var _ cli.Command = (*TokenCommand)(nil)

func (c *TokenCommand) Run(rawArgs []string) int {
	args, errs := arguments.ParseToken(rawArgs)
	view := views.NewView(c.Streams)
	if len(errs) > 0 {
		view.Errors(errs)
		view.HelpPrompt("token")
		return ExitError
	}
	cfg, ds := loadCampaign(".")
	if ds.HasErrors() {
		view.Errors([]error{ds.Err()})
		return ExitError
	}
	tokens, err := api.OpenTokens(tokensPath(cfg, args.Tokens))
	if err != nil {
		view.Errors([]error{err})
		return ExitError
	}
	switch args.Action {
	case "create":
		role, err := api.ParseRole(args.Role)
		if err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		tk, secret, err := tokens.Create(args.Name, role)
		if err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		fmt.Fprintf(c.Streams.Stderr, "Token %q (id %s, role %s) created. This is the only time its secret is shown:\n", tk.Name, tk.ID, tk.Role)
		fmt.Fprintln(c.Streams.Stdout, secret)
	case "list":
		for _, tk := range tokens.List() {
			fmt.Fprintf(c.Streams.Stdout, "%s  %-9s %-24s created %s\n", tk.ID, tk.Role, tk.Name, tk.CreatedAt.Format(time.RFC3339))
		}
	case "delete":
		if err := tokens.Delete(args.ID); err != nil {
			view.Errors([]error{err})
			return ExitError
		}
		fmt.Fprintf(c.Streams.Stdout, "Token %s deleted.\n", args.ID)
	}
	return ExitOK
}

func (c *TokenCommand) Help() string {
	return strings.TrimSpace(`
Usage: escalator [global options] token create -name=NAME -role=ROLE [-tokens=FILE]
       escalator [global options] token list [-tokens=FILE]
       escalator [global options] token delete [-tokens=FILE] ID

  Manages the bearer tokens of the API (escalator serve, apply -listen).
  Roles: viewer (read), operator (also pause, resume, abort, approve a
  canary), admin (also tokens). The token file keeps only a hash of each
  secret; "create" prints the secret once, on standard output.
`)
}

func (c *TokenCommand) Synopsis() string { return "Manage the API's bearer tokens" }
