// Package config turns a campaign directory of *.hcl files into a checked,
// evaluated and immutable Config. It reports every problem it finds as a
// diagnostic with a source range, and keeps going after the first, so one
// `escalator validate` shows them all.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/addrs"
	"github.com/escalator-nfv/escalator/internal/diags"
)

// ConfigExt is the extension of campaign files.
const ConfigExt = ".hcl"

// Options are the inputs of Load besides the directory.
type Options struct {
	// Vars are the -var and -var-file arguments, in command-line order.
	Vars []VarArg
	// Environ is the process environment (os.Environ()), searched for
	// ESCALATOR_VAR_name variables.
	Environ []string
	// AllowUnsetVariables makes a required variable without a value unknown
	// instead of an error, for static validation.
	AllowUnsetVariables bool
}

// VarArg is one -var NAME=VALUE (Name set) or -var-file=FILE (File set).
type VarArg struct {
	Name, Value string
	File        string
}

// Load reads, checks and evaluates the campaign in dir. The returned Config
// is never nil: when the diagnostics have errors it is incomplete, but its
// Files are still there to render the diagnostics with.
func Load(dir string, opts Options) (*Config, diags.Diagnostics) {
	l := &loader{
		parser: hclparse.NewParser(),
		opts:   opts,
		dir:    dir,
		decls:  map[addrs.Kind]map[string]hcl.Range{},
		cfg: &Config{
			Dir:        dir,
			Variables:  map[string]*Variable{},
			Locals:     map[string]*Local{},
			Providers:  map[string]*Provider{},
			HostSets:   map[string]*HostSet{},
			Components: map[string]*Component{},
			Rollouts:   map[string]*Rollout{},
			Guards:     map[string]*Guard{},
			Checks:     map[string]*Check{},
			Backups:    map[string]*Backup{},
		},
	}
	for _, k := range addrs.Kinds {
		l.decls[k] = map[string]hcl.Range{}
	}
	l.load()
	l.cfg.Files = diags.Files(l.parser.Files())
	l.cfg.evalCtx = l.evalCtx
	l.diags.Sort()
	return l.cfg, l.diags
}

// loader holds the state of one Load.
type loader struct {
	parser *hclparse.Parser
	opts   Options
	dir    string
	cfg    *Config
	diags  diags.Diagnostics

	// decls records every declared name per kind, before any decoding, so
	// references resolve whatever the order of files and blocks.
	decls map[addrs.Kind]map[string]hcl.Range
	// blocks of each type, in file order.
	blocks map[string][]*hcl.Block
	// localAttrs are the attributes of every locals block.
	localAttrs map[string]*hcl.Attribute
	// syntaxErrors is set when a file did not parse.
	syntaxErrors bool

	evalCtx *hcl.EvalContext
}

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "escalator"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "provider", LabelNames: []string{"name"}},
		{Type: "hosts", LabelNames: []string{"name"}},
		{Type: "component", LabelNames: []string{"name"}},
		{Type: "rollout", LabelNames: []string{"name"}},
		{Type: "guard", LabelNames: []string{"name"}},
		{Type: "check", LabelNames: []string{"name"}},
		{Type: "backup", LabelNames: []string{"name"}},
	},
}

// kindOfBlock maps a labelled block type to the kind of object it declares.
var kindOfBlock = map[string]addrs.Kind{
	"variable":  addrs.KindVariable,
	"provider":  addrs.KindProvider,
	"hosts":     addrs.KindHosts,
	"component": addrs.KindComponent,
	"rollout":   addrs.KindRollout,
	"guard":     addrs.KindGuard,
	"check":     addrs.KindCheck,
	"backup":    addrs.KindBackup,
}

func (l *loader) load() {
	files, err := configFiles(l.dir)
	if err != nil {
		l.diags = l.diags.Append(diags.Diagnostic{Severity: diags.Error, Summary: "Can't read the campaign directory", Detail: err.Error()})
		return
	}
	l.blocks = map[string][]*hcl.Block{}
	l.localAttrs = map[string]*hcl.Attribute{}
	for _, name := range files {
		l.parseFile(name)
	}
	// Past a syntax error the rest would be guesses about a broken file;
	// report every file's syntax errors and stop there.
	if l.syntaxErrors {
		return
	}
	l.decodeSettings()
	l.decodeVariables()
	l.evalCtx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": l.variableValues()},
		Functions: Functions(),
	}
	l.evaluateGraph()
	for _, b := range l.blocks["provider"] {
		l.decodeProvider(b)
	}
	for _, b := range l.blocks["hosts"] {
		l.decodeHostSet(b)
	}
	for _, b := range l.blocks["check"] {
		l.decodeCheck(b)
	}
	for _, b := range l.blocks["rollout"] {
		l.decodeRollout(b)
	}
	for _, b := range l.blocks["guard"] {
		l.decodeGuard(b)
	}
	for _, b := range l.blocks["backup"] {
		l.decodeBackup(b)
	}
	l.crossChecks()
}

// configFiles lists the campaign files of dir, sorted so that diagnostics
// and evaluation order are the same on every machine.
func configFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("the directory %q does not exist; give the directory that holds the campaign's *.hcl files", dir)
		}
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ConfigExt) || strings.HasPrefix(name, ".") {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("the directory %q has no *.hcl files; a campaign is a directory of *.hcl files (see examples/quickstart)", dir)
	}
	sort.Strings(files)
	return files, nil
}

func (l *loader) parseFile(name string) {
	f, d := l.parser.ParseHCLFile(name)
	l.diags = l.diags.Append(d)
	if d.HasErrors() {
		l.syntaxErrors = true
	}
	if f == nil || f.Body == nil {
		return
	}
	content, d := f.Body.Content(fileSchema)
	l.diags = l.diags.Append(d)
	for _, b := range content.Blocks {
		if b.Type == "locals" {
			l.collectLocals(b)
			continue
		}
		if kind, ok := kindOfBlock[b.Type]; ok {
			if !l.declare(kind, b.Labels[0], b.LabelRanges[0], b.DefRange) {
				continue
			}
		}
		l.blocks[b.Type] = append(l.blocks[b.Type], b)
	}
}

// declare records a name, refusing invalid and duplicate names.
func (l *loader) declare(kind addrs.Kind, name string, labelRange, defRange hcl.Range) bool {
	if !hclsyntax.ValidIdentifier(name) {
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Invalid name",
			Detail:   fmt.Sprintf("%q is not a valid %s name: a name starts with a letter or underscore and contains only letters, digits, underscores and dashes.", name, kind.BlockType()),
			Subject:  &labelRange,
		})
		return false
	}
	if prev, dup := l.decls[kind][name]; dup {
		what := fmt.Sprintf("%s %q", kind.BlockType(), name)
		if kind == addrs.KindLocal {
			what = fmt.Sprintf("local value %q", name)
		}
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Duplicate " + strings.TrimSuffix(kindNoun(kind), " block") + " name",
			Detail:   fmt.Sprintf("A %s was already declared at %s. Names must be unique within each block type.", what, pos(prev)),
			Subject:  &labelRange,
		})
		return false
	}
	l.decls[kind][name] = defRange
	return true
}

func (l *loader) collectLocals(b *hcl.Block) {
	as, d := b.Body.JustAttributes()
	l.diags = l.diags.Append(d)
	names := make([]string, 0, len(as))
	for n := range as {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := as[n]
		if l.declare(addrs.KindLocal, n, a.NameRange, a.Range) {
			l.localAttrs[n] = a
		}
	}
}

// decodeProvider keeps the provider's body for the plugin's schema, and
// checks the references in its arguments now.
func (l *loader) decodeProvider(b *hcl.Block) {
	name := b.Labels[0]
	p := &Provider{Name: name, Body: b.Body, DeclRange: b.DefRange}
	if body, ok := b.Body.(*hclsyntax.Body); ok {
		l.checkBodyRefs(body)
	}
	if s := l.cfg.Settings; s != nil {
		if _, ok := s.RequiredProviders[name]; !ok {
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Error,
				Summary:  "Provider not in required_providers",
				Detail: fmt.Sprintf("The provider %q is configured but not required. Add it to the escalator block so that `escalator init` can find and lock its plugin:\n\n  escalator {\n    required_providers {\n      %s = { version = \">= 0.1.0\" }\n    }\n  }",
					name, name),
				Subject: rangePtr(b.LabelRanges[0]),
			})
		}
	}
	l.cfg.Providers[name] = p
}

// checkBodyRefs checks the references of every argument in a body whose
// schema is not known yet (a provider's), nested blocks included.
func (l *loader) checkBodyRefs(body *hclsyntax.Body) {
	for _, a := range body.Attributes {
		l.valueRefs(a.Expr, nil)
	}
	for _, b := range body.Blocks {
		l.checkBodyRefs(b.Body)
	}
}

// kindNoun names a kind the way messages do: "hosts block", "local value".
func kindNoun(k addrs.Kind) string {
	if k == addrs.KindLocal {
		return "local value"
	}
	return k.BlockType() + " block"
}
