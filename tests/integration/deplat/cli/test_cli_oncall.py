"""On call against the real local stack (moto, the Salesforce stand-in, fakesnow): status of a
restarted moto (its EMR Serverless application gone), secrets put/check.
DEPLAT_HOME is a temp dir; the shared secrets are only read (a rejected put must store nothing)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat_job.errors import ExitCode
from tests.integration.deplat_project import ROLE, emr_application

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
MOTO = "http://127.0.0.1:5050"


@pytest.fixture
def home(local_stack, deplat_env):
    """The repo's config (local env on the shared moto), state in tmp; the outputs name a bucket
    moto does not have, as after `local down && local up` without `infra apply`."""
    env = deplat_env(config=(ROOT / "config" / "deplat.yaml").read_text(), lake=False,
                     outputs={"artifacts_bucket": f"deplat-gone-{uuid.uuid4().hex[:8]}",
                              "emr_application_id": f"gone{uuid.uuid4().hex[:12]}", "emr_job_role_arn": ROLE})
    return env.home / "local"


def cli(*args, **kwargs):
    return CliRunner().invoke(app, list(args), **kwargs)


def test_status_after_moto_lost_the_application_is_not_deployed(home):
    result = cli("-o", "json", "status")
    assert result.exit_code == 0, result.output
    app_state = json.loads(result.stdout)["application"]
    assert app_state["state"] == "NOT_DEPLOYED" and "infra apply" in app_state["hint"]


def test_status_with_the_application_there_is_its_state(home):
    outputs = json.loads((home / "outputs.json").read_text())
    outputs["emr_application_id"] = emr_application()
    (home / "outputs.json").write_text(json.dumps(outputs))
    result = cli("-o", "json", "status")
    assert json.loads(result.stdout)["application"]["state"] in ("CREATED", "STARTED"), result.output


def test_a_rejected_put_stores_nothing(home):
    client = boto3.client("secretsmanager", endpoint_url=MOTO, region_name="us-east-1")
    name = "deplat/local/salesforce"
    try:
        before = client.describe_secret(SecretId=name).get("VersionIdsToStages")
    except client.exceptions.ResourceNotFoundException:  # a moto restarted since the session's seed
        assert cli("local", "seed").exit_code == 0
        before = client.describe_secret(SecretId=name).get("VersionIdsToStages")
    result = cli("secrets", "put", "salesforce", input='{"login_url": "https://login.salesforce.com"}')
    assert result.exit_code == ExitCode.USAGE and "client_id" in result.output
    assert client.describe_secret(SecretId=name).get("VersionIdsToStages") == before


@pytest.mark.parametrize("source", ["salesforce", "snowflake"])
def test_secrets_check_connects_with_the_stored_secret_and_never_prints_it(home, source):
    """`deplat local seed` stored these (the session's stack); --connect logs in / runs SELECT 1."""
    from deplat_job.sources.secret_store import read_secret

    client = boto3.client("secretsmanager", endpoint_url=MOTO, region_name="us-east-1")
    try:
        value = read_secret(f"deplat/local/{source}", client)
    except LookupError:
        assert cli("local", "seed").exit_code == 0
        value = read_secret(f"deplat/local/{source}", client)
    result = cli("-o", "json", "secrets", "check", source, "--connect")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["connected"] and doc["missing"] == []
    assert set(doc["keys"]) == set(value)
    for secret in (value.get("password"), value.get("client_secret")):
        if secret:
            assert secret not in result.output


def test_secrets_check_reports_the_sources_own_refusal(home, monkeypatch):
    """A wrong password: the check fails with the stand-in's own error (exit 3), nothing stored."""
    from deplat import secrets as service

    real = service.read_secret

    def wrong_password(name, client=None):
        value = real(name, client)
        return {**value, "password": "not-the-password"}

    monkeypatch.setattr(service, "read_secret", wrong_password)
    result = cli("secrets", "check", "salesforce", "--connect")
    assert result.exit_code == ExitCode.INFRA, result.output
    assert "connection failed" in result.output and "not-the-password" not in result.output


def test_the_one_secret_writer_creates_keeps_and_updates(local_stack):
    """write_secret: created, then unchanged (no new version for the same JSON), then updated;
    a missing secret is created only when asked (the cloud's shells are Terraform's)."""
    from deplat_job.sources.secret_store import secret_name, write_secret

    client = boto3.client("secretsmanager", endpoint_url=MOTO, region_name="us-east-1")
    name = secret_name(f"it-{uuid.uuid4().hex[:8]}", "kafka")
    with pytest.raises(LookupError):
        write_secret(client, name, {"bootstrap_servers": "127.0.0.1:9092"})
    action, first = write_secret(client, name, {"bootstrap_servers": "127.0.0.1:9092"}, create=True)
    assert action == "created"
    assert write_secret(client, name, {"bootstrap_servers": "127.0.0.1:9092"}) == ("unchanged", first)
    action, second = write_secret(client, name, {"bootstrap_servers": "127.0.0.1:9093"})
    assert action == "updated" and second != first
    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
