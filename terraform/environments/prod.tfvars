replication_enabled         = true
replica_region              = "eu-central-1"
force_destroy_buckets       = false
secret_recovery_window_days = 30
log_retention_days          = 90
noncurrent_version_days     = 180
emr_maximum_capacity = {
  cpu    = "64 vCPU"
  memory = "256 GB"
  disk   = "1000 GB"
}
