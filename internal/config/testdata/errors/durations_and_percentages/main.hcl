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
  hosts             = hosts.compute
  version           = "1"
  expected_duration = "15 minutes" # ERROR: Invalid duration
}

rollout "compute" {
  components        = [component.nova]
  max_unavailable   = "110%" # ERROR: Invalid count or percentage
  expected_duration = 900 # ERROR: Invalid duration

  canary {
    count = "0%" # ERROR: Invalid count or percentage
    soak  = "-5m" # ERROR: Invalid duration
  }

  evacuate {
    timeout  = "0s" # ERROR: Invalid duration
    parallel = 0 # ERROR: Invalid value
  }
}
