package local

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/escalator-nfv/escalator/internal/state"
	"github.com/escalator-nfv/escalator/internal/state/statetest"
)

// The engine's budget is 2 ms of overhead per step, and a step costs one
// AppendJournal (its end and the next step's start, batched). These
// benchmarks measure that call with its fdatasync on the machine's disk;
// ns/event divides by the events written.
//
//	go test -run='^$' -bench=. -benchtime=2000x ./internal/state/local/

func benchLock(b *testing.B) (*Backend, state.Lock, string) {
	be := mustNew(b, filepath.Join(b.TempDir(), "state.json"))
	l, err := be.Lock(context.Background(), state.NewHolder("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Unlock(context.Background()) })
	run := state.NewRunID()
	if _, err := be.AppendJournal(context.Background(), l, statetest.Started(run)); err != nil {
		b.Fatal(err)
	}
	return be, l, run
}

func BenchmarkAppendJournal(b *testing.B) {
	for _, batch := range []int{1, 2, 10} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			be, l, run := benchLock(b)
			events := make([]state.Event, batch)
			for i := range events {
				s, f := statetest.Step(run, fmt.Sprintf("compute/c%04d/upgrade/nova", i), fmt.Sprintf("c%04d", i), state.StepOK)
				events[i] = s
				if i%2 == 1 {
					events[i] = f
				}
			}
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, err := be.AppendJournal(ctx, l, events...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
		})
	}
	// Workers of a wave appending at once (2 events each, as the engine
	// does per step): group commit shares the fdatasync between them.
	for _, workers := range []int{8, 64} {
		b.Run(fmt.Sprintf("parallel=%d", workers), func(b *testing.B) {
			be, l, run := benchLock(b)
			var n atomic.Int64
			ctx := context.Background()
			b.SetParallelism(workers) // × GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				host := fmt.Sprintf("c%04d", n.Add(1))
				s, f := statetest.Step(run, "compute/"+host+"/upgrade/nova", host, state.StepOK)
				for pb.Next() {
					if _, err := be.AppendJournal(ctx, l, f, s); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2), "ns/event")
		})
	}
}

// BenchmarkWriteState writes the summary of a 1,000-host campaign: two
// fsyncs and a rename, which is why the engine writes it per wave rather
// than per step.
func BenchmarkWriteState(b *testing.B) {
	be, l, _ := benchLock(b)
	s := statetest.SampleState()
	for i := range 1000 {
		h := *s.Hosts["c2"]
		s.Hosts[fmt.Sprintf("compute-%04d", i)] = &h
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if err := be.WriteState(ctx, l, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadJournal reads back a 1,000-host run (about 20,000 events),
// what a resume and escalator status do.
func BenchmarkReadJournal(b *testing.B) {
	be, l, run := benchLock(b)
	ctx := context.Background()
	for i := range 10000 {
		host := fmt.Sprintf("c%04d", i%1000)
		s, f := statetest.Step(run, fmt.Sprintf("compute/%s/%d", host, i), host, state.StepOK)
		if _, err := be.AppendJournal(ctx, l, s, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		j, err := be.ReadJournal(ctx, run)
		if err != nil || len(j.Events) != 20001 {
			b.Fatal(len(j.Events), err)
		}
	}
}
