package pluginhost

import (
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// clientLogger is the logger handed to go-plugin for one plugin. go-plugin
// logs two kinds of lines through it:
//
//   - its own plumbing (starting the process, waiting for the address, the
//     process exiting, a forced kill). escalator reports what matters of
//     these as diagnostics, so they are demoted to debug: an operator
//     should not see "plugin process exited" next to the diagnostic that
//     says the plugin crashed.
//   - the plugin's standard error, through Named(binary name). Those lines
//     keep the level the plugin gave them and go under the provider's own
//     name (provider.NAME), not provider.NAME.escalator-provider-NAME.
type clientLogger struct {
	hclog.Logger
}

func (l clientLogger) Log(level hclog.Level, msg string, args ...any) {
	if level > hclog.Debug {
		level = hclog.Debug
	}
	l.Logger.Log(level, msg, args...)
}

func (l clientLogger) Info(msg string, args ...any)  { l.Logger.Debug(msg, args...) }
func (l clientLogger) Warn(msg string, args ...any)  { l.Logger.Debug(msg, args...) }
func (l clientLogger) Error(msg string, args ...any) { l.Logger.Debug(msg, args...) }

// Named returns the provider's logger itself, undemoted: go-plugin calls
// it for the plugin's stderr lines (and for its stdio stream).
func (l clientLogger) Named(string) hclog.Logger { return l.Logger }

func (l clientLogger) With(args ...any) hclog.Logger {
	return clientLogger{l.Logger.With(args...)}
}

// lineLogger receives what plugin code writes to os.Stdout and os.Stderr
// (go-plugin's SyncStdout/SyncStderr) and logs it line by line at debug
// level, as go-plugin does for unstructured stderr lines; the lines also
// go to the tail quoted in crash reports.
type lineLogger struct {
	log    hclog.Logger
	tail   *lineTail
	stream string

	mu      sync.Mutex
	partial []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range b {
		if c != '\n' {
			if len(l.partial) < 64*1024 {
				l.partial = append(l.partial, c)
			}
			continue
		}
		line := strings.TrimRight(string(l.partial), "\r")
		l.partial = l.partial[:0]
		if strings.TrimSpace(line) == "" {
			continue
		}
		l.log.Debug(line, "stream", l.stream)
		_, _ = l.tail.Write([]byte(line + "\n"))
	}
	return len(b), nil
}
