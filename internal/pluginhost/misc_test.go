package pluginhost

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

func TestParseReattach(t *testing.T) {
	tests := map[string]struct {
		value string
		check func(t *testing.T, m map[string]*plugin.ReattachConfig)
		err   string
	}{
		"empty": {value: "  ", check: func(t *testing.T, m map[string]*plugin.ReattachConfig) {
			if len(m) != 0 {
				t.Errorf("got %v", m)
			}
		}},
		"unix and tcp": {
			value: `{"sim":{"Protocol":"grpc","ProtocolVersion":1,"Pid":42,"Test":true,"Addr":{"Network":"unix","String":"/tmp/p1"}},
			         "hostos":{"ProtocolVersion":1,"Pid":43,"Addr":{"Network":"tcp","String":"127.0.0.1:1234"}}}`,
			check: func(t *testing.T, m map[string]*plugin.ReattachConfig) {
				sim, hostos := m["sim"], m["hostos"]
				if sim == nil || hostos == nil {
					t.Fatalf("got %v", m)
				}
				if sim.Protocol != plugin.ProtocolGRPC || sim.ProtocolVersion != 1 || sim.Pid != 42 || !sim.Test ||
					sim.Addr.Network() != "unix" || sim.Addr.String() != "/tmp/p1" {
					t.Errorf("sim %+v", sim)
				}
				if hostos.Protocol != plugin.ProtocolGRPC || hostos.Test || hostos.Addr.String() != "127.0.0.1:1234" {
					t.Errorf("hostos %+v", hostos)
				}
			},
		},
		"not JSON":            {value: "sim=1", err: "ESCALATOR_REATTACH_PROVIDERS is not valid"},
		"netrpc":              {value: `{"sim":{"Protocol":"netrpc","ProtocolVersion":1,"Pid":1,"Addr":{"Network":"unix","String":"/x"}}}`, err: `protocol "netrpc" is not supported`},
		"unsupported version": {value: `{"sim":{"ProtocolVersion":2,"Pid":1,"Addr":{"Network":"unix","String":"/x"}}}`, err: "plugin speaks protocol versions [2], this escalator speaks [1]"},
		"bad network":         {value: `{"sim":{"ProtocolVersion":1,"Pid":1,"Addr":{"Network":"udp","String":"x"}}}`, err: `address network "udp" is not supported`},
		"bad tcp address":     {value: `{"sim":{"ProtocolVersion":1,"Pid":1,"Addr":{"Network":"tcp","String":"nope"}}}`, err: `address "nope"`},
		"no pid":              {value: `{"sim":{"ProtocolVersion":1,"Addr":{"Network":"unix","String":"/x"}}}`, err: "Pid is required"},
		"bad name":            {value: `{"a/b":{"ProtocolVersion":1,"Pid":1,"Addr":{"Network":"unix","String":"/x"}}}`, err: "invalid provider name"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := ParseReattach(tt.value)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

func TestLineTail(t *testing.T) {
	tail := newLineTail(3)
	// go-plugin writes a line and its newline separately.
	for _, w := range []string{"one", "\n", "\n", "two\nthree", "\n",
		`{"@level":"error","@message":"boom","@module":"sim","@timestamp":"x","host":"c1"}`, "\n", "partial"} {
		_, _ = tail.Write([]byte(w))
	}
	want := []string{"three", "[ERROR] boom host=c1", "partial"}
	if diff := cmp.Diff(want, tail.Lines()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	long := newLineTail(1)
	_, _ = long.Write([]byte(strings.Repeat("x", 1000) + "\n"))
	if got := long.Lines()[0]; len(got) > maxTailLine+len("…") {
		t.Errorf("line of %d bytes not truncated", len(got))
	}
	if got := renderLogLine(`{"not":"hclog"}`); got != `{"not":"hclog"}` {
		t.Errorf("got %q", got)
	}
}

func TestClientLoggerDemotes(t *testing.T) {
	buf := &syncBuffer{}
	base := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: buf, Name: "provider.sim"})
	l := clientLogger{base}
	l.Error("plugin process exited", "error", "exit status 2")
	l.Warn("plugin failed to exit gracefully")
	l.Log(hclog.Error, "also demoted")
	if buf.String() != "" {
		t.Errorf("go-plugin's own messages reached a warn-level log:\n%s", buf.String())
	}
	// The plugin's own lines keep their level, under the provider's name.
	l.Named("escalator-provider-sim").Error("disk full")
	l.With("k", "v").Named("x").Warn("careful")
	if !strings.Contains(buf.String(), "[ERROR] provider.sim: disk full") || !strings.Contains(buf.String(), "careful") {
		t.Errorf("plugin lines lost:\n%s", buf.String())
	}

	ll := &lineLogger{log: base, tail: newLineTail(5), stream: "stderr"}
	_, _ = ll.Write([]byte("printed by the plugin\r\n\nsecond"))
	_, _ = ll.Write([]byte(" half\n"))
	if diff := cmp.Diff([]string{"printed by the plugin", "second half"}, ll.tail.Lines()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
