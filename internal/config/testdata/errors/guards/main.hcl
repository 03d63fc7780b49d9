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

rollout "r" {
  components = [component.nova]
}

guard "sg" {
  kind            = "server_group"
  policies        = ["anti_affinity"] # ERROR: Invalid server group policy
  max_unavailable = 0 # ERROR: Invalid count or percentage
  where           = group.size > 2 # ERROR: Unsupported attribute of group
}

guard "cap" { # ERROR: Missing required argument
  kind  = "capacity"
  hosts = hosts.compute
  min_available = 2 # ERROR: Argument not used by this guard kind
}

guard "skew" {
  kind           = "version_skew"
  component      = component.nova
  not_newer_than = component.nova # ERROR: Invalid version skew guard
}

guard "q" { # ERROR: Missing required argument
  kind = "quorum"
  hosts = hosts.compute
}

guard "empty" {
  kind     = "server_group"
  policies = [] # ERROR: Guard covers no server group
}

guard "k" {
  kind = "anti_affinity" # ERROR: Invalid value
}
