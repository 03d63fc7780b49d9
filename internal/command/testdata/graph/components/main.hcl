# A campaign for escalator graph: a chain of three components in two
# rollouts, control plane first. libvirt's version comes from a variable
# without a value, which graph (like validate) shows as unknown.

escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

variable "libvirt_version" {
  type = string
}

provider "sim" {}

hosts "control" {
  provider = provider.sim
  role     = "controller"
}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
}

component "nova_api" {
  hosts      = hosts.control
  version    = "27.1.0"
  disruption = "service"
}

component "libvirt" {
  hosts      = hosts.compute
  version    = var.libvirt_version
  disruption = "host"
  depends_on = [component.nova_api]
}

# nova_compute depends on libvirt explicitly and on nova_api through the
# reference in its version.
component "nova_compute" {
  hosts      = hosts.compute
  version    = component.nova_api.version
  disruption = "service"
  depends_on = [component.libvirt]
}

rollout "control" {
  components      = [component.nova_api]
  max_unavailable = 1
}

rollout "compute" {
  components      = [component.libvirt, component.nova_compute]
  max_unavailable = "10%"
  group_by        = host.availability_zone
}
