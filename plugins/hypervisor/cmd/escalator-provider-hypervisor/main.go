// Command escalator-provider-hypervisor is the hypervisor provider plugin:
// libvirt and QEMU on hosts reached over SSH. escalator starts it; it is
// not meant to be run by hand.
package main

import (
	"github.com/escalator-nfv/escalator/plugins/hypervisor"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func main() {
	sdk.Serve(hypervisor.New())
}
