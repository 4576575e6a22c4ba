# The names every deplat command needs, cached in .deplat/<env>/outputs.json by `deplat infra`.

output "environment" {
  value = var.environment
}

output "region" {
  value = var.region
}

output "artifacts_bucket" {
  value = module.artifacts_bucket.name
}

output "lake_bucket" {
  value = module.lake_bucket.name
}

output "kms_key_arn" {
  value = aws_kms_key.platform.arn
}

output "kms_key_alias" {
  value = aws_kms_alias.platform.name
}

output "glue_database_silver" {
  value = aws_glue_catalog_database.layer["silver"].name
}

output "glue_database_gold" {
  value = aws_glue_catalog_database.layer["gold"].name
}

output "athena_workgroup" {
  value = aws_athena_workgroup.platform.name
}

output "athena_results_location" {
  value = aws_athena_workgroup.platform.configuration[0].result_configuration[0].output_location
}

output "emr_application_id" {
  value = module.emr.application_id
}

output "emr_job_role_arn" {
  value = module.emr.job_role_arn
}

output "emr_source_role_arns" {
  description = "Source -> the runtime role of the steps that read its secret (only that one)."
  value       = module.emr.source_role_arns
}

output "emr_logs_uri" {
  description = "S3 log destination for job runs (monitoringConfiguration.s3MonitoringConfiguration.logUri)."
  value       = local.emr_logs_uri
}

output "log_group_name" {
  value = module.monitoring.log_group_name
}

output "alerts_topic_arn" {
  value = module.monitoring.alerts_topic_arn
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the data-quality metrics (FailedSuites, dimension Environment)."
  value       = local.metrics_namespace
}

output "dashboard_names" {
  value = module.monitoring.dashboard_names
}

output "maintenance_schedule_name" {
  value = aws_scheduler_schedule.maintenance.name
}

output "secret_names" {
  description = "Source -> Secrets Manager secret name (never a value)."
  value       = { for k, s in aws_secretsmanager_secret.source : k => s.name }
}

output "lf_tags" {
  description = "LF-tag short name -> the catalog's tag key."
  value       = { for k, t in aws_lakeformation_lf_tag.tag : k => t.key }
}

output "lake_replica_bucket" {
  value = var.replication_enabled ? module.lake_replica_bucket[0].name : null
}
