package pluginhost

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// lineTail keeps the last lines a plugin wrote to its standard error, so
// that a crash can be reported with them: a Go panic's first lines, or the
// plugin's last log lines before it hung, are what the operator needs.
type lineTail struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

// tailLines is how many lines a crash report quotes.
const tailLines = 15

// maxTailLine caps one quoted line; a huge JSON line must not swamp the
// diagnostic.
const maxTailLine = 300

func newLineTail(n int) *lineTail { return &lineTail{max: n} }

// Write implements io.Writer. go-plugin writes each stderr line and its
// newline in separate calls, so lines are assembled here.
func (t *lineTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range b {
		if c == '\n' {
			t.push(string(t.partial))
			t.partial = t.partial[:0]
			continue
		}
		if len(t.partial) < 64*1024 {
			t.partial = append(t.partial, c)
		}
	}
	return len(b), nil
}

func (t *lineTail) push(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.max:]...)
	}
}

// Lines returns the kept lines, oldest first, hclog JSON lines rendered as
// text.
func (t *lineTail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		lines = append(lines, string(t.partial))
	}
	if len(lines) > t.max {
		lines = lines[len(lines)-t.max:]
	}
	for i, l := range lines {
		lines[i] = truncateLine(renderLogLine(l), maxTailLine)
	}
	return lines
}

// renderLogLine turns an hclog JSON line into "[LEVEL] message k=v"; other
// lines are returned as they are.
func renderLogLine(line string) string {
	if !strings.HasPrefix(line, "{") {
		return line
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return line
	}
	msg, ok := m["@message"].(string)
	if !ok {
		return line
	}
	var b strings.Builder
	if lvl, ok := m["@level"].(string); ok {
		fmt.Fprintf(&b, "[%s] ", strings.ToUpper(lvl))
	}
	b.WriteString(msg)
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, m[k])
	}
	return b.String()
}

func truncateLine(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
