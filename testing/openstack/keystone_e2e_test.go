//go:build e2e_openstack && linux

package openstack

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/escalator-nfv/escalator/testing/clitest"
)

// serveProc is a running "escalator serve".
type serveProc struct {
	cmd *exec.Cmd
	url string
}

// startServe runs escalator serve in dir with args and waits for the URL
// it prints.
func startServe(t *testing.T, ctx context.Context, bin, dir string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "-listen=127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd}
	t.Cleanup(p.stop)
	urlRE := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+) `)
	lines := bufio.NewScanner(out)
	found := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if m := urlRE.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p.url = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("escalator serve printed no URL within 30s")
	}
	return p
}

func (p *serveProc) stop() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
		_ = p.cmd.Wait()
	}
}

// call makes one API request with a Keystone token as X-Auth-Token or,
// for a local token, as a bearer token.
func (p *serveProc) call(t *testing.T, method, path, token string) (int, string, http.Header, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(method, p.url+path, nil)
	if strings.HasPrefix(token, "esc_") {
		req.Header.Set("Authorization", "Bearer "+token)
	} else {
		req.Header.Set("X-Auth-Token", token)
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, took
}

// TestKeystoneAuth runs escalator serve against the real Keystone: users
// with Keystone's reader, member and admin roles get escalator's viewer,
// operator and admin; a user with none of them is refused; a revoked token
// is refused; with Keystone stopped (its upgrade), tokens it validated keep
// working from the cache, also after escalator serve restarts, a token it
// never saw gets 503 and a local token works.
func TestKeystoneAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	env, err := Start(ctx, Options{Dir: stateDir(t), KeystoneOnly: true, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer scancel()
		if err := env.Stop(sctx); err != nil {
			t.Error(err)
		}
	})
	t.Logf("FIGURE Keystone alone up in %s", time.Since(t0).Round(100*time.Millisecond))

	// Users with a role each on a project of their own.
	admin, err := env.Provider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := gos.NewIdentityV3(admin, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	proj, err := projects.Create(ctx, id, projects.CreateOpts{Name: "nfv-ops", DomainID: "default"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	roleIDs := map[string]string{}
	pages, err := roles.List(id, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := roles.ExtractRoles(pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		roleIDs[r.Name] = r.ID
	}
	other, err := roles.Create(ctx, id, roles.CreateOpts{Name: "heat_stack_owner"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	roleIDs[other.Name] = other.ID
	token := func(user, role string) string {
		t.Helper()
		const pw = "pw-for-tests-only"
		u, err := users.Create(ctx, id, users.CreateOpts{Name: user, DomainID: "default", Password: pw}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if err := roles.Assign(ctx, id, roleIDs[role], roles.AssignOpts{UserID: u.ID, ProjectID: proj.ID}).ExtractErr(); err != nil {
			t.Fatalf("assign %s to %s: %v", role, user, err)
		}
		tk, err := tokens.Create(ctx, id, &tokens.AuthOptions{Username: user, Password: pw, DomainID: "default",
			Scope: tokens.Scope{ProjectID: proj.ID}}).ExtractTokenID()
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	reader, member, adminTok, none := token("ann", "reader"), token("bob", "member"), token("cy", "admin"), token("dan", "heat_stack_owner")
	revoked, never := token("eve", "member"), token("fay", "admin")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("escalator {\n  state \"local\" {\n    path = \".escalator/state.json\"\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, _ := clitest.Build(t, ctx, dir)
	c := &clitest.CLI{T: t, Bin: bin, Dir: dir}
	local := strings.TrimSpace(c.Run(ctx, true, "token", "create", "-name=break-glass", "-role=admin"))
	if i := strings.LastIndex(local, "esc_"); i >= 0 {
		local = strings.Fields(local[i:])[0]
	}
	args := []string{"-keystone-url=" + env.AuthURL, "-keystone-project=nfv-ops", "-keystone-recheck=0"}
	srv := startServe(t, ctx, bin, dir, args...)

	run := "20261122T100000.000Z-0000aaaa"
	for _, tt := range []struct {
		name, method, path, token string
		want                      int
		body                      string
	}{
		{"reader reads", "GET", "/v1/runs", reader, 200, ""},
		{"reader may not pause", "POST", "/v1/runs/" + run + "/pause", reader, 403, "has role viewer"},
		{"member reads", "GET", "/v1/runs", member, 200, ""},
		{"member may not manage tokens", "GET", "/v1/tokens", member, 403, "needs admin"},
		{"admin manages tokens", "GET", "/v1/tokens", adminTok, 200, "break-glass"},
		{"unmapped role", "GET", "/v1/runs", none, 403, "heat_stack_owner"},
		{"local token", "GET", "/v1/tokens", local, 200, "break-glass"},
	} {
		code, body, _, _ := srv.call(t, tt.method, tt.path, tt.token)
		if code != tt.want || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %s %s: %d %s; want %d with %q", tt.name, tt.method, tt.path, code, body, tt.want, tt.body)
		}
	}
	// The member can act: pause gets past authorization (no such run).
	if code, body, _, _ := srv.call(t, "POST", "/v1/runs/"+run+"/pause", member); code == 401 || code == 403 {
		t.Errorf("member pausing: %d %s", code, body)
	}
	var who struct {
		Role, Source  string
		KeystoneRoles []string `json:"keystone_roles"`
	}
	_, body, _, _ := srv.call(t, "GET", "/v1/whoami", member)
	if err := json.Unmarshal([]byte(body), &who); err != nil || who.Role != "operator" || who.Source != "keystone" {
		t.Errorf("whoami for the member: %s", body)
	}

	// Latency: each request validates (recheck 0) against the real
	// Keystone; with the default recheck the second is served from memory.
	var lat []time.Duration
	for range 5 {
		_, _, _, d := srv.call(t, "GET", "/v1/whoami", reader)
		lat = append(lat, d)
	}
	srvFresh := startServe(t, ctx, bin, dir, "-keystone-url="+env.AuthURL)
	_, _, _, first := srvFresh.call(t, "GET", "/v1/whoami", adminTok)
	_, _, _, again := srvFresh.call(t, "GET", "/v1/whoami", adminTok)
	t.Logf("FIGURE API request validated by Keystone (recheck 0): %v (5 in a row); within the default 1m recheck (validation cached by the earlier server): %v, %v", lat, first.Round(time.Microsecond), again.Round(time.Microsecond))
	srvFresh.stop()

	// Revoked in Keystone: refused.
	if err := tokens.Revoke(ctx, id, revoked).Err; err != nil {
		t.Fatal(err)
	}
	if code, body, _, _ := srv.call(t, "GET", "/v1/runs", revoked); code != 401 {
		t.Errorf("revoked token: %d %s", code, body)
	}

	// Keystone stops, as during its upgrade.
	if err := env.StopKeystone(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(s *serveProc, when string) {
		t.Helper()
		code, body, h, _ := s.call(t, "GET", "/v1/whoami", member)
		if code != 200 || h.Get("Escalator-Auth") != "keystone-cached" || !strings.Contains(body, `"keystone-cached"`) {
			t.Errorf("%s: validated member token: %d %s %v", when, code, body, h)
		}
		if code, _, _, _ := s.call(t, "POST", "/v1/runs/"+run+"/pause", member); code == 401 || code == 403 || code == 503 {
			t.Errorf("%s: the member cannot act: %d", when, code)
		}
		if code, body, _, _ := s.call(t, "GET", "/v1/runs", never); code != 503 || !strings.Contains(body, "escalator token create") {
			t.Errorf("%s: never-validated token: %d %s", when, code, body)
		}
		if code, body, h, _ := s.call(t, "GET", "/v1/tokens", local); code != 200 || h.Get("Escalator-Auth") != "local" {
			t.Errorf("%s: local token: %d %s", when, code, body)
		}
	}
	check(srv, "Keystone stopped")
	srv.stop()
	check(startServe(t, ctx, bin, dir, args...), "Keystone stopped, escalator serve restarted")

	// Keystone back: the revoked one stays refused, the others validate.
	if err := env.StartKeystone(ctx); err != nil {
		t.Fatal(err)
	}
	srv2 := startServe(t, ctx, bin, dir, args...)
	if code, _, h, _ := srv2.call(t, "GET", "/v1/whoami", reader); code != 200 || h.Get("Escalator-Auth") != "keystone" {
		t.Errorf("Keystone back: reader %d %v", code, h.Get("Escalator-Auth"))
	}
	if code, _, _, _ := srv2.call(t, "GET", "/v1/runs", revoked); code != 401 {
		t.Errorf("Keystone back: revoked token %d", code)
	}
}
