"""The one subprocess wrapper around the terraform CLI (machine-readable output everywhere)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Where machine images ship the hashicorp/aws provider as a filesystem mirror.
MIRROR_CANDIDATES = ("/opt/tf-plugins", "/usr/share/terraform/plugins", "~/.terraform.d/plugins")


def terraform_bin() -> str | None:
    return shutil.which(os.environ.get("DEPLAT_TERRAFORM", "terraform"))


def find_mirror() -> Path | None:
    """A filesystem mirror holding hashicorp/aws (DEPLAT_TF_PLUGIN_DIR wins)."""
    candidates = [os.environ.get("DEPLAT_TF_PLUGIN_DIR"), *MIRROR_CANDIDATES]
    for candidate in filter(None, candidates):
        root = Path(candidate).expanduser()
        if any(root.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_*")):
            return root
    return None
