component "nova_compute" {
  hosts = hosts.compute
  packages = {
    nova-compute = 
  }
}
