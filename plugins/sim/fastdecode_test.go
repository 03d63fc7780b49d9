package sim

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// richCloud is a generated cloud with every optional field in use: the
// bookkeeping an apply leaves behind, a migration in flight, odd strings.
func richCloud(t testing.TB) *Cloud {
	t.Helper()
	o := DefaultGenOptions()
	o.Hosts, o.Zones, o.ShutoffFraction, o.NonLiveFraction = 30, 3, 0.1, 0.2
	c, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)
	c.Hosts[3].State, c.Hosts[3].StateReason = StateMaintenance, `escalator run "r-1" <&> é`
	c.Hosts[4].Attributes = nil
	c.Hosts[5].Aggregates = nil
	c.Instances[0].Migration = &Migration{To: c.Hosts[7].Name, Live: true, StepID: "s-1", Started: at}
	c.Instances[1].Name = "tab\tquote\"back\\slash\u2028 ✓"
	c.Steps = map[string]*StepRecord{
		"s-1": {Action: "migrate", Host: c.Hosts[1].Name, Instance: c.Instances[0].ID, Completed: at},
		"s-2": {Action: "backup", Host: c.Hosts[2].Name, Component: "nova_compute", Outputs: map[string]string{"backup_id": "b-1", "": "x"}, Completed: at.Add(time.Hour)},
	}
	c.Backups = map[string]*Backup{"b-1": {Host: c.Hosts[2].Name, Component: "nova_compute", Version: "26.2.0", StepID: "s-2", Created: at}}
	c.NextBackup = 2
	c.Faults = map[string]*FaultCount{"upgrade|||fail|start|times=1|rate=0#1": {Matched: 3, Injected: 1}}
	return c
}

func fastAndSlow(t testing.TB, data []byte) (fast *Cloud, ok bool, slow *Cloud, slowErr error) {
	t.Helper()
	fast, ok = decodeCloudFast(data)
	slow, slowErr = decodeCloudJSON(data)
	return
}

// TestFastDecodeMatchesJSON checks that the fast path takes the documents
// EncodeCloud writes and decodes them exactly as encoding/json does, and
// that it leaves everything unusual to encoding/json.
func TestFastDecodeMatchesJSON(t *testing.T) {
	var docs [][]byte
	for _, c := range []*Cloud{richCloud(t), DefaultCloud(), testCloud(), {FormatVersion: FormatVersion}} {
		var buf bytes.Buffer
		if err := EncodeCloud(&buf, c); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, buf.Bytes())
	}
	// As a Store writes it: padded elements, a log header with a layout.
	rich := richCloud(t)
	rich.Log = &LogRef{ID: "0123abcd", Gen: 42}
	var padded bytes.Buffer
	if _, err := encodeCloud(&padded, rich, encodeOptions{slack: defaultSlack, layout: "feed"}); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, padded.Bytes())
	for i, data := range docs {
		fast, ok, slow, err := fastAndSlow(t, data)
		if err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		if !ok {
			t.Fatalf("doc %d: the fast path declined a document EncodeCloud wrote", i)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("doc %d: fast and encoding/json decodes differ", i)
		}
		if _, err := DecodeCloud(data); err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
	}

	// Hand-written documents in the usual shape: taken, same result.
	taken := []string{
		`{"format_version":1,"hosts":[],"instances":[],"server_groups":[],"vnf_managers":[]}`,
		"  {\n\t\"format_version\" : 1 , \"name\" : \"x\\u00e9\\n\" }\r\n",
		`{"hosts":[{"name":"h1","capacity":{"vcpus":8,"memory_mb":-0},"versions":null,"aggregates":[],"attributes":{}}],"format_version":1}`,
		`{"format_version":1,"hosts":[{"name":"h1","state":null,"role":null,"capacity":null}],"instances":[{"id":"a","host":"h1"},{"id":"b","host":"h1","live_migratable":false},{"id":"c","host":"h1","live_migratable":null},{"id":"d","host":"h1","live_migratable":true,"migration":null,"flavor":null}]}`,
		`{"format_version":1,"server_groups":[{"id":"g","policy":"anti-affinity","members":null},{"id":"g2","members":[]}],"steps":null,"backups":{},"faults":null}`,
		`{"format_version":1,"steps":{"a":{"action":"x","completed":"2026-01-02T03:04:05+02:00"},"a":{"action":"y"}},"next_backup":null}`,
		`{"format_version":1,"hosts":[{"name":"h","versions":{"a":"1","a":"2","é":"x"}}]}`,
	}
	for _, doc := range taken {
		fast, ok, slow, err := fastAndSlow(t, []byte(doc))
		if err != nil {
			t.Fatalf("%s: encoding/json: %v", doc, err)
		}
		if !ok {
			t.Errorf("%s: fast path declined", doc)
			continue
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: decodes differ:\nfast %+v\nslow %+v", doc, fast, slow)
		}
	}

	// Everything else: declined, so encoding/json decides (and words the
	// error).
	declined := []string{
		``, `null`, `[]`, `{}`, `{"format_version":3,"hosts":[]}`,
		`{"format_version":1,"log":{"id":"x","gen":1}}`, `{"format_version":2,"log":{"id":"x","gen":1,"extra":1}}`, `{"format_version":2,"log":{"id":"x","gen":1.5}}`, `{"format_version":null}`, `{"format_version":1.0}`,
		`{"format_version":01}`, `{"format_version":1e0}`, `{"format_version":1}x`, `{"format_version":1}}`,
		`{"format_version":1} {}`, `{"format_version":1,}`, `{"format_version":1,"hosts":[{"name":"h",}]}`,
		`{"format_version":1,"Hosts":[]}`, `{"format_version":1,"hostz":[]}`, `{"format_version":1,"format_version":1}`,
		`{"format_version":1,"hosts":[{"name":"a","name":"b"}]}`, `{"format_version":1,"hosts":[null]}`,
		`{"format_version":1,"hosts":[{"name":1}]}`, `{"format_version":1,"hosts":[{"name":"h","capacity":{"vcpus":"8"}}]}`,
		`{"format_version":1,"hosts":[{"name":"h","capacity":{"vcpus":99999999999999999999}}]}`,
		`{"format_version":1,"name":"bad` + "\xff" + `"}`, `{"format_version":1,"name":"ctl` + "\x01" + `"}`,
		`{"format_version":1,"n\u0061me":"x"}`, `{"format_version":1,"instances":[{"id":"a","live_migratable":1}]}`,
		`{"format_version":1,"hosts":[{"name":"h","versions":{"a":null}}]}`, `{"format_version":1,"server_groups":[{"members":[null]}]}`,
		`{"format_version":1,"steps":{"a":{"completed":"yesterday"}}}`, `{"format_version":1,"steps":{"a":null}}`,
		`{"format_version":1,"instances":[{"id":"a"` + strings.Repeat(" ", 3), `{"format_version":1,"name":"x\u12"}`,
		`{"format_version":1,"hosts":[{"name":"h","capacity":{"vcpus":-}}]}`, `{"format_version":1,"hosts":[{"name":"h","aggregates":["a",]}]}`,
	}
	for _, doc := range declined {
		if _, ok := decodeCloudFast([]byte(doc)); ok {
			t.Errorf("%q: the fast path took it; encoding/json should decide", doc)
		}
	}
}

// FuzzDecodeCloud holds the fast path to encoding/json: whatever it takes,
// encoding/json decodes the same way.
func FuzzDecodeCloud(f *testing.F) {
	// Small seeds with every kind of field: the fuzzer mutates them.
	for _, seed := range []string{
		`{"format_version":1,"name":"t","hosts":[{"name":"h1","role":"compute","availability_zone":"az1","aggregates":["a"],"capacity":{"vcpus":16,"memory_mb":32768,"disk_gb":500},"versions":{"qemu":"7.1.0"},"state":"maintenance","state_reason":"r\"1","attributes":{"rack":"r1"}}],
"instances":[{"id":"a1","name":"a1","flavor":{"name":"m","vcpus":2,"memory_mb":2048,"disk_gb":20},"host":"h1","status":"ACTIVE","project":"p","server_group":"g","live_migratable":false,"migration":{"to":"h1","live":true,"step_id":"s","started":"2026-03-01T12:30:00.5Z"}}],
"server_groups":[{"id":"g","name":"g","policy":"anti-affinity","project":"p","members":["a1"]}],"vnf_managers":[{"name":"v","project":"p","url":"http://x/"}],
"steps":{"s":{"action":"migrate","host":"h1","instance":"a1","component":"c","outputs":{"k":"v"},"completed":"2026-03-01T12:30:00Z"}},
"backups":{"b-1":{"host":"h1","component":"c","version":"1.0","step_id":"s","created":"2026-03-01T12:30:00+02:00"}},"next_backup":2,"faults":{"f":{"matched":3,"injected":-1}}}`,
		`{"format_version":1,"instances":[{"id":"a","live_migratable":null,"flavor":{"vcpus":-0}}],"server_groups":[{"members":null}]}`,
		`{"format_version":1,"hosts":[],"instances":[],"server_groups":[],"vnf_managers":[]}`,
		`{"format_version":2,"log":{"id":"a","gen":3,"layout":"b"},"hosts":[{"name":"h"}      ,{"name":"i"}  ]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeCloudFast(data)
		if !ok {
			return
		}
		slow, err := decodeCloudJSON(data)
		if err != nil {
			t.Fatalf("the fast path took a document encoding/json refuses (%v):\n%q", err, data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decodes differ for %q:\nfast %+v\nslow %+v", data, fast, slow)
		}
	})
}

func BenchmarkDecodeCloud(b *testing.B) {
	o := DefaultGenOptions()
	o.Hosts = 2000
	c, err := Generate(o)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := EncodeCloud(&buf, c); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			if _, ok := decodeCloudFast(data); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			if _, err := decodeCloudJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
