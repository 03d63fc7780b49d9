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

component "a" { # ERROR: Dependency cycle
  hosts      = hosts.compute
  version    = "1.0.0"
  depends_on = [component.c]
}

component "b" {
  hosts      = hosts.compute
  version    = "1.0.0"
  depends_on = [component.a]
}

component "c" {
  hosts      = hosts.compute
  version    = "1.0.0"
  depends_on = [component.b]
}

rollout "all" {
  components = [component.a, component.b, component.c]
}
