# Already in the canonical format: fmt leaves it alone.
guard "quorum" {
  services  = ["nova-conductor", "nova-scheduler"]
  min_alive = 2
}

check "api" {
  url     = "https://nova.example.net/healthcheck"
  timeout = "10s"
}
