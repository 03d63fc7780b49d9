package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sim"
	"github.com/escalator-nfv/escalator/testing/vnfm"

	wire "github.com/escalator-nfv/escalator/internal/vnfm"
)

func TestParse(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == SecretEnv {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		args    []string
		env     string
		check   func(o *options) bool
		wantErr string
	}{
		{"defaults", []string{"-cloud", "c.json", "-group", "g"}, "from-env", func(o *options) bool {
			return o.listen == DefaultListen && o.cfg.Mode == vnfm.ModeAck && o.cfg.Reply == vnfm.ReplySync && o.cfg.Secret == "from-env"
		}, ""},
		{"the flag wins over the environment", []string{"-cloud", "c.json", "-group", "g", "-secret", "flag"}, "env", func(o *options) bool { return o.cfg.Secret == "flag" }, ""},
		{"pair", []string{"-cloud", "c.json", "-pair", "a,b"}, "s", func(o *options) bool {
			return len(o.cfg.Pair) == 2 && o.cfg.Pair[0] == "a" && o.cfg.Pair[1] == "b"
		}, ""},
		{"modes", []string{"-cloud", "c.json", "-group", "g", "-mode", "silent", "-reply", "async", "-reply-delay", "2s"}, "s", func(o *options) bool {
			return o.cfg.Mode == vnfm.ModeSilent && o.cfg.Reply == vnfm.ReplyAsync && o.cfg.ReplyDelay == 2*time.Second
		}, ""},
		{"stray argument", []string{"-cloud", "c.json", "extra"}, "s", nil, "unexpected arguments"},
		{"unknown flag", []string{"-colud", "c.json"}, "s", nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args, env(tt.env), &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options %+v", o)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun: the command serves, answers a signed notification, stops on
// its context (a signal) and writes its records.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	c := &sim.Cloud{FormatVersion: sim.FormatVersion}
	for _, h := range []string{"h1", "h2"} {
		c.Hosts = append(c.Hosts, &sim.Host{Name: h, Role: "compute", AvailabilityZone: "az1", State: sim.StateUp,
			Capacity: sim.Resources{VCPUs: 8, MemoryMB: 8192, DiskGB: 10}, Versions: map[string]string{}})
	}
	f := sim.Flavor{Resources: sim.Resources{VCPUs: 1, MemoryMB: 1024, DiskGB: 1}}
	c.Instances = []*sim.Instance{
		{ID: "a", Name: "a", Flavor: f, Host: "h1", Status: sim.StatusActive, Project: "p", LiveMigratable: true},
		{ID: "b", Name: "b", Flavor: f, Host: "h2", Status: sim.StatusActive, Project: "p", LiveMigratable: true},
	}
	var cb bytes.Buffer
	if err := sim.EncodeCloud(&cb, c); err != nil {
		t.Fatal(err)
	}
	cloud := filepath.Join(dir, "cloud.json")
	if err := os.WriteFile(cloud, cb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	records := filepath.Join(dir, "records.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-cloud", cloud, "-pair", "b,a", "-listen", "127.0.0.1:0", "-mode", "nack", "-nack-reason", "not now", "-records", records},
			func(string) string { return "cmd-secret" }, &stdout, &stderr)
	}()
	urlRE := regexp.MustCompile(`notify url (\S+);`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no notify url printed within 10s; stdout %q, stderr %q", stdout.String(), stderr.String())
		}
	}
	n := wire.Notification{Version: wire.Version, ID: "r/w1/notify/x/maintenance", EventType: wire.EventScheduled, State: wire.StatePlannedMaintenance,
		Hosts: []string{"h2"}, InstanceIDs: []string{"b"}, Instances: []wire.Instance{{ID: "b", Host: "h2", PlannedAction: wire.ActionMigrate, AllowedActions: []string{wire.ActionMigrate, wire.ActionOwn}}}}
	body, _ := json.Marshal(n)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(wire.SignatureHeader, wire.Sign("cmd-secret", body, time.Now()))
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reply wire.Reply
	err = json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if err != nil || reply.State != "NACK_PLANNED_MAINTENANCE" || reply.Reason != "not now" {
		t.Fatalf("reply %+v, %v", reply, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("samplevnfm did not stop within 15s of its signal")
	}
	b, err := os.ReadFile(records)
	if err != nil {
		t.Fatal(err)
	}
	var recs vnfm.Records
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	if recs.Active != "b" || len(recs.Notifications) != 1 || recs.Notifications[0].Reply == nil || recs.Notifications[0].Reply.Reason != "not now" {
		t.Errorf("records: %s", b)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-cloud", "x.json", "-group", "g"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr); code != 1 {
		t.Errorf("exit %d without a secret, want 1", code)
	}
	if !strings.Contains(stderr.String(), "secret is needed") {
		t.Errorf("stderr: %s", stderr.String())
	}
	if code := run(context.Background(), []string{"-nope"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("exit %d on an unknown flag, want 2", code)
	}
}
