escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
}

component "nova" {
  hosts      = hosts.computes # ERROR: Reference to undeclared hosts block
  provider   = provider.openstack # ERROR: Reference to undeclared provider block
  version    = var.nova_version # ERROR: Reference to undeclared variable block
  depends_on = [component.qemu] # ERROR: Reference to undeclared component block
}

rollout "compute" {
  components = [component.nova, component.nvoa] # ERROR: Reference to undeclared component block
  verify {
    checks = [check.api] # ERROR: Reference to undeclared check block
  }
}

locals {
  x = local.y # ERROR: Reference to undeclared local value
}
