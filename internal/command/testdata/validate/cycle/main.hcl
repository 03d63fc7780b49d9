escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }
}

provider "sim" {}

hosts "all" {
  provider = provider.sim
}

component "kernel" {
  hosts      = hosts.all
  version    = "6.1.0"
  depends_on = [component.agents]
}

component "hypervisor" {
  hosts      = hosts.all
  version    = "7.2.0"
  depends_on = [component.kernel]
}

component "agents" {
  hosts      = hosts.all
  version    = "27.1.0"
  depends_on = [component.hypervisor]
}

rollout "all" {
  components = [component.kernel, component.hypervisor, component.agents]
}
