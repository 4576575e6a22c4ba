# Weekly Delta maintenance (OPTIMIZE / VACUUM): EventBridge Scheduler starts the
# delta_maintenance job on the EMR Serverless application directly (universal target).

locals {
  emr_logs_uri = "s3://${module.artifacts_bucket.name}/logs/emr/"
}

resource "aws_scheduler_schedule" "maintenance" {
  name                         = "${local.prefix}-weekly-maintenance"
  description                  = "OPTIMIZE and VACUUM the ${local.prefix} Delta tables"
  schedule_expression          = var.maintenance_schedule
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 60
  }

  target {
    arn      = "arn:${local.partition}:scheduler:::aws-sdk:emrserverless:startJobRun"
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      ApplicationId    = module.emr.application_id
      ExecutionRoleArn = module.emr.job_role_arn
      ClientToken      = "<aws.scheduler.execution-id>"
      Name             = "scheduled-delta-maintenance"
      JobDriver = {
        SparkSubmit = {
          EntryPoint = "s3://${module.artifacts_bucket.name}/${var.maintenance_entry_point_key}"
          EntryPointArguments = [
            "--lake", "s3://${module.lake_bucket.name}",
            "--env", var.environment,
          ]
        }
      }
      ConfigurationOverrides = {
        MonitoringConfiguration = {
          S3MonitoringConfiguration = { LogUri = local.emr_logs_uri }
          CloudWatchLoggingConfiguration = {
            Enabled      = true
            LogGroupName = module.monitoring.log_group_name
          }
        }
      }
      Tags = { pipeline = "maintenance", trigger = "schedule" }
    })

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${local.prefix}-scheduler"
  description        = "Lets EventBridge Scheduler start the maintenance job"
  assume_role_policy = data.aws_iam_policy_document.scheduler_trust.json
}

data "aws_iam_policy_document" "scheduler_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name = "start-maintenance-job"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["emr-serverless:StartJobRun", "emr-serverless:TagResource"]
        Resource = [module.emr.application_arn, "${module.emr.application_arn}/jobruns/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = [module.emr.job_role_arn]
        Condition = {
          StringEquals = { "iam:PassedToService" = "emr-serverless.amazonaws.com" }
        }
      },
    ]
  })
}
