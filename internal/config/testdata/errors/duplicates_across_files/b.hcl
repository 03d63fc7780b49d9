hosts "compute" { # ERROR: Duplicate hosts name
  provider = provider.sim
}

locals {
  a = 1
}
