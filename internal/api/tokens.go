package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/atomicfile"
)

// Role is what a token may do. Each role includes the ones before it.
type Role string

const (
	// RoleViewer reads: runs, plans, events, status, metrics.
	RoleViewer Role = "viewer"
	// RoleOperator also acts on a run: pause, resume, abort, approve a
	// canary.
	RoleOperator Role = "operator"
	// RoleAdmin also manages tokens.
	RoleAdmin Role = "admin"
)

// Roles lists the roles, least first.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("unknown role %q; roles are viewer, operator and admin", s)
	}
	return r, nil
}

// Token is one bearer token as stored: its secret only as a hash.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"created_at"`

	// KeystoneRoles are the Keystone roles of an identity that came from
	// a Keystone token (not stored).
	KeystoneRoles []string `json:"-"`
}

// tokenFile is the token file's format.
type tokenFile struct {
	FormatVersion int     `json:"format_version"`
	Tokens        []Token `json:"tokens"`
}

const tokenFormatVersion = 1

// tokenPrefix marks escalator's tokens, so a leaked one is recognisable
// (secret scanners) and a mistyped header is told apart from a bad token.
const tokenPrefix = "esc_"

// Tokens is the token file: bearer tokens hashed at rest (SHA-256 of a
// 256-bit random secret: a fast hash is enough for secrets that cannot be
// guessed, unlike passwords), each with a role.
type Tokens struct {
	path string
	mu   sync.Mutex
	list []Token
	// modTime and size identify the file as last read: a server notices
	// tokens created or deleted by escalator token in another process.
	modTime time.Time
	size    int64
}

// OpenTokens reads the token file at path; a missing file is an empty
// store (every request is then refused but health and the dashboard's
// page).
func OpenTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.load(); err != nil {
		return nil, err
	}
	return t, nil
}

// load (re)reads the file when it changed. Called with mu held, or before
// t is shared.
func (t *Tokens) load() error {
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.list, t.modTime, t.size = nil, time.Time{}, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	if fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return nil
	}
	path := t.path
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	var f tokenFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("token file %s is not valid JSON: %v", path, err)
	}
	if f.FormatVersion != tokenFormatVersion {
		return fmt.Errorf("token file %s has format %d; this escalator reads format %d", path, f.FormatVersion, tokenFormatVersion)
	}
	for _, tk := range f.Tokens {
		if tk.Role.rank() == 0 || !strings.HasPrefix(tk.Hash, "sha256:") {
			return fmt.Errorf("token file %s: token %q has an unknown role or hash; fix or delete it", path, tk.Name)
		}
	}
	t.list, t.modTime, t.size = f.Tokens, fi.ModTime(), fi.Size()
	return nil
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Verify returns the token a bearer secret belongs to.
func (t *Tokens) Verify(secret string) (Token, bool) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Token{}, false
	}
	h := []byte(hashToken(secret))
	t.mu.Lock()
	defer t.mu.Unlock()
	// A file that became unreadable keeps the tokens last read: a typo
	// by an admin must not lock every operator out mid-upgrade.
	_ = t.load()
	var found Token
	ok := false
	// Compare with every token, in constant time each.
	for _, tk := range t.list {
		if subtle.ConstantTimeCompare(h, []byte(tk.Hash)) == 1 {
			found, ok = tk, true
		}
	}
	return found, ok
}

// List returns the tokens (without secrets), by name.
func (t *Tokens) List() []Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.load()
	out := append([]Token(nil), t.list...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Create makes a token named name with role, saves the file and returns
// the secret: the only time it is shown.
func (t *Tokens) Create(name string, role Role) (Token, string, error) {
	if role.rank() == 0 {
		return Token{}, "", fmt.Errorf("unknown role %q; roles are viewer, operator and admin", role)
	}
	if name == "" {
		return Token{}, "", errors.New("a token needs a name (who or what uses it)")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Token{}, "", err
	}
	secret := tokenPrefix + hex.EncodeToString(b[:])
	var id [6]byte
	_, _ = rand.Read(id[:])
	tk := Token{ID: hex.EncodeToString(id[:]), Name: name, Role: role, Hash: hashToken(secret), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.load(); err != nil {
		return Token{}, "", err
	}
	for _, x := range t.list {
		if x.Name == name {
			return Token{}, "", fmt.Errorf("a token named %q exists; delete it first (id %s)", name, x.ID)
		}
	}
	list := append(append([]Token(nil), t.list...), tk)
	if err := t.save(list); err != nil {
		return Token{}, "", err
	}
	t.list = list
	t.modTime, t.size = time.Time{}, 0 // read back on next use
	return tk, secret, nil
}

// Delete removes the token with id.
func (t *Tokens) Delete(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.load(); err != nil {
		return err
	}
	var list []Token
	for _, x := range t.list {
		if x.ID != id {
			list = append(list, x)
		}
	}
	if len(list) == len(t.list) {
		return fmt.Errorf("no token with id %q", id)
	}
	if err := t.save(list); err != nil {
		return err
	}
	t.list = list
	t.modTime, t.size = time.Time{}, 0
	return nil
}

// save writes list atomically, readable by its owner only.
func (t *Tokens) save(list []Token) error {
	data, err := json.MarshalIndent(tokenFile{FormatVersion: tokenFormatVersion, Tokens: list}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(t.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save token file: %w", err)
	}
	return nil
}
