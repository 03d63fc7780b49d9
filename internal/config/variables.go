package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/escalator-nfv/escalator/internal/diags"
)

// Variable value files. escalator.hclvars and *.auto.hclvars in the campaign
// directory are read automatically, like Terraform's terraform.tfvars and
// *.auto.tfvars; other files are given with -var-file.
const (
	VarsFileExt     = ".hclvars"
	DefaultVarsFile = "escalator.hclvars"
	AutoVarsSuffix  = ".auto.hclvars"
	// VarEnvPrefix prefixes environment variables that set variables.
	VarEnvPrefix = "ESCALATOR_VAR_"
)

// SensitiveMark marks values of sensitive variables, and everything
// computed from them, so that no output prints them.
const SensitiveMark = "sensitive"

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

func (l *loader) decodeVariables() {
	for _, b := range l.blocks["variable"] {
		l.decodeVariable(b)
	}
	l.assignVariableValues()
}

func (l *loader) decodeVariable(b *hcl.Block) {
	v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
	content, d := b.Body.Content(variableSchema)
	l.diags = l.diags.Append(d)
	// Variable arguments are literals: nothing else exists yet to refer to.
	lit := &hcl.EvalContext{Functions: Functions()}
	var defaults *typeexpr.Defaults
	if a, ok := content.Attributes["type"]; ok {
		ty, def, d := typeexpr.TypeConstraintWithDefaults(a.Expr)
		l.diags = l.diags.Append(d)
		if !d.HasErrors() {
			v.Type, defaults = ty, def
			v.defaults = def
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		val, d := a.Expr.Value(lit)
		l.diags = l.diags.Append(d)
		if !d.HasErrors() {
			if s, err := convert.Convert(val, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				v.Description = s.AsString()
			} else {
				l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Incorrect value type", "A variable's description must be a string."))
			}
		}
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		val, d := a.Expr.Value(lit)
		l.diags = l.diags.Append(d)
		if s, err := convert.Convert(val, cty.Bool); err == nil && s.IsKnown() && !s.IsNull() {
			v.Sensitive = s.True()
		} else if !d.HasErrors() {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Incorrect value type", "A variable's sensitive must be true or false."))
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		if len(a.Expr.Variables()) > 0 {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Variables not allowed",
				"A variable's default must be a literal value; it can't refer to other objects. Use a local value to compute from variables."))
		} else {
			val, d := a.Expr.Value(lit)
			l.diags = l.diags.Append(d)
			if !d.HasErrors() {
				if defaults != nil {
					val = defaults.Apply(val)
				}
				cv, err := convert.Convert(val, v.Type)
				if err != nil {
					l.diags = l.diags.Append(diags.Errorf(rangePtr(a.Expr.Range()), "Invalid default value for variable",
						"This default value is not compatible with the variable's type constraint: %s.", err))
				} else {
					v.Default = cv
				}
			}
		}
	}
	for _, vb := range content.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		l.diags = l.diags.Append(d)
		if d.HasErrors() {
			continue
		}
		val := &VariableValidation{Condition: vc.Attributes["condition"].Expr, ErrorMessage: vc.Attributes["error_message"].Expr, DeclRange: vb.DefRange}
		// A condition may only look at its own variable: validation runs
		// before anything else is evaluated.
		valid := true
		for _, tr := range val.Condition.Variables() {
			if tr.RootName() == "var" && len(tr) >= 2 {
				if at, ok := tr[1].(hcl.TraverseAttr); ok && at.Name == v.Name {
					continue
				}
			}
			l.diags = l.diags.Append(diags.Errorf(rangePtr(tr.SourceRange()), "Invalid validation condition",
				"A validation condition of variable %q may only refer to var.%s.", v.Name, v.Name))
			valid = false
		}
		if valid {
			v.Validations = append(v.Validations, val)
		}
	}
	l.cfg.Variables[v.Name] = v
}

// rawValue is a variable value from one source, not yet converted.
type rawValue struct {
	expr   hcl.Expression // nil for values given as plain strings
	str    string
	source string
	rng    *hcl.Range
}

// assignVariableValues applies every source in precedence order (later
// wins): defaults, environment, escalator.hclvars, *.auto.hclvars in name
// order, then -var and -var-file in command-line order.
func (l *loader) assignVariableValues() {
	raw := map[string]rawValue{}

	envNames := []string{}
	envVals := map[string]string{}
	for _, kv := range l.opts.Environ {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, VarEnvPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, VarEnvPrefix)
		// Unknown names are ignored: the environment is shared with other
		// campaigns and tools.
		if _, ok := l.cfg.Variables[name]; ok {
			envNames = append(envNames, name)
			envVals[name] = val
		}
	}
	sort.Strings(envNames)
	for _, name := range envNames {
		raw[name] = l.rawFromString(name, envVals[name], "environment variable "+VarEnvPrefix+name)
	}

	auto := []string{}
	if _, err := os.Stat(filepath.Join(l.dir, DefaultVarsFile)); err == nil {
		auto = append(auto, filepath.Join(l.dir, DefaultVarsFile))
	}
	if matches, err := filepath.Glob(filepath.Join(l.dir, "*"+AutoVarsSuffix)); err == nil {
		sort.Strings(matches)
		auto = append(auto, matches...)
	}
	for _, f := range auto {
		l.readVarsFile(f, raw, false)
	}
	for _, arg := range l.opts.Vars {
		if arg.File != "" {
			l.readVarsFile(arg.File, raw, true)
			continue
		}
		if _, ok := l.cfg.Variables[arg.Name]; !ok {
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Error,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("A -var argument sets %q, but the campaign declares no such variable.%s", arg.Name, didYouMean(arg.Name, l.variableNames())),
			})
			continue
		}
		raw[arg.Name] = l.rawFromString(arg.Name, arg.Value, "-var")
	}

	for _, name := range l.variableNames() {
		v := l.cfg.Variables[name]
		r, given := raw[name]
		switch {
		case given:
			v.Value, v.ValueSource = l.convertRaw(v, r)
		case v.Default != cty.NilVal:
			v.Value, v.ValueSource = v.Default, "default"
		case l.opts.AllowUnsetVariables:
			v.Value, v.ValueSource = cty.UnknownVal(v.Type), "unset"
		default:
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Error,
				Summary:  "No value for required variable",
				Detail: fmt.Sprintf("The variable %q has no default, so a value is required. Set it with -var '%s=…', a -var-file, %s, or the environment variable %s%s.",
					name, name, DefaultVarsFile, VarEnvPrefix, name),
				Subject: rangePtr(v.DeclRange),
			})
			v.Value = cty.UnknownVal(v.Type)
			continue
		}
		l.validateVariable(v, r)
	}
}

func (l *loader) variableNames() []string {
	names := make([]string, 0, len(l.cfg.Variables))
	for n := range l.cfg.Variables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// rawFromString follows Terraform: a string-typed variable takes the text
// as it is; any other type parses it as an HCL expression, so
// -var 'zones=["az1","az2"]' works.
func (l *loader) rawFromString(name, val, source string) rawValue {
	v := l.cfg.Variables[name]
	if v.Type == cty.String || v.Type == cty.DynamicPseudoType {
		return rawValue{str: val, source: source}
	}
	expr, d := hclsyntax.ParseExpression([]byte(val), source, hcl.InitialPos)
	if d.HasErrors() {
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The value of %q from %s is not a valid expression of type %s: %s", name, source, typeexpr.TypeString(v.Type), d.Error()),
		})
		return rawValue{str: val, source: source}
	}
	if len(expr.Variables()) > 0 {
		// A bare word such as "many": take it as the string it surely is,
		// so the type error below says what is wrong with it.
		return rawValue{str: val, source: source}
	}
	return rawValue{expr: expr, source: source}
}

func (l *loader) readVarsFile(path string, raw map[string]rawValue, explicit bool) {
	f, d := l.parser.ParseHCLFile(path)
	l.diags = l.diags.Append(d)
	if d.HasErrors() || f == nil {
		return
	}
	as, d := f.Body.JustAttributes()
	l.diags = l.diags.Append(d)
	names := make([]string, 0, len(as))
	for n := range as {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := as[n]
		if _, ok := l.cfg.Variables[n]; !ok {
			sev := diags.Warning
			if explicit {
				sev = diags.Error
			}
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: sev,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The file sets %q, but the campaign declares no such variable.%s", n, didYouMean(n, l.variableNames())),
				Subject:  rangePtr(a.NameRange),
			})
			continue
		}
		raw[n] = rawValue{expr: a.Expr, source: path, rng: rangePtr(a.Expr.Range())}
	}
}

func (l *loader) convertRaw(v *Variable, r rawValue) (cty.Value, string) {
	var val cty.Value
	if r.expr == nil {
		val = cty.StringVal(r.str)
	} else {
		if len(r.expr.Variables()) > 0 {
			l.diags = l.diags.Append(diags.Diagnostic{
				Severity: diags.Error,
				Summary:  "Variables not allowed",
				Detail:   fmt.Sprintf("The value of %q from %s must be a literal; it can't refer to other objects.", v.Name, r.source),
				Subject:  r.rng,
			})
			return cty.UnknownVal(v.Type), r.source
		}
		var d hcl.Diagnostics
		val, d = r.expr.Value(&hcl.EvalContext{Functions: Functions()})
		l.diags = l.diags.Append(d)
		if d.HasErrors() {
			return cty.UnknownVal(v.Type), r.source
		}
	}
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	cv, err := convert.Convert(val, v.Type)
	if err != nil {
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The value of %q from %s is not compatible with its type %s: %s.", v.Name, r.source, typeexpr.TypeString(v.Type), err),
			Subject:  r.rng,
		})
		return cty.UnknownVal(v.Type), r.source
	}
	return cv, r.source
}

// validateVariable runs the variable's validation blocks against its value.
// With no known value yet the conditions still run, on an unknown value,
// so that a misspelled function or a type error shows under validate.
func (l *loader) validateVariable(v *Variable, r rawValue) {
	subject := r.rng
	if subject == nil {
		subject = rangePtr(v.DeclRange)
	}
	val := v.Value
	if v.Sensitive {
		val = val.Mark(SensitiveMark)
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})},
		Functions: Functions(),
	}
	for _, val := range v.Validations {
		res, d := val.Condition.Value(ctx)
		l.diags = l.diags.Append(d)
		if d.HasErrors() {
			continue
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil || res.IsNull() {
			l.diags = l.diags.Append(diags.Errorf(rangePtr(val.Condition.Range()), "Invalid validation condition", "A validation condition must yield true or false."))
			continue
		}
		res, _ = res.Unmark()
		if !res.IsKnown() || res.True() {
			continue
		}
		msg := "The value is not valid."
		if m, d := val.ErrorMessage.Value(ctx); !d.HasErrors() {
			if s, err := convert.Convert(m, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				if s.IsMarked() {
					// Never print a secret, even in an error message.
					msg = "The value is not valid. (The validation's error message is hidden because it includes the value of a sensitive variable.)"
				} else {
					msg = s.AsString()
				}
			}
		}
		l.diags = l.diags.Append(diags.Diagnostic{
			Severity: diags.Error,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.", msg, pos(val.DeclRange)),
			Subject:  subject,
		})
	}
}

// variableValues is the `var` object of the evaluation context; values of
// sensitive variables carry SensitiveMark.
func (l *loader) variableValues() cty.Value {
	vals := map[string]cty.Value{}
	for name, v := range l.cfg.Variables {
		val := v.Value
		if val == cty.NilVal {
			val = cty.DynamicVal
		}
		if v.Sensitive {
			val = val.Mark(SensitiveMark)
		}
		vals[name] = val
	}
	return cty.ObjectVal(vals)
}
