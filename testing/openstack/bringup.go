package openstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bringUp starts everything, in a dependency graph:
//
//	mariadb ─ databases ─┬ keystone setup ─ keystone ─ catalog ─┐
//	                     ├ placement sync ─ placement ──────────┤
//	                     ├ nova cells+sync ─ nova-api ──────────┤
//	epmd ─ rabbitmq ─────┼─ conductor, scheduler (+ catalog) ───┼ image, flavors
//	                     ├ glance sync ─ glance-api ────────────┤
//	                     └ neutron sync ─ neutron-server ───────┘
//	                                 ─ computes ─ discover ─ zones ─ placement
func (e *Env) bringUp(ctx context.Context) error {
	n := e.nova
	tasks := []task{
		{name: "mariadb", run: e.startMariaDB},
		{name: "epmd", run: e.startEPMD},
		{name: "rabbitmq", deps: []string{"epmd"}, run: e.startRabbitMQ},
		{name: "databases", deps: []string{"mariadb"}, run: e.createDatabases},

		{name: "keystone-setup", deps: []string{"databases"}, run: e.setupKeystone},
		{name: "keystone", deps: []string{"keystone-setup"}, run: e.startKeystone},
		{name: "catalog", deps: []string{"keystone"}, run: e.createCatalog},

		{name: "placement-sync", deps: []string{"databases"}, run: func(ctx context.Context) error {
			return e.run(ctx, "placement-db-sync", e.path("bin/placement-manage"), "--config-file", e.path("etc/placement/placement.conf"), "db", "sync")
		}},
		{name: "placement", deps: []string{"placement-sync"}, run: func(ctx context.Context) error {
			return e.startHTTP(ctx, e.uwsgi("placement", e.Ports.Placement, 2, "OS_PLACEMENT_CONFIG_DIR="+e.path("etc/placement")), "/")
		}},

		{name: "nova-sync", deps: []string{"databases"}, run: func(ctx context.Context) error {
			return e.run(ctx, "nova-setup", n("nova-setup", e.confData(Compute{}).DB("nova_cell0"))...)
		}},
		{name: "nova-api", deps: []string{"nova-sync"}, run: func(ctx context.Context) error {
			return e.startHTTP(ctx, e.uwsgi("nova-api", e.Ports.NovaAPI, 2,
				"OS_NOVA_CONFIG_DIR="+e.path("etc/nova"),
				// The first file is the paste pipeline nova's wsgi app loads.
				"OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf;nova-db.conf"), "/")
		}},
		// Both look Placement up in the catalog as they start.
		{name: "nova-conductor", deps: []string{"nova-sync", "rabbitmq", "catalog"}, run: func(ctx context.Context) error {
			return e.start(e.pyDaemon("nova-conductor", n("nova-conductor")...))
		}},
		{name: "nova-scheduler", deps: []string{"nova-sync", "rabbitmq", "catalog"}, run: func(ctx context.Context) error {
			return e.start(e.pyDaemon("nova-scheduler", n("nova-scheduler")...))
		}},

		{name: "glance-sync", deps: []string{"databases"}, run: func(ctx context.Context) error {
			return e.run(ctx, "glance-db-sync", e.path("bin/glance-manage"), "--config-file", e.path("etc/glance/glance-api.conf"), "db_sync")
		}},
		{name: "glance-api", deps: []string{"glance-sync"}, run: func(ctx context.Context) error {
			return e.startHTTP(ctx, e.pyDaemon("glance-api", e.path("bin/glance-api"), "--config-file", e.path("etc/glance/glance-api.conf")), "/")
		}},

		{name: "neutron-sync", deps: []string{"databases"}, run: func(ctx context.Context) error {
			return e.run(ctx, "neutron-db-sync", e.neutron("neutron-db-manage", "upgrade", "heads")...)
		}},
		{name: "neutron-server", deps: []string{"neutron-sync", "rabbitmq"}, run: func(ctx context.Context) error {
			return e.startHTTP(ctx, e.pyDaemon("neutron-server", e.neutron("neutron-server")...), "/")
		}},

		{name: "control-plane", deps: []string{"catalog", "placement", "nova-api", "nova-conductor", "nova-scheduler", "glance-api", "neutron-server"},
			run: func(ctx context.Context) error {
				cl, err := e.clients(ctx)
				if err != nil {
					return err
				}
				if err := e.waitControlServices(ctx, cl); err != nil {
					return err
				}
				e.Timings.ControlPlane = time.Since(e.t0)
				e.logf("control plane up")
				return nil
			}},
		{name: "image", deps: []string{"control-plane"}, run: e.uploadImage},
		{name: "flavors", deps: []string{"control-plane"}, run: e.createFlavors},
		{name: "computes", deps: []string{"control-plane"}, run: e.startComputes},
	}
	if e.KeystoneOnly {
		tasks = []task{tasks[0], tasks[3], tasks[4], tasks[5]} // mariadb, databases, keystone-setup, keystone
	}
	return runTasks(ctx, tasks)
}

func (e *Env) startKeystone(ctx context.Context) error {
	return e.startHTTP(ctx, e.uwsgi("keystone", e.Ports.Keystone, 2, "OS_KEYSTONE_CONFIG_DIR="+e.path("etc/keystone")), "/v3")
}

func (e *Env) path(rel string) string { return filepath.Join(e.Dir, rel) }

// nova is the command line of a Nova program reading the shared
// configuration and the one with the database connections.
func (e *Env) nova(prog string, args ...string) []string {
	argv := []string{e.path("bin/" + prog)}
	if prog == "nova-setup" {
		// Its positional argument comes first.
		argv, args = append(argv, args...), nil
	}
	return append(append(argv, "--config-file", e.path("etc/nova/nova.conf"), "--config-file", e.path("etc/nova/nova-db.conf")), args...)
}

func (e *Env) neutron(prog string, args ...string) []string {
	return append([]string{e.path("bin/" + prog), "--config-file", e.path("etc/neutron/neutron.conf"), "--config-file", e.path("etc/neutron/ml2_conf.ini")}, args...)
}

// baseEnv is the whole environment of a daemon: nothing of the caller's
// (an OS_* variable or RabbitMQ's unprefixed settings would leak in).
func (e *Env) baseEnv(extra ...string) []string {
	return append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + e.path("home"),
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
	}, extra...)
}

func (e *Env) pyDaemon(name string, argv ...string) daemon {
	return daemon{Name: name, Argv: argv, Env: e.baseEnv(), Dir: e.path("home")}
}

func (e *Env) uwsgi(name string, port, processes int, env ...string) daemon {
	d := daemon{
		Name: name,
		Argv: []string{"/usr/bin/uwsgi-core", "--plugin", "python3",
			"--http-socket", fmt.Sprintf("127.0.0.1:%d", port),
			"--wsgi-file", e.path("wsgi/" + name + ".py"),
			"--master", "--processes", strconv.Itoa(processes), "--threads", "1",
			"--enable-threads", "--need-app", "--thunder-lock",
			// SIGTERM stops uwsgi instead of reloading it.
			"--die-on-term", "--exit-on-reload",
			// Without it, clients of these APIs see connection resets.
			"--add-header", "Connection: close",
			"--buffer-size", "65535",
			"--procname-prefix-spaced", name,
		},
		Env: e.baseEnv(env...),
		Dir: e.path("home"),
	}
	if name == "nova-api" {
		// Each worker loads nova's app itself (its RPC and database state
		// must not cross a fork); Keystone and Placement load once and fork.
		d.Argv = append(d.Argv, "--lazy-apps")
	}
	return d
}

// run runs a one-shot command (a database sync), its output in
// log/setup-NAME.log, killed with its process group if ctx ends.
func (e *Env) run(ctx context.Context, name string, argv ...string) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	logPath := e.LogFile("setup-" + name)
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = e.baseEnv()
	cmd.Dir = e.path("home")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return fmt.Errorf("%s failed: %w\n--- last lines of %s:\n%s", name, err, logPath, tail(logPath, 25))
	}
	e.logf("%s done in %.1fs (%.1fs CPU)", name, time.Since(t0).Seconds(), (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
	return nil
}

// waitReady polls check every 200 ms until it succeeds, the daemon's
// process exits, or timeout passes; both failures name the daemon and show
// the tail of its log.
func (e *Env) waitReady(ctx context.Context, name string, timeout time.Duration, check func(ctx context.Context) error) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			e.logf("%s ready in %.1fs", name, time.Since(t0).Seconds())
			return nil
		}
		if !e.leaderAlive(name) {
			return fmt.Errorf("%s exited while starting (last check: %v)\n--- last lines of %s:\n%s", name, last, e.LogFile(name), tail(e.LogFile(name), 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (last check: %v)\n--- last lines of %s:\n%s", name, time.Since(t0).Round(time.Second), last, e.LogFile(name), tail(e.LogFile(name), 30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startHTTP starts an API daemon and waits for path to answer without a
// server error.
func (e *Env) startHTTP(ctx context.Context, d daemon, path string) error {
	if err := e.start(d); err != nil {
		return err
	}
	var port string
	for i, a := range d.Argv {
		if a == "--http-socket" {
			port = d.Argv[i+1][strings.LastIndexByte(d.Argv[i+1], ':')+1:]
		}
	}
	switch d.Name {
	case "glance-api":
		port = strconv.Itoa(e.Ports.Glance)
	case "neutron-server":
		port = strconv.Itoa(e.Ports.Neutron)
	}
	url := "http://127.0.0.1:" + port + path
	return e.waitReady(ctx, d.Name, 3*time.Minute, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
}

func (e *Env) startMariaDB(ctx context.Context) error {
	root := os.Geteuid() == 0
	install := []string{"/usr/bin/mariadb-install-db", "--no-defaults", "--datadir=" + e.path("mysql"),
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}
	if root {
		install = append(install, "--user=root")
	}
	if err := e.run(ctx, "mariadb-install-db", install...); err != nil {
		return err
	}
	argv := []string{"/usr/sbin/mariadbd", "--no-defaults",
		"--datadir=" + e.path("mysql"), "--socket=" + e.socket(),
		"--port=" + strconv.Itoa(e.Ports.MariaDB), "--bind-address=127.0.0.1",
		"--pid-file=" + e.path("run/mariadbd.internal-pid"),
		"--skip-name-resolve", "--max-connections=2000",
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		// A throw-away database: durability costs most of the migrations' time.
		"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-flush-method=nosync",
		"--sync-binlog=0", "--innodb-buffer-pool-size=256M",
	}
	if root {
		argv = append(argv, "--user=root")
	}
	if err := e.start(daemon{Name: "mariadb", Argv: argv, Env: e.baseEnv(), Dir: e.path("home")}); err != nil {
		return err
	}
	return e.waitReady(ctx, "mariadb", time.Minute, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", e.socket())
		if err != nil {
			return err
		}
		defer c.Close()
		// The server speaks first: a handshake packet means it accepts clients.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 16)
		if _, err := c.Read(buf); err != nil {
			return fmt.Errorf("no handshake: %w", err)
		}
		return nil
	})
}

var databases = []string{"keystone", "placement", "nova_api", "nova", "nova_cell0", "glance", "neutron"}

func (e *Env) createDatabases(ctx context.Context) error {
	var sql strings.Builder
	for _, db := range databases {
		fmt.Fprintf(&sql, "CREATE DATABASE %s CHARACTER SET utf8mb4;", db)
	}
	return e.run(ctx, "create-databases", "/usr/bin/mariadb", "--no-defaults", "--socket="+e.socket(), "-uroot", "-e", sql.String())
}

func (e *Env) startEPMD(ctx context.Context) error {
	// Started here, in its own session, so that the stop reaches it: the
	// one erl would spawn daemonizes out of every process group.
	d := daemon{Name: "epmd", Argv: []string{"/usr/bin/epmd", "-port", strconv.Itoa(e.Ports.EPMD), "-address", "127.0.0.1"},
		Env: e.baseEnv("ERL_EPMD_ADDRESS=127.0.0.1"), Dir: e.path("home")}
	if err := e.start(d); err != nil {
		return err
	}
	return e.waitReady(ctx, "epmd", 30*time.Second, tcpCheck(e.Ports.EPMD, nil))
}

func (e *Env) startRabbitMQ(ctx context.Context) error {
	// RabbitMQ reads unprefixed variables (LOGS, NODENAME …) as its own
	// settings: its environment is only what is set here.
	env := []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + e.path("rabbitmq"), // the Erlang cookie goes here
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8",
		"RABBITMQ_NODENAME=rabbit@localhost",
		"RABBITMQ_USE_LONGNAME=false",
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(e.Ports.AMQP),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(e.Ports.ErlDist),
		"ERL_EPMD_PORT=" + strconv.Itoa(e.Ports.EPMD),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		// -start_epmd false: ours runs; erl must never daemonize another.
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_CONF_ENV_FILE=" + e.path("etc/rabbitmq/rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE=" + e.path("etc/rabbitmq/rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + e.path("etc/rabbitmq/advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + e.path("etc/rabbitmq/enabled_plugins"),
		"RABBITMQ_MNESIA_BASE=" + e.path("rabbitmq/mnesia"),
		"RABBITMQ_LOG_BASE=" + e.path("log"),
		"RABBITMQ_LOGS=-",
		"RABBITMQ_PID_FILE=" + e.path("run/rabbitmq.internal-pid"),
	}
	d := daemon{Name: "rabbitmq", Argv: []string{"/usr/lib/rabbitmq/bin/rabbitmq-server"}, Env: env, Dir: e.path("rabbitmq")}
	if err := e.start(d); err != nil {
		return err
	}
	// AMQP's protocol header; the broker answers with connection.start
	// only once it has booted.
	return e.waitReady(ctx, "rabbitmq", 2*time.Minute, tcpCheck(e.Ports.AMQP, []byte("AMQP\x00\x00\x09\x01")))
}

// tcpCheck connects to the port; with a hello, it sends it and wants an
// answer.
func tcpCheck(port int, hello []byte) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return err
		}
		defer c.Close()
		if hello == nil {
			return nil
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write(hello); err != nil {
			return err
		}
		buf := make([]byte, 8)
		if _, err := c.Read(buf); err != nil {
			return fmt.Errorf("no answer on port %d: %w", port, err)
		}
		return nil
	}
}

func (e *Env) setupKeystone(ctx context.Context) error {
	// What keystone-manage fernet_setup and credential_setup would write,
	// without two more Python start-ups.
	for _, d := range []string{"fernet-keys", "credential-keys"} {
		if err := writeFernetKeys(e.path("state/keystone/" + d)); err != nil {
			return fmt.Errorf("keystone keys: %w", err)
		}
	}
	km := func(args ...string) []string {
		return append([]string{e.path("bin/keystone-manage"), "--config-file", e.path("etc/keystone/keystone.conf")}, args...)
	}
	steps := []struct {
		name string
		argv []string
	}{
		{"keystone-db-sync", km("db_sync")},
		{"keystone-bootstrap", km("bootstrap", "--bootstrap-password", e.Password,
			"--bootstrap-username", e.Username, "--bootstrap-project-name", e.Project, "--bootstrap-role-name", "admin",
			"--bootstrap-service-name", "keystone", "--bootstrap-region-id", e.Region,
			"--bootstrap-admin-url", e.AuthURL, "--bootstrap-internal-url", e.AuthURL, "--bootstrap-public-url", e.AuthURL)},
	}
	for _, s := range steps {
		if err := e.run(ctx, s.name, s.argv...); err != nil {
			return err
		}
	}
	return nil
}

// writeFernetKeys writes a staged (0) and a primary (1) Fernet key: 32
// random bytes each, URL-safe base64, as keystone-manage does.
func writeFernetKeys(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"0", "1"} {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(base64.URLEncoding.EncodeToString(k)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) computeDaemon(c Compute) daemon {
	d := e.pyDaemon(computeDaemon(c.Name), e.path("bin/nova-compute"),
		"--config-file", e.path("etc/nova/nova.conf"), "--config-file", e.computeConf(c.Name))
	d.Env = append(d.Env,
		"OSENV_VCPUS="+strconv.Itoa(e.Sizing.VCPUs),
		"OSENV_MEMORY_MB="+strconv.Itoa(e.Sizing.MemoryMB),
		"OSENV_LOCAL_GB="+strconv.Itoa(e.Sizing.DiskGB))
	return d
}

// startComputes starts every nova-compute, waits for them in os-services,
// maps them to the cell, puts them in their zones and waits for their
// resource providers.
func (e *Env) startComputes(ctx context.Context) error {
	t0 := time.Now()
	var names []string
	for _, c := range e.Computes {
		if err := e.start(e.computeDaemon(c)); err != nil {
			return err
		}
		names = append(names, c.Name)
	}
	cl, err := e.clients(ctx)
	if err != nil {
		return err
	}
	if err := e.waitComputes(ctx, cl, names, "up", time.Time{}); err != nil {
		return err
	}
	if err := e.run(ctx, "nova-manage-discover-hosts", e.nova("nova-manage", "cell_v2", "discover_hosts", "--verbose")...); err != nil {
		return err
	}
	if err := e.createZones(ctx, cl); err != nil {
		return err
	}
	if err := e.waitResourceProviders(ctx, cl, names); err != nil {
		return err
	}
	e.Timings.Computes = time.Since(t0)
	e.logf("%d computes up in %d zones", len(names), len(e.Zones))
	return nil
}
