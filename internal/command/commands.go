package command

import (
	"github.com/hashicorp/cli"
)

// Commands returns the factories of the commands that escalator runs, by
// name. Register only commands that work.
//
// Adding a command "foo":
//
//   - arguments/foo.go: type Foo struct{...} and
//     func ParseFoo(args []string) (*Foo, []error), with a table test;
//   - views/foo.go: type Foo interface{ ...; Errors([]error); HelpPrompt() },
//     func NewFoo(vt arguments.ViewType, view *View) Foo, and one type per
//     output format embedding *View (FooHuman, FooJSON);
//   - foo.go: type FooCommand struct{ Meta } with Run, Help, Synopsis,
//     AutocompleteArgs and AutocompleteFlags (see version.go);
//   - an entry below, and website/docs/cli/foo.md.
func Commands(meta Meta) map[string]cli.CommandFactory {
	return map[string]cli.CommandFactory{
		"init":             func() (cli.Command, error) { return &InitCommand{Meta: meta}, nil },
		"providers":        func() (cli.Command, error) { return &ProvidersCommand{Meta: meta}, nil },
		"providers schema": func() (cli.Command, error) { return &ProvidersSchemaCommand{Meta: meta}, nil },
		"apply": func() (cli.Command, error) {
			return &ApplyCommand{Meta: meta}, nil
		},
		"rollback":     func() (cli.Command, error) { return &RollbackCommand{Meta: meta}, nil },
		"serve":        func() (cli.Command, error) { return &ServeCommand{Meta: meta}, nil },
		"token":        func() (cli.Command, error) { return &TokenCommand{Meta: meta}, nil },
		"force-unlock": func() (cli.Command, error) { return &ForceUnlockCommand{Meta: meta}, nil },
		"status": func() (cli.Command, error) {
			return &StatusCommand{Meta: meta}, nil
		},
		"fmt": func() (cli.Command, error) {
			return &FmtCommand{Meta: meta}, nil
		},
		"graph": func() (cli.Command, error) { return &GraphCommand{Meta: meta}, nil },
		"plan": func() (cli.Command, error) {
			return &PlanCommand{Meta: meta}, nil
		},
		"show": func() (cli.Command, error) {
			return &ShowCommand{Meta: meta}, nil
		},
		"validate": func() (cli.Command, error) {
			return &ValidateCommand{Meta: meta}, nil
		},
		"version": func() (cli.Command, error) {
			return &VersionCommand{Meta: meta}, nil
		},
	}
}
