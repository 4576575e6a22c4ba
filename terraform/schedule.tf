# Weekly Delta maintenance (OPTIMIZE / VACUUM): EventBridge Scheduler starts the
# delta_maintenance job on the EMR Serverless application directly (universal target), with the
# parameters `deplat run maintenance` submits (deplat.engines.emr_serverless._job_params):
# - the code: `deplat deploy` keeps stable aliases of the current artifacts under
#   artifacts/current/ (deplat.artifacts.current_aliases), so every deploy updates what runs here;
# - Delta: the EMR runtime's Delta jars and the Delta session conf (deplat_job.pipelines.session);
# - logs: the S3 prefix and CloudWatch stream prefix `deplat logs <run id>` reads.
# tests/integration/deplat/test_maintenance.py checks all three against the Python side.

locals {
  emr_logs_uri      = "s3://${module.artifacts_bucket.name}/logs/" # the engine's logUri (RunRef.log_uri)
  artifacts_current = "s3://${module.artifacts_bucket.name}/artifacts/current"
  emr_delta_jars    = ["/usr/share/aws/delta/lib/delta-spark.jar", "/usr/share/aws/delta/lib/delta-storage.jar"]
  maintenance_spark_conf = [
    "spark.jars=${join(",", local.emr_delta_jars)}",
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone=UTC",
    "spark.archives=${local.artifacts_current}/deplat-deps.tar.gz#deps",
    "spark.emr-serverless.driverEnv.PYTHONPATH=./deps",
    "spark.executorEnv.PYTHONPATH=./deps",
  ]
  maintenance_spark_submit_parameters = join(" ", concat(
    ["--py-files", "${local.artifacts_current}/deplat_job.zip,${local.emr_delta_jars[0]}"],
    flatten([for c in local.maintenance_spark_conf : ["--conf", c]]),
  ))
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
          EntryPoint = "${local.artifacts_current}/jobs/delta_maintenance.py"
          EntryPointArguments = [
            "--lake", "s3://${module.lake_bucket.name}",
            "--env", var.environment,
          ]
          SparkSubmitParameters = local.maintenance_spark_submit_parameters
        }
      }
      ConfigurationOverrides = {
        MonitoringConfiguration = {
          S3MonitoringConfiguration = { LogUri = local.emr_logs_uri }
          CloudWatchLoggingConfiguration = {
            Enabled             = true
            LogGroupName        = module.monitoring.log_group_name
            LogStreamNamePrefix = "deplat"
            LogTypes            = { SPARK_DRIVER = ["STDOUT", "STDERR"] }
          }
        }
      }
      Tags = { "deplat:pipeline" = "maintenance", "deplat:step" = "delta_maintenance", trigger = "schedule" }
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
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:scheduler:${var.region}:${local.account_id}:schedule-group/default"]
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
