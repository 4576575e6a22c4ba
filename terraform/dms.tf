# AWS DMS S3 target (off by default): the endpoint writes exactly the files deplat's DMS reader
# expects (deplat_job.sources.dms, deplat_job.pipelines.source_specs), so writer and reader cannot drift:
#   <lake>/_landing/dms/<schema>/<table>/LOAD*.csv and CDC files, CSV with a header per file,
#   Op in full-load files too, the commit timestamp as _dms_ts, $AR_H_CHANGE_SEQ as _dms_seq
#   (commit order across full load and CDC), and SQL NULL written as the explicit marker \N so that
#   an empty field is the empty string.
# The source endpoint and the replication instance belong to the RDS side; give their ARNs to get
# the full-load-and-CDC task as well.

variable "dms_enabled" {
  description = "Create the DMS S3 target endpoint (and, with the ARNs below, the replication task)."
  type        = bool
  default     = false
}

variable "dms_source_endpoint_arn" {
  description = "ARN of the DMS source endpoint (the RDS PostgreSQL database); null: no task."
  type        = string
  default     = null
}

variable "dms_replication_instance_arn" {
  description = "ARN of the DMS replication instance that runs the task; null: no task."
  type        = string
  default     = null
}

variable "dms_tables" {
  description = "Source tables replicated to the lake, as schema.table (deplat_job.pipelines.source_specs.DMS_TABLES)."
  type        = list(string)
  default     = ["app.customers", "app.orders"]

  validation {
    condition     = alltrue([for t in var.dms_tables : length(split(".", t)) == 2])
    error_message = "Each DMS table is schema.table."
  }
}

locals {
  dms_task = var.dms_enabled && var.dms_source_endpoint_arn != null && var.dms_replication_instance_arn != null
  dms_table_mappings = jsonencode({
    rules = concat(
      [for i, t in var.dms_tables : {
        "rule-type"      = "selection"
        "rule-id"        = tostring(i + 1)
        "rule-name"      = "include-${replace(t, ".", "-")}"
        "object-locator" = { "schema-name" = split(".", t)[0], "table-name" = split(".", t)[1] }
        "rule-action"    = "include"
      }],
      [{
        "rule-type"      = "transformation"
        "rule-id"        = tostring(length(var.dms_tables) + 1)
        "rule-name"      = "dms-change-sequence"
        "rule-target"    = "column"
        "object-locator" = { "schema-name" = "%", "table-name" = "%" }
        "rule-action"    = "add-column"
        "value"          = "_dms_seq"
        "expression"     = "$AR_H_CHANGE_SEQ"
        "data-type"      = { "type" = "string", "length" = 50 }
      }],
    )
  })
}

resource "aws_iam_role" "dms_s3" {
  count = var.dms_enabled ? 1 : 0
  name  = "${local.prefix}-dms-s3-target"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "dms.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:dms:${var.region}:${local.account_id}:*" }
      }
    }]
  })
}

resource "aws_iam_role_policy" "dms_s3" {
  count = var.dms_enabled ? 1 : 0
  name  = "write-dms-landing"
  role  = aws_iam_role.dms_s3[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"]
        Resource = "${module.lake_bucket.arn}/_landing/dms/*"
      },
      {
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = module.lake_bucket.arn
        Condition = { StringLike = { "s3:prefix" = ["_landing/dms/*"] } }
      },
      {
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]
        Resource = aws_kms_key.platform.arn
      },
    ]
  })
}

resource "aws_dms_s3_endpoint" "lake" {
  count = var.dms_enabled ? 1 : 0

  endpoint_id             = "${local.prefix}-lake-target"
  endpoint_type           = "target"
  bucket_name             = module.lake_bucket.name
  bucket_folder           = "_landing/dms"
  service_access_role_arn = aws_iam_role.dms_s3[0].arn

  data_format              = "csv"
  compression_type         = "NONE"
  csv_delimiter            = ","
  csv_row_delimiter        = "\\n"
  add_column_name          = true
  include_op_for_full_load = true
  timestamp_column_name    = "_dms_ts"
  csv_null_value           = "\\N"
  cdc_inserts_only         = false
  date_partition_enabled   = false

  encryption_mode                   = "SSE_KMS"
  server_side_encryption_kms_key_id = aws_kms_key.platform.arn

  depends_on = [aws_iam_role_policy.dms_s3]
}

resource "aws_dms_replication_task" "rds_to_lake" {
  count = local.dms_task ? 1 : 0

  replication_task_id      = "${local.prefix}-rds-to-lake"
  migration_type           = "full-load-and-cdc"
  source_endpoint_arn      = var.dms_source_endpoint_arn
  target_endpoint_arn      = aws_dms_s3_endpoint.lake[0].endpoint_arn
  replication_instance_arn = var.dms_replication_instance_arn
  table_mappings           = local.dms_table_mappings
}

output "dms_s3_endpoint_arn" {
  description = "The lake's DMS S3 target endpoint (null when dms_enabled is false)."
  value       = var.dms_enabled ? aws_dms_s3_endpoint.lake[0].endpoint_arn : null
}
