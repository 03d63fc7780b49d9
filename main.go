// Command escalator upgrades an OpenStack/NFV cloud without outage: validate,
// plan and apply an upgrade campaign written in HCL.
package main

import (
	"os"

	"github.com/escalator-nfv/escalator/internal/command"
	"github.com/escalator-nfv/escalator/internal/command/views"
)

func main() {
	os.Exit(command.Main(os.Args[1:], views.StdStreams()))
}
