package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKeystone answers GET /v3/auth/tokens for the tokens it knows, the
// way Keystone does: 200 with the token document when X-Subject-Token is
// valid, 404 when not, 401 when X-Auth-Token is not; down makes it answer
// 503 (a Keystone being upgraded behind its load balancer).
type fakeKeystone struct {
	mu     sync.Mutex
	tokens map[string]fakeToken
	down   bool
	calls  int
	srv    *httptest.Server
}

type fakeToken struct {
	user, project string
	roles         []string
	expires       time.Time
}

func newFakeKeystone(t *testing.T) *fakeKeystone {
	k := &fakeKeystone{tokens: map[string]fakeToken{}}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.calls++
		if k.down {
			http.Error(w, "upgrade in progress", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/v3/auth/tokens" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		if _, ok := k.tokens[r.Header.Get("X-Auth-Token")]; !ok {
			http.Error(w, `{"error":{"code":401}}`, http.StatusUnauthorized)
			return
		}
		tk, ok := k.tokens[r.Header.Get("X-Subject-Token")]
		if !ok {
			http.Error(w, `{"error":{"code":404}}`, http.StatusNotFound)
			return
		}
		var roles []map[string]string
		for _, r := range tk.roles {
			roles = append(roles, map[string]string{"id": "id-" + r, "name": r})
		}
		doc := map[string]any{"token": map[string]any{
			"expires_at": tk.expires.UTC().Format("2006-01-02T15:04:05.000000Z"),
			"user":       map[string]any{"id": "uid-" + tk.user, "name": tk.user, "domain": map[string]string{"id": "default", "name": "Default"}},
			"roles":      roles,
		}}
		if tk.project != "" {
			doc["token"].(map[string]any)["project"] = map[string]any{"id": "pid-" + tk.project, "name": tk.project}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *fakeKeystone) add(token string, tk fakeToken) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tokens[token] = tk
}

func (k *fakeKeystone) revoke(token string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.tokens, token)
}

func (k *fakeKeystone) setDown(down bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = down
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestKeystoneRoleMapping(t *testing.T) {
	fk := newFakeKeystone(t)
	clk := &clock{t: time.Now()}
	exp := clk.t.Add(time.Hour)
	tests := []struct {
		name    string
		tk      fakeToken
		project string
		want    Role
	}{
		{"reader", fakeToken{user: "ann", project: "ops", roles: []string{"reader"}}, "", RoleViewer},
		{"member", fakeToken{user: "bob", project: "ops", roles: []string{"reader", "member"}}, "", RoleOperator},
		{"admin wins", fakeToken{user: "cy", project: "ops", roles: []string{"member", "admin", "reader"}}, "", RoleAdmin},
		{"no mapped role", fakeToken{user: "dan", project: "ops", roles: []string{"load-balancer_member"}}, "", ""},
		{"system scope", fakeToken{user: "eve", roles: []string{"admin"}}, "", RoleAdmin},
		{"right project by name", fakeToken{user: "fay", project: "ops", roles: []string{"member"}}, "ops", RoleOperator},
		{"right project by id", fakeToken{user: "gil", project: "ops", roles: []string{"member"}}, "pid-ops", RoleOperator},
		{"other project", fakeToken{user: "hal", project: "dev", roles: []string{"admin"}}, "ops", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := fmt.Sprintf("gAAAAtoken%d", i)
			tt.tk.expires = exp
			fk.add(secret, tt.tk)
			k, err := NewKeystone(KeystoneOptions{URL: fk.srv.URL + "/v3/", Project: tt.project, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			tk, src, err := k.Verify(context.Background(), secret)
			if err != nil || src != SourceKeystone || tk.Role != tt.want || !strings.Contains(tk.Name, tt.tk.user) || tk.ID != "keystone:uid-"+tt.tk.user {
				t.Errorf("Verify = %+v, %q, %v; want role %q", tk, src, err, tt.want)
			}
		})
	}
}

func TestParseKeystoneRoles(t *testing.T) {
	got, err := ParseKeystoneRoles(" reader=viewer, member=operator,cloud-admin=admin ")
	if err != nil || len(got) != 3 || got["cloud-admin"] != RoleAdmin || got["member"] != RoleOperator {
		t.Errorf("ParseKeystoneRoles = %v, %v", got, err)
	}
	for _, bad := range []string{"", "reader", "=viewer", "reader=root"} {
		if _, err := ParseKeystoneRoles(bad); err == nil {
			t.Errorf("ParseKeystoneRoles(%q) accepted", bad)
		}
	}
}

// TestKeystoneFallback: the cached validation is what keeps the operator
// in while Keystone is down, within its bounds.
func TestKeystoneFallback(t *testing.T) {
	fk := newFakeKeystone(t)
	clk := &clock{t: time.Now()}
	cache := filepath.Join(t.TempDir(), "keystone-cache.json")
	opts := KeystoneOptions{URL: fk.srv.URL + "/v3", Now: clk.now, CacheFor: 2 * time.Hour, CachePath: cache}
	k, err := NewKeystone(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fk.add("tok-op", fakeToken{user: "op", project: "ops", roles: []string{"member"}, expires: clk.t.Add(3 * time.Hour)})
	fk.add("tok-short", fakeToken{user: "short", project: "ops", roles: []string{"member"}, expires: clk.t.Add(30 * time.Minute)})
	fk.add("tok-never", fakeToken{user: "never", project: "ops", roles: []string{"member"}, expires: clk.t.Add(3 * time.Hour)})
	for _, s := range []string{"tok-op", "tok-short"} {
		if _, src, err := k.Verify(ctx, s); err != nil || src != SourceKeystone {
			t.Fatalf("%s: %q %v", s, src, err)
		}
	}
	// Within a minute, no second call.
	calls := fk.calls
	if _, _, err := k.Verify(ctx, "tok-op"); err != nil || fk.calls != calls {
		t.Errorf("fresh validation not reused: %v, %d calls", err, fk.calls-calls)
	}
	// The cache file holds hashes, never tokens, and is private.
	data, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "tok-op") || !strings.Contains(string(data), tokenKey("tok-op")) {
		t.Errorf("cache file content: %s", data)
	}
	if fi, _ := os.Stat(cache); fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v", fi.Mode().Perm())
	}

	fk.setDown(true)
	clk.add(10 * time.Minute)
	if tk, src, err := k.Verify(ctx, "tok-op"); err != nil || src != SourceKeystoneCached || tk.Role != RoleOperator {
		t.Errorf("Keystone down, validated token: %+v %q %v", tk, src, err)
	}
	_, _, err = k.Verify(ctx, "tok-never")
	if !errors.Is(err, ErrKeystoneUnavailable) || !strings.Contains(err.Error(), "never validated") || !strings.Contains(err.Error(), "escalator token create") {
		t.Errorf("Keystone down, unknown token: %v", err)
	}
	// A restarted server reads the cache back.
	k2, err := NewKeystone(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, src, err := k2.Verify(ctx, "tok-op"); err != nil || src != SourceKeystoneCached {
		t.Errorf("after a restart, Keystone down: %q %v", src, err)
	}
	// Past the token's own expiry: refused even from the cache.
	clk.add(25 * time.Minute)
	if _, _, err := k.Verify(ctx, "tok-short"); !errors.Is(err, ErrKeystoneUnavailable) {
		t.Errorf("expired token accepted from the cache: %v", err)
	}
	// Past cache_for since the last validation: refused.
	clk.add(90 * time.Minute)
	if _, _, err := k.Verify(ctx, "tok-op"); !errors.Is(err, ErrKeystoneUnavailable) || !strings.Contains(err.Error(), "last validated at") {
		t.Errorf("stale cache accepted: %v", err)
	}

	// Back up: a revoked token is refused and forgotten.
	fk.setDown(false)
	clk.t = time.Now()
	fk.add("tok-rev", fakeToken{user: "rev", roles: []string{"admin"}, expires: clk.t.Add(time.Hour)})
	if _, _, err := k.Verify(ctx, "tok-rev"); err != nil {
		t.Fatal(err)
	}
	fk.revoke("tok-rev")
	clk.add(2 * time.Minute)
	if _, _, err := k.Verify(ctx, "tok-rev"); !errors.Is(err, ErrKeystoneInvalid) {
		t.Errorf("revoked token: %v", err)
	}
	fk.setDown(true)
	if _, _, err := k.Verify(ctx, "tok-rev"); !errors.Is(err, ErrKeystoneUnavailable) {
		t.Errorf("a revoked token came back from the cache: %v", err)
	}
}

// TestKeystoneThroughTheAPI: the routes with Keystone tokens (Bearer or
// X-Auth-Token), the source in whoami and the header, and local tokens
// that keep working with Keystone down.
func TestKeystoneThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	fk := newFakeKeystone(t)
	k, err := NewKeystone(KeystoneOptions{URL: fk.srv.URL + "/v3"})
	if err != nil {
		t.Fatal(err)
	}
	f.server.Keystone = k
	exp := time.Now().Add(time.Hour)
	fk.add("ks-reader", fakeToken{user: "ann", project: "ops", roles: []string{"reader"}, expires: exp})
	fk.add("ks-member", fakeToken{user: "bob", project: "ops", roles: []string{"member", "reader"}, expires: exp})
	fk.add("ks-other", fakeToken{user: "cy", project: "ops", roles: []string{"heat_stack_owner"}, expires: exp})
	do := func(method, path, header, token string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, f.srv.URL+path, nil)
		if header == "Authorization" {
			token = "Bearer " + token
		}
		req.Header.Set(header, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for _, tt := range []struct {
		method, path, header, token string
		want                        int
		body                        string
	}{
		{"GET", "/v1/runs", "Authorization", "ks-reader", 200, ""},
		{"GET", "/v1/runs", "X-Auth-Token", "ks-reader", 200, ""},
		{"POST", "/v1/runs/" + runID + "/pause", "Authorization", "ks-reader", 403, "has role viewer"},
		{"POST", "/v1/runs/" + runID + "/pause", "X-Auth-Token", "ks-member", 200, ""},
		{"GET", "/v1/tokens", "Authorization", "ks-member", 403, "needs admin"},
		{"GET", "/v1/runs", "Authorization", "ks-other", 403, "none of which maps"},
		{"GET", "/v1/runs", "Authorization", "ks-unknown", 401, "Keystone does not accept"},
		{"GET", "/v1/runs", "Authorization", f.secrets[RoleViewer], 200, ""},
	} {
		code, body, _ := do(tt.method, tt.path, tt.header, tt.token)
		if code != tt.want || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s with %s %s: %d %s; want %d containing %q", tt.method, tt.path, tt.header, tt.token, code, body, tt.want, tt.body)
		}
	}
	_, body, h := do("GET", "/v1/whoami", "Authorization", "ks-member")
	if h.Get("Escalator-Auth") != SourceKeystone || !strings.Contains(body, `"source": "keystone"`) || !strings.Contains(body, `"role": "operator"`) || !strings.Contains(body, `"member"`) {
		t.Errorf("whoami (keystone): %s %v", body, h)
	}

	// Keystone down: a token it never validated here gets 503 with what
	// to do; local tokens work as ever. (The cached path: TestKeystoneFallback.)
	fk.setDown(true)
	code, body, h := do("GET", "/v1/runs", "Authorization", "never-seen")
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "local token") {
		t.Errorf("unknown Keystone token with Keystone down: %d %s", code, body)
	}
	_, body, h = do("GET", "/v1/whoami", "Authorization", f.secrets[RoleAdmin])
	if h.Get("Escalator-Auth") != SourceLocal || !strings.Contains(body, `"source": "local"`) {
		t.Errorf("whoami (local) with Keystone down: %s", body)
	}
}

func FuzzParseKeystoneToken(f *testing.F) {
	f.Add([]byte(`{"token":{"expires_at":"2026-11-22T10:00:00.000000Z","user":{"id":"u","name":"n"},"project":{"id":"p","name":"q"},"roles":[{"name":"admin"}]}}`))
	f.Add([]byte(`{"token":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := parseKeystoneToken(data)
		if err == nil && (e.UserID == "" || e.ExpiresAt.IsZero()) {
			t.Errorf("accepted a document without user or expiry: %+v", e)
		}
	})
}
