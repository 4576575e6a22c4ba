"""`deplat doctor`'s cloud checks against the local env's resources on moto (the same code runs
for dev/prod): what exists passes; a wrong name fails with its fix. Read-only: nothing in moto is
changed."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.terraform]

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def outputs(local_stack):
    """The local env's Terraform outputs (applied once if missing; apply is idempotent)."""
    path = ROOT / ".deplat" / "local" / "outputs.json"
    if not path.is_file():
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
        subprocess.run([str(Path(sys.executable).with_name("deplat")), "infra", "apply", "--yes"],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    return json.loads(path.read_text())


def _ctx(outputs):
    from deplat.core.aws import Aws
    from deplat.core.config import load_settings

    env = load_settings(ROOT / "config" / "deplat.yaml", environ={}).env("local")
    return SimpleNamespace(env=env, aws=Aws(env), outputs=lambda required=True: outputs)


def test_the_platform_passes_its_cloud_checks(outputs):
    from deplat.doctor.cloud import cloud_checks

    checks = {c.name: c for c in cloud_checks(_ctx(outputs))}
    for name in ("emr application", "job role trust", "job role s3 access", "log bucket", "log group",
                 f"glue database {outputs['glue_database_silver']}",
                 f"glue database {outputs['glue_database_gold']}"):
        assert checks[name].ok, (name, checks[name].detail)
    assert "max cpu 16 vCPU" in checks["emr application"].detail  # terraform/environments/local.tfvars
    assert {f"secret {n}" for n in outputs["secret_names"].values()} <= set(checks)
    assert "lake formation admin" in checks
    assert not any("SecretString" in c.detail for c in checks.values())


def test_wrong_names_fail_with_their_fix(outputs):
    from deplat.doctor.cloud import cloud_checks

    broken = {**outputs, "emr_application_id": "00nope00", "glue_database_gold": "deplat_missing_gold",
              "secret_names": {"kafka": "deplat/local/missing-kafka"},
              "artifacts_bucket": "deplat-missing-bucket-0"}
    checks = {c.name: c for c in cloud_checks(_ctx(broken))}
    for name in ("emr application", "glue database deplat_missing_gold", "secret deplat/local/missing-kafka",
                 "log bucket"):
        assert not checks[name].ok and "infra apply" in checks[name].fix, name
    s3 = checks["job role s3 access"]  # the role does not cover a bucket it was never given
    assert not s3.ok and "deplat-missing-bucket-0" in s3.detail
