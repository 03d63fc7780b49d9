package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/atomicfile"
)

// Defaults of Keystone validation.
const (
	// DefaultKeystoneCache is how long after its last successful
	// validation a Keystone token is still accepted while Keystone cannot
	// be reached (never past the token's own expiry): long enough to
	// cover a Keystone upgrade, short enough that a revoked token does
	// not live on for days.
	DefaultKeystoneCache = 12 * time.Hour
	// DefaultKeystoneRecheck is how long a validation is reused without
	// asking Keystone again, so that the dashboard's polling does not
	// validate on every request. A revocation takes effect within it.
	DefaultKeystoneRecheck = time.Minute
	// keystoneTimeout bounds one validation request.
	keystoneTimeout = 5 * time.Second
)

// DefaultKeystoneRoles maps Keystone's default roles to escalator's.
var DefaultKeystoneRoles = map[string]Role{"reader": RoleViewer, "member": RoleOperator, "admin": RoleAdmin}

// KeystoneOptions configure Keystone token validation.
type KeystoneOptions struct {
	// URL is the identity v3 endpoint, e.g. https://keystone:5000/v3.
	URL string
	// Roles maps Keystone role names to escalator roles; a token gets the
	// highest. Nil means DefaultKeystoneRoles.
	Roles map[string]Role
	// Project, when set, is the only project (name or id) whose scoped
	// tokens are accepted; otherwise any project-scoped or system-scoped
	// token is.
	Project string
	// CAFile is a PEM bundle to trust for URL (https).
	CAFile string
	// CacheFor: see DefaultKeystoneCache (0 means it). A negative value
	// turns the fallback off.
	CacheFor time.Duration
	// Recheck: see DefaultKeystoneRecheck (0 means it); a negative value
	// asks Keystone on every request.
	Recheck time.Duration
	// CachePath is where validated tokens are kept (by hash) so that a
	// restarted server still has them; "" keeps them in memory only.
	CachePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Client overrides the HTTP client (tests).
	Client *http.Client
}

// Keystone validates Keystone tokens, remembering those it validated so
// that they keep working while Keystone is down (its own upgrade).
type Keystone struct {
	o      KeystoneOptions
	client *http.Client

	mu    sync.Mutex
	cache map[string]*keystoneEntry // by SHA-256 of the token
}

// keystoneEntry is what a validation said about a token.
type keystoneEntry struct {
	User        string    `json:"user"`
	UserID      string    `json:"user_id"`
	Project     string    `json:"project,omitempty"`
	ProjectID   string    `json:"project_id,omitempty"`
	Roles       []string  `json:"roles"`
	Role        Role      `json:"role"`
	ExpiresAt   time.Time `json:"expires_at"`
	ValidatedAt time.Time `json:"validated_at"`
}

// keystoneCacheFile is the cache file's format.
type keystoneCacheFile struct {
	FormatVersion int                       `json:"format_version"`
	Entries       map[string]*keystoneEntry `json:"entries"`
}

// Sources of an identity, as whoami shows them.
const (
	SourceLocal          = "local"
	SourceKeystone       = "keystone"
	SourceKeystoneCached = "keystone-cached"
)

// Errors of Verify.
var (
	// ErrKeystoneInvalid: Keystone says the token is not valid (expired,
	// revoked, unknown).
	ErrKeystoneInvalid = errors.New("keystone: invalid token")
	// ErrKeystoneUnavailable: Keystone could not be asked, and the token
	// was not validated recently enough to be accepted without it.
	ErrKeystoneUnavailable = errors.New("keystone: unavailable")
)

// NewKeystone checks the options and loads the cache file.
func NewKeystone(o KeystoneOptions) (*Keystone, error) {
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return nil, fmt.Errorf("keystone URL %q: give the identity v3 endpoint, such as https://keystone.example.net:5000/v3", o.URL)
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	if o.Roles == nil {
		o.Roles = DefaultKeystoneRoles
	}
	if o.CacheFor == 0 {
		o.CacheFor = DefaultKeystoneCache
	}
	if o.Recheck == 0 {
		o.Recheck = DefaultKeystoneRecheck
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	k := &Keystone{o: o, client: o.Client, cache: map[string]*keystoneEntry{}}
	if k.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("keystone CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("keystone CA file %s holds no PEM certificate", o.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		k.client = &http.Client{Transport: tr, Timeout: keystoneTimeout}
	}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseKeystoneRoles reads "keystone_role=escalator_role,…".
func ParseKeystoneRoles(s string) (map[string]Role, error) {
	out := map[string]Role{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		ks, role, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(ks) == "" {
			return nil, fmt.Errorf("keystone role mapping %q: write keystone_role=escalator_role, such as member=operator", pair)
		}
		r, err := ParseRole(strings.TrimSpace(role))
		if err != nil {
			return nil, fmt.Errorf("keystone role mapping %q: %w", pair, err)
		}
		out[strings.TrimSpace(ks)] = r
	}
	if len(out) == 0 {
		return nil, errors.New("keystone role mapping is empty: map at least one Keystone role, such as reader=viewer")
	}
	return out, nil
}

// describeRoles is the mapping, for messages: "admin=admin, member=operator".
func (k *Keystone) describeRoles() string {
	var parts []string
	for ks, r := range k.o.Roles {
		parts = append(parts, ks+"="+string(r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (k *Keystone) projectHint() string {
	if k.o.Project == "" {
		return ""
	}
	return fmt.Sprintf(", on project %q (the only one this server accepts)", k.o.Project)
}

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Verify returns the identity of a Keystone token and where the answer
// came from (SourceKeystone, or SourceKeystoneCached when Keystone could
// not be reached). A token Keystone accepts but whose roles map to no
// escalator role gets a Token without role (the caller answers 403).
func (k *Keystone) Verify(ctx context.Context, token string) (Token, string, error) {
	key := tokenKey(token)
	now := k.o.Now()
	k.mu.Lock()
	e := k.cache[key]
	k.mu.Unlock()
	if e != nil && now.Before(e.ExpiresAt) && now.Sub(e.ValidatedAt) < k.o.Recheck {
		return e.token(), SourceKeystone, nil
	}
	fresh, err := k.validate(ctx, token)
	switch {
	case err == nil:
		fresh.ValidatedAt = now
		k.store(key, fresh)
		return fresh.token(), SourceKeystone, nil
	case errors.Is(err, ErrKeystoneInvalid):
		k.drop(key)
		return Token{}, "", err
	}
	// Keystone cannot answer: the cached validation, if recent enough.
	if e != nil && k.o.CacheFor > 0 && now.Before(e.ExpiresAt) && now.Sub(e.ValidatedAt) <= k.o.CacheFor {
		slog.WarnContext(ctx, "Keystone unreachable; accepting a token it validated earlier", "user", e.User, "validated_at", e.ValidatedAt, "error", err)
		return e.token(), SourceKeystoneCached, nil
	}
	why := "this token was never validated by this server"
	if e != nil {
		why = fmt.Sprintf("this token was last validated at %s", e.ValidatedAt.UTC().Format(time.RFC3339))
		if !now.Before(e.ExpiresAt) {
			why += fmt.Sprintf(" and expired at %s", e.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	return Token{}, "", fmt.Errorf("%w: Keystone at %s cannot validate tokens (%v) and %s (cached validations count for %s): use a local token (escalator token create) — local tokens never depend on Keystone",
		ErrKeystoneUnavailable, k.o.URL, err, why, k.o.CacheFor)
}

// token is the identity as the API's handlers see it.
func (e *keystoneEntry) token() Token {
	name := e.User
	if e.Project != "" {
		name += "@" + e.Project
	}
	return Token{ID: "keystone:" + e.UserID, Name: name + " (keystone)", Role: e.Role, KeystoneRoles: e.Roles}
}

// validate asks Keystone about token, with the token itself as the
// caller: Keystone's default policy lets a token validate itself
// (identity:validate_token includes rule:token_subject), so escalator
// needs no service credentials.
func (k *Keystone) validate(ctx context.Context, token string) (*keystoneEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, keystoneTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.o.URL+"/auth/tokens", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("X-Subject-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnauthorized:
		return nil, ErrKeystoneInvalid
	default:
		return nil, fmt.Errorf("GET %s/auth/tokens: HTTP %d", k.o.URL, resp.StatusCode)
	}
	e, err := parseKeystoneToken(body)
	if err != nil {
		return nil, err
	}
	if !k.o.Now().Before(e.ExpiresAt) {
		return nil, ErrKeystoneInvalid
	}
	if k.o.Project != "" && e.Project != k.o.Project && e.ProjectID != k.o.Project {
		// Not this escalator's project: valid for Keystone, no role here.
		e.Role = ""
		return e, nil
	}
	for _, r := range e.Roles {
		if m, ok := k.o.Roles[r]; ok && m.rank() > e.Role.rank() {
			e.Role = m
		}
	}
	return e, nil
}

// parseKeystoneToken reads the body of GET /v3/auth/tokens.
func parseKeystoneToken(body []byte) (*keystoneEntry, error) {
	var doc struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
			User      struct {
				ID, Name string
			} `json:"user"`
			Project *struct {
				ID, Name string
			} `json:"project"`
			Roles []struct {
				Name string `json:"name"`
			} `json:"roles"`
		} `json:"token"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("keystone's token document: %w", err)
	}
	t := doc.Token
	exp, err := time.Parse(time.RFC3339Nano, t.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("keystone's token document: expires_at %q: %w", t.ExpiresAt, err)
	}
	if t.User.ID == "" {
		return nil, errors.New("keystone's token document names no user")
	}
	e := &keystoneEntry{User: t.User.Name, UserID: t.User.ID, ExpiresAt: exp}
	if t.Project != nil {
		e.Project, e.ProjectID = t.Project.Name, t.Project.ID
	}
	for _, r := range t.Roles {
		e.Roles = append(e.Roles, r.Name)
	}
	sort.Strings(e.Roles)
	return e, nil
}

func (k *Keystone) store(key string, e *keystoneEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cache[key] = e
	k.saveLocked()
}

func (k *Keystone) drop(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.cache[key]; ok {
		delete(k.cache, key)
		k.saveLocked()
	}
}

const keystoneCacheFormat = 1

// load reads the cache file, keeping what has not expired. A file that
// cannot be read is reported: the fallback would silently not work.
func (k *Keystone) load() error {
	if k.o.CachePath == "" {
		return nil
	}
	data, err := os.ReadFile(k.o.CachePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keystone cache: %w", err)
	}
	var f keystoneCacheFile
	if err := json.Unmarshal(data, &f); err != nil || f.FormatVersion != keystoneCacheFormat {
		// Only a cache: start empty, say so.
		slog.Warn("Keystone token cache unreadable; starting with an empty one", "path", k.o.CachePath, "error", err)
		return nil
	}
	now := k.o.Now()
	for key, e := range f.Entries {
		if e != nil && now.Before(e.ExpiresAt) {
			k.cache[key] = e
		}
	}
	return nil
}

// saveLocked writes the cache atomically, readable by its owner only,
// dropping expired entries. Failures are logged: the cache is a fallback.
func (k *Keystone) saveLocked() {
	if k.o.CachePath == "" {
		return
	}
	now := k.o.Now()
	for key, e := range k.cache {
		if !now.Before(e.ExpiresAt) {
			delete(k.cache, key)
		}
	}
	data, err := json.MarshalIndent(keystoneCacheFile{FormatVersion: keystoneCacheFormat, Entries: k.cache}, "", "  ")
	if err == nil {
		err = atomicfile.Write(k.o.CachePath, append(data, '\n'), 0o600)
	}
	if err != nil {
		slog.Warn("cannot save the Keystone token cache", "path", k.o.CachePath, "error", err)
	}
}
