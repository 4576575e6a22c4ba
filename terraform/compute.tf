module "emr" {
  source = "./modules/emr_serverless"

  name                 = "${local.prefix}-spark"
  release_label        = var.emr_release_label
  maximum_capacity     = var.emr_maximum_capacity
  initial_capacity     = var.emr_initial_capacity
  idle_timeout_minutes = var.emr_idle_timeout_minutes
  subnet_ids           = var.emr_subnet_ids
  security_group_ids   = var.emr_security_group_ids
  lake_bucket_arn      = module.lake_bucket.arn
  artifacts_bucket_arn = module.artifacts_bucket.arn
  kms_key_arn          = aws_kms_key.platform.arn
  glue_database_names  = [for db in aws_glue_catalog_database.layer : db.name]
  source_secret_arns   = { for k, s in aws_secretsmanager_secret.source : k => s.arn }
  log_group_arn        = module.monitoring.log_group_arn
  metrics_namespace    = local.metrics_namespace
}

module "monitoring" {
  source = "./modules/monitoring"

  prefix             = local.prefix
  environment        = var.environment
  log_group_name     = "/${var.project}/${var.environment}/emr-serverless"
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.platform.arn
  alert_emails       = var.alert_emails
  emr_application_id = module.emr.application_id
  metrics_namespace  = local.metrics_namespace
  dashboards_dir     = "${path.module}/dashboards"
}
