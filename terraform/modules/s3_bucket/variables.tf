variable "name" {
  description = "Bucket name (globally unique)."
  type        = string
}

variable "kms_key_arn" {
  description = "Default SSE-KMS key of the bucket."
  type        = string
}

variable "force_destroy" {
  description = "Allow deleting the bucket while it still holds objects."
  type        = bool
  default     = false
}

variable "lifecycle_rules" {
  description = "Lifecycle rules; a rule without prefix applies to the whole bucket."
  type = list(object({
    id                         = string
    prefix                     = optional(string, "")
    expiration_days            = optional(number)
    transitions                = optional(list(object({ days = number, storage_class = string })), [])
    noncurrent_transition_days = optional(number)
    noncurrent_expiration_days = optional(number)
    abort_multipart_days       = optional(number)
  }))
  default = []
}

variable "deny_insecure_transport" {
  description = "Attach the TLS-only bucket policy (off only for the local moto env: see the root variable)."
  type        = bool
  default     = true
}
