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

variable "n" {
  type    = number
  default = "many" # ERROR: Invalid default value for variable
}

component "nova" { # WARNING: Component in no rollout
  hosts      = "compute" # ERROR: Invalid reference
  version    = ["27"] # ERROR: Incorrect value type
  disruption = "reboot" # ERROR: Invalid value
  settings   = "nova-compute" # ERROR: Incorrect value type
}

hosts "other" {
  provider = provider.sim
  where    = host.name # ERROR: Incorrect value type
}

rollout "r" {
  components = component.nova # ERROR: Invalid reference list
}
