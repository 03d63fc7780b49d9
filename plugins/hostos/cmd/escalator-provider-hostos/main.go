// Command escalator-provider-hostos is the hostos provider plugin: the
// operating system of hosts reached over SSH (packages with apt or dnf,
// reboots, configuration backups). escalator starts it; it is not meant to
// be run by hand.
package main

import (
	"github.com/escalator-nfv/escalator/plugins/hostos"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func main() {
	sdk.Serve(hostos.New())
}
