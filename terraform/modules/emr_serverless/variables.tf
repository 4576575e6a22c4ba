variable "name" {
  description = "Application name; the job role is <name>-job."
  type        = string
}

variable "release_label" {
  description = "EMR release, e.g. emr-7.5.0."
  type        = string
}

variable "maximum_capacity" {
  description = "Upper bound of the application's resources."
  type = object({
    cpu    = string
    memory = string
    disk   = string
  })
}

variable "initial_capacity" {
  description = "Pre-initialized workers by type (DRIVER, EXECUTOR), kept ready while the application is STARTED and billed while held; {} = none."
  type = map(object({
    worker_count = number
    cpu          = string
    memory       = string
    disk         = optional(string)
  }))
  default = {}
}

variable "idle_timeout_minutes" {
  description = "Stop the application after this many idle minutes."
  type        = number
}

variable "subnet_ids" {
  description = "VPC subnets for the application ([] = no network configuration); outbound via their NAT route."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups for the application's network interfaces; needs subnet_ids."
  type        = list(string)
  default     = []
}

variable "lake_bucket_arn" {
  description = "The lake: the jobs read and write every layer."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "The artifacts bucket: jobs read code and config, write logs under logs/."
  type        = string
}

variable "kms_key_arn" {
  description = "The platform key (bucket, secret and log encryption)."
  type        = string
}

variable "glue_database_names" {
  description = "Glue databases the jobs register tables in."
  type        = list(string)
}

variable "source_secret_arns" {
  description = "Source -> ARN of its credentials secret: one runtime role per source reads only its secret."
  type        = map(string)
  default     = {}
}

variable "log_group_arn" {
  description = "CloudWatch log group the jobs' driver and executor logs go to."
  type        = string
}

variable "metrics_namespace" {
  description = "The only CloudWatch namespace the jobs may publish metrics to."
  type        = string
}
