// Command escalator-provider-sim is the sim plugin's main with a CPU
// profile around it, for `go run ./testing/bench/apply -cpuprofile DIR`:
// the profile goes to $ESCALATOR_BENCH_CPUPROFILE/plugin.pprof, written
// when escalator shuts the plugin down (the last plugin's wins). The
// plugin inherits the variable from escalator's environment.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

func main() {
	stop := startProfile("plugin.pprof")
	sdk.Serve(sim.New())
	stop()
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
