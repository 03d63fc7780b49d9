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
  v = component.agent.version
}

component "agent" { # ERROR: Dependency cycle
  hosts   = hosts.compute
  version = local.v
}

component "self" { # ERROR: Self-referencing object
  hosts      = hosts.compute
  version    = "1.0"
  depends_on = [component.self]
}

rollout "all" {
  components = [component.agent, component.self]
}
