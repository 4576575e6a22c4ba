force_destroy_buckets       = true
secret_recovery_window_days = 7
log_retention_days          = 14
emr_maximum_capacity = {
  cpu    = "16 vCPU"
  memory = "64 GB"
  disk   = "200 GB"
}
# VPC for EMR jobs that call the ECB URL, Salesforce or Snowflake: private subnets with a NAT route
# and a security group allowing egress (off until set; see variables.tf).
emr_subnet_ids         = []
emr_security_group_ids = []
