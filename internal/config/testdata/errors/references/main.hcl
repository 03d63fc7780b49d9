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

locals {
  a = hosts.compute # ERROR: Reference to a non-value object
  b = host.name # ERROR: Unknown reference
  c = vars.x # ERROR: Unknown reference
}

component "nova" {
  hosts   = hosts.compute
  version = "1"
}

rollout "r" {
  components = [component.nova]
}
