package views

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/escalator-nfv/escalator/internal/plans"
	"github.com/escalator-nfv/escalator/internal/state"
)

// progress is apply's live block on a terminal: overall and per-wave
// progress, and the running steps with their elapsed time. It is redrawn
// under the plain lines after every event and once a second.
type progress struct {
	now     func() time.Time
	started time.Time
	// waveOf maps host to its wave number; waveHosts counts hosts per
	// wave; waves is the number of waves.
	waveOf    map[string]int
	waveHosts map[int]int
	waves     int
	// ended holds hosts whose visit ended (upgraded, rolled back, left in
	// maintenance, failed) by status.
	ended   map[string]state.HostStatus
	running map[string]runningStep
	// drawn is the number of lines of the block on screen.
	drawn int

	stopOnce sync.Once
	done     chan struct{}
}

type runningStep struct {
	host, action, component string
	since                   time.Time
}

// maxRunningShown bounds the running steps listed; the rest are counted.
const maxRunningShown = 8

func newProgress(p *plans.Plan, now func() time.Time) *progress {
	g := &progress{now: now, started: now(), waveOf: map[string]int{}, waveHosts: map[int]int{},
		ended: map[string]state.HostStatus{}, running: map[string]runningStep{}, done: make(chan struct{})}
	if p != nil {
		for _, rp := range p.Rollouts {
			for _, w := range rp.Waves {
				g.waves = max(g.waves, w.Number)
				for _, hv := range w.Hosts {
					g.waveOf[hv.Host] = w.Number
					g.waveHosts[w.Number]++
				}
			}
		}
	}
	return g
}

// run calls tick once a second until stop.
func (g *progress) run(tick func()) {
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-g.done:
				return
			case <-t.C:
				tick()
			}
		}
	}()
}

func (g *progress) stop() { g.stopOnce.Do(func() { close(g.done) }) }

func (g *progress) event(e state.Event) {
	switch e.Kind {
	case state.KindStepStarted:
		g.running[e.StepID] = runningStep{host: e.Host, action: e.Action, component: e.Component, since: g.now()}
	case state.KindStepFinished:
		delete(g.running, e.StepID)
	case state.KindHostStatus:
		switch st := state.HostStatus(e.Status); st {
		case state.HostInProgress, state.HostPending:
			delete(g.ended, e.Host)
		default:
			g.ended[e.Host] = st
		}
	}
}

// render returns the block's lines.
func (g *progress) render(sty styler) []string {
	total := len(g.waveOf)
	byStatus := map[state.HostStatus]int{}
	endedInWave := map[int]int{}
	for h, st := range g.ended {
		byStatus[st]++
		endedInWave[g.waveOf[h]]++
	}
	// The current wave is the lowest one with a host running, else the
	// lowest one not ended.
	wave := 0
	for _, s := range g.running {
		if w := g.waveOf[s.host]; w > 0 && (wave == 0 || w < wave) {
			wave = w
		}
	}
	if wave == 0 {
		for w := 1; w <= g.waves; w++ {
			if endedInWave[w] < g.waveHosts[w] {
				wave = w
				break
			}
		}
	}
	var parts []string
	for _, st := range state.HostStatuses {
		if n := byStatus[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	endedAll := len(g.ended)
	line := fmt.Sprintf("── %s %d/%d hosts", bar(endedAll, total, 20), endedAll, total)
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	if wave > 0 {
		line += fmt.Sprintf(" · wave %d/%d: %d/%d hosts", wave, g.waves, endedInWave[wave], g.waveHosts[wave])
	}
	line += " · " + round(g.now().Sub(g.started)) + " elapsed"
	lines := []string{sty.bold(line)}

	ids := make([]string, 0, len(g.running))
	for id := range g.running {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := g.running[ids[i]], g.running[ids[j]]
		if !a.since.Equal(b.since) {
			return a.since.Before(b.since)
		}
		return ids[i] < ids[j]
	})
	for i, id := range ids {
		if i == maxRunningShown {
			lines = append(lines, fmt.Sprintf("   … and %d more running", len(ids)-maxRunningShown))
			break
		}
		s := g.running[id]
		host := s.host
		if host == "" {
			host = "-"
		}
		lines = append(lines, fmt.Sprintf("   %-20s %-50s %s", host, id, round(g.now().Sub(s.since))))
	}
	return lines
}

// bar draws done of total as a bar of width cells.
func bar(done, total, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := min(width, done*width/total)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
