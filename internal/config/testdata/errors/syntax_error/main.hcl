component "nova" {
  hosts = hosts.compute
  version = "1" "2" # ERROR: Missing newline after argument
}
