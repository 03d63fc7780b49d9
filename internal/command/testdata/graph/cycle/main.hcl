# Two components that depend on each other: graph reports the cycle as
# validate does and prints no graph.

escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {}

hosts "compute" {
  provider = provider.sim
}

component "a" {
  hosts      = hosts.compute
  version    = "1.0.0"
  depends_on = [component.b]
}

component "b" {
  hosts      = hosts.compute
  version    = "1.0.0"
  depends_on = [component.a]
}

rollout "compute" {
  components      = [component.a, component.b]
  max_unavailable = 1
}
