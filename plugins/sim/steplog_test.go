package sim

import (
	"bytes"
	"errors"
	"os"
	execpkg "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// crashed is what crashDuring's crash point panics with.
type crashed struct{}

// crashDuring runs fn and makes the first commit that reaches stage die
// there, as a kill -9 would: the files stay as they are, the provider's
// memory is lost (the test goes on with a new provider).
func crashDuring(t *testing.T, stage string, fn func()) {
	t.Helper()
	fired := false
	crashPoint = func(s string) {
		if s == stage && !fired {
			fired = true
			panic(crashed{})
		}
	}
	defer func() { crashPoint = nil }()
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(crashed); !ok {
					panic(r)
				}
			}
		}()
		fn()
	}()
	if !fired {
		t.Fatalf("no commit reached %q", stage)
	}
}

func enter(id, host, reason string) sdk.ExecuteActionRequest {
	return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionEnterMaintenance, Host: host, Reason: reason}
}

// stepEvents counts the event log's ok events of a step.
func stepEvents(t *testing.T, path, id string) int {
	t.Helper()
	n := 0
	for _, e := range events(t, path) {
		if e.StepID == id && e.Result == ResultOK {
			n++
		}
	}
	return n
}

// TestCrashDuringCommit kills a commit at each point that matters, for
// each way a change reaches the cloud file, and checks what a kill -9
// must leave: the change is durable from the moment the step log has it
// (a provider reading the cloud sees it, the same step id is confirmed,
// not redone), the next access finishes the files (cloud file, event
// log), and a change whose step log record did not make it did not
// happen.
func TestCrashDuringCommit(t *testing.T) {
	longReason := strings.Repeat("a long maintenance reason ", 40)
	tests := []struct {
		name string
		// adopted: run one action first, so the step log exists.
		adopted bool
		req     sdk.ExecuteActionRequest
		stage   string
		changed func(c *Cloud) bool
		// durable: the change survives the crash (else: it did not
		// happen, and the step runs afresh).
		durable bool
		// inFile: the cloud file alone has it right after the crash.
		inFile bool
	}{
		{name: "in place, logged", adopted: true, req: migrate("m1", "loner", "h3", true), stage: "logged",
			changed: func(c *Cloud) bool { return c.Instance("loner").Host == "h3" }, durable: true},
		{name: "in place, written", adopted: true, req: migrate("m1", "loner", "h3", true), stage: "written",
			changed: func(c *Cloud) bool { return c.Instance("loner").Host == "h3" }, durable: true, inFile: true},
		{name: "whole (too big for its slot), logged", adopted: true, req: enter("e2", "h3", longReason), stage: "logged",
			changed: func(c *Cloud) bool { return c.Host("h3").State == StateMaintenance }, durable: true},
		{name: "whole (too big for its slot), written", adopted: true, req: enter("e2", "h3", longReason), stage: "written",
			changed: func(c *Cloud) bool { return c.Host("h3").State == StateMaintenance }, durable: true, inFile: true},
		{name: "first change, log started", req: migrate("m1", "loner", "h3", true), stage: "logged",
			changed: func(c *Cloud) bool { return c.Instance("loner").Host == "h3" }},
		{name: "first change, written", req: migrate("m1", "loner", "h3", true), stage: "written",
			changed: func(c *Cloud) bool { return c.Instance("loner").Host == "h3" }, durable: true, inFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeCloud(t, testCloud())
			p := configure(t, path, nil)
			if tt.adopted {
				mustOK(t, p, enter("e1", "h2", "run 1"))
			}
			crashDuring(t, tt.stage, func() { exec(t, p, tt.req) })

			if got := tt.changed(readCloudFile(t, path)); got != tt.inFile {
				t.Errorf("right after the crash, the cloud file has the change: %v, want %v", got, tt.inFile)
			}
			if n := stepEvents(t, path, tt.req.ID); n != 0 {
				t.Errorf("right after the crash, the event log has %d events of the step", n)
			}
			c := readCloud(t, path)
			if got := tt.changed(c); got != tt.durable {
				t.Errorf("a provider reading the cloud sees the change: %v, want %v", got, tt.durable)
			}
			if got := c.Steps[tt.req.ID] != nil; got != tt.durable {
				t.Errorf("step %s recorded: %v, want %v", tt.req.ID, got, tt.durable)
			}
			// That read finished the files.
			if got := tt.changed(readCloudFile(t, path)); got != tt.durable {
				t.Errorf("after a provider read the cloud, the cloud file has the change: %v, want %v", got, tt.durable)
			}
			if n := stepEvents(t, path, tt.req.ID); (n == 1) != tt.durable {
				t.Errorf("after a provider read the cloud, the event log has %d events of the step", n)
			}

			// The resumed run sends the step again.
			p2 := configure(t, path, nil)
			resp := exec(t, p2, tt.req)
			if resp.Diagnostics.HasErrors() {
				t.Fatalf("the step sent again: %s", diagText(resp.Diagnostics))
			}
			if !tt.changed(readCloudFile(t, path)) {
				t.Error("after the next access, the cloud file still lacks the change")
			}
			if n := stepEvents(t, path, tt.req.ID); n != 1 {
				t.Errorf("the event log has %d ok events of step %s, want 1", n, tt.req.ID)
			}
			checkSeq(t, path, len(events(t, path)))
			if _, err := os.Stat(path + ".steps.jsonl.orphaned"); (err == nil) != (!tt.durable && !tt.adopted) {
				t.Errorf("orphaned step log: %v", err)
			}
		})
	}
}

// TestReplayRepairsTornSlots: a power loss can leave the cloud file's
// pages without their last in-place writes, or with half of one. The step
// log has them since the last checkpoint; the next access writes them
// again.
func TestReplayRepairsTornSlots(t *testing.T) {
	for _, tear := range []string{"stale", "half"} {
		t.Run(tear, func(t *testing.T) {
			path := writeCloud(t, testCloud())
			p := configure(t, path, nil)
			mustOK(t, p, enter("e1", "h2", "run 1"))
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			mustOK(t, p, enter("e3", "h3", "run 1"))
			mustOK(t, p, migrate("m1", "loner", "h4", true))
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The file as a power loss may leave it: stale pages, or the
			// first half of every changed byte range new, the rest old.
			torn := append([]byte(nil), after...)
			for i := 0; i < len(torn); i++ {
				if torn[i] == before[i] {
					continue
				}
				j := i
				for j < len(torn) && torn[j] != before[j] {
					j++
				}
				from := i
				if tear == "half" {
					from = i + (j-i)/2
				}
				copy(torn[from:j], before[from:j])
				i = j
			}
			if bytes.Equal(torn, after) {
				t.Fatal("the tear changed nothing")
			}
			if err := os.WriteFile(path, torn, 0o644); err != nil {
				t.Fatal(err)
			}
			c := readCloud(t, path)
			if c.Host("h3").State != StateMaintenance || c.Instance("loner").Host != "h4" {
				t.Errorf("read after the tear: h3 %s, loner on %s", c.Host("h3").State, c.Instance("loner").Host)
			}
			// The next change repairs the file first.
			p2 := configure(t, path, nil)
			mustOK(t, p2, sdk.ExecuteActionRequest{ID: "l1", Kind: sdk.ActionLeaveMaintenance, Host: "h2", Reason: "run 1"})
			raw := readCloudFile(t, path)
			if raw.Host("h3").State != StateMaintenance || raw.Instance("loner").Host != "h4" || raw.Host("h2").State != StateUp {
				t.Errorf("the file after the repair: h3 %s, loner on %s, h2 %s", raw.Host("h3").State, raw.Instance("loner").Host, raw.Host("h2").State)
			}
		})
	}
}

// writeV1 writes c as a format 1 file, its bookkeeping inline.
func writeV1(t *testing.T, c *Cloud) string {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeCloud(&b, c); err != nil {
		t.Fatal(err)
	}
	v1 := strings.Replace(b.String(), `"format_version": 2`, `"format_version": 1`, 1)
	path := filepath.Join(t.TempDir(), "cloud.json")
	if err := os.WriteFile(path, []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFormat1Migrated: a cloud file of format 1, with its steps, backups
// and fault counters inline, is read as it is; the first change moves the
// bookkeeping to the step log and writes format 2.
func TestFormat1Migrated(t *testing.T) {
	c := testCloud()
	c.Instance("loner").Host = "h3" // migrated by step m0, recorded below
	c.Steps = map[string]*StepRecord{"m0": {Action: "migrate", Instance: "loner", Outputs: map[string]string{"from": "h1", "to": "h3"}}}
	c.Backups = map[string]*Backup{"bk-000004": {Host: "h2", Component: "qemu", Version: "7.0.0"}}
	c.NextBackup = 4
	path := writeV1(t, c)
	v1, _ := os.ReadFile(path)

	p := configure(t, path, nil)
	// The recorded step is confirmed, and nothing is written for that.
	if out := mustOK(t, p, migrate("m0", "loner", "h3", true)); out["from"] != "h1" || out["to"] != "h3" {
		t.Errorf("outputs of the recorded step: %v", out)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, v1) {
		t.Error("confirming a recorded step rewrote the file")
	}
	// A change migrates the file.
	if out := mustOK(t, p, sdk.ExecuteActionRequest{ID: "b1", Kind: sdk.ActionBackup, Host: "h1", Component: "qemu"}); out["backup_id"] != "bk-000005" {
		t.Errorf("backup id %s, want bk-000005 (numbering continues)", out["backup_id"])
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"format_version": 2`) || strings.Contains(string(raw), `"steps"`) || strings.Contains(string(raw), `"backups"`) {
		t.Errorf("the file after the first change:\n%s", raw)
	}
	got := readCloud(t, path)
	if got.Steps["m0"] == nil || got.Steps["b1"] == nil || got.Backups["bk-000004"] == nil || got.Backups["bk-000005"] == nil || got.NextBackup != 5 {
		t.Errorf("bookkeeping after the migration: steps %v, backups %v, next %d", got.Steps, got.Backups, got.NextBackup)
	}
	// A later run still knows the recorded step.
	p2 := configure(t, path, nil)
	mustOK(t, p2, migrate("m0", "loner", "h3", true))
	if n := len(events(t, path)); n != 1 {
		t.Errorf("%d events, want 1 (the backup)", n)
	}
}

// TestStepLogOfAnotherCloud: a cloud file replaced by a new one (simgen,
// create = true after deleting it) does not inherit the old one's steps;
// the old step log is moved aside.
func TestStepLogOfAnotherCloud(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	mustOK(t, p, migrate("m1", "loner", "h3", true))
	if err := WriteCloudFile(path, testCloud()); err != nil {
		t.Fatal(err)
	}
	if c := readCloud(t, path); len(c.Steps) != 0 || c.Instance("loner").Host != "h1" {
		t.Errorf("the new cloud: steps %v, loner on %s", c.Steps, c.Instance("loner").Host)
	}
	p2 := configure(t, path, nil)
	mustOK(t, p2, migrate("m1", "loner", "h3", true))
	if n := stepEvents(t, path, "m1"); n != 2 {
		t.Errorf("step m1 ran %d times, want 2 (once per cloud)", n)
	}
	if _, err := os.Stat(path + ".steps.jsonl.orphaned"); err != nil {
		t.Errorf("the old step log was not moved aside: %v", err)
	}
}

// editLocked changes the cloud file as a tool does (testing/e2e does this):
// under the exclusive lock, decoded from the file alone, written whole.
func editLocked(t *testing.T, path string, edit func(c *Cloud)) {
	t.Helper()
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	c := readCloudFile(t, path)
	edit(c)
	if err := WriteCloudFile(path, c); err != nil {
		t.Fatal(err)
	}
}

// TestEditBetweenActions: a tool edits the cloud file under the lock while
// a provider uses it; the provider sees the edit and keeps its steps.
func TestEditBetweenActions(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	mustOK(t, p, enter("e1", "h3", "run 1"))
	mustOK(t, p, migrate("m1", "s2", "h2", true))
	editLocked(t, path, func(c *Cloud) { c.Host("h3").Versions["qemu"] = "7.1.5" })
	if resp := exec(t, p, upgradeReq("u1", "h3", "qemu", "7.1.0", "7.2.0")); !strings.Contains(errorText(resp.Diagnostics), `has qemu "7.1.5" installed`) {
		t.Errorf("upgrade from the version before the edit: %s", diagText(resp.Diagnostics))
	}
	mustOK(t, p, upgradeReq("u2", "h3", "qemu", "7.1.5", "7.2.0"))
	mustOK(t, p, migrate("m1", "s2", "h2", true)) // recorded before the edit
	if n := stepEvents(t, path, "m1"); n != 1 {
		t.Errorf("step m1 ran %d times", n)
	}
	c := readCloudFile(t, path)
	if v := c.Host("h3").Versions["qemu"]; v != "7.2.0" || c.Host("h3").State != StateMaintenance || c.Instance("s2").Host != "h2" {
		t.Errorf("the file: h3 qemu %s, state %s; s2 on %s", v, c.Host("h3").State, c.Instance("s2").Host)
	}
}

// TestSlotOverflow: an element that outgrows its slot makes the file be
// written whole with more slack for its section; later changes of that
// size fit in place again.
func TestSlotOverflow(t *testing.T) {
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	mustOK(t, p, enter("e1", "h1", "short"))
	layout := func() string { return peekLogRef(must(os.ReadFile(path))).layout }
	first := layout()
	long := strings.Repeat("x", 300)
	mustOK(t, p, enter("e2", "h2", long))
	second := layout()
	if second == first {
		t.Fatal("an element too big for its slot was written in place")
	}
	mustOK(t, p, enter("e3", "h3", long))
	if layout() != second {
		t.Error("the slack did not grow: the next change of that size was written whole again")
	}
	if c := readCloudFile(t, path); c.Host("h2").StateReason != long || c.Host("h3").StateReason != long {
		t.Error("the long reasons are not in the file")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCompaction: a large step log is compacted by the next provider that
// reads it whole; the step ids it recorded stay recorded.
func TestCompaction(t *testing.T) {
	defer func(v int64) { compactAt = v }(compactAt)
	compactAt = 4 << 10
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	for i := 0; i < 20; i++ {
		mustOK(t, p, enter("e"+itoa(i), "h1", "run 1"))
		mustOK(t, p, sdk.ExecuteActionRequest{ID: "l" + itoa(i), Kind: sdk.ActionLeaveMaintenance, Host: "h1", Reason: "run 1"})
	}
	before := must(os.Stat(path + ".steps.jsonl")).Size()
	p2 := configure(t, path, nil)
	mustOK(t, p2, enter("e-last", "h1", "run 2"))
	after := must(os.Stat(path + ".steps.jsonl")).Size()
	if after >= before {
		t.Fatalf("the step log grew from %d to %d bytes: not compacted", before, after)
	}
	// The steps are still known, to this provider and a fresh one.
	for _, prov := range []*Provider{p2, configure(t, path, nil)} {
		mustOK(t, prov, enter("e0", "h1", "run 1"))
	}
	if n := stepEvents(t, path, "e0"); n != 1 {
		t.Errorf("step e0 ran %d times", n)
	}
	if c := readCloud(t, path); len(c.Steps) != 41 {
		t.Errorf("%d steps after the compaction, want 41", len(c.Steps))
	}
}

// TestScanSlots: the in-place layout is found only in files a Store wrote.
func TestScanSlots(t *testing.T) {
	c := testCloud()
	c.ServerGroups = nil
	c.Log = &LogRef{ID: "i", Gen: 1}
	var store, plain bytes.Buffer
	slots, err := encodeCloud(&store, c, encodeOptions{slack: defaultSlack, layout: "l"})
	if err != nil {
		t.Fatal(err)
	}
	if err := EncodeCloud(&plain, c); err != nil {
		t.Fatal(err)
	}
	got, ok := scanSlots(store.Bytes())
	if !ok {
		t.Fatal("the layout of a Store's file was not found")
	}
	for sec := range got {
		if len(got[sec]) != len(slots[sec]) {
			t.Fatalf("section %s: %d slots, want %d", sectionNames[sec], len(got[sec]), len(slots[sec]))
		}
		for i := range got[sec] {
			if got[sec][i] != slots[sec][i] {
				t.Errorf("section %s #%d: slot %+v, want %+v", sectionNames[sec], i, got[sec][i], slots[sec][i])
			}
		}
	}
	if r := peekLogRef(store.Bytes()); r == nil || r.ID != "i" || r.Gen != 1 || r.layout != "l" {
		t.Errorf("log header %+v", r)
	}
	if r := peekLogRef(plain.Bytes()); r == nil || r.layout != "" {
		t.Errorf("log header of EncodeCloud's file %+v: want no layout", r)
	}
	for name, doc := range map[string]string{
		"indented": `{"format_version": 2, "hosts": [
  {"name": "h1"}
]}`,
		"two on a line": "{\n  \"hosts\": [\n    {\"name\":\"a\"},{\"name\":\"b\"}\n  ],\n  \"instances\": []\n}",
		"truncated":     store.String()[:store.Len()/2],
	} {
		if _, ok := scanSlots([]byte(doc)); ok {
			t.Errorf("%s: a layout was found", name)
		}
	}
}

func upgradeReq(id, host, comp, from, to string) sdk.ExecuteActionRequest {
	return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionUpgrade, Host: host, Component: comp, FromVersion: from, ToVersion: to}
}

// TestKill9AfterTheRecord kills a real provider process with SIGKILL the
// moment its step log record is on disk, before it wrote the cloud file or
// the event log; another process then finds the action done.
func TestKill9AfterTheRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := writeCloud(t, testCloud())
	p := configure(t, path, nil)
	mustOK(t, p, enter("e1", "h2", "run 1")) // the step log exists
	cmd := execpkg.Command(os.Args[0], "-test.run=^TestHelperKill9$")
	cmd.Env = append(os.Environ(), "SIM_HELPER_CLOUD="+path)
	out, err := cmd.CombinedOutput()
	var ee *execpkg.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want SIGKILL; output:\n%s", err, out)
	}
	if readCloudFile(t, path).Instance("loner").Host != "h1" || stepEvents(t, path, "m1") != 0 {
		t.Fatal("the helper got further than the step log record")
	}
	// This process's provider is told by the step log.
	if out := mustOK(t, p, migrate("m1", "loner", "h3", true)); out["to"] != "h3" {
		t.Errorf("outputs of the recorded step: %v", out)
	}
	if readCloudFile(t, path).Instance("loner").Host != "h3" || stepEvents(t, path, "m1") != 1 {
		t.Error("the files were not finished")
	}
}

func TestHelperKill9(t *testing.T) {
	path := os.Getenv("SIM_HELPER_CLOUD")
	if path == "" {
		t.Skip("helper process for TestKill9AfterTheRecord")
	}
	crashPoint = func(stage string) {
		if stage == "logged" {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	p := configure(t, path, nil)
	exec(t, p, migrate("m1", "loner", "h3", true))
	t.Fatal("still running after SIGKILL")
}
