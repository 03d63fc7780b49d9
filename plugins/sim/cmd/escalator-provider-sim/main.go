// Command escalator-provider-sim is the sim provider plugin: a simulated
// cloud kept in a file, for the quickstart, fault campaigns and scale
// tests. escalator starts it; it is not meant to be run by hand.
package main

import (
	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/escalator-nfv/escalator/plugins/sim"
)

func main() {
	sdk.Serve(sim.New())
}
