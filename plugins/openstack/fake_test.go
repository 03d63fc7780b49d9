package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	th "github.com/gophercloud/gophercloud/v2/testhelper"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sdk/sdktest"
)

// fakeCloud is Keystone, Nova and Placement on gophercloud's fake HTTP
// server (testhelper): enough state to check the provider's requests,
// to let migrations progress poll by poll, and to inject failures.
type fakeCloud struct {
	t   *testing.T
	srv th.FakeServer

	mu           sync.Mutex
	password     string
	computeMax   string
	noPlacement  bool
	services     []*fakeService
	hypervisors  []*fakeHypervisor
	servers      map[string]*fakeServer
	groups       []map[string]any
	aggregates   []map[string]any
	inventories  map[string]map[string]any // rp uuid → inventories
	migrations   []*fakeMigration
	nextMigID    int64
	nextReq      int
	actions      map[string]map[string]any // request id → instance action
	requests     []string                  // "METHOD path?query"
	bodies       map[string][]string       // "METHOD path" → bodies
	microversion map[string]bool           // versions seen on compute requests
	// faults: "METHOD path" → status codes to answer before serving.
	faults map[string][]int
	// forbidden: "METHOD path" → the policy named in a 403.
	forbidden map[string]string
	// liveSteps are the statuses a live migration goes through, one
	// per read of its record; a last status of "running" never ends.
	liveSteps []string
	// failTo: a migration to these hosts ends "error".
	failTo map[string]bool
	// echoSecret makes Keystone's 401 body repeat the password.
	echoSecret bool
}

type fakeService struct {
	ID, Binary, Host, Zone, State, Status, Reason string
	ForcedDown                                    bool
	Updated                                       time.Time
	// beat: every read of it is a fresh heartbeat.
	beat bool
}

type fakeHypervisor struct {
	ID, Host string
	Version  int
	VCPUs    int
	MemoryMB int
	DiskGB   int
	Used     [3]int
}

type fakeServer struct {
	ID, Name, Host, Status, Task, Project string
	Flavor                                [3]int // vcpus, ram, disk
}

type fakeMigration struct {
	ID                 int64
	Instance, Type     string
	Status, From, To   string
	steps              []string
	confirmed, aborted bool
}

const fakeProject = "p-admin"

func newFakeCloud(t *testing.T) *fakeCloud {
	f := &fakeCloud{
		t: t, srv: th.SetupHTTP(), password: "s3cr3t-Passw0rd", computeMax: "2.93",
		servers: map[string]*fakeServer{}, inventories: map[string]map[string]any{},
		actions: map[string]map[string]any{}, bodies: map[string][]string{},
		microversion: map[string]bool{}, faults: map[string][]int{}, forbidden: map[string]string{},
		liveSteps: []string{"queued", "running", "completed"}, failTo: map[string]bool{},
	}
	t.Cleanup(f.srv.Teardown)
	f.routes()
	return f
}

// addCompute adds a nova-compute service, its hypervisor and resource
// provider (8 vCPUs at ratio 4, 16 GB at 1.5, 100 GB).
func (f *fakeCloud) addCompute(host, zone string) {
	id := fmt.Sprintf("svc-%s", host)
	f.services = append(f.services, &fakeService{ID: id, Binary: "nova-compute", Host: host, Zone: zone, State: "up", Status: "enabled", Updated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	rp := "rp-" + host
	f.hypervisors = append(f.hypervisors, &fakeHypervisor{ID: rp, Host: host, Version: 7002000, VCPUs: 8, MemoryMB: 16384, DiskGB: 100})
	f.inventories[rp] = map[string]any{
		"VCPU":      map[string]any{"total": 8, "reserved": 0, "allocation_ratio": 4.0, "min_unit": 1, "max_unit": 8, "step_size": 1},
		"MEMORY_MB": map[string]any{"total": 16384, "reserved": 512, "allocation_ratio": 1.5, "min_unit": 1, "max_unit": 16384, "step_size": 1},
		"DISK_GB":   map[string]any{"total": 100, "reserved": 0, "allocation_ratio": 1.0, "min_unit": 1, "max_unit": 100, "step_size": 1},
	}
}

func (f *fakeCloud) addServer(id, host string, flavor [3]int) *fakeServer {
	s := &fakeServer{ID: id, Name: "vm-" + id, Host: host, Status: "ACTIVE", Project: fakeProject, Flavor: flavor}
	f.servers[id] = s
	return s
}

func (f *fakeCloud) service(host string) *fakeService {
	for _, s := range f.services {
		if s.Host == host && s.Binary == "nova-compute" {
			return s
		}
	}
	return nil
}

func (f *fakeCloud) url(path string) string { return f.srv.Server.URL + path }

func (f *fakeCloud) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		if err := json.NewEncoder(w).Encode(v); err != nil {
			f.t.Errorf("encode response: %v", err)
		}
	}
}

// handle wraps a handler: it records the request, checks the compute
// microversion and injects the faults and 403s asked for.
func (f *fakeCloud) handle(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
	f.srv.Mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Method + " " + r.URL.Path
		f.mu.Lock()
		f.requests = append(f.requests, key+"?"+r.URL.RawQuery)
		if len(body) > 0 {
			f.bodies[key] = append(f.bodies[key], string(body))
		}
		if strings.HasPrefix(r.URL.Path, "/compute/v2.1/") && r.URL.Path != "/compute/v2.1/" {
			f.microversion[r.Header.Get("X-OpenStack-Nova-API-Version")] = true
		}
		var fault int
		if q := f.faults[key]; len(q) > 0 {
			fault, f.faults[key] = q[0], q[1:]
		}
		policy, forbidden := f.forbidden[key]
		f.mu.Unlock()
		switch {
		case fault != 0:
			f.writeJSON(w, fault, map[string]any{"conflictingRequest": map[string]any{"code": fault, "message": "injected fault"}})
			return
		case forbidden:
			f.writeJSON(w, http.StatusForbidden, map[string]any{"forbidden": map[string]any{"code": 403, "message": fmt.Sprintf("Policy doesn't allow %s to be performed.", policy)}})
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		f.mu.Lock()
		defer f.mu.Unlock()
		h(w, r)
	})
}

// count is how many requests matched "METHOD path" (query ignored).
func (f *fakeCloud) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.SplitN(r, "?", 2)[0] == key {
			n++
		}
	}
	return n
}

func (f *fakeCloud) lastBody(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.bodies[key]
	if len(b) == 0 {
		return ""
	}
	return b[len(b)-1]
}

func (f *fakeCloud) routes() {
	f.handle("POST /v3/auth/tokens", f.tokens)
	f.handle("GET /v3/", func(w http.ResponseWriter, _ *http.Request) {
		f.writeJSON(w, 200, map[string]any{"version": map[string]any{"id": "v3.14", "status": "stable"}})
	})
	f.handle("GET /compute/v2.1/", func(w http.ResponseWriter, _ *http.Request) {
		f.writeJSON(w, 200, map[string]any{"version": map[string]any{"id": "v2.1", "status": "CURRENT", "version": f.computeMax, "min_version": "2.1"}})
	})
	f.handle("GET /placement/", func(w http.ResponseWriter, _ *http.Request) {
		f.writeJSON(w, 200, map[string]any{"versions": []any{map[string]any{"id": "v1.0", "status": "CURRENT", "max_version": "1.39", "min_version": "1.0"}}})
	})
	f.handle("GET /compute/v2.1/os-services", f.listServices)
	f.handle("PUT /compute/v2.1/os-services/{id}", f.updateService)
	f.handle("GET /compute/v2.1/os-hypervisors/detail", f.listHypervisors)
	f.handle("GET /compute/v2.1/os-aggregates", func(w http.ResponseWriter, _ *http.Request) {
		f.writeJSON(w, 200, map[string]any{"aggregates": f.aggregates})
	})
	f.handle("GET /compute/v2.1/servers/detail", f.listServers)
	f.handle("GET /compute/v2.1/servers/{id}", func(w http.ResponseWriter, r *http.Request) {
		s, ok := f.servers[r.PathValue("id")]
		if !ok {
			f.writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Instance could not be found."}})
			return
		}
		f.writeJSON(w, 200, map[string]any{"server": serverJSON(s)})
	})
	f.handle("GET /compute/v2.1/os-server-groups", f.listGroups)
	f.handle("POST /compute/v2.1/servers/{id}/action", f.serverAction)
	f.handle("GET /compute/v2.1/os-migrations", f.listMigrations)
	f.handle("DELETE /compute/v2.1/servers/{id}/migrations/{mid}", func(w http.ResponseWriter, r *http.Request) {
		m := f.migration(r.PathValue("mid"))
		if m == nil || m.Status != "running" {
			f.writeJSON(w, 400, map[string]any{"badRequest": map[string]any{"code": 400, "message": "not running"}})
			return
		}
		m.aborted = true
		w.WriteHeader(202)
	})
	f.handle("POST /compute/v2.1/servers/{id}/migrations/{mid}/action", func(w http.ResponseWriter, r *http.Request) {
		m := f.migration(r.PathValue("mid"))
		if m == nil || m.Status != "running" {
			f.writeJSON(w, 400, map[string]any{"badRequest": map[string]any{"code": 400, "message": "not running"}})
			return
		}
		m.steps = []string{"completed"}
		w.WriteHeader(202)
	})
	f.handle("GET /compute/v2.1/servers/{id}/os-instance-actions/{req}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := f.actions[r.PathValue("req")]
		if !ok {
			f.writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "no such action"}})
			return
		}
		f.writeJSON(w, 200, map[string]any{"instanceAction": a})
	})
	f.handle("GET /placement/resource_providers", func(w http.ResponseWriter, _ *http.Request) {
		rps := []any{}
		for _, hv := range f.hypervisors {
			if _, ok := f.inventories[hv.ID]; ok {
				rps = append(rps, map[string]any{"uuid": hv.ID, "name": hv.Host, "generation": 1})
			}
		}
		f.writeJSON(w, 200, map[string]any{"resource_providers": rps})
	})
	f.handle("GET /placement/resource_providers/{u}/inventories", func(w http.ResponseWriter, r *http.Request) {
		f.writeJSON(w, 200, map[string]any{"resource_provider_generation": 1, "inventories": f.inventories[r.PathValue("u")]})
	})
	f.handle("GET /placement/resource_providers/{u}/allocations", func(w http.ResponseWriter, r *http.Request) {
		allocs := map[string]any{}
		for _, hv := range f.hypervisors {
			if hv.ID != r.PathValue("u") {
				continue
			}
			for _, s := range f.servers {
				if s.Host == hv.Host {
					allocs[s.ID] = map[string]any{"resources": map[string]any{"VCPU": s.Flavor[0], "MEMORY_MB": s.Flavor[1], "DISK_GB": s.Flavor[2]}}
				}
			}
		}
		f.writeJSON(w, 200, map[string]any{"resource_provider_generation": 1, "allocations": allocs})
	})
}

func (f *fakeCloud) tokens(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.t.Errorf("token request: %v", err)
	}
	if pw := req.Auth.Identity.Password.User.Password; pw != f.password {
		msg := "The request you have made requires authentication."
		if f.echoSecret {
			msg += " (password " + pw + ")"
		}
		f.writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized", "message": msg}})
		return
	}
	ep := func(path string) []any {
		var out []any
		for _, i := range []string{"public", "internal"} {
			out = append(out, map[string]any{"id": i + path, "interface": i, "region": "RegionOne", "region_id": "RegionOne", "url": f.url(path)})
		}
		return out
	}
	catalog := []any{
		map[string]any{"type": "identity", "name": "keystone", "endpoints": ep("/v3")},
		map[string]any{"type": "compute", "name": "nova", "endpoints": ep("/compute/v2.1")},
	}
	if !f.noPlacement {
		catalog = append(catalog, map[string]any{"type": "placement", "name": "placement", "endpoints": ep("/placement")})
	}
	w.Header().Set("X-Subject-Token", "tok-1")
	f.writeJSON(w, 201, map[string]any{"token": map[string]any{
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"methods":    []string{"password"},
		"project":    map[string]any{"id": fakeProject, "name": "admin", "domain": map[string]any{"id": "default", "name": "Default"}},
		"user":       map[string]any{"id": "u-admin", "name": "admin", "domain": map[string]any{"id": "default", "name": "Default"}},
		"roles":      []any{map[string]any{"id": "r1", "name": "admin"}},
		"catalog":    catalog,
	}})
}

func (f *fakeCloud) serviceJSON(s *fakeService) map[string]any {
	var reason any
	if s.Reason != "" {
		reason = s.Reason
	}
	return map[string]any{"id": s.ID, "binary": s.Binary, "host": s.Host, "zone": s.Zone, "state": s.State, "status": s.Status,
		"disabled_reason": reason, "forced_down": s.ForcedDown, "updated_at": s.Updated.Format("2006-01-02T15:04:05.000000")}
}

func (f *fakeCloud) listServices(w http.ResponseWriter, r *http.Request) {
	out := []any{}
	for _, s := range f.services {
		if b := r.URL.Query().Get("binary"); b != "" && b != s.Binary {
			continue
		}
		if h := r.URL.Query().Get("host"); h != "" && h != s.Host {
			continue
		}
		if s.beat {
			s.Updated = s.Updated.Add(10 * time.Second)
		}
		out = append(out, f.serviceJSON(s))
	}
	f.writeJSON(w, 200, map[string]any{"services": out})
}

func (f *fakeCloud) updateService(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("PUT os-services: %v", err)
	}
	for _, s := range f.services {
		if s.ID != r.PathValue("id") {
			continue
		}
		switch body["status"] {
		case "enabled":
			if body["disabled_reason"] != nil {
				f.writeJSON(w, 400, map[string]any{"badRequest": map[string]any{"code": 400, "message": "Specifying 'disabled_reason' with status 'enabled' is invalid."}})
				return
			}
			s.Status, s.Reason = "enabled", ""
		case "disabled":
			reason, _ := body["disabled_reason"].(string)
			s.Status, s.Reason = "disabled", reason
		}
		f.writeJSON(w, 200, map[string]any{"service": f.serviceJSON(s)})
		return
	}
	f.writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Service not found."}})
}

func (f *fakeCloud) listHypervisors(w http.ResponseWriter, r *http.Request) {
	out := []any{}
	for _, hv := range f.hypervisors {
		var servers []any
		for _, id := range sortedKeys(f.servers) {
			if s := f.servers[id]; s.Host == hv.Host {
				servers = append(servers, map[string]any{"uuid": s.ID, "name": "instance-" + s.ID})
			}
		}
		h := map[string]any{
			"id": hv.ID, "hypervisor_hostname": hv.Host, "hypervisor_type": "QEMU", "hypervisor_version": hv.Version,
			"state": "up", "status": "enabled", "host_ip": "127.0.0.1", "cpu_info": map[string]any{},
			"vcpus": hv.VCPUs, "memory_mb": hv.MemoryMB, "local_gb": hv.DiskGB,
			"vcpus_used": hv.Used[0], "memory_mb_used": hv.Used[1], "local_gb_used": hv.Used[2], "running_vms": len(servers),
			"service": map[string]any{"host": hv.Host, "id": "svc-" + hv.Host, "disabled_reason": nil},
		}
		if r.URL.Query().Get("with_servers") != "" {
			h["servers"] = servers
		}
		out = append(out, h)
	}
	f.writeJSON(w, 200, map[string]any{"hypervisors": out})
}

func serverJSON(s *fakeServer) map[string]any {
	var task any
	if s.Task != "" {
		task = s.Task
	}
	return map[string]any{
		"id": s.ID, "name": s.Name, "status": s.Status, "tenant_id": s.Project, "user_id": "u-admin",
		"OS-EXT-SRV-ATTR:host": s.Host, "OS-EXT-STS:task_state": task, "OS-EXT-STS:vm_state": strings.ToLower(s.Status),
		"flavor":  map[string]any{"vcpus": s.Flavor[0], "ram": s.Flavor[1], "disk": s.Flavor[2], "ephemeral": 0, "swap": 0, "original_name": "m1"},
		"created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
	}
}

func (f *fakeCloud) listServers(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("all_tenants") != "true" {
		f.t.Errorf("servers listed without all_tenants: %s", r.URL.RawQuery)
	}
	out := []any{}
	for _, id := range sortedKeys(f.servers) {
		out = append(out, serverJSON(f.servers[id]))
	}
	f.writeJSON(w, 200, map[string]any{"servers": out})
}

func (f *fakeCloud) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("all_projects") != "true" {
		f.t.Errorf("server groups listed without all_projects: %s", r.URL.RawQuery)
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	// Nova's max_limit, smaller than what the provider asks for.
	limit = min(limit, 2)
	page := []map[string]any{}
	if offset < len(f.groups) {
		page = f.groups[offset:min(offset+limit, len(f.groups))]
	}
	f.writeJSON(w, 200, map[string]any{"server_groups": page})
}

func (f *fakeCloud) serverAction(w http.ResponseWriter, r *http.Request) {
	var body map[string]map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("server action: %v", err)
	}
	s, ok := f.servers[r.PathValue("id")]
	if !ok {
		f.writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Instance could not be found."}})
		return
	}
	f.nextReq++
	reqID := fmt.Sprintf("req-%d", f.nextReq)
	w.Header().Set("X-Openstack-Request-Id", reqID)
	start := func(typ, action string, steps []string) {
		if s.Task != "" {
			f.writeJSON(w, 409, map[string]any{"conflictingRequest": map[string]any{"code": 409, "message": "Cannot '" + action + "' instance while it is in task_state " + s.Task}})
			return
		}
		dest, _ := body[action]["host"].(string)
		if dest == "" {
			// The scheduler's pick: the first other compute.
			for _, c := range f.services {
				if c.Binary == "nova-compute" && c.Host != s.Host {
					dest = c.Host
					break
				}
			}
		}
		f.nextMigID++
		m := &fakeMigration{ID: f.nextMigID, Instance: s.ID, Type: typ, Status: "accepted", From: s.Host, To: dest, steps: append([]string(nil), steps...)}
		if f.failTo[dest] {
			m.steps = []string{"error"}
			f.actions[reqID] = map[string]any{"action": "live-migration", "request_id": reqID, "message": "Error",
				"events": []any{map[string]any{"event": "conductor_live_migrate_instance", "result": "Error", "details": "No valid host was found. There are not enough hosts available."}}}
		}
		f.migrations = append(f.migrations, m)
		s.Task = "migrating"
		if typ == typeCold {
			s.Task = "resize_prep"
		}
		w.WriteHeader(202)
	}
	switch {
	case body["os-migrateLive"] != nil:
		if body["os-migrateLive"]["block_migration"] != "auto" {
			f.t.Errorf("live migration without block_migration auto: %v", body)
		}
		start(typeLive, "os-migrateLive", f.liveSteps)
	case body["migrate"] != nil:
		start(typeCold, "migrate", []string{"pre-migrating", "migrating", "finished"})
	default:
		if _, ok := body["confirmResize"]; ok {
			for _, m := range f.migrations {
				if m.Instance == s.ID && m.Status == "finished" {
					m.confirmed = true
					m.steps = []string{"confirming", "confirmed"}
				}
			}
			w.WriteHeader(204)
			return
		}
		f.t.Errorf("unexpected server action %v", body)
		w.WriteHeader(400)
	}
}

// advance moves a migration one step, as a read of the records shows it.
func (f *fakeCloud) advance(m *fakeMigration) {
	if m.aborted {
		m.Status, m.steps = "cancelled", nil
		f.servers[m.Instance].Task = ""
		return
	}
	if len(m.steps) == 0 {
		return
	}
	m.Status = m.steps[0]
	if len(m.steps) > 1 || m.Status != "running" {
		m.steps = m.steps[1:]
	}
	s := f.servers[m.Instance]
	switch m.Status {
	case "completed":
		s.Host, s.Task = m.To, ""
	case "finished":
		s.Host, s.Task, s.Status = m.To, "", "VERIFY_RESIZE"
	case "confirmed":
		s.Status = "ACTIVE"
	case "error", "failed":
		s.Task = ""
	}
}

func (f *fakeCloud) migration(id string) *fakeMigration {
	for _, m := range f.migrations {
		if strconv.FormatInt(m.ID, 10) == id {
			return m
		}
	}
	return nil
}

func (f *fakeCloud) listMigrations(w http.ResponseWriter, r *http.Request) {
	inst := r.URL.Query().Get("instance_uuid")
	out := []any{}
	for _, m := range f.migrations {
		if inst != "" && m.Instance != inst {
			continue
		}
		f.advance(m)
		dest := m.To
		if m.Status == "accepted" {
			dest = "" // Nova fills it when the conductor has a host
		}
		out = append(out, map[string]any{
			"id": m.ID, "uuid": fmt.Sprintf("mig-%d", m.ID), "instance_uuid": m.Instance, "migration_type": m.Type, "status": m.Status,
			"source_compute": m.From, "dest_compute": dest, "source_node": m.From, "dest_node": dest,
			"created_at": "2026-01-01T00:00:00.000000", "updated_at": "2026-01-01T00:00:00.000000",
		})
	}
	f.writeJSON(w, 200, map[string]any{"migrations": out})
}

// provider returns a provider configured against the fake, over the
// plugin protocol, with instant waits.
func (f *fakeCloud) provider(t *testing.T, extra map[string]cty.Value) (*sdktest.Client, sdk.Diagnostics) {
	t.Helper()
	p := New()
	p.getenv = func(string) string { return "" }
	p.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	return f.configure(t, p, extra)
}

// mustProviderWith configures p against the fake, with its own waits.
func (f *fakeCloud) mustProviderWith(t *testing.T, p *Provider) *sdktest.Client {
	t.Helper()
	cl, diags := f.configure(t, p, nil)
	if diags.HasErrors() {
		t.Fatalf("configure: %v", diags)
	}
	return cl
}

func (f *fakeCloud) configure(t *testing.T, p *Provider, extra map[string]cty.Value) (*sdktest.Client, sdk.Diagnostics) {
	t.Helper()
	cl := sdktest.Start(t, p)
	cfg := map[string]cty.Value{
		"auth_url":            cty.StringVal(f.url("/v3")),
		"username":            cty.StringVal("admin"),
		"password":            cty.StringVal(f.password),
		"user_domain_name":    cty.StringVal("Default"),
		"project_name":        cty.StringVal("admin"),
		"project_domain_name": cty.StringVal("Default"),
		"region":              cty.StringVal("RegionOne"),
		"poll_interval":       cty.StringVal("100ms"),
	}
	for k, v := range extra {
		cfg[k] = v
	}
	_, diags := cl.Configure(context.Background(), cty.ObjectVal(cfg))
	return cl, diags
}

func (f *fakeCloud) mustProvider(t *testing.T, extra map[string]cty.Value) *sdktest.Client {
	t.Helper()
	cl, diags := f.provider(t, extra)
	if diags.HasErrors() {
		t.Fatalf("configure: %v", diags)
	}
	return cl
}

func exec(t *testing.T, cl *sdktest.Client, req sdk.ExecuteActionRequest) (*sdk.ExecuteActionResponse, sdk.Diagnostics, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var progress []string
	var mu sync.Mutex
	resp, diags := cl.Execute(ctx, req, func(msg string, _ float64) {
		mu.Lock()
		progress = append(progress, msg)
		mu.Unlock()
	})
	return resp, diags, progress
}

func errorText(diags sdk.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity == sdk.Error {
			parts = append(parts, d.Summary+": "+d.Detail)
		}
	}
	return strings.Join(parts, "\n")
}

func warningText(diags sdk.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity == sdk.Warning {
			parts = append(parts, d.Summary+": "+d.Detail)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}
