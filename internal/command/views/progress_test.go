package views

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

func progressPlan() *plans.Plan {
	v := func(h string) *plans.HostVisit { return &plans.HostVisit{Host: h} }
	return &plans.Plan{Rollouts: []*plans.Rollout{{Waves: []*plans.Wave{
		{Number: 1, Hosts: []*plans.HostVisit{v("a1")}},
		{Number: 2, Hosts: []*plans.HostVisit{v("a2"), v("b1")}},
		{Number: 3, Hosts: []*plans.HostVisit{v("b2")}},
	}}}}
}

func TestProgressRender(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	g := newProgress(progressPlan(), clock)
	events := []state.Event{
		{Kind: state.KindHostStatus, Host: "a1", Status: "in_progress"},
		{Kind: state.KindHostStatus, Host: "a1", Status: "upgraded"},
		{Kind: state.KindHostStatus, Host: "a2", Status: "in_progress"},
		{Kind: state.KindStepStarted, StepID: "w2/a2/upgrade/qemu", Host: "a2", Action: "upgrade"},
		{Kind: state.KindHostStatus, Host: "b1", Status: "rolled_back"},
	}
	for _, e := range events {
		g.event(e)
	}
	now = now.Add(90 * time.Second)
	got := strings.Join(g.render(styler{}), "\n")
	for _, want := range []string{
		"[##########..........] 2/4 hosts (1 upgraded, 1 rolled_back)",
		"wave 2/3: 1/2 hosts",
		"1m30s elapsed",
		"a2                   w2/a2/upgrade/qemu",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("block lacks %q:\n%s", want, got)
		}
	}
	g.event(state.Event{Kind: state.KindStepFinished, StepID: "w2/a2/upgrade/qemu", Host: "a2"})
	if lines := g.render(styler{}); len(lines) != 1 {
		t.Errorf("block with nothing running: %q", lines)
	}
}

// TestApplyHumanLive: on a terminal, each event's lines go above the block,
// which is erased (cursor up, clear) and drawn again.
func TestApplyHumanLive(t *testing.T) {
	var out, errs bytes.Buffer
	v := NewApply(0, NewView(&Streams{Stdout: &out, Stderr: &errs, Terminal: true})).(*ApplyHuman)
	v.Start("r1", progressPlan())
	v.Event(state.Event{Kind: state.KindRunStarted, RunID: "r1"})
	v.Event(state.Event{Kind: state.KindStepStarted, StepID: "w1/a1/enter_maintenance", Host: "a1"})
	v.Event(state.Event{Kind: state.KindAlert, Message: "slow"})
	v.Event(state.Event{Kind: state.KindStepFinished, StepID: "w1/a1/enter_maintenance", Host: "a1", Status: "ok"})
	v.Outcome("r1", false, state.RunFinished, "", nil)
	s := out.String()
	for _, want := range []string{"Run r1 started.\n── [", "\x1b[1A\x1b[J", "\x1b[2A\x1b[J", "Alert: slow", "w1/a1/enter_maintenance", "Apply complete!"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%q", want, s)
		}
	}
	if errs.Len() != 0 {
		t.Errorf("stderr under a live block: %q", errs.String())
	}

	// Not on a terminal: plain lines, alerts on stderr, no escapes.
	out.Reset()
	v = NewApply(0, NewView(&Streams{Stdout: &out, Stderr: &errs})).(*ApplyHuman)
	v.Start("r1", progressPlan())
	v.Event(state.Event{Kind: state.KindAlert, Message: "slow"})
	v.Event(state.Event{Kind: state.KindStepFinished, StepID: "w1/a1/enter_maintenance", Host: "a1", Status: "ok"})
	if strings.Contains(out.String(), "\x1b") || !strings.Contains(errs.String(), "Alert: slow") {
		t.Errorf("plain output %q, stderr %q", out.String(), errs.String())
	}
}
