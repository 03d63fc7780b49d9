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
  hosts   = hosts.compute
  version = "1"
}

component "nova" { # ERROR: Duplicate component name
  hosts   = hosts.compute
  version = "2"
}

rollout "compute" {
  components = [component.nova, component.nova] # WARNING: Duplicate reference
}

hosts "compute" { # ERROR: Duplicate hosts name
  provider = provider.sim
}
