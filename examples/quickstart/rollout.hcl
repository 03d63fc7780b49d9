rollout "compute" {
  components        = [component.qemu, component.nova_compute]
  max_unavailable   = "25%"
  group_by          = host.availability_zone
  expected_duration = "20m"

  canary {
    count = 1
    soak  = "5s"
  }

  evacuate {
    mode             = "live"
    fallback_to_cold = false
    timeout          = "15m"
    parallel         = 2
  }

  # The VNF manager of the ims and epc projects is told before its
  # instances move (website/docs/vnfm.md). The quickstart runs none, so
  # mode = "none" records the notifications in the journal without
  # sending them: to send them, remove mode and set
  #   url    = "http://127.0.0.1:9797/maintenance"
  #   secret = var.vnfm_secret
  notify "vnfm" {
    mode          = "none"
    projects      = ["ims", "epc"]
    reply_timeout = "5m"
    on_timeout    = "proceed"
  }

  verify {
    checks  = [check.compute_service_up]
    timeout = "5m"
  }

  on_failure {
    action = "rollback_host"
  }
}

guard "vnf_anti_affinity" {
  kind            = "server_group"
  policies        = ["anti-affinity", "soft-anti-affinity"]
  max_unavailable = 1
}

guard "spare_capacity" {
  kind          = "capacity"
  hosts         = hosts.compute
  min_free_vcpu = "10%"
}

check "compute_service_up" {
  kind     = "provider"
  provider = provider.sim
  probe    = "compute_service_up"
  when     = ["preflight", "after"]
}

backup "nova_config" {
  components = [component.nova_compute]
  retain     = 2

  settings = {
    paths = ["/etc/nova"]
  }
}
