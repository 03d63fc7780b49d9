// Command escalator is escalator's main with a CPU profile around it, for
// `go run ./testing/bench/apply -cpuprofile DIR`: the profile goes to
// $ESCALATOR_BENCH_CPUPROFILE/escalator.pprof (the last run's wins).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/escalator-nfv/escalator/internal/command"
	"github.com/escalator-nfv/escalator/internal/command/views"
)

func main() {
	stop := startProfile("escalator.pprof")
	code := command.Main(os.Args[1:], views.StdStreams())
	stop()
	os.Exit(code)
}

func startProfile(name string) func() {
	dir := os.Getenv("ESCALATOR_BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
