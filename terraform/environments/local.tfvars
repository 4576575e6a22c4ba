# The local environment: every API goes to the moto server (see `deplat infra`).
force_destroy_buckets       = true
secret_recovery_window_days = 0
log_retention_days          = 7
emr_maximum_capacity = {
  cpu    = "4 vCPU"
  memory = "16 GB"
  disk   = "40 GB"
}
enforce_tls = false # moto ignores policy conditions: see variables.tf
