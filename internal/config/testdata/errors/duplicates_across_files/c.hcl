locals {
  a = 2 # ERROR: Duplicate local value name
}

escalator { # ERROR: Duplicate escalator block
}
