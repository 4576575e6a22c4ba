terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }

  # Cloud environments: remote state with S3-native locking, configured by `deplat infra init`
  # (-backend-config bucket/key/region/use_lockfile). The local environment swaps in a local
  # backend under the stack folder (.deplat/stack/infra/local/) through a generated override file.
  backend "s3" {}
}
