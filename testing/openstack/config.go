package openstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// confData feeds the configuration templates.
type confData struct {
	Dir      string
	Ports    Ports
	Password string
	Region   string
	Socket   string // MariaDB's unix socket
	Compute  Compute
	Sizing   Sizing
}

func (c confData) DB(name string) string {
	// Over the unix socket: no TCP round trip, no password in any URL.
	return fmt.Sprintf("mysql+pymysql://root@localhost/%s?unix_socket=%s&charset=utf8", name, c.Socket)
}

func (c confData) AuthURL() string { return fmt.Sprintf("http://127.0.0.1:%d/v3", c.Ports.Keystone) }

func (c confData) TransportURL() string {
	return fmt.Sprintf("rabbit://guest:guest@127.0.0.1:%d/", c.Ports.AMQP)
}

// Every service authenticates to the others as the admin user: one
// identity is enough for a test cloud and saves a user per service.
const authSection = `auth_type = password
auth_url = {{.AuthURL}}
username = admin
password = {{.Password}}
project_name = admin
user_domain_name = Default
project_domain_name = Default
region_name = {{.Region}}
`

const authtokenSection = `www_authenticate_uri = {{.AuthURL}}
` + authSection

var templates = map[string]string{
	"etc/keystone/keystone.conf": `[DEFAULT]
use_stderr = true
[database]
connection = {{.DB "keystone"}}
[token]
provider = fernet
# A day: a kept environment's clients do not see tokens expire mid-test.
expiration = 86400
[fernet_tokens]
key_repository = {{.Dir}}/state/keystone/fernet-keys
[fernet_receipts]
key_repository = {{.Dir}}/state/keystone/fernet-keys
[credential]
key_repository = {{.Dir}}/state/keystone/credential-keys
[cache]
# Token validation rebuilds the catalog and roles on every call without a
# cache: 0.3 s of CPU each on two cores.
enabled = true
backend = dogpile.cache.memory
[identity]
# bcrypt's cheapest cost: every service authenticates as admin, often.
password_hash_rounds = 4
`,
	"etc/placement/placement.conf": `[DEFAULT]
use_stderr = true
[api]
auth_strategy = keystone
[keystone_authtoken]
` + authtokenSection + `[placement_database]
connection = {{.DB "placement"}}
`,
	// nova.conf is read by every Nova process, computes included, so it
	// holds no database connection: nova-compute refuses to start with one.
	"etc/nova/nova.conf": `[DEFAULT]
host = controller
my_ip = 127.0.0.1
state_path = {{.Dir}}/state/nova
transport_url = {{.TransportURL}}
use_stderr = true
# Short, so that a stopped or started nova-compute shows in os-services
# within seconds.
report_interval = 2
service_down_time = 10
graceful_shutdown_timeout = 5
heal_instance_info_cache_interval = -1
allow_resize_to_same_host = true
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = {{.Dir}}/etc/nova/api-paste.ini
[keystone_authtoken]
` + authtokenSection + `[placement]
` + authSection + `[neutron]
` + authSection + `[glance]
region_name = {{.Region}}
[cinder]
os_region_name = {{.Region}}
[conductor]
workers = 1
[scheduler]
workers = 1
# The harness runs nova-manage cell_v2 discover_hosts itself.
discover_hosts_in_cells_interval = -1
[filter_scheduler]
# Otherwise the scheduler counts a live-migrated instance on its source
# host for up to 2 minutes, and anti-affinity moves back fail NoValidHost.
track_instance_changes = false
[quota]
instances = 10000
cores = 1000000
ram = 1000000000
server_groups = 1000
server_group_members = 1000
[oslo_concurrency]
lock_path = {{.Dir}}/state/nova/lock
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
`,
	"etc/nova/nova-db.conf": `[database]
connection = {{.DB "nova"}}
[api_database]
connection = {{.DB "nova_api"}}
`,
	"etc/nova/compute.conf": `[DEFAULT]
host = {{.Compute.Name}}
compute_driver = fake.FakeLiveMigrateDriver
state_path = {{.Dir}}/state/{{.Compute.Name}}
[oslo_concurrency]
# One lock directory per compute: they stand for different machines.
lock_path = {{.Dir}}/state/{{.Compute.Name}}/lock
`,
	"etc/glance/glance-api.conf": `[DEFAULT]
bind_host = 127.0.0.1
bind_port = {{.Ports.Glance}}
workers = 0
use_stderr = true
image_cache_dir = {{.Dir}}/state/glance/cache
[database]
connection = {{.DB "glance"}}
[keystone_authtoken]
` + authtokenSection + `[paste_deploy]
flavor = keystone
config_file = {{.Dir}}/etc/glance/glance-api-paste.ini
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = {{.Dir}}/state/glance/images
[oslo_concurrency]
lock_path = {{.Dir}}/state/glance/lock
[oslo_messaging_notifications]
driver = noop
`,
	// Neutron serves its API only: no agents, no service plugins. Nova
	// needs it even for servers booted without a network.
	"etc/neutron/neutron.conf": `[DEFAULT]
bind_host = 127.0.0.1
bind_port = {{.Ports.Neutron}}
core_plugin = ml2
service_plugins =
auth_strategy = keystone
api_paste_config = {{.Dir}}/etc/neutron/api-paste.ini
state_path = {{.Dir}}/state/neutron
transport_url = {{.TransportURL}}
api_workers = 0
rpc_workers = 0
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
use_stderr = true
[database]
connection = {{.DB "neutron"}}
[keystone_authtoken]
` + authtokenSection + `[oslo_concurrency]
lock_path = {{.Dir}}/state/neutron/lock
[oslo_messaging_notifications]
driver = noop
`,
	"etc/neutron/ml2_conf.ini": `[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers =
extension_drivers =
[ml2_type_flat]
flat_networks = *
`,
	"etc/rabbitmq/rabbitmq.conf": `listeners.tcp.1 = 127.0.0.1:{{.Ports.AMQP}}
log.console = true
log.file = false
disk_free_limit.absolute = 50MB
`,
	"etc/rabbitmq/enabled_plugins": "[].\n",
	// Read by rabbitmq-env in place of /etc/rabbitmq/rabbitmq-env.conf.
	"etc/rabbitmq/rabbitmq-env.conf": "# empty: everything comes from the environment the harness sets\n",

	"wsgi/keystone.py": `from keystone.server.wsgi import initialize_public_application
application = initialize_public_application()
`,
	"wsgi/placement.py": `from placement.wsgi import init_application
application = init_application()
`,
	"wsgi/nova-api.py": `from nova.api.openstack.compute.wsgi import init_application
application = init_application()
`,
}

// launchers replace the service packages' console scripts (not installed):
// name -> module, function, code to run before the import.
var launchers = map[string][3]string{
	"keystone-manage":  {"keystone.cmd.manage", "main", ""},
	"placement-manage": {"placement.cmd.manage", "main", ""},
	"nova-manage":      {"nova.cmd.manage", "main", ""},
	"nova-conductor":   {"nova.cmd.conductor", "main", ""},
	"nova-scheduler":   {"nova.cmd.scheduler", "main", ""},
	// The fake driver's size comes from the environment, so that capacity
	// checks see realistic hosts rather than its 1000 vCPUs.
	"nova-compute": {"nova.cmd.compute", "main", `import nova.cmd  # eventlet monkey patching first, as nova's console script
from nova.virt import fake
for attr, var in (("vcpus", "OSENV_VCPUS"), ("memory_mb", "OSENV_MEMORY_MB"), ("local_gb", "OSENV_LOCAL_GB")):
    if os.environ.get(var):
        setattr(fake.FakeDriver, attr, int(os.environ[var]))
`},
	"glance-manage":     {"glance.cmd.manage", "main", ""},
	"glance-api":        {"glance.cmd.api", "main", ""},
	"neutron-db-manage": {"neutron.db.migration.cli", "main", ""},
	// Zed: the first GET /v2.0/ports fails ("Port has no attribute
	// 'port_forwardings'") unless every model is imported and the mappers
	// configured before the server starts.
	"neutron-server": {"neutron.cmd.eventlet.server", "main", `import neutron.cmd.eventlet  # eventlet monkey patching first
from neutron.db.migration.models import head  # noqa: F401
import sqlalchemy.orm
sqlalchemy.orm.configure_mappers()
`},
}

// scripts are whole programs written into bin/ beside the launchers.
var scripts = map[string]string{
	// The four nova-manage steps of a new deployment in one interpreter:
	// importing nova costs seconds of CPU each time.
	"nova-setup": `#!/usr/bin/python3
# Written by escalator's testing/openstack harness: nova-manage api_db sync,
# cell_v2 map_cell0, cell_v2 create_cell --name cell1 and db sync, in one
# process.  Usage: nova-setup CELL0_DB_URL --config-file ... --config-file ...
import sys
import nova.monkey_patch  # noqa: F401  (as nova's console scripts)
from nova.cmd import manage
from nova import config
from nova import objects
from oslo_log import log as logging

cell0 = sys.argv[1]
config.parse_args(["nova-manage"] + sys.argv[2:])
logging.setup(manage.CONF, "nova")
objects.register_all()
steps = [
    ("api_db sync", lambda: manage.ApiDbCommands().sync()),
    ("cell_v2 map_cell0", lambda: manage.CellV2Commands().map_cell0(database_connection=cell0)),
    ("cell_v2 create_cell --name cell1", lambda: manage.CellV2Commands().create_cell(name="cell1", verbose=True)),
    ("db sync", lambda: manage.DbCommands().sync()),
]
for name, step in steps:
    rc = step()
    if rc not in (None, 0):
        print("nova-manage %s failed: exit code %s" % (name, rc), file=sys.stderr)
        sys.exit(1)
    print("nova-manage %s: done" % name, flush=True)
`,
}

func launcherScript(name string) string {
	l := launchers[name]
	return fmt.Sprintf(`#!/usr/bin/python3
# Written by escalator's testing/openstack harness: the console script of
# the %[1]s service package, which is not installed.
import os
import sys
%[4]sfrom %[2]s import %[3]s
sys.argv[0] = %[1]q
sys.exit(%[3]s())
`, name, l[0], l[1], l[2])
}

// pasteFiles are copied from the unpacked *-common packages.
var pasteFiles = map[string]string{
	"etc/nova/api-paste.ini":          "usr/share/nova-common/api-paste.ini",
	"etc/glance/glance-api-paste.ini": "usr/share/glance-common/glance-api-paste.ini",
	"etc/neutron/api-paste.ini":       "usr/share/neutron-common/api-paste.ini",
}

func render(name, text string, data any) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

// writeConfig lays out the state directory: every configuration file,
// the launchers, the paste files and the empty directories the daemons
// write to.
func (e *Env) writeConfig(cacheDir string) error {
	data := e.confData(Compute{})
	for _, d := range []string{
		"run", "log", "home", "bin", "etc/nova/compute", "mysql",
		"rabbitmq/mnesia", "state/keystone", "state/nova/lock", "state/glance/images",
		"state/glance/cache", "state/glance/lock", "state/neutron/lock",
	} {
		if err := os.MkdirAll(filepath.Join(e.Dir, d), 0o755); err != nil {
			return err
		}
	}
	for name, text := range templates {
		if name == "etc/nova/compute.conf" {
			continue
		}
		out, err := render(name, text, data)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(e.Dir, name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(e.Dir, name), []byte(out), 0o644); err != nil {
			return err
		}
	}
	for name := range launchers {
		if err := os.WriteFile(filepath.Join(e.Dir, "bin", name), []byte(launcherScript(name)), 0o755); err != nil {
			return err
		}
	}
	for name, text := range scripts {
		if err := os.WriteFile(filepath.Join(e.Dir, "bin", name), []byte(text), 0o755); err != nil {
			return err
		}
	}
	for dst, src := range pasteFiles {
		b, err := os.ReadFile(filepath.Join(cacheDir, "root", src))
		if err != nil {
			return fmt.Errorf("paste file %s: %w (run testing/openstack/install.sh, or set the cache directory it used)", src, err)
		}
		if err := os.WriteFile(filepath.Join(e.Dir, dst), b, 0o644); err != nil {
			return err
		}
	}
	for _, c := range e.Computes {
		if err := e.writeComputeConfig(c); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) writeComputeConfig(c Compute) error {
	out, err := render("compute.conf", templates["etc/nova/compute.conf"], e.confData(c))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(e.Dir, "state", c.Name, "lock"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(e.computeConf(c.Name), []byte(out), 0o644)
}

func (e *Env) computeConf(name string) string {
	return filepath.Join(e.Dir, "etc/nova/compute", name+".conf")
}

func (e *Env) confData(c Compute) confData {
	return confData{
		Dir: e.Dir, Ports: e.Ports, Password: e.Password, Region: e.Region,
		Socket: e.socket(), Compute: c, Sizing: e.Sizing,
	}
}

func (e *Env) socket() string { return filepath.Join(e.Dir, "run", "mysql.sock") }

// CloudsYAMLText is the clouds.yaml written into the state directory.
func (e *Env) cloudsYAMLText() string {
	return fmt.Sprintf(`# Written by escalator's testing/openstack harness.
# openstack --os-cloud %[1]s ... (with OS_CLIENT_CONFIG_FILE=%[2]s)
clouds:
  %[1]s:
    auth:
      auth_url: %[3]s
      username: admin
      password: %[4]q
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: %[5]s
    interface: public
    identity_api_version: 3
`, e.CloudName, e.CloudsYAML, e.AuthURL, e.Password, e.Region)
}

func (e *Env) openRCText() string {
	return fmt.Sprintf(`# Written by escalator's testing/openstack harness: . %[1]s
export OS_AUTH_URL=%[2]s
export OS_USERNAME=admin
export OS_PASSWORD=%[3]s
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=%[4]s
export OS_INTERFACE=public
export OS_IDENTITY_API_VERSION=3
unset OS_CLOUD
`, e.OpenRC, e.AuthURL, e.Password, e.Region)
}
