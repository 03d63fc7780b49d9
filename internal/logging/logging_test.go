package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestNew(t *testing.T) {
	tests := map[string]struct {
		opts      Options
		level     hclog.Level
		json      bool
		warning   string
		debugSeen bool
	}{
		"defaults":           {opts: Options{}, level: hclog.Warn},
		"debug":              {opts: Options{Level: "debug"}, level: hclog.Debug, debugSeen: true},
		"case and spaces":    {opts: Options{Level: " TRACE "}, level: hclog.Trace, debugSeen: true},
		"off":                {opts: Options{Level: "off"}, level: hclog.Off},
		"json":               {opts: Options{Level: "info", Format: "json"}, level: hclog.Info, json: true},
		"JSON upper case":    {opts: Options{Format: "JSON"}, level: hclog.Warn, json: true},
		"text explicitly":    {opts: Options{Format: "text"}, level: hclog.Warn},
		"unknown level":      {opts: Options{Level: "verbose"}, level: hclog.Warn, warning: `ESCALATOR_LOG="verbose" is not a log level; use one of trace, debug, info, warn, error, off. Logging at warn.`},
		"unknown format":     {opts: Options{Format: "xml"}, level: hclog.Warn, warning: `ESCALATOR_LOG_FORMAT="xml" is not a log format; use text or json. Logging as text.`},
		"unknown level json": {opts: Options{Level: "loud", Format: "json"}, level: hclog.Warn, json: true, warning: `is not a log level`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.opts.Output = &buf
			l := New(tt.opts)
			if l.GetLevel() != tt.level {
				t.Errorf("level %v, want %v", l.GetLevel(), tt.level)
			}
			if tt.warning != "" && !strings.Contains(buf.String(), tt.warning) {
				t.Errorf("no warning %q in:\n%s", tt.warning, buf.String())
			}
			if tt.warning == "" && buf.Len() > 0 {
				t.Errorf("unexpected output:\n%s", buf.String())
			}
			buf.Reset()
			l.Debug("a debug line")
			if got := buf.Len() > 0; got != tt.debugSeen {
				t.Errorf("debug line written: %v, want %v", got, tt.debugSeen)
			}
			buf.Reset()
			child := l.Named(ProviderName("sim"))
			child.Error("boom", "host", "c1")
			if tt.level == hclog.Off {
				if buf.Len() > 0 {
					t.Errorf("off, but wrote %q", buf.String())
				}
				return
			}
			line := buf.String()
			if tt.json {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				if m["@module"] != "provider.sim" || m["@message"] != "boom" || m["host"] != "c1" {
					t.Errorf("got %v", m)
				}
			} else if !strings.Contains(line, "[ERROR] provider.sim: boom: host=c1") {
				t.Errorf("got %q", line)
			}
		})
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{EnvLevel: "debug", EnvFormat: "json"}
	got := OptionsFromEnv(func(k string) string { return env[k] })
	if got.Level != "debug" || got.Format != "json" {
		t.Errorf("got %+v", got)
	}
}

func TestProcessLogger(t *testing.T) {
	defer SetLogger(Logger())
	var buf bytes.Buffer
	t.Setenv(EnvLevel, "info")
	t.Setenv(EnvFormat, "")
	l := Setup(&buf)
	if Logger() != l || l.GetLevel() != hclog.Info {
		t.Fatal("Setup did not install its logger")
	}
	Provider("sim").Info("hello")
	Named("pluginhost").Info("there")
	if !strings.Contains(buf.String(), "provider.sim: hello") || !strings.Contains(buf.String(), "pluginhost: there") {
		t.Errorf("got:\n%s", buf.String())
	}
	// The children follow a later change of the root's level.
	buf.Reset()
	l.SetLevel(hclog.Error)
	Provider("sim").Info("quiet")
	if buf.Len() > 0 {
		t.Errorf("got %q", buf.String())
	}
	SetLogger(nil)
	Logger().Error("discarded")
}
