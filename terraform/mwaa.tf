# MWAA: the platform's schedule. Off by default (mwaa_enabled), like DMS. The DAG is rendered by
# `deplat airflow render` from the pipeline registry and uploaded with requirements.txt under the
# artifacts bucket's airflow/ prefix. Least privilege: the execution role can start/get/cancel runs
# of this EMR Serverless application only, pass only the platform's job roles to EMR Serverless, and
# read only the airflow/ prefix (DAGs, requirements) and the EMR driver logs (the DQ gate's verdict).

variable "mwaa_enabled" {
  description = "Create the MWAA environment that runs the deplat DAG daily."
  type        = bool
  default     = false

  validation {
    condition     = !var.mwaa_enabled || var.environment != "local"
    error_message = "mwaa_enabled needs a cloud environment: moto has no MWAA API (the local DAG test runs a real Airflow instead)."
  }
}

variable "mwaa_airflow_version" {
  description = "MWAA Airflow version (the DAG needs 2.4+: `schedule`)."
  type        = string
  default     = "2.10.3"
}

variable "mwaa_subnet_ids" {
  description = "Two private subnets in different AZs (MWAA requires them when enabled)."
  type        = list(string)
  default     = []
}

variable "mwaa_security_group_ids" {
  description = "Security groups of the MWAA environment (self-referencing ingress, outbound 443)."
  type        = list(string)
  default     = []
}

variable "openlineage_url" {
  description = "OpenLineage backend for Airflow's OpenLineage provider (null: lineage off in Airflow)."
  type        = string
  default     = null
}

locals {
  mwaa_name      = "${local.prefix}-airflow"
  mwaa_prefix    = "airflow"
  mwaa_job_roles = concat([module.emr.job_role_arn], values(module.emr.source_role_arns))
}

resource "aws_iam_role" "mwaa" {
  count = var.mwaa_enabled ? 1 : 0
  name  = "${local.prefix}-mwaa-execution"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"] }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "mwaa" {
  count = var.mwaa_enabled ? 1 : 0
  name  = "run-deplat-dag"
  role  = aws_iam_role.mwaa[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "EmrServerlessRunsOfThisApplication"
        Effect = "Allow"
        Action = ["emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun",
        "emr-serverless:GetApplication", "emr-serverless:StartApplication", "emr-serverless:TagResource"]
        Resource = [module.emr.application_arn, "${module.emr.application_arn}/jobruns/*"]
      },
      {
        Sid       = "PassOnlyTheJobRolesToEmrServerless"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = local.mwaa_job_roles
        Condition = { StringEquals = { "iam:PassedToService" = "emr-serverless.amazonaws.com" } }
      },
      {
        Sid      = "ReadDagsAndDriverLogs"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = ["${module.artifacts_bucket.arn}/${local.mwaa_prefix}/*", "${module.artifacts_bucket.arn}/logs/*"]
      },
      {
        Sid      = "ListDagPrefix"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketPublicAccessBlock"]
        Resource = module.artifacts_bucket.arn
      },
      {
        Sid      = "AccountPublicAccessBlock"
        Effect   = "Allow"
        Action   = "s3:GetAccountPublicAccessBlock"
        Resource = "*"
      },
      {
        Sid      = "DecryptArtifacts"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*"]
        Resource = aws_kms_key.platform.arn
      },
      {
        Sid    = "AirflowLogs"
        Effect = "Allow"
        Action = ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
        "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults", "logs:DescribeLogGroups"]
        Resource = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:airflow-${local.mwaa_name}-*"
      },
      {
        Sid      = "AirflowMetrics"
        Effect   = "Allow"
        Action   = "cloudwatch:PutMetricData"
        Resource = "*"
      },
      {
        Sid    = "CeleryQueue"
        Effect = "Allow"
        Action = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
        "sqs:ReceiveMessage", "sqs:SendMessage"]
        Resource = "arn:${local.partition}:sqs:${var.region}:*:airflow-celery-*"
      },
    ]
  })
}

resource "aws_mwaa_environment" "platform" {
  count = var.mwaa_enabled ? 1 : 0

  name                  = local.mwaa_name
  airflow_version       = var.mwaa_airflow_version
  environment_class     = "mw1.small"
  execution_role_arn    = aws_iam_role.mwaa[0].arn
  source_bucket_arn     = module.artifacts_bucket.arn
  dag_s3_path           = "${local.mwaa_prefix}/dags"
  requirements_s3_path  = "${local.mwaa_prefix}/requirements.txt"
  kms_key               = aws_kms_key.platform.arn
  webserver_access_mode = "PRIVATE_ONLY"
  max_workers           = 2

  # Airflow's OpenLineage provider settings (the runbook's OPENLINEAGE_URL and namespace).
  airflow_configuration_options = merge(
    { "openlineage.namespace" = "${var.project}-${var.environment}" },
    var.openlineage_url == null ? { "openlineage.disabled" = "true" } : {
      "openlineage.transport"                              = jsonencode({ type = "http", url = var.openlineage_url, endpoint = "api/v1/lineage" })
    },
  )

  network_configuration {
    subnet_ids         = var.mwaa_subnet_ids
    security_group_ids = var.mwaa_security_group_ids
  }

  logging_configuration {
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    scheduler_logs {
      enabled   = true
      log_level = "WARNING"
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.mwaa_subnet_ids) == 2
      error_message = "mwaa_enabled needs mwaa_subnet_ids: two private subnets in different AZs."
    }
  }
}

output "mwaa_environment_name" {
  description = "The MWAA environment running the deplat DAG (null when mwaa_enabled is false)."
  value       = var.mwaa_enabled ? aws_mwaa_environment.platform[0].name : null
}

output "mwaa_dags_prefix" {
  description = "s3://<artifacts>/airflow/dags/: where the rendered DAG goes (null when mwaa_enabled is false)."
  value       = var.mwaa_enabled ? "s3://${module.artifacts_bucket.name}/${local.mwaa_prefix}/dags/" : null
}
