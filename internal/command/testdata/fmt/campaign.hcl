# A campaign with the usual formatting mistakes.
escalator {
    required_providers {
    openstack = { source = "escalator-nfv/openstack", version = "~> 1.0" }
  }
}

variable "region" {
  default="east"
}

hosts "compute" {
  provider = provider.openstack
  role = "compute"
  where = host.zone   ==    "az1" && !host.maintenance
}

component "nova_compute" {
  hosts = hosts.compute
  packages = {
    nova-compute = "29.0.1"
    "python3-nova"= "29.0.1"
  }
  disruption = "host" # instances must leave first
  depends_on = [component.qemu,
      component.libvirt]
}

rollout "compute" {
	components      = [component.nova_compute]
	max_unavailable = "10%"

	canary {
		hosts = 1
	}
  description = <<-EOT
    Upgrade the computes
      one zone at a time.
  EOT
}
