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

rollout "compute" {
  components      = [component.nova]
  max_unavailable = 0 # ERROR: Invalid count or percentage
}

rollout "other" {
  components      = [] # ERROR: Rollout covers no component
  max_unavailable = "0%" # ERROR: Invalid count or percentage
}
