package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/escalator-nfv/escalator/internal/atomicfile"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// LockFileName is the lock file's name in the campaign directory.
const LockFileName = ".escalator.lock.hcl"

// LockFilePath returns the lock file of the campaign in dir.
func LockFilePath(dir string) string {
	return filepath.Join(dir, LockFileName)
}

// lockHeader starts every lock file. It says who writes the file and why it
// belongs in version control: the lock is what makes "the plugin that was
// tested" and "the plugin that runs at 3 am" the same bytes.
const lockHeader = `# This file is maintained by "escalator init". Do not edit it by hand.
#
# It records the version and the SHA-256 of each provider plugin this
# campaign uses. Commit it with the campaign: escalator refuses to start a
# plugin whose file no longer matches it. After changing a plugin on
# purpose, run "escalator init -upgrade".
`

// Lock is the content of a lock file.
type Lock struct {
	// Providers by name.
	Providers map[string]*LockedProvider
	// Files holds the parsed file, for rendering diagnostics about it.
	Files diags.Files
	// Exists reports whether the file was there when read.
	Exists bool
}

// LockedProvider is one provider block of the lock file.
type LockedProvider struct {
	Name string
	// Version is the version the plugin reported when it was locked.
	Version string
	// SHA256 is the hex SHA-256 of the plugin executable.
	SHA256 string
	// Protocol is the plugin protocol version negotiated when it was
	// locked, for information: a plugin is always started with the
	// highest version both sides speak.
	Protocol int
	// DeclRange is where the block is in the lock file; zero for entries
	// not read from a file.
	DeclRange hcl.Range
}

// NewLock returns an empty lock.
func NewLock() *Lock {
	return &Lock{Providers: map[string]*LockedProvider{}, Files: diags.Files{}}
}

// Get returns the entry of provider name, or nil.
func (l *Lock) Get(name string) *LockedProvider {
	if l == nil {
		return nil
	}
	return l.Providers[name]
}

// Set adds or replaces an entry.
func (l *Lock) Set(p *LockedProvider) {
	if l.Providers == nil {
		l.Providers = map[string]*LockedProvider{}
	}
	l.Providers[p.Name] = p
}

var lockFileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "provider", LabelNames: []string{"name"}}},
}

var lockProviderSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "version", Required: true},
		{Name: "sha256", Required: true},
		{Name: "protocol", Required: true},
	},
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ReadLockFile reads the lock file at path. A missing file is an empty lock
// with Exists false and no diagnostics: a campaign that was never
// initialised is for the caller to report, in its own words. A corrupt file
// yields error diagnostics at the offending file:line:col, and the entries
// that could be read.
func ReadLockFile(path string) (*Lock, diags.Diagnostics) {
	lock := NewLock()
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return lock, nil
	}
	if err != nil {
		return lock, diags.Diagnostics{diags.Errorf(nil, "Can't read the lock file",
			"%v. Fix its permissions, or delete it and run \"escalator init\" to write it again.", err)}
	}
	lock.Exists = true
	return parseLock(lock, src, path)
}

func parseLock(lock *Lock, src []byte, filename string) (*Lock, diags.Diagnostics) {
	var ds diags.Diagnostics
	parser := hclparse.NewParser()
	f, hds := parser.ParseHCL(src, filename)
	lock.Files = diags.Files(parser.Files())
	ds = ds.Append(hds)
	if hds.HasErrors() || f == nil {
		return lock, withLockHint(ds)
	}
	content, hds := f.Body.Content(lockFileSchema)
	ds = ds.Append(hds)
	for _, b := range content.Blocks {
		p, bds := decodeLockedProvider(b)
		ds = append(ds, bds...)
		if p == nil {
			continue
		}
		if prev, dup := lock.Providers[p.Name]; dup {
			ds = ds.Append(diags.Errorf(b.LabelRanges[0].Ptr(), "Duplicate provider in the lock file",
				"Provider %q is already locked at %s:%d.", p.Name, prev.DeclRange.Filename, prev.DeclRange.Start.Line))
			continue
		}
		lock.Providers[p.Name] = p
	}
	return lock, withLockHint(ds)
}

func decodeLockedProvider(b *hcl.Block) (*LockedProvider, diags.Diagnostics) {
	var ds diags.Diagnostics
	p := &LockedProvider{Name: b.Labels[0], DeclRange: b.DefRange}
	if err := checkName(p.Name); err != nil {
		ds = ds.Append(diags.Errorf(b.LabelRanges[0].Ptr(), "Invalid provider name in the lock file", "%v.", err))
	}
	content, hds := b.Body.Content(lockProviderSchema)
	ds = ds.Append(hds)

	str := func(name string) (string, *hcl.Range, bool) {
		a, ok := content.Attributes[name]
		if !ok {
			return "", nil, false
		}
		v, hds := a.Expr.Value(nil)
		ds = ds.Append(hds)
		if hds.HasErrors() {
			return "", nil, false
		}
		if v.Type() != cty.String || v.IsNull() {
			ds = ds.Append(diags.Errorf(a.Expr.Range().Ptr(), "Invalid lock file entry", "%s must be a string.", name))
			return "", nil, false
		}
		return v.AsString(), a.Expr.Range().Ptr(), true
	}
	if s, rng, ok := str("version"); ok {
		if _, err := version.NewVersion(s); err != nil {
			ds = ds.Append(diags.Errorf(rng, "Invalid lock file entry", "version %q is not a semantic version: %v.", s, err))
		}
		p.Version = s
	}
	if s, rng, ok := str("sha256"); ok {
		if !sha256Hex.MatchString(s) {
			ds = ds.Append(diags.Errorf(rng, "Invalid lock file entry", "sha256 must be 64 lowercase hexadecimal digits, got %q.", s))
		}
		p.SHA256 = s
	}
	if a, ok := content.Attributes["protocol"]; ok {
		v, hds := a.Expr.Value(nil)
		ds = ds.Append(hds)
		if !hds.HasErrors() {
			var n int
			if v.Type() != cty.Number || v.IsNull() || gocty.FromCtyValue(v, &n) != nil || n < 1 {
				ds = ds.Append(diags.Errorf(a.Expr.Range().Ptr(), "Invalid lock file entry", "protocol must be a whole number, 1 or more."))
			} else {
				p.Protocol = n
			}
		}
	}
	if ds.HasErrors() {
		return nil, ds
	}
	return p, ds
}

// withLockHint adds, once, what to do about a corrupt lock file.
func withLockHint(ds diags.Diagnostics) diags.Diagnostics {
	if !ds.HasErrors() {
		return ds
	}
	for i := range ds {
		if ds[i].Severity == diags.Error {
			if ds[i].Detail != "" {
				ds[i].Detail += "\n\n"
			}
			ds[i].Detail += "The lock file is written by \"escalator init\". Restore it from version control, or delete it and run \"escalator init\" to lock the plugins found now."
			break
		}
	}
	return ds
}

// Bytes renders the lock file: the header, then one block per provider,
// sorted by name so that the file is stable under version control.
func (l *Lock) Bytes() []byte {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	names := make([]string, 0, len(l.Providers))
	for n := range l.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := l.Providers[n]
		body.AppendNewline()
		b := body.AppendNewBlock("provider", []string{n}).Body()
		b.SetAttributeValue("version", cty.StringVal(p.Version))
		b.SetAttributeValue("sha256", cty.StringVal(p.SHA256))
		b.SetAttributeValue("protocol", cty.NumberIntVal(int64(p.Protocol)))
	}
	return append([]byte(lockHeader), hclwrite.Format(f.Bytes())...)
}

// Write writes the lock file to path atomically (a temporary file renamed
// over it), so that an interrupted init never leaves half a lock file.
func (l *Lock) Write(path string) error {
	if err := atomicfile.Write(path, l.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the lock file %s: %w", path, err)
	}
	return nil
}

// HashFile returns the hex SHA-256 of the file at path, the form the lock
// file records.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hashing the plugin: %w", err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing the plugin %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashMismatchError is returned when a plugin executable is not the one the
// lock file recorded.
type HashMismatchError struct {
	Name     string
	Path     string
	Expected string
	Actual   string
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("the plugin of provider %q at %s is not the one the lock file %s recorded: its SHA-256 is %s, the lock file says %s. "+
		"Someone rebuilt, replaced or altered the plugin since \"escalator init\" locked it. "+
		"If you did not change it, find out who did before going on; "+
		"run \"escalator init -upgrade\" if you changed the plugin on purpose.",
		e.Name, e.Path, LockFileName, e.Actual, e.Expected)
}

// CheckHash compares the executable at path with the hash the lock
// recorded, returning a *HashMismatchError when they differ.
func CheckHash(name, path, expected string) error {
	actual, err := HashFile(path)
	if err != nil {
		return err
	}
	if actual != expected {
		return &HashMismatchError{Name: name, Path: path, Expected: expected, Actual: actual}
	}
	return nil
}
