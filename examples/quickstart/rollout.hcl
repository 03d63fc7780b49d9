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

  notify "vnfm" {
    url           = "http://127.0.0.1:9797/maintenance"
    projects      = ["ims", "epc"]
    secret        = var.vnfm_secret
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
