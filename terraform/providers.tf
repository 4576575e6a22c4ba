provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

# The disaster-recovery region (prod replicates the lake there).
provider "aws" {
  alias  = "replica"
  region = var.replica_region

  default_tags {
    tags = local.tags
  }
}
