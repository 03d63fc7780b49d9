escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {}

hosts "all" {
  provider = provider.sim
}

component "os" {
  hosts   = hosts.all
  version = "12.8"
}

rollout "all" {
  components = [component.os]
}
