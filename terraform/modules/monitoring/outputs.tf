output "alerts_topic_arn" {
  value = aws_sns_topic.alerts.arn
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.platform.name
}

output "log_group_arn" {
  value = aws_cloudwatch_log_group.platform.arn
}

output "dashboard_names" {
  value = sort([for d in aws_cloudwatch_dashboard.this : d.dashboard_name])
}

output "alarm_names" {
  value = sort([aws_cloudwatch_metric_alarm.emr_failed_jobs.alarm_name, aws_cloudwatch_metric_alarm.dq_failures.alarm_name])
}
