package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Apply folds one journal event into s. This is the only way the summary
// changes, which is what lets Load and Rebuild recompute it from the
// journals. Events must be applied in Seq order without gaps, exactly as
// ReadJournal returns them (an engine whose workers append concurrently
// applies the recorded events in Seq order, not in arrival order). An
// event that does not fit (wrong run, out of order, invalid) is an error
// and leaves s unchanged.
//
// What each kind does:
//
//   - run_started: s.Run becomes the new run, running, with the plan's
//     digest and path, and zero totals.
//   - run_resumed, run_halted, run_failed, run_finished, run_rolled_back,
//     run_aborted: the run's status; Error and Code; EndedAt is the event's
//     time, or zero for resumed.
//   - step_started: the host's Step is StepID; counted in StepsStarted.
//   - step_finished: the host's Step is cleared (if it is this step);
//     counted by status; a failed step's Error and Code go to the host.
//   - host_status: the host's status, Error and Code.
//   - original_recorded: the component's original version (and its
//     current version, when none is recorded yet).
//   - version_recorded: the component's current version.
//   - backup_recorded: a backup is added to the host's list.
//   - note, alert and kinds Apply does not know: only Run.LastSeq and
//     Run.UpdatedAt move.
//
// A host's first event in a run counts it in the run's totals and clears
// what belonged to an earlier run: its original versions, current step,
// and error. Its status and versions carry over until events change them.
func (s *State) Apply(e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if s.Hosts == nil {
		s.Hosts = map[string]*Host{}
	}
	if e.Kind == KindRunStarted {
		if e.Seq != 1 {
			return fmt.Errorf("run_started of run %s has seq %d; it must be the run's first event (seq 1)", e.RunID, e.Seq)
		}
		if s.Run != nil && s.Run.ID == e.RunID {
			return fmt.Errorf("run %s is already in the state; it cannot start twice", e.RunID)
		}
		s.Run = &Run{
			ID: e.RunID, Status: RunRunning,
			PlanDigest: e.Data[DataPlanDigest], PlanPath: e.Data[DataPlanPath],
			StartedAt: e.Time, UpdatedAt: e.Time, LastSeq: e.Seq,
		}
		return nil
	}
	r := s.Run
	switch {
	case r == nil:
		return fmt.Errorf("event %d (%s) of run %s: the state has no run; a run begins with run_started", e.Seq, e.Kind, e.RunID)
	case r.ID != e.RunID:
		return fmt.Errorf("event %d (%s) belongs to run %s, but the state is at run %s", e.Seq, e.Kind, e.RunID, r.ID)
	case e.Seq != r.LastSeq+1:
		return fmt.Errorf("event %d (%s) of run %s is out of order: the state is at event %d, so the next is %d", e.Seq, e.Kind, e.RunID, r.LastSeq, r.LastSeq+1)
	}
	r.LastSeq, r.UpdatedAt = e.Seq, e.Time
	if st, ok := runStatusOf(e.Kind); ok {
		if e.Kind == KindRunResumed && e.Action == ActionRollback {
			r.Reverting = true
		}
		r.Status, r.Error, r.Code = st, e.Error, e.Code
		r.EndedAt = e.Time
		if st == RunRunning {
			r.EndedAt = time.Time{}
		}
		return nil
	}
	t := &r.Totals
	switch e.Kind {
	case KindStepStarted:
		t.StepsStarted++
		if e.Host != "" {
			s.touch(e).Step = e.StepID
		}
	case KindStepFinished:
		switch StepStatus(e.Status) {
		case StepOK:
			t.StepsOK++
		case StepFailed:
			t.StepsFailed++
		case StepSkipped:
			t.StepsSkipped++
		case StepCancelled:
			t.StepsCancelled++
		}
		if e.Host != "" {
			h := s.touch(e)
			if h.Step == e.StepID {
				h.Step = ""
			}
			if StepStatus(e.Status) == StepFailed {
				h.Error, h.Code = e.Error, e.Code
			}
		}
	case KindHostStatus:
		h := s.touch(e)
		t.HostsByStatus[h.Status]--
		if t.HostsByStatus[h.Status] == 0 {
			delete(t.HostsByStatus, h.Status)
		}
		h.Status = HostStatus(e.Status)
		t.HostsByStatus[h.Status]++
		h.Error, h.Code = e.Error, e.Code
	case KindOriginalRecorded:
		h := s.touch(e)
		v := e.Data[DataVersion]
		h.Original = setVersion(h.Original, e.Component, v)
		if h.Versions[e.Component] == "" {
			h.Versions = setVersion(h.Versions, e.Component, v)
		}
	case KindVersionRecorded:
		h := s.touch(e)
		h.Versions = setVersion(h.Versions, e.Component, e.Data[DataVersion])
	case KindBackupRecorded:
		h := s.touch(e)
		h.Backups = append(h.Backups, Backup{ID: e.Data[DataBackupID], Name: e.Data[DataBackupName], Component: e.Component, Time: e.Time})
	}
	return nil
}

// touch returns e.Host's entry, creating it (pending) and counting it in
// the run's totals on its first event of the run.
func (s *State) touch(e Event) *Host {
	h := s.Hosts[e.Host]
	if h == nil {
		h = &Host{Status: HostPending}
		s.Hosts[e.Host] = h
	}
	if h.Run != s.Run.ID {
		h.Run = s.Run.ID
		h.Original, h.Step, h.Error, h.Code = nil, "", "", ""
		t := &s.Run.Totals
		t.Hosts++
		if t.HostsByStatus == nil {
			t.HostsByStatus = map[HostStatus]int{}
		}
		t.HostsByStatus[h.Status]++
	}
	h.UpdatedAt = e.Time
	return h
}

func setVersion(m map[string]string, component, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[component] = v
	return m
}

// CatchUp applies the events of j that s does not have yet and returns how
// many it applied. j is either s's current run, whose events after
// Run.LastSeq are applied, or a later run, applied whole. A state that has
// more of its run than the journal is an error: the journal lost events, or
// the two do not belong together.
func (s *State) CatchUp(j *Journal) (int, error) {
	from := int64(0)
	if s.Run != nil && j.RunID < s.Run.ID {
		return 0, fmt.Errorf("run %s is older than the state's run %s and already folded into it", j.RunID, s.Run.ID)
	}
	if s.Run != nil && s.Run.ID == j.RunID {
		from = s.Run.LastSeq
		if last := j.LastSeq(); from > last {
			return 0, fmt.Errorf("the state records run %s up to event %d, but its journal ends at event %d: the journal lost events, or the state is not this campaign's. Move the state aside to rebuild it from the journals, after checking which is right", j.RunID, from, last)
		}
	}
	n := 0
	for _, e := range j.Events {
		if e.Seq <= from {
			continue
		}
		if err := s.Apply(e); err != nil {
			return n, fmt.Errorf("journal of run %s: %w", j.RunID, err)
		}
		n++
	}
	return n, nil
}

// Load returns the campaign's State up to date with the journals: the
// stored summary with the events it has not seen yet applied (a crash
// between an AppendJournal and the next WriteState leaves it behind), or,
// when there is no stored summary, one rebuilt from every run's journal.
// It returns nil and no error for a campaign with neither. A corrupt or
// unknown-format summary is refused as ReadState refuses it; moving it
// aside makes Load rebuild it.
//
// Apply and status both start here, so that neither believes a summary the
// journal contradicts.
func Load(ctx context.Context, b Backend) (*State, error) {
	s, err := b.ReadState(ctx)
	if err != nil {
		return nil, err
	}
	runs, err := b.Runs(ctx)
	if err != nil {
		return nil, err
	}
	if s == nil {
		if len(runs) == 0 {
			return nil, nil
		}
		s = New()
	}
	return s, catchUpRuns(ctx, b, s, runs)
}

// Rebuild recomputes the State from every run's journal, ignoring the
// stored summary: to check it (compare with Load), or to replace one that
// was lost. It returns an empty State when there are no runs.
func Rebuild(ctx context.Context, b Backend) (*State, error) {
	runs, err := b.Runs(ctx)
	if err != nil {
		return nil, err
	}
	s := New()
	return s, catchUpRuns(ctx, b, s, runs)
}

// catchUpRuns applies, in run order, the runs that s has not seen in full.
// Runs older than s's current one are already folded in.
func catchUpRuns(ctx context.Context, b Backend, s *State, runs []RunSummary) error {
	for _, r := range runs {
		if s.Run != nil && r.ID < s.Run.ID {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		j, err := b.ReadJournal(ctx, r.ID)
		if err != nil {
			if errors.Is(err, ErrRunNotFound) {
				continue // removed since Runs listed it
			}
			return err
		}
		if _, err := s.CatchUp(j); err != nil {
			return err
		}
	}
	return nil
}
