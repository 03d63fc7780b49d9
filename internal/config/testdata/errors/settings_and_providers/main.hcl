escalator {
  required_providers {
    sim = { version = "not a version" } # ERROR: Invalid version constraint
    os  = { versoin = ">= 1" } # ERROR: Invalid required provider
  }
  state "etcd" { # ERROR: Unknown state backend
  }
}

provider "sim" {
  secret = var.nope # ERROR: Reference to undeclared variable block
}

provider "hostos" { # ERROR: Provider not in required_providers
}

variable "v" {
  type = strin # ERROR: Invalid type specification
  default = "x"
  validation {
    condition     = local.a != "" # ERROR: Invalid validation condition
    error_message = "bad"
  }
}

hosts "h" {
  provider = provider.sim
}

component "c" {
  hosts   = hosts.h
  version = "" # ERROR: Invalid value
}

component "bad name!" { # ERROR: Invalid name
  hosts   = hosts.h
  version = "1"
}

rollout "r" {
  components = [component.c]
}
