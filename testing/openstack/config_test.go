package openstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLayout(t *testing.T) {
	tests := []struct {
		computes, zones int
		want            string
	}{
		{1, 1, "compute1:az1"},
		{6, 2, "compute1:az1 compute2:az1 compute3:az1 compute4:az2 compute5:az2 compute6:az2"},
		{5, 2, "compute1:az1 compute2:az1 compute3:az1 compute4:az2 compute5:az2"},
		{4, 3, "compute1:az1 compute2:az1 compute3:az2 compute4:az3"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d in %d", tt.computes, tt.zones), func(t *testing.T) {
			cs, zs := layout(tt.computes, tt.zones)
			var got []string
			for _, c := range cs {
				got = append(got, c.Name+":"+c.Zone)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %s, want %s", strings.Join(got, " "), tt.want)
			}
			if len(zs) != tt.zones {
				t.Errorf("%d zones, want %d", len(zs), tt.zones)
			}
		})
	}
}

func TestTemplates(t *testing.T) {
	e := &Env{Dir: "/srv/os", Ports: portsFrom(17100), Password: "pw", Region: "RegionOne"}
	tests := []struct {
		file     string
		compute  Compute
		contains []string
		lacks    []string
	}{
		{"etc/keystone/keystone.conf", Compute{}, []string{"unix_socket=/srv/os/run/mysql.sock", "/keystone?", "password_hash_rounds = 4"}, nil},
		{"etc/nova/nova.conf", Compute{}, []string{"transport_url = rabbit://guest:guest@127.0.0.1:17101/", "auth_url = http://127.0.0.1:17104/v3", "track_instance_changes = false", "report_interval = 2"},
			// nova-compute reads this file and refuses a database connection.
			[]string{"connection", "mysql"}},
		{"etc/nova/nova-db.conf", Compute{}, []string{"/nova?", "/nova_api?"}, nil},
		{"etc/nova/compute.conf", Compute{Name: "compute4", Zone: "az2"}, []string{"host = compute4", "compute_driver = fake.FakeLiveMigrateDriver", "/srv/os/state/compute4/lock"}, []string{"connection"}},
		{"etc/glance/glance-api.conf", Compute{}, []string{"bind_host = 127.0.0.1", "bind_port = 17107", "filesystem_store_datadir = /srv/os/state/glance/images"}, nil},
		{"etc/neutron/neutron.conf", Compute{}, []string{"bind_host = 127.0.0.1", "bind_port = 17108", "service_plugins =\n"}, nil},
		{"etc/rabbitmq/rabbitmq.conf", Compute{}, []string{"listeners.tcp.1 = 127.0.0.1:17101"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out, err := render(tt.file, templates[tt.file], e.confData(tt.compute))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("%s lacks %q:\n%s", tt.file, s, out)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(out, s) {
					t.Errorf("%s contains %q:\n%s", tt.file, s, out)
				}
			}
			if strings.Contains(out, "<no value>") {
				t.Errorf("%s has an unfilled placeholder:\n%s", tt.file, out)
			}
		})
	}
	// Every template renders.
	for name, text := range templates {
		if _, err := render(name, text, e.confData(Compute{Name: "compute1"})); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLauncherScript(t *testing.T) {
	tests := []struct {
		name     string
		contains []string
	}{
		{"nova-compute", []string{"import nova.cmd", "from nova.cmd.compute import main", `sys.argv[0] = "nova-compute"`, "OSENV_VCPUS"}},
		{"neutron-server", []string{"import neutron.cmd.eventlet", "configure_mappers()", "from neutron.cmd.eventlet.server import main"}},
		{"keystone-manage", []string{"from keystone.cmd.manage import main", "sys.exit(main())"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := launcherScript(tt.name)
			if !strings.HasPrefix(s, "#!/usr/bin/python3\n") {
				t.Errorf("no interpreter line:\n%s", s)
			}
			for _, c := range tt.contains {
				if !strings.Contains(s, c) {
					t.Errorf("lacks %q:\n%s", c, s)
				}
			}
			// Monkey patching and workarounds come before the service's
			// module is imported.
			if i, j := strings.Index(s, tt.contains[0]), strings.Index(s, " import main"); i > j {
				t.Errorf("%q after the import of main:\n%s", tt.contains[0], s)
			}
		})
	}
}

func TestChoosePorts(t *testing.T) {
	claimDir = t.TempDir()
	dir := t.TempDir()
	p, err := choosePorts(0, dir)
	if err != nil {
		t.Fatal(err)
	}
	l := p.list()
	for i := 1; i < len(l); i++ {
		if l[i] != l[0]+i {
			t.Fatalf("ports not consecutive: %v", l)
		}
	}
	// Hold one port of the block: an explicit base fails, naming it; the
	// search moves on to another block.
	hold, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.Keystone))
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if _, err := choosePorts(p.MariaDB, dir); err == nil || !strings.Contains(err.Error(), fmt.Sprint(p.Keystone)) {
		t.Errorf("choosePorts(%d) with %d taken = %v, want an error naming the port", p.MariaDB, p.Keystone, err)
	}
	q, err := choosePorts(0, dir)
	if err != nil {
		t.Fatal(err)
	}
	if q.MariaDB == p.MariaDB {
		t.Errorf("choosePorts(0) returned the block with a taken port: %+v", q)
	}
	for _, bad := range []int{80, 65530} {
		if _, err := choosePorts(bad, dir); err == nil {
			t.Errorf("choosePorts(%d) accepted", bad)
		}
	}
	hold.Close()

	// A fresh claim (another environment starting) keeps its block from a
	// second directory, not from its own; a stale one is taken over.
	other := t.TempDir()
	r, err := choosePorts(0, other)
	if err != nil {
		t.Fatal(err)
	}
	if r.MariaDB == q.MariaDB {
		t.Errorf("a second environment got the block claimed a moment ago: %d", r.MariaDB)
	}
	if _, err := choosePorts(q.MariaDB, dir); err != nil {
		t.Errorf("the claimant could not take its own block again: %v", err)
	}
	if _, err := choosePorts(q.MariaDB, other); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("choosePorts of a block claimed by %s = %v, want an error naming it", dir, err)
	}
	old := time.Now().Add(-2 * claimFresh)
	if err := os.Chtimes(claimPath(q.MariaDB), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := choosePorts(q.MariaDB, other); err != nil {
		t.Errorf("a stale claim (no environment in %s) was not taken over: %v", dir, err)
	}
}

func TestClearDir(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(dir string) error
		wantErr string
	}{
		{"missing", func(dir string) error { return os.Remove(dir) }, ""},
		{"empty", func(string) error { return nil }, ""},
		{"foreign files", func(dir string) error { return os.WriteFile(filepath.Join(dir, "precious"), nil, 0o644) }, "holds no osenv.json"},
		{"stopped environment", func(dir string) error {
			if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"dir":"`+dir+`"}`), 0o644)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			err := clearDir(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) != 0 {
				t.Errorf("directory after clearDir: %v %v", ents, err)
			}
		})
	}
}

func TestRunTasks(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		tasks   func(rec func(string)) []task
		want    []string // tasks that ran, in any order
		wantErr string
	}{
		{
			name: "dependencies run first",
			tasks: func(rec func(string)) []task {
				return []task{
					{name: "c", deps: []string{"a", "b"}, run: func(context.Context) error { rec("c"); return nil }},
					{name: "a", run: func(context.Context) error { rec("a"); return nil }},
					{name: "b", deps: []string{"a"}, run: func(context.Context) error { rec("b"); return nil }},
				}
			},
			want: []string{"a", "b", "c"},
		},
		{
			name: "a failure skips its dependents",
			tasks: func(rec func(string)) []task {
				return []task{
					{name: "a", run: func(context.Context) error { rec("a"); return boom }},
					{name: "b", deps: []string{"a"}, run: func(context.Context) error { rec("b"); return nil }},
				}
			},
			want: []string{"a"}, wantErr: "boom",
		},
		{
			name: "unknown dependency",
			tasks: func(rec func(string)) []task {
				return []task{{name: "a", deps: []string{"x"}, run: func(context.Context) error { rec("a"); return nil }}}
			},
			wantErr: "unknown task x",
		},
		{
			name: "duplicate",
			tasks: func(rec func(string)) []task {
				return []task{{name: "a", run: func(context.Context) error { return nil }}, {name: "a", run: func(context.Context) error { return nil }}}
			},
			wantErr: "defined twice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var order []string
			rec := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
			err := runTasks(context.Background(), tt.tasks(rec))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.name == "dependencies run first" && strings.Join(order, "") != "abc" {
				t.Errorf("order %v, want a b c", order)
			}
			if len(order) != len(tt.want) {
				t.Errorf("ran %v, want %v", order, tt.want)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{}, "Options.Dir is required"},
		{"more zones than computes", Options{Dir: t.TempDir(), Computes: 2, Zones: 3}, "at least one compute per zone"},
		{"negative", Options{Dir: t.TempDir(), Computes: -1}, "at least one compute per zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want %q", err, tt.want)
			}
		})
	}
}
