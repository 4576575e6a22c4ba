variable "prefix" {
  description = "Name prefix (<project>-<environment>)."
  type        = string
}

variable "environment" {
  description = "Environment name (dimension of the data-quality metrics)."
  type        = string
}

variable "log_group_name" {
  description = "Name of the platform's log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the log group."
  type        = number
}

variable "kms_key_arn" {
  description = "Encrypts the log group and the alerts topic."
  type        = string
}

variable "alert_emails" {
  description = "E-mail subscribers of the alerts topic."
  type        = list(string)
  default     = []
}

variable "emr_application_id" {
  description = "The EMR Serverless application watched for failed jobs."
  type        = string
}

variable "metrics_namespace" {
  description = "Namespace of the custom data-quality metrics."
  type        = string
}

variable "dashboards_dir" {
  description = "Folder of CloudWatch dashboard bodies (*.json, with $${...} placeholders)."
  type        = string
}
