escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {}

hosts "compute" {
  provider = provider.sim
}

component "nova" {
  hosts   = hosts.computes
  version = "27.1.0"
}

rollout "compute" {
  components      = [component.nova]
  max_unavailabel = 2
}

rollot "controllers" {
}
