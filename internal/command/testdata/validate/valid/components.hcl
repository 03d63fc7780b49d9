component "qemu" {
  hosts      = hosts.compute
  version    = "7.2.0"
  disruption = "host"

  settings = {
    packages = ["qemu-system-x86", "libvirt-daemon-system"]
  }
}

component "nova_compute" {
  hosts             = hosts.compute
  version           = var.nova_version
  disruption        = "service"
  depends_on        = [component.qemu]
  expected_duration = "5m"

  settings = {
    packages = ["nova-compute"]
  }
}
