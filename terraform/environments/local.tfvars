# The local environment: every API goes to the moto server (see `deplat infra`).
force_destroy_buckets       = true
secret_recovery_window_days = 0
log_retention_days          = 7
# Four default drivers (4 vCPU, 16 GB, 20 GB each): `deplat backfill --concurrency 3` and a stream
# run side by side (the stand-in queues what does not fit; the machine's cores are local[2] anyway).
emr_maximum_capacity = {
  cpu    = "16 vCPU"
  memory = "64 GB"
  disk   = "100 GB"
}
# The stand-in serves a pre-initialized DRIVER with a warm driver: batch steps skip the JVM start.
emr_initial_capacity = {
  DRIVER = { worker_count = 1, cpu = "4 vCPU", memory = "16 GB" }
}
# Idle minutes before the application stops (and its warm driver with it).
emr_idle_timeout_minutes = 2
enforce_tls              = false # moto ignores policy conditions: see variables.tf
