module "lake_bucket" {
  source = "./modules/s3_bucket"

  deny_insecure_transport = var.enforce_tls

  name          = "${local.prefix}-lake-${local.account_id}"
  kms_key_arn   = aws_kms_key.platform.arn
  force_destroy = var.force_destroy_buckets

  lifecycle_rules = [
    {
      id                         = "noncurrent-versions"
      noncurrent_transition_days = 30
      noncurrent_expiration_days = var.noncurrent_version_days
      abort_multipart_days       = 7
    },
    {
      # Raw landing data is rarely re-read after silver is built: tier it down.
      id     = "bronze-tiering"
      prefix = "bronze/"
      transitions = [
        { days = 90, storage_class = "STANDARD_IA" },
        { days = 365, storage_class = "GLACIER_IR" },
      ]
    },
    {
      id              = "rejected-rows"
      prefix          = "_errors/"
      expiration_days = 180
    },
  ]
}

module "artifacts_bucket" {
  source = "./modules/s3_bucket"

  deny_insecure_transport = var.enforce_tls

  name          = "${local.prefix}-artifacts-${local.account_id}"
  kms_key_arn   = aws_kms_key.platform.arn
  force_destroy = var.force_destroy_buckets

  lifecycle_rules = [
    {
      id                         = "noncurrent-versions"
      noncurrent_expiration_days = 30
      abort_multipart_days       = 7
    },
    {
      id              = "job-logs"
      prefix          = "logs/"
      expiration_days = var.log_retention_days
    },
    {
      id              = "athena-results"
      prefix          = "athena-results/"
      expiration_days = 7
    },
  ]
}

# ---------------------------------------------------------------------------------------------
# Disaster recovery (prod): the lake replicated to another region, under its own key there.
# ---------------------------------------------------------------------------------------------
resource "aws_kms_key" "replica" {
  count    = var.replication_enabled ? 1 : 0
  provider = aws.replica

  description         = "${local.prefix}: lake replica"
  enable_key_rotation = true

  lifecycle {
    prevent_destroy = true
  }
}

module "lake_replica_bucket" {
  count  = var.replication_enabled ? 1 : 0
  source = "./modules/s3_bucket"

  deny_insecure_transport = var.enforce_tls
  providers = {
    aws = aws.replica
  }

  name          = "${local.prefix}-lake-replica-${local.account_id}"
  kms_key_arn   = aws_kms_key.replica[0].arn
  force_destroy = false

  lifecycle_rules = [
    {
      id                         = "noncurrent-versions"
      noncurrent_expiration_days = var.noncurrent_version_days
      abort_multipart_days       = 7
    },
  ]
}

resource "aws_iam_role" "replication" {
  count = var.replication_enabled ? 1 : 0

  name               = "${local.prefix}-lake-replication"
  assume_role_policy = data.aws_iam_policy_document.replication_trust.json
}

data "aws_iam_policy_document" "replication_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [module.lake_bucket.arn]
    }
  }
}

resource "aws_iam_role_policy" "replication" {
  count = var.replication_enabled ? 1 : 0

  name = "replicate-lake"
  role = aws_iam_role.replication[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
        Resource = [module.lake_bucket.arn]
      },
      {
        Effect   = "Allow"
        Action   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
        Resource = ["${module.lake_bucket.arn}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
        Resource = ["${module.lake_replica_bucket[0].arn}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.platform.arn]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Encrypt", "kms:GenerateDataKey"]
        Resource = [aws_kms_key.replica[0].arn]
      },
    ]
  })
}

resource "aws_s3_bucket_replication_configuration" "lake" {
  count = var.replication_enabled ? 1 : 0

  bucket = module.lake_bucket.name
  role   = aws_iam_role.replication[0].arn

  rule {
    id     = "lake-to-replica"
    status = "Enabled"

    # An empty filter (whole bucket): moto never converges on a prefix filter, and DR wants it all.
    filter {}

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = module.lake_replica_bucket[0].arn
      storage_class = "STANDARD_IA"

      encryption_configuration {
        replica_kms_key_id = aws_kms_key.replica[0].arn
      }
    }
  }

  depends_on = [module.lake_bucket]
}
