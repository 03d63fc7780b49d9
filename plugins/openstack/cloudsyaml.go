package openstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clouds.yaml is read with the small reader below rather than gophercloud's
// openstack/config/clouds package: that package needs gopkg.in/yaml.v2,
// which is not among the module's dependencies. The reader takes the YAML
// that clouds.yaml files are written in — nested block mappings, block
// sequences, plain and quoted scalars, comments — and refuses the rest
// (anchors, tags, block and multi-line scalars, non-empty flow
// collections) with the line number, rather than misreading it.

// yamlLine is one meaningful line: its indentation and its text without
// the indentation or a trailing comment.
type yamlLine struct {
	n      int // 1-based line number
	indent int
	text   string
}

type yamlError struct {
	line int
	msg  string
}

func (e *yamlError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseYAML returns the document as nested map[string]any, []any, string
// and nil values.
func parseYAML(data []byte) (any, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		n := i + 1
		body := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(body)
		if strings.HasPrefix(body, "\t") {
			return nil, &yamlError{n, "tab in indentation; YAML indents with spaces"}
		}
		text, err := stripComment(body, n)
		if err != nil {
			return nil, err
		}
		text = strings.TrimRight(text, " \t")
		if text == "" {
			continue
		}
		if indent == 0 && (text == "---" || strings.HasPrefix(text, "--- ")) {
			if len(lines) > 0 {
				return nil, &yamlError{n, "a second YAML document; clouds.yaml holds one"}
			}
			continue
		}
		if indent == 0 && text == "..." {
			break
		}
		lines = append(lines, yamlLine{n: n, indent: indent, text: text})
	}
	if len(lines) == 0 {
		return nil, nil
	}
	p := &yamlParser{lines: lines}
	v, err := p.block(lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.lines) {
		return nil, &yamlError{p.lines[p.i].n, "unexpected indentation"}
	}
	return v, nil
}

// stripComment removes a comment: a # at the start or after a space,
// outside quotes.
func stripComment(s string, n int) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				if quote == '\'' && i+1 < len(s) && s[i+1] == '\'' {
					i++ // '' is an escaped quote
					continue
				}
				quote = 0
			}
		case c == '"' || c == '\'':
			// A quote opens a quoted scalar only where a value starts.
			if i == 0 || s[i-1] == ' ' || s[i-1] == '-' {
				quote = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i], nil
		}
	}
	if quote != 0 {
		return "", &yamlError{n, "unterminated quoted string (multi-line scalars are not supported)"}
	}
	return s, nil
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

func (p *yamlParser) block(indent int) (any, error) {
	l := p.lines[p.i]
	if isSeqItem(l.text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func isSeqItem(s string) bool { return s == "-" || strings.HasPrefix(s, "- ") }

func (p *yamlParser) mapping(indent int) (map[string]any, error) {
	m := map[string]any{}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, &yamlError{l.n, "unexpected indentation"}
		}
		if isSeqItem(l.text) {
			break
		}
		key, rest, ok := splitKey(l.text)
		if !ok {
			return nil, &yamlError{l.n, fmt.Sprintf("expected \"key: value\", found %q (multi-line plain scalars are not supported)", l.text)}
		}
		k, err := scalar(key, l.n)
		if err != nil {
			return nil, err
		}
		ks, _ := k.(string)
		if _, dup := m[ks]; dup {
			return nil, &yamlError{l.n, fmt.Sprintf("key %q appears twice", ks)}
		}
		p.i++
		if rest != "" {
			v, err := scalar(rest, l.n)
			if err != nil {
				return nil, err
			}
			m[ks] = v
			continue
		}
		switch {
		case p.i < len(p.lines) && p.lines[p.i].indent > indent:
			v, err := p.block(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			m[ks] = v
		case p.i < len(p.lines) && p.lines[p.i].indent == indent && isSeqItem(p.lines[p.i].text):
			// "key:\n- a": a sequence may sit at its key's indentation.
			v, err := p.sequence(indent)
			if err != nil {
				return nil, err
			}
			m[ks] = v
		default:
			m[ks] = nil
		}
	}
	return m, nil
}

func (p *yamlParser) sequence(indent int) ([]any, error) {
	var out []any
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent != indent || !isSeqItem(l.text) {
			if l.indent > indent {
				return nil, &yamlError{l.n, "unexpected indentation"}
			}
			break
		}
		item := strings.TrimPrefix(strings.TrimPrefix(l.text, "-"), " ")
		body := strings.TrimLeft(item, " ")
		if body == "" {
			p.i++
			if p.i < len(p.lines) && p.lines[p.i].indent > indent {
				v, err := p.block(p.lines[p.i].indent)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			} else {
				out = append(out, nil)
			}
			continue
		}
		if _, _, isMap := splitKey(body); isMap || isSeqItem(body) {
			// "- key: v" starts a mapping (or sequence) whose lines sit
			// where the item's text starts.
			at := indent + (len(l.text) - len(body))
			p.lines[p.i] = yamlLine{n: l.n, indent: at, text: body}
			v, err := p.block(at)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		v, err := scalar(body, l.n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.i++
	}
	return out, nil
}

// splitKey splits "key: value" (or "key:") at the first colon followed by
// a space or the end, outside quotes.
func splitKey(s string) (key, rest string, ok bool) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case (c == '"' || c == '\'') && i == 0:
			quote = c
		case c == ':' && (i+1 == len(s) || s[i+1] == ' '):
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:]), i > 0
		}
	}
	return "", "", false
}

// scalar reads a plain or quoted scalar: a string, or nil for null.
func scalar(s string, n int) (any, error) {
	switch {
	case s == "~" || s == "null" || s == "Null" || s == "NULL":
		return nil, nil
	case s == "{}":
		return map[string]any{}, nil
	case s == "[]":
		return []any{}, nil
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return nil, &yamlError{n, fmt.Sprintf("malformed single-quoted string %s", s)}
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.HasPrefix(s, `"`):
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, &yamlError{n, fmt.Sprintf("malformed double-quoted string %s", s)}
		}
		return v, nil
	}
	switch s[0] {
	case '&', '*', '!':
		return nil, &yamlError{n, fmt.Sprintf("anchors, aliases and tags (%q) are not supported; write the value out", s)}
	case '|', '>':
		return nil, &yamlError{n, "block scalars (| and >) are not supported; write the value on one line"}
	case '{', '[':
		return nil, &yamlError{n, "flow collections ({…} and […]) are not supported; use block style, one key per line"}
	}
	return s, nil
}

// cloudEntry is one cloud of clouds.yaml, merged with secure.yaml.
type cloudEntry struct {
	Auth      map[string]string
	Region    string
	Interface string
	CACert    string
	Cert      string
	Key       string
	// Verify is nil when unset.
	Verify *bool
	// File is where the entry was found, for messages.
	File string
}

// findCloudsFile returns the clouds.yaml to read: the explicit path, or
// OS_CLIENT_CONFIG_FILE, or the first of python-openstackclient's search
// locations that exists.
func findCloudsFile(explicit string, getenv func(string) string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p := getenv("OS_CLIENT_CONFIG_FILE"); p != "" {
		return p, nil
	}
	var candidates []string
	candidates = append(candidates, "clouds.yaml")
	conf := getenv("XDG_CONFIG_HOME")
	if conf == "" {
		if home := getenv("HOME"); home != "" {
			conf = filepath.Join(home, ".config")
		}
	}
	if conf != "" {
		candidates = append(candidates, filepath.Join(conf, "openstack", "clouds.yaml"))
	}
	candidates = append(candidates, "/etc/openstack/clouds.yaml")
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no clouds.yaml found (looked for %s); set clouds_file, or OS_CLIENT_CONFIG_FILE", strings.Join(candidates, ", "))
}

// loadCloud reads the named cloud from a clouds.yaml file, merging the
// secure.yaml next to it (its values win, as in python-openstackclient).
func loadCloud(path, name string) (*cloudEntry, error) {
	entry, err := readCloud(path, name, false)
	if err != nil {
		return nil, err
	}
	secure := filepath.Join(filepath.Dir(path), "secure.yaml")
	if _, err := os.Stat(secure); err == nil {
		sec, err := readCloud(secure, name, true)
		if err != nil {
			return nil, err
		}
		if sec != nil {
			entry = mergeMaps(entry, sec)
		}
	}
	return decodeCloud(entry, path, name)
}

// readCloud returns the raw entry of cloud name; nil when optional and
// absent.
func readCloud(path, name string, optional bool) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	doc, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	root, _ := doc.(map[string]any)
	clouds, _ := root["clouds"].(map[string]any)
	if clouds == nil {
		if optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%s has no \"clouds:\" section", path)
	}
	entry, ok := clouds[name].(map[string]any)
	if !ok {
		if optional {
			return nil, nil
		}
		names := make([]string, 0, len(clouds))
		for k := range clouds {
			names = append(names, k)
		}
		return nil, fmt.Errorf("cloud %q is not in %s (it has %s)", name, path, strings.Join(sortedStrings(names), ", "))
	}
	return entry, nil
}

func mergeMaps(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = mergeMaps(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

func decodeCloud(raw map[string]any, path, name string) (*cloudEntry, error) {
	str := func(v any) string { s, _ := v.(string); return s }
	e := &cloudEntry{Auth: map[string]string{}, File: path}
	if p := str(raw["profile"]) + str(raw["cloud"]); p != "" {
		return nil, fmt.Errorf("cloud %q in %s uses the public cloud profile %q, which the openstack provider does not read; write auth_url and region_name in the entry", name, path, p)
	}
	if at := str(raw["auth_type"]); at != "" {
		switch at {
		case "password", "v3password", "token", "v3token", "v3applicationcredential", "application_credential", "v3applicationcredentials":
		default:
			return nil, fmt.Errorf("cloud %q in %s has auth_type %q; the openstack provider supports password, token and application credentials", name, path, at)
		}
	}
	if auth, ok := raw["auth"].(map[string]any); ok {
		for k, v := range auth {
			e.Auth[k] = str(v)
		}
	}
	e.Region = str(raw["region_name"])
	if e.Region == "" {
		if regions, ok := raw["regions"].([]any); ok && len(regions) == 1 {
			switch r := regions[0].(type) {
			case string:
				e.Region = r
			case map[string]any:
				e.Region = str(r["name"])
			}
		}
	}
	e.Interface = str(raw["interface"])
	if et := str(raw["endpoint_type"]); et != "" {
		e.Interface = et
	}
	e.CACert, e.Cert, e.Key = str(raw["cacert"]), str(raw["cert"]), str(raw["key"])
	if v, ok := raw["verify"]; ok && v != nil {
		b, err := parseBool(str(v))
		if err != nil {
			return nil, fmt.Errorf("cloud %q in %s: verify: %w", name, path, err)
		}
		e.Verify = &b
	}
	return e, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}
