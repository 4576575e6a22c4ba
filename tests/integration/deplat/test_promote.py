"""`deplat promote` between two local environments (two moto buckets, one run history each): a manifest
whose DQ gate failed is refused (exit 7, naming the gate), the one that then ran green is copied with
every object byte-identical (by hash), and `deplat status` in the target says where it came from.

Real runs: the smoke job and the real dq_check job (GX) on the local engine, from the deployed artifacts."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml
from typer.testing import CliRunner

from deplat import registry
from deplat.cli import app
from deplat.registry import Pipeline, Step
from tests.integration.deplat_project import ROLE, SMOKE_OK, emr_application, keys, make_project, s3

pytestmark = [pytest.mark.integration, pytest.mark.spark]

FAILING = "table: silver.smoke\nexpectations:\n  - check: row_count\n    max: 3\n"  # the job writes 5 rows
PASSING = "table: silver.smoke\nexpectations:\n  - check: row_count\n    min: 1\n"


def cli(*args):
    return CliRunner().invoke(app, list(args), terminal_width=200)


@pytest.fixture
def project(local_stack, tmp_path, monkeypatch):
    from pathlib import Path

    dq_check = (Path(__file__).resolve().parents[3] / "jobs" / "dq_check.py").read_text()
    root, bucket = make_project(tmp_path, monkeypatch, {"smoke_ok": SMOKE_OK, "dq_check": dq_check})
    config = root / "config" / "deplat.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["environments"]["local2"] = {**doc["environments"]["local"], "lake_uri": str(tmp_path / "lake2")}
    config.write_text(yaml.safe_dump(doc))
    target = f"{bucket}-b"
    s3().create_bucket(Bucket=target)
    (tmp_path / "home" / "local2").mkdir(parents=True)
    (tmp_path / "home" / "local2" / "outputs.json").write_text(json.dumps(
        {"artifacts_bucket": target, "emr_application_id": emr_application(), "emr_job_role_arn": ROLE}))
    monkeypatch.setitem(registry.PIPELINES, "promo", Pipeline("promo", (
        Step("smoke_ok"), Step("dq_check", gate=("silver.smoke",)))))
    monkeypatch.chdir(root)
    return root, bucket, target


def _body(bucket: str, key: str) -> bytes:
    return s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_promote_refuses_a_failed_gate_then_copies_the_green_manifest(project):
    root, source, target = project
    suite = root / "dq" / "suites" / "smoke.yml"
    suite.write_text(FAILING)
    assert cli("deploy").exit_code == 0
    failed = cli("run", "promo")
    assert failed.exit_code == 5, failed.output
    refused = cli("promote", "--from", "local", "--to", "local2", "--pipeline", "promo", "--yes")
    assert refused.exit_code == 7, refused.output
    assert "the DQ gate promo/dq_check on silver.smoke: failed" in refused.output
    assert keys(target) == set()

    suite.write_text(PASSING)
    deployed = cli("-o", "json", "deploy")
    green = json.loads(deployed.stdout)["manifest_hash"]
    assert cli("run", "promo").exit_code == 0

    dry = cli("-o", "json", "promote", "--from", "local", "--to", "local2", "--pipeline", "promo", "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["manifest_hash"] == green and not plan["promoted"] and plan["copied"]
    no_yes = cli("promote", "--from", "local", "--to", "local2", "--pipeline", "promo")
    assert no_yes.exit_code == 7 and "--yes" in no_yes.output
    assert keys(target) == set()

    done = cli("-o", "json", "promote", "--from", "local", "--to", "local2", "--pipeline", "promo", "--yes")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["promoted"] and doc["manifest_hash"] == green and doc["previous_hash"] is None
    manifest = json.loads(_body(target, "artifacts/manifest.json"))
    assert manifest["manifest_hash"] == green
    assert _body(target, "artifacts/manifest.json") == _body(source, f"artifacts/manifests/{green}.json")
    for name, meta in manifest["files"].items():
        src, dst = _body(source, meta["key"]), _body(target, meta["key"])
        assert hashlib.sha256(dst).hexdigest() == hashlib.sha256(src).hexdigest(), name
    assert {m["key"] for m in manifest["files"].values()} <= keys(target)
    # The first manifest (its gate failed) was never copied: only its suite differs, and that is absent.
    assert len([k for k in keys(target) if k.endswith("/smoke.yml") and not k.startswith("artifacts/current/")]) == 1

    status = cli("-e", "local2", "-o", "json", "status")
    assert status.exit_code == 0, status.output
    where = json.loads(status.stdout)["deployed"]
    assert (where["manifest_hash"], where["source"], where["batch_id"]) == (green, "promoted from local",
                                                                            doc["batch_id"])
    assert "promoted from local" in cli("-e", "local2", "status").stdout

    again = cli("promote", "--from", "local", "--to", "local2", "--pipeline", "promo", "--yes")
    assert again.exit_code == 0 and "already runs manifest" in again.stdout


def test_no_green_run_recorded_is_refused(project):
    assert cli("deploy", "--no-deps-archive").exit_code == 0
    refused = cli("promote", "--from", "local", "--to", "local2", "--pipeline", "promo", "--dry-run")
    assert refused.exit_code == 7 and "no recorded `deplat run promo`" in refused.output
    same = cli("promote", "--from", "local", "--to", "local", "--dry-run")
    assert same.exit_code == 2

