# The Spark application and the least-privilege role its job runs assume. Log destinations
# (CloudWatch, S3) are passed per job run (monitoringConfiguration): provider 5.x has no
# application-level monitoring_configuration.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  catalog_arn = "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
}

resource "aws_emrserverless_application" "this" {
  name          = var.name
  release_label = var.release_label
  type          = "SPARK"
  architecture  = "X86_64"

  maximum_capacity {
    cpu    = var.maximum_capacity.cpu
    memory = var.maximum_capacity.memory
    disk   = var.maximum_capacity.disk
  }

  # Off by default: pre-initialized workers are billed while the application is STARTED.
  dynamic "initial_capacity" {
    for_each = var.initial_capacity
    content {
      initial_capacity_type = initial_capacity.key
      initial_capacity_config {
        worker_count = initial_capacity.value.worker_count
        worker_configuration {
          cpu    = initial_capacity.value.cpu
          memory = initial_capacity.value.memory
          disk   = initial_capacity.value.disk
        }
      }
    }
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_timeout_minutes
  }

  # Only with subnets: jobs then reach the internet (ECB, Salesforce, Snowflake) through the
  # subnets' NAT route, and S3 through a gateway endpoint or the NAT.
  dynamic "network_configuration" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  lifecycle {
    # moto never returns the architecture; X86_64 is also the service default.
    ignore_changes = [architecture]

    precondition {
      condition     = length(var.security_group_ids) == 0 || length(var.subnet_ids) > 0
      error_message = "security_group_ids need subnet_ids: EMR Serverless attaches them to interfaces in those subnets."
    }
  }
}

resource "aws_iam_role" "job" {
  name               = "${var.name}-job"
  description        = "Assumed by ${var.name} job runs"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

# Only this account's application may assume the roles (confused-deputy guard: EMR Serverless
# sets aws:SourceAccount and aws:SourceArn = the application's ARN when it assumes a runtime role).
data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_emrserverless_application.this.arn, "${aws_emrserverless_application.this.arn}/*"]
    }
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "platform-access"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

# One role per source: a step that reads a source's credentials runs as that source's role, which
# may read that one secret and nothing else; every other step runs as the job role, which reads
# none. A role per source rather than one role with per-secret conditions: nothing in a job run's
# request tells the secrets apart (EMR Serverless passes no session tags), so only the identity can.
resource "aws_iam_role" "source" {
  for_each = var.source_secret_arns

  name               = "${var.name}-${each.key}"
  description        = "Assumed by ${var.name} job runs that read the ${each.key} secret"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy" "source_platform" {
  for_each = var.source_secret_arns

  name   = "platform-access"
  role   = aws_iam_role.source[each.key].id
  policy = data.aws_iam_policy_document.job.json
}

resource "aws_iam_role_policy" "source_secret" {
  for_each = var.source_secret_arns

  name = "read-${each.key}-secret"
  role = aws_iam_role.source[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "SourceCredentials"
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      Resource = [each.value]
    }]
  })
}

data "aws_iam_policy_document" "job" {
  statement {
    sid       = "ListPlatformBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn, var.artifacts_bucket_arn]
  }

  statement {
    sid       = "ReadWriteLake"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.lake_bucket_arn}/*"]
  }

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["s3:PutObject"]
    resources = ["${var.artifacts_bucket_arn}/logs/*"]
  }

  statement {
    sid = "GlueCatalog"
    actions = [
      "glue:GetDatabase", "glue:GetDatabases",
      "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
      "glue:GetPartition", "glue:GetPartitions", "glue:BatchCreatePartition", "glue:BatchDeletePartition",
    ]
    resources = concat(
      ["${local.catalog_arn}:catalog"],
      [for db in var.glue_database_names : "${local.catalog_arn}:database/${db}"],
      [for db in var.glue_database_names : "${local.catalog_arn}:table/${db}/*"],
    )
  }

  statement {
    sid       = "PlatformKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "JobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [var.log_group_arn, "${var.log_group_arn}:*"]
  }

  statement {
    sid       = "DataQualityMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }
}
