"""The TLS-only bucket policy: on for every cloud env, off only for local (moto ignores conditions)."""

import re
from pathlib import Path

TF = Path(__file__).resolve().parents[2] / "terraform"


def test_cloud_envs_never_disable_tls():
    for env in ("dev", "prod"):
        text = (TF / "environments" / f"{env}.tfvars").read_text()
        assert not re.search(r"^\s*enforce_tls\s*=\s*false", text, re.M), env


def test_only_local_may_disable_tls():
    variables = (TF / "variables.tf").read_text()
    assert 'condition     = var.enforce_tls || var.environment == "local"' in variables


def test_policy_denies_insecure_transport():
    module = (TF / "modules" / "s3_bucket" / "main.tf").read_text()
    assert 'variable = "aws:SecureTransport"' in module and 'effect    = "Deny"' in module
    assert "count  = var.deny_insecure_transport ? 1 : 0" in module
