force_destroy_buckets       = true
secret_recovery_window_days = 7
log_retention_days          = 14
emr_maximum_capacity = {
  cpu    = "16 vCPU"
  memory = "64 GB"
  disk   = "200 GB"
}
