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

component "idle" { # WARNING: Component in no rollout
  hosts   = hosts.compute
  version = "1"
}

rollout "a" {
  components = [component.nova]
  group_by   = "availability_zone" # ERROR: Invalid group_by

  on_failure { # ERROR: Missing max_failed
    action = "continue"
  }

  notify "vnfm" {
    url        = "vnfm.example.net" # ERROR: Invalid URL
    on_timeout = "wait" # ERROR: Invalid value
  }
  notify "vnfm" { # ERROR: Duplicate notify block
    url = "http://127.0.0.1:1/"
  }
}

rollout "b" { # ERROR: Component in two rollouts
  components = [component.nova]
  group_by   = host.zone # ERROR: Unsupported attribute of host

  evacuate {
    mode             = "cold"
    fallback_to_cold = true # ERROR: Conflicting evacuation settings
  }

  on_failure {
    action     = "halt"
    max_failed = 2 # ERROR: Conflicting failure settings
  }
  on_failure { # ERROR: Duplicate on_failure block
  }
}

component "other" {
  hosts   = hosts.compute
  version = "1"
}

rollout "c" {
  components = [component.other]

  notify "silent" {
    mode = "none"
    url  = "http://127.0.0.1:1/" # ERROR: Conflicting notify settings
  }
  notify "missing" { # ERROR: Missing required argument
  }
  notify "async" {
    url                = "http://127.0.0.1:1/"
    reply_url          = "127.0.0.1:8470/v1" # ERROR: Invalid URL
    lead_time          = "soon" # ERROR: Invalid duration
    own_action_timeout = "0s" # ERROR: Invalid duration
    wait               = "maybe" # ERROR: Incorrect value type
  }
  canary {
    pause = "yes" # ERROR: Incorrect value type
  }
}
