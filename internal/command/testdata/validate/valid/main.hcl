# Quickstart: upgrade the compute hosts of a small two-zone cloud, one zone
# at a time, with a canary first. It runs against the built-in `sim`
# provider, so it needs no real cloud.

escalator {
  required_providers {
    sim = { version = ">= 0.1.0" }
  }

  state "local" {
    path = ".escalator/state.json"
  }
}

variable "nova_version" {
  type        = string
  default     = "27.1.0"
  description = "Target version of nova-compute and its agents."

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.nova_version))
    error_message = "nova_version must look like 27.1.0."
  }
}

variable "vnfm_secret" {
  type        = string
  default     = "quickstart-not-a-secret"
  sensitive   = true
  description = "Key that signs maintenance notifications to the VNF manager."
}

locals {
  zones = ["az1", "az2"]
}

provider "sim" {
  # The simulated cloud: a file the sim provider creates on first use.
  cloud = "cloud.json"
}

hosts "compute" {
  provider = provider.sim
  role     = "compute"
  where    = contains(local.zones, host.availability_zone) && host.state != "down"
}
