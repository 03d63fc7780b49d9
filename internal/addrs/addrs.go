// Package addrs holds the immutable addresses of configuration objects
// (component.nova, rollout.compute, …). An address is a small comparable
// value; its String form is what operators write in HCL and read in plans,
// and it doubles as the unique key in maps and graphs.
package addrs

import (
	"fmt"
	"sort"
)

// Kind is the kind of a configuration object, and also the root name used to
// reference it from HCL (`component.nova`, `hosts.compute`).
type Kind string

// The referenceable kinds. Variables and locals use Terraform's short roots
// (`var.x`, `local.y`) because operators already know them.
const (
	KindVariable  Kind = "var"
	KindLocal     Kind = "local"
	KindProvider  Kind = "provider"
	KindHosts     Kind = "hosts"
	KindComponent Kind = "component"
	KindRollout   Kind = "rollout"
	KindGuard     Kind = "guard"
	KindCheck     Kind = "check"
	KindBackup    Kind = "backup"
)

// Kinds lists every referenceable kind, in a stable order.
var Kinds = []Kind{KindVariable, KindLocal, KindProvider, KindHosts, KindComponent, KindRollout, KindGuard, KindCheck, KindBackup}

// IsKind reports whether s is the root name of a referenceable kind.
func IsKind(s string) bool {
	for _, k := range Kinds {
		if string(k) == s {
			return true
		}
	}
	return false
}

// BlockType is the HCL block type that declares objects of this kind.
func (k Kind) BlockType() string {
	switch k {
	case KindVariable:
		return "variable"
	case KindLocal:
		return "locals"
	default:
		return string(k)
	}
}

// Ref is the address of one configuration object: its kind and name.
type Ref struct {
	Kind Kind
	Name string
}

// String is the HCL spelling of the reference, e.g. "component.nova".
func (r Ref) String() string { return fmt.Sprintf("%s.%s", r.Kind, r.Name) }

// Key is a unique, comparable key for maps and graphs.
func (r Ref) Key() string { return r.String() }

// Decl describes the declaration of the object, e.g. `component "nova"`,
// the way diagnostics quote it.
func (r Ref) Decl() string {
	if r.Kind == KindLocal {
		return "local." + r.Name
	}
	return fmt.Sprintf("%s %q", r.Kind.BlockType(), r.Name)
}

// Constructors, so that call sites read like the HCL they stand for.

// Component returns the address component.NAME.
func Component(name string) Ref { return Ref{KindComponent, name} }

// Hosts returns the address hosts.NAME.
func Hosts(name string) Ref { return Ref{KindHosts, name} }

// Provider returns the address provider.NAME.
func Provider(name string) Ref { return Ref{KindProvider, name} }

// Rollout returns the address rollout.NAME.
func Rollout(name string) Ref { return Ref{KindRollout, name} }

// Guard returns the address guard.NAME.
func Guard(name string) Ref { return Ref{KindGuard, name} }

// Check returns the address check.NAME.
func Check(name string) Ref { return Ref{KindCheck, name} }

// Backup returns the address backup.NAME.
func Backup(name string) Ref { return Ref{KindBackup, name} }

// Variable returns the address var.NAME.
func Variable(name string) Ref { return Ref{KindVariable, name} }

// Local returns the address local.NAME.
func Local(name string) Ref { return Ref{KindLocal, name} }

// Sort orders refs by their string form, for deterministic output.
func Sort(refs []Ref) {
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
}
