variable "project" {
  description = "Name prefix of every resource."
  type        = string
  default     = "deplat"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.project))
    error_message = "The project must be 2-20 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment: local (moto), dev or prod."
  type        = string

  validation {
    condition     = contains(["local", "dev", "prod"], var.environment)
    error_message = "The environment must be one of: local, dev, prod."
  }
}

variable "region" {
  description = "AWS region of the platform."
  type        = string
  default     = "us-east-1"
}

variable "replica_region" {
  description = "Region of the lake replica (disaster recovery)."
  type        = string
  default     = "eu-central-1"
}

variable "replication_enabled" {
  description = "Replicate the lake bucket to replica_region (prod)."
  type        = bool
  default     = false
}

variable "enforce_tls" {
  description = <<-EOT
    Attach the TLS-only (aws:SecureTransport) bucket policy. Only the local env turns it off: moto
    evaluates bucket-policy Deny statements without their conditions (moto 5.2), so the policy would
    refuse every call to the buckets, and its endpoint is plain HTTP on loopback anyway.
  EOT
  type        = bool
  default     = true

  validation {
    condition     = var.enforce_tls || var.environment == "local"
    error_message = "enforce_tls can be false only for the local environment."
  }
}

variable "force_destroy_buckets" {
  description = "Let `deplat infra destroy` delete non-empty buckets (never for prod)."
  type        = bool
  default     = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored; 0 deletes at once (local only)."
  type        = number
  default     = 30
}

variable "emr_release_label" {
  description = "EMR Serverless release (Spark 3.5, Python 3.9 on emr-7.x)."
  type        = string
  default     = "emr-7.5.0"

  validation {
    condition     = can(regex("^emr-7\\.[0-9]+\\.[0-9]+$", var.emr_release_label))
    error_message = "The EMR release label must be an emr-7.x release, e.g. emr-7.5.0."
  }
}

variable "emr_maximum_capacity" {
  description = "Upper bound of the EMR Serverless application's resources (cost guard)."
  type = object({
    cpu    = string
    memory = string
    disk   = string
  })
  default = {
    cpu    = "16 vCPU"
    memory = "64 GB"
    disk   = "200 GB"
  }
}

variable "emr_subnet_ids" {
  description = <<-EOT
    Private subnets for the EMR Serverless application (optional; [] = no VPC, the default). Jobs
    that call the ECB URL, Salesforce or Snowflake from inside a VPC need these subnets to route
    0.0.0.0/0 through a NAT gateway; use subnets in at least two AZs.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.emr_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "emr_subnet_ids must be subnet ids (subnet-0123abcd...)."
  }
}

variable "emr_security_group_ids" {
  description = "Security groups for the EMR application's network interfaces (with emr_subnet_ids; egress to the sources)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.emr_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", id))])
    error_message = "emr_security_group_ids must be security group ids (sg-0123abcd...)."
  }
}

variable "emr_initial_capacity" {
  description = "Pre-initialized capacity by worker type (DRIVER, EXECUTOR): workers kept ready while the application is STARTED, billed while held. {} = none (the default; the local env's stand-in serves a DRIVER entry with a warm driver)."
  type = map(object({
    worker_count = number
    cpu          = string
    memory       = string
    disk         = optional(string)
  }))
  default = {}
}

variable "emr_idle_timeout_minutes" {
  description = "Stop the application after this many idle minutes."
  type        = number
  default     = 15
}

variable "log_retention_days" {
  description = "Retention of the platform's CloudWatch log group."
  type        = number
  default     = 30
}

variable "noncurrent_version_days" {
  description = "Days before noncurrent object versions expire in the lake (time-travel window for restores)."
  type        = number
  default     = 90
}

variable "alert_emails" {
  description = "E-mail addresses subscribed to the alerts topic."
  type        = list(string)
  default     = []
}

variable "lf_tags_enabled" {
  description = "Create the Lake Formation LF-tag definitions."
  type        = bool
  default     = true
}

variable "lf_tags" {
  description = "LF-tag definitions: key -> allowed values."
  type        = map(list(string))
  default = {
    classification = ["public", "internal", "confidential", "pii"]
    layer          = ["bronze", "silver", "gold"]
  }
}

variable "maintenance_schedule" {
  description = "When the weekly Delta maintenance (OPTIMIZE/VACUUM) runs."
  type        = string
  default     = "cron(0 3 ? * SUN *)"
}

variable "existing_secret_arns" {
  description = "Source -> ARN of an existing secret to adopt (filled in by `deplat infra`)."
  type        = map(string)
  default     = {}
}
