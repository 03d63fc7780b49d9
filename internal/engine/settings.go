package engine

import "github.com/zclconf/go-cty/cty"

// settings is a component's provider-specific settings, null when none.
func (e *Engine) settings(component string) cty.Value {
	if c := e.Config.Components[component]; c != nil && c.Settings != cty.NilVal {
		return c.Settings
	}
	return cty.NullVal(cty.DynamicPseudoType)
}

func (e *Engine) backupSettings(name string) cty.Value {
	if b := e.Config.Backups[name]; b != nil && b.Settings != cty.NilVal {
		return b.Settings
	}
	return cty.NullVal(cty.DynamicPseudoType)
}
