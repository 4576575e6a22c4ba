data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  prefix      = "${var.project}-${var.environment}"
  glue_prefix = replace(local.prefix, "-", "_")
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition

  metrics_namespace = "Deplat/DataQuality"
  secret_sources    = ["salesforce", "snowflake", "kafka", "rds"]

  tags = {
    project     = var.project
    environment = var.environment
    managed-by  = "deplat"
  }
}

# ---------------------------------------------------------------------------------------------
# The platform key. Rotation on; never scheduled for deletion: deleting it would make every
# encrypted object, backup and replica unreadable. `deplat infra destroy` forgets the key
# (it stays enabled) instead of deleting it.
# ---------------------------------------------------------------------------------------------
resource "aws_kms_key" "platform" {
  description         = "${local.prefix}: lake, artifacts, secrets, logs, alerts"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.platform.key_id
}

data "aws_iam_policy_document" "kms" {
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
    # Confused-deputy guard: only CloudWatch Logs acting for this account's log groups.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:*"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Catalog and query.
# ---------------------------------------------------------------------------------------------
resource "aws_glue_catalog_database" "layer" {
  for_each = toset(["silver", "gold"])

  name        = "${local.glue_prefix}_${each.key}"
  description = "${each.key} layer of the ${local.prefix} lake"

  # Created under the Lake Formation settings (lakeformation.tf): no IAMAllowedPrincipals grant.
  depends_on = [aws_lakeformation_data_lake_settings.this]
}

resource "aws_athena_workgroup" "platform" {
  name          = local.prefix
  force_destroy = var.force_destroy_buckets

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true

    result_configuration {
      output_location = "s3://${module.artifacts_bucket.name}/athena-results/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.platform.arn
      }
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Source credentials: empty shells. Values are put by `deplat secrets put` or the console, never
# by Terraform (a value here would sit in the state file in clear text).
# ---------------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "source" {
  for_each = toset(local.secret_sources)

  name                    = "${var.project}/${var.environment}/${each.key}"
  description             = "${each.key} credentials for the ${local.prefix} jobs (JSON)"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

# ---------------------------------------------------------------------------------------------
# Governance: LF-tag definitions (grants and table assignments are `deplat lf`'s job).
# ---------------------------------------------------------------------------------------------
resource "aws_lakeformation_lf_tag" "tag" {
  for_each = var.lf_tags_enabled ? var.lf_tags : {}

  key    = "${local.glue_prefix}_${each.key}"
  values = each.value
}

# Adopt secrets that already exist under these names (created by the runbook's imperative steps
# or the console): `deplat infra` looks them up and passes their ARNs. Their values are kept.
import {
  for_each = var.existing_secret_arns
  to       = aws_secretsmanager_secret.source[each.key]
  id       = each.value
}
