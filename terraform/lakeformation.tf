# Lake Formation governs the lake: without these, an account keeps its default settings (every new
# database and table grants ALL to IAM_ALLOWED_PRINCIPALS, i.e. plain IAM decides) and the LF-tag
# grants `deplat lf seed` makes, PII columns kept from analysts included, enforce nothing.
# - data-lake settings: the administrators, and no IAMAllowedPrincipals default grant on new
#   databases and tables (without their blocks the provider omits the two default-permission lists
#   from PutDataLakeSettings, and Lake Formation reads an omitted list as empty: "Changing the
#   default settings for your data lake"), which turns its permissions on for what is created next;
# - the lake bucket registered with Lake Formation, through a role of its own (a user-defined role:
#   required when EMR reads the location, and the bucket is encrypted with the platform key);
# - the job role's grants: data-location access on the lake and the catalog permissions the
#   silver/gold steps need, so the jobs keep working once IAM alone no longer decides.
# The Glue databases are created after the settings (main.tf), so they carry no IAMAllowedPrincipals
# grant. `deplat doctor -e <env>` and `deplat lf show` report whether all of this holds.
# moto (local) stores settings, registrations and grants without enforcing them: locally this is
# applied as in the cloud and read back by the same checks.

variable "lf_admins" {
  description = <<-EOT
    IAM role or user ARNs made Lake Formation administrators besides the principal that runs
    Terraform (which must be one: it grants the job role's permissions). The list is the whole admin
    set: an admin added by hand in the console is removed by the next apply.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.lf_admins : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "lf_admins must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name>); Lake Formation refuses STS session ARNs."
  }
}

# An assumed-role caller (CI, SSO) is arn:aws:sts::...:assumed-role/<role>/<session>; Lake
# Formation takes the role's IAM ARN.
data "aws_iam_session_context" "caller" {
  arn = data.aws_caller_identity.current.arn
}

locals {
  lf_admins = distinct(concat([data.aws_iam_session_context.caller.issuer_arn], var.lf_admins))
  # What the silver/gold steps do with the catalog, and on every table of the two databases.
  lf_job_database_permissions = ["ALTER", "CREATE_TABLE", "DESCRIBE"]
  lf_job_table_permissions    = ["ALTER", "DELETE", "DESCRIBE", "DROP", "INSERT", "SELECT"]
}

resource "aws_lakeformation_data_lake_settings" "this" {
  admins = local.lf_admins
  # No create_database_default_permissions / create_table_default_permissions blocks: both lists
  # are left out (= empty), so new databases and tables get no IAM_ALLOWED_PRINCIPALS grant.
}

resource "aws_iam_role" "lf_location" {
  name               = "${local.prefix}-lf-location"
  description        = "Lake Formation's access to the registered ${local.prefix} lake"
  assume_role_policy = data.aws_iam_policy_document.lf_location_trust.json
}

# No aws:SourceAccount / aws:SourceArn condition here: Lake Formation's documented trust policy for
# a registration role has none, and a condition the service does not send makes the role
# unassumable (every read through Lake Formation would fail).
data "aws_iam_policy_document" "lf_location_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lakeformation.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "lf_location" {
  name = "lake-location"
  role = aws_iam_role.lf_location.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["${module.lake_bucket.arn}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [module.lake_bucket.arn]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = [aws_kms_key.platform.arn]
      },
    ]
  })
}

resource "aws_lakeformation_resource" "lake" {
  arn      = module.lake_bucket.arn
  role_arn = aws_iam_role.lf_location.arn

  depends_on = [aws_iam_role_policy.lf_location]
}

resource "aws_lakeformation_permissions" "job_data_location" {
  principal   = module.emr.job_role_arn
  permissions = ["DATA_LOCATION_ACCESS"]

  data_location {
    arn = aws_lakeformation_resource.lake.arn
  }

  depends_on = [aws_lakeformation_data_lake_settings.this]
}

resource "aws_lakeformation_permissions" "job_database" {
  for_each = aws_glue_catalog_database.layer

  principal   = module.emr.job_role_arn
  permissions = local.lf_job_database_permissions

  database {
    name = each.value.name
  }

  depends_on = [aws_lakeformation_data_lake_settings.this]
}

resource "aws_lakeformation_permissions" "job_tables" {
  for_each = aws_glue_catalog_database.layer

  principal   = module.emr.job_role_arn
  permissions = local.lf_job_table_permissions

  table {
    database_name = each.value.name
    wildcard      = true
  }

  depends_on = [aws_lakeformation_data_lake_settings.this]
}

output "lf_lake_location" {
  description = "The S3 location registered with Lake Formation (the lake bucket)."
  value       = aws_lakeformation_resource.lake.arn
}

output "lf_admins" {
  description = "The Lake Formation administrators Terraform sets."
  value       = aws_lakeformation_data_lake_settings.this.admins
}
