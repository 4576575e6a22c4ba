"""On call under faults (issue 25) against the real local stack: a dead local PostgreSQL (the config
points at a port nothing listens on; the shared server is left alone) while moto is up."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from deplat.cli import app

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
MOTO = "http://127.0.0.1:5050"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_postgres(local_stack, deplat_env):
    """The repo's config with local_stack.postgres_port on a closed port; outputs name a bucket moto has
    and an EMR Serverless application of its own (CREATED: it auto-starts on the next run)."""
    from tests.integration.deplat_project import ROLE, emr_application

    config = yaml.safe_load((ROOT / "config" / "deplat.yaml").read_text())
    config["local_stack"]["postgres_port"] = _closed_port()
    bucket = f"deplat-faults-{uuid.uuid4().hex[:8]}"
    env = deplat_env(config=yaml.safe_dump(config), lake=False,
                     outputs={"artifacts_bucket": bucket, "emr_application_id": emr_application(),
                              "emr_job_role_arn": ROLE})
    s3 = boto3.client("s3", endpoint_url=MOTO, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    yield env.root
    s3.delete_bucket(Bucket=bucket)


def test_status_with_postgres_down_is_not_started_and_names_it(dead_postgres):
    result = CliRunner().invoke(app, ["-o", "json", "status"])
    assert result.exit_code == 0, result.output
    application = json.loads(result.stdout)["application"]
    assert application["state"] == "DEGRADED"
    assert "postgres" in application["error"] and "deplat local up" in application["hint"]
    text = CliRunner().invoke(app, ["status"], terminal_width=200).output
    assert "STARTED" not in text and "DEGRADED" in text and "postgres" in text
