# Alerts topic, the platform log group, alarms on job and data-quality failures, dashboards.

data "aws_region" "current" {}

resource "aws_sns_topic" "alerts" {
  name              = "${var.prefix}-alerts"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alert_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_log_group" "platform" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_metric_alarm" "emr_failed_jobs" {
  alarm_name          = "${var.prefix}-emr-failed-jobs"
  alarm_description   = "A job run on the ${var.prefix} EMR Serverless application failed: `deplat status`, then `deplat logs <run-id> --stderr`."
  namespace           = "AWS/EMRServerless"
  metric_name         = "FailedJobs"
  dimensions          = { ApplicationId = var.emr_application_id }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "dq_failures" {
  alarm_name          = "${var.prefix}-dq-failures"
  alarm_description   = "A data-quality suite failed in ${var.environment}: `deplat dq` shows which expectations."
  namespace           = var.metrics_namespace
  metric_name         = "FailedSuites"
  dimensions          = { Environment = var.environment }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_dashboard" "this" {
  for_each = fileset(var.dashboards_dir, "*.json")

  dashboard_name = "${var.prefix}-${trimsuffix(each.value, ".json")}"
  dashboard_body = templatefile("${var.dashboards_dir}/${each.value}", {
    region             = data.aws_region.current.name
    environment        = var.environment
    emr_application_id = var.emr_application_id
    metrics_namespace  = var.metrics_namespace
    log_group_name     = var.log_group_name
  })
}
