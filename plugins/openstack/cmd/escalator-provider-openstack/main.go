// Command escalator-provider-openstack is the openstack provider plugin:
// the inventory of an OpenStack cloud (Nova, Placement) and the OpenStack
// side of host maintenance (disable, migrate, enable). escalator starts
// it; it is not meant to be run by hand.
package main

import (
	"github.com/escalator-nfv/escalator/plugins/openstack"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

func main() {
	sdk.Serve(openstack.New())
}
