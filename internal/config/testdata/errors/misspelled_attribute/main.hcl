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
  hosts = hosts.compute
  version = "27.0.0"
  disruptoin = "host" # ERROR: Unsupported argument
}

rollout "compute" {
  components = [component.nova]
  max_unavailabel = 2 # ERROR: Unsupported argument
  canary {
    cuont = 1 # ERROR: Unsupported argument
  }
}
