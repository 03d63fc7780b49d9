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

check "api" {
  kind = "http"
  url  = "ftp://x" # ERROR: Invalid URL
  when = ["before"] # ERROR: Invalid check phase
  command = ["true"] # ERROR: Argument not used by this check kind
}

check "cmd" {
  kind    = "command"
  command = [] # ERROR: Empty command
}

check "p" { # ERROR: Missing required argument
  kind     = "provider"
  provider = provider.sim
}

backup "b" {
  components = [component.nvoa] # ERROR: Reference to undeclared component block
  retain     = 0 # ERROR: Invalid value
  restore    = "always" # ERROR: Invalid value
}

backup "none" {
  components = [] # ERROR: Backup covers no component
}
