// Command escalator upgrades an OpenStack/NFV cloud without outage: validate,
// plan and apply an upgrade campaign written in HCL.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"

	"github.com/escalator-nfv/escalator/internal/command"
	"github.com/escalator-nfv/escalator/internal/command/views"
)

func main() {
	stop, err := startProfiling()
	if err != nil {
		fmt.Fprintln(os.Stderr, "escalator:", err)
		os.Exit(1)
	}
	code := command.Main(os.Args[1:], views.StdStreams())
	stop()
	os.Exit(code)
}

// startProfiling writes a CPU profile to $ESCALATOR_CPUPROFILE and an
// execution trace to $ESCALATOR_TRACE when they are set: how the
// benchmarks (make bench-plan) find where the real binary spends its time.
// Both are for developers, not operators, so they are environment
// variables rather than flags every command would have to show.
func startProfiling() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if path := os.Getenv("ESCALATOR_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return stop, fmt.Errorf("ESCALATOR_CPUPROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("ESCALATOR_CPUPROFILE: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if path := os.Getenv("ESCALATOR_TRACE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("ESCALATOR_TRACE: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return func() {}, fmt.Errorf("ESCALATOR_TRACE: %w", err)
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}
