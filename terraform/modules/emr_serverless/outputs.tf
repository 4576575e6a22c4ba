output "application_id" {
  value = aws_emrserverless_application.this.id
}

output "application_arn" {
  value = aws_emrserverless_application.this.arn
}

output "job_role_arn" {
  value = aws_iam_role.job.arn
}

output "job_role_name" {
  value = aws_iam_role.job.name
}

output "source_role_arns" {
  description = "Source -> the runtime role of the steps that read that source's secret."
  value       = { for k, r in aws_iam_role.source : k => r.arn }
}
