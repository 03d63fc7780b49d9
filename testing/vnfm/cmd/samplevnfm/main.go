// Command samplevnfm runs the sample VNF manager of package
// testing/vnfm: an active/standby pair of instances on a sim cloud,
// answering escalator's maintenance notifications (switch-over and
// OWN_ACTION for the active instance, escalator's migration for the
// standby), synchronously or asynchronously, or refusing (nack) or
// staying silent, to try a campaign's notify block by hand:
//
//	SAMPLEVNFM_SECRET=s3cret samplevnfm -cloud cloud.json -group ims-pcscf
//
// then point the notify block's url at the printed notify URL, with the
// same secret. GET /v1/records shows what it received, answered and saw
// move. It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/escalator-nfv/escalator/testing/vnfm"
)

// SecretEnv holds the secret when -secret is not given (a flag shows in
// the process list).
const SecretEnv = "SAMPLEVNFM_SECRET"

// DefaultListen is where the sim's default cloud says its VNF managers
// are (http://127.0.0.1:9797/maintenance).
const DefaultListen = "127.0.0.1:9797"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	cfg     vnfm.Config
	listen  string
	records string
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("samplevnfm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mode, reply, pair string
	fs.StringVar(&o.cfg.Cloud, "cloud", "", "the sim cloud file (required)")
	fs.StringVar(&o.cfg.Secret, "secret", "", "the notify block's secret (default: $"+SecretEnv+")")
	fs.StringVar(&pair, "pair", "", "the pair's instance ids, ACTIVE,STANDBY")
	fs.StringVar(&o.cfg.Group, "group", "", "a server group (name or id) whose first two members by name are the pair, the first active")
	fs.StringVar(&o.listen, "listen", DefaultListen, "where to listen, host:port (port 0 picks one)")
	fs.StringVar(&mode, "mode", string(vnfm.ModeAck), "ack, nack or silent")
	fs.StringVar(&reply, "reply", string(vnfm.ReplySync), "sync (in the response) or async (202, then a signed POST to reply_url)")
	fs.StringVar(&o.cfg.NackReason, "nack-reason", vnfm.DefaultNackReason, "the reason of a NACK")
	fs.StringVar(&o.cfg.StandbyAction, "standby-action", "", "the action chosen for the standby: LIVE_MIGRATE, MIGRATE, or empty for escalator's plan")
	fs.DurationVar(&o.cfg.ReplyDelay, "reply-delay", 0, "how long an asynchronous reply waits before it is sent")
	fs.DurationVar(&o.cfg.OwnActionTimeout, "own-action-timeout", vnfm.DefaultOwnActionTimeout, "how long it tries to move an instance it took over")
	fs.Float64Var(&o.cfg.TimeScale, "time-scale", 0, "the sim time_scale of its own migrations (0: instant)")
	fs.StringVar(&o.cfg.Name, "name", vnfm.DefaultName, "its name, in the step ids of its own migrations")
	fs.StringVar(&o.records, "records", "", "write the records as JSON to this file when it stops")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: everything is a flag (see -h)", fs.Args())
	}
	o.cfg.Mode, o.cfg.Reply = vnfm.Mode(mode), vnfm.ReplyMode(reply)
	if pair != "" {
		o.cfg.Pair = strings.Split(pair, ",")
	}
	if o.cfg.Secret == "" {
		o.cfg.Secret = getenv(SecretEnv)
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "samplevnfm:", err)
		return 2
	}
	o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	m, err := vnfm.New(ctx, o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "samplevnfm:", err)
		return 1
	}
	srv, err := vnfm.Serve(m, o.listen)
	if err != nil {
		m.Close()
		fmt.Fprintln(stderr, "samplevnfm:", err)
		return 1
	}
	active, standby := m.Roles()
	fmt.Fprintf(stdout, "samplevnfm: serving on %s; notify url %s; active %s, standby %s\n", srv.URL(), srv.NotifyURL(), active, standby)
	<-ctx.Done()

	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := 0
	if err := srv.Close(stopCtx); err != nil {
		fmt.Fprintln(stderr, "samplevnfm:", err)
		code = 1
	}
	if o.records != "" {
		if err := writeRecords(stopCtx, m, o.records); err != nil {
			fmt.Fprintln(stderr, "samplevnfm:", err)
			code = 1
		}
	}
	return code
}

func writeRecords(ctx context.Context, m *vnfm.Manager, path string) error {
	recs, err := m.Records(ctx)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the records: %w", err)
	}
	return nil
}
