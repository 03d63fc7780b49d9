package views

import (
	"encoding/json"
	"fmt"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// Statuses of a provider in escalator providers.
const (
	// ProviderOK: locked, found, and the executable matches the lock.
	ProviderOK = "ok"
	// ProviderNotLocked: the lock file has no entry (run escalator init).
	ProviderNotLocked = "not_locked"
	// ProviderNotFound: no executable in the search directories.
	ProviderNotFound = "not_found"
	// ProviderChanged: the executable's hash differs from the lock's.
	ProviderChanged = "changed"
	// ProviderReattached: ESCALATOR_REATTACH_PROVIDERS names it.
	ProviderReattached = "reattached"
	// ProviderNotRequired: a lock entry the campaign no longer requires.
	ProviderNotRequired = "not_required"
)

// ProviderStatus is one line of escalator providers.
type ProviderStatus struct {
	Name string `json:"name"`
	// Constraint is the required_providers version constraint.
	Constraint string `json:"constraint,omitempty"`
	// Locked is the lock file's entry, if any.
	Locked *LockedProvider `json:"locked,omitempty"`
	// Path is the executable discovery found, if any.
	Path string `json:"path,omitempty"`
	// SHA256 is the hash of Path, when found.
	SHA256 string `json:"sha256,omitempty"`
	// Status is one of the Provider* constants.
	Status string `json:"status"`
	// Message says what the status means and what to do.
	Message string `json:"message"`
}

// LockedProvider is a lock file entry in escalator providers' output.
type LockedProvider struct {
	Version  string `json:"version"`
	SHA256   string `json:"sha256"`
	Protocol int    `json:"protocol"`
}

// ProvidersList is the result of escalator providers.
type ProvidersList struct {
	Dir       string           `json:"dir"`
	LockFile  string           `json:"lock_file"`
	Providers []ProviderStatus `json:"providers"`
}

// Providers is the view of "escalator providers".
type Providers interface {
	// List reports the providers and the diagnostics.
	List(list ProvidersList, ds diags.Diagnostics, files diags.Files)
	Errors(errs []error)
	HelpPrompt()
}

// NewProviders returns the Providers view for vt.
func NewProviders(vt arguments.ViewType, view *View) Providers {
	switch vt {
	case arguments.ViewJSON:
		return &ProvidersJSON{View: view}
	case arguments.ViewHuman:
		return &ProvidersHuman{View: view}
	default:
		panic(fmt.Sprintf("unknown view type %v", vt))
	}
}

// ProvidersHuman prints the list on stdout, diagnostics on stderr.
type ProvidersHuman struct {
	*View
}

var _ Providers = (*ProvidersHuman)(nil)

func (v *ProvidersHuman) List(list ProvidersList, ds diags.Diagnostics, files diags.Files) {
	if len(ds) > 0 {
		v.Diagnostics(ds, files)
	}
	out := v.stdout()
	if len(list.Providers) == 0 {
		if !ds.HasErrors() {
			fmt.Fprintf(out, "The campaign in %s requires no providers.\n", list.Dir)
		}
		return
	}
	fmt.Fprintf(out, "Providers of the campaign in %s (lock file %s):\n", list.Dir, list.LockFile)
	for _, p := range list.Providers {
		fmt.Fprintf(out, "\n%s", p.Name)
		if p.Constraint != "" {
			fmt.Fprintf(out, " %s", p.Constraint)
		}
		fmt.Fprintln(out)
		if p.Locked != nil {
			fmt.Fprintf(out, "  locked:  %s, sha256 %s, protocol %d\n", p.Locked.Version, p.Locked.SHA256, p.Locked.Protocol)
		} else {
			fmt.Fprintf(out, "  locked:  no\n")
		}
		if p.Path != "" {
			fmt.Fprintf(out, "  plugin:  %s\n", p.Path)
		}
		if p.SHA256 != "" && (p.Locked == nil || p.SHA256 != p.Locked.SHA256) {
			fmt.Fprintf(out, "  sha256:  %s\n", p.SHA256)
		}
		fmt.Fprintf(out, "  status:  %s\n", p.Message)
	}
}

func (v *ProvidersHuman) HelpPrompt() { v.View.HelpPrompt("providers") }

// ProvidersJSON prints one JSON object on stdout.
type ProvidersJSON struct {
	*View
}

var _ Providers = (*ProvidersJSON)(nil)

// ProvidersOutput is the JSON document of "escalator providers -json".
type ProvidersOutput struct {
	FormatVersion string `json:"format_version"`
	ProvidersList
	Diagnostics []diags.JSONDiagnostic `json:"diagnostics"`
}

// ProvidersFormatVersion is bumped on incompatible changes to
// ProvidersOutput and ProviderSchemasOutput.
const ProvidersFormatVersion = "1.0"

func (v *ProvidersJSON) List(list ProvidersList, ds diags.Diagnostics, files diags.Files) {
	out := ProvidersOutput{FormatVersion: ProvidersFormatVersion, ProvidersList: list, Diagnostics: []diags.JSONDiagnostic{}}
	if out.Providers == nil {
		out.Providers = []ProviderStatus{}
	}
	for _, d := range ds {
		out.Diagnostics = append(out.Diagnostics, diags.ToJSON(d, files))
	}
	writeProvidersJSON(v.View, out)
}

// Errors in JSON mode are still JSON.
func (v *ProvidersJSON) Errors(errs []error) {
	var ds diags.Diagnostics
	for _, err := range errs {
		ds = ds.Append(err)
	}
	v.List(ProvidersList{}, ds, nil)
}

func (v *ProvidersJSON) HelpPrompt() {}

func writeProvidersJSON(v *View, x any) {
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		// Only plain data goes in; a failure is a bug worth seeing.
		panic(err)
	}
	_, _ = v.stdout().Write(append(b, '\n'))
}

// ProvidersSchema is the view of "escalator providers schema -json".
type ProvidersSchema interface {
	// Schemas prints the schemas, by provider name.
	Schemas(schemas map[string]*sdk.SchemaResponse)
	// Diagnostics reports problems (on stderr: stdout is for the JSON
	// document alone, so that it can be piped).
	Diagnostics(ds diags.Diagnostics, files diags.Files)
	Errors(errs []error)
	HelpPrompt()
}

// NewProvidersSchema returns the view of escalator providers schema.
func NewProvidersSchema(view *View) ProvidersSchema {
	return &ProvidersSchemaJSON{View: view}
}

// ProvidersSchemaJSON prints the schemas as JSON.
type ProvidersSchemaJSON struct {
	*View
}

var _ ProvidersSchema = (*ProvidersSchemaJSON)(nil)

// ProviderSchemasOutput is the JSON document of
// "escalator providers schema -json".
type ProviderSchemasOutput struct {
	FormatVersion   string                         `json:"format_version"`
	ProviderSchemas map[string]*ProviderSchemaJSON `json:"provider_schemas"`
}

// ProviderSchemaJSON is one provider's schema.
type ProviderSchemaJSON struct {
	Provider       *BlockJSON          `json:"provider"`
	Component      *BlockJSON          `json:"component"`
	Backup         *BlockJSON          `json:"backup"`
	HostAttributes []HostAttributeJSON `json:"host_attributes"`
	// Actions are snake_case action names, such as "enter_maintenance".
	Actions []string    `json:"actions"`
	Probes  []ProbeJSON `json:"probes"`
}

// BlockJSON is a block schema, in the shape of terraform providers
// schema -json.
type BlockJSON struct {
	Attributes  map[string]*AttributeJSON `json:"attributes,omitempty"`
	BlockTypes  map[string]*BlockTypeJSON `json:"block_types,omitempty"`
	Description string                    `json:"description,omitempty"`
}

// AttributeJSON is an attribute schema; Type is the cty JSON type, such
// as "string" or ["list","string"].
type AttributeJSON struct {
	Type        json.RawMessage `json:"type"`
	Description string          `json:"description,omitempty"`
	Required    bool            `json:"required,omitempty"`
	Optional    bool            `json:"optional,omitempty"`
	Sensitive   bool            `json:"sensitive,omitempty"`
}

// BlockTypeJSON is a nested block schema.
type BlockTypeJSON struct {
	// NestingMode is "single" or "list".
	NestingMode string     `json:"nesting_mode"`
	Block       *BlockJSON `json:"block"`
	MinItems    int        `json:"min_items,omitempty"`
	MaxItems    int        `json:"max_items,omitempty"`
}

// HostAttributeJSON documents a key of a host's attributes.
type HostAttributeJSON struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ProbeJSON is a probe a provider check can run.
type ProbeJSON struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Settings    *BlockJSON `json:"settings"`
}

func (v *ProvidersSchemaJSON) Schemas(schemas map[string]*sdk.SchemaResponse) {
	out := ProviderSchemasOutput{FormatVersion: ProvidersFormatVersion, ProviderSchemas: map[string]*ProviderSchemaJSON{}}
	for name, s := range schemas {
		out.ProviderSchemas[name] = SchemaJSON(s)
	}
	writeProvidersJSON(v.View, out)
}

func (v *ProvidersSchemaJSON) HelpPrompt() { v.View.HelpPrompt("providers schema") }

// SchemaJSON converts a provider's schema for JSON output.
func SchemaJSON(s *sdk.SchemaResponse) *ProviderSchemaJSON {
	out := &ProviderSchemaJSON{
		Provider:       blockJSON(s.Provider),
		Component:      blockJSON(s.Component),
		Backup:         blockJSON(s.Backup),
		HostAttributes: []HostAttributeJSON{},
		Actions:        []string{},
		Probes:         []ProbeJSON{},
	}
	for _, h := range s.HostAttributes {
		out.HostAttributes = append(out.HostAttributes, HostAttributeJSON{Name: h.Name, Description: h.Description})
	}
	for _, a := range s.Actions {
		out.Actions = append(out.Actions, a.String())
	}
	for _, p := range s.Probes {
		out.Probes = append(out.Probes, ProbeJSON{Name: p.Name, Description: p.Description, Settings: blockJSON(p.Settings)})
	}
	return out
}

func blockJSON(b sdk.Block) *BlockJSON {
	out := &BlockJSON{Description: b.Description}
	for _, a := range b.Attributes {
		if out.Attributes == nil {
			out.Attributes = map[string]*AttributeJSON{}
		}
		t, err := ctyjson.MarshalType(a.Type)
		if err != nil {
			// A schema escalator decoded always has a type that encodes.
			t = json.RawMessage(`"dynamic"`)
		}
		out.Attributes[a.Name] = &AttributeJSON{
			Type:        t,
			Description: a.Description,
			Required:    a.Required,
			Optional:    !a.Required,
			Sensitive:   a.Sensitive,
		}
	}
	for _, nb := range b.Blocks {
		if out.BlockTypes == nil {
			out.BlockTypes = map[string]*BlockTypeJSON{}
		}
		mode := "single"
		if nb.Nesting == sdk.NestingList {
			mode = "list"
		}
		out.BlockTypes[nb.TypeName] = &BlockTypeJSON{
			NestingMode: mode,
			Block:       blockJSON(nb.Block),
			MinItems:    nb.MinItems,
			MaxItems:    nb.MaxItems,
		}
	}
	return out
}
