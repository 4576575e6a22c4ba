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
# VPC for EMR jobs that call the ECB URL, Salesforce or Snowflake: private subnets with a NAT route
# and a security group allowing egress (off until set; see variables.tf).
emr_subnet_ids         = []
emr_security_group_ids = []
