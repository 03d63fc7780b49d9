package sdk

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Logging. A plugin's stderr is read by escalator (go-plugin's client),
// which folds each JSON line written by hclog into escalator's own log with
// its level and the plugin's name. So the SDK logs with hclog in JSON, and
// routes the standard library's loggers (log/slog and log) into the same
// hclog logger: a provider author logs with plain slog and it comes out
// right, without importing anything of ours.

// logLevelEnv is the environment variable that sets the plugin's log level
// (trace, debug, info, warn, error; default info). escalator passes its own
// level down through it.
const logLevelEnv = "ESCALATOR_PLUGIN_LOG_LEVEL"

// newLogger returns the plugin's logger: JSON for escalator to parse, or
// human-readable when a developer runs the plugin under a debugger and
// reads the terminal. out is the process's real stderr: go-plugin later
// replaces os.Stderr with a pipe that escalator does not read.
func newLogger(name string, json bool, out io.Writer) hclog.Logger {
	level := hclog.Info
	raw := os.Getenv(logLevelEnv)
	bad := false
	if raw != "" {
		if l := hclog.LevelFromString(raw); l != hclog.NoLevel {
			level = l
		} else {
			bad = true
		}
	}
	l := hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      level,
		Output:     out,
		JSONFormat: json,
	})
	if bad {
		l.Warn("ignoring invalid log level; using info", "env", logLevelEnv, "value", raw)
	}
	return l
}

type logAttrsKey struct{}

// withLogAttrs returns ctx carrying key/value pairs that slog lines logged
// with that context get, such as the RPC and the step id.
func withLogAttrs(ctx context.Context, kv ...any) context.Context {
	if prev, ok := ctx.Value(logAttrsKey{}).([]any); ok {
		kv = append(append([]any(nil), prev...), kv...)
	}
	return context.WithValue(ctx, logAttrsKey{}, kv)
}

// slogHandler is a slog.Handler writing to an hclog.Logger.
type slogHandler struct {
	l      hclog.Logger
	prefix string // group prefix, "a.b."
}

func newSlogHandler(l hclog.Logger) slog.Handler { return &slogHandler{l: l} }

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	}
	return hclog.Error
}

// Enabled implements slog.Handler.
func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.l.GetLevel() <= hclogLevel(l) && h.l.GetLevel() != hclog.Off
}

// Handle implements slog.Handler.
func (h *slogHandler) Handle(ctx context.Context, r slog.Record) error {
	var args []any
	if ctx != nil {
		if kv, ok := ctx.Value(logAttrsKey{}).([]any); ok {
			args = append(args, kv...)
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		args = appendAttr(args, h.prefix, a)
		return true
	})
	h.l.Log(hclogLevel(r.Level), r.Message, args...)
	return nil
}

func appendAttr(args []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, ga := range v.Group() {
			args = appendAttr(args, p, ga)
		}
		return args
	}
	if a.Key == "" {
		return args
	}
	return append(args, prefix+a.Key, v.Any())
}

// WithAttrs implements slog.Handler.
func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var args []any
	for _, a := range attrs {
		args = appendAttr(args, h.prefix, a)
	}
	return &slogHandler{l: h.l.With(args...), prefix: h.prefix}
}

// WithGroup implements slog.Handler.
func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &slogHandler{l: h.l, prefix: h.prefix + strings.TrimSuffix(name, ".") + "."}
}
