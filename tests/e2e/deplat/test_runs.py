"""End to end on the local env: `deplat deploy` the repo, then `deplat run fx --wait` submits the real
fx jobs to EMR Serverless (moto's stand-in runs them with spark-submit from the deployed artifacts);
silver.fx_rates must have rows.

A fresh moto bucket, DEPLAT_HOME and lake in tmp: nothing touches the repo's .deplat/ (~1 min).
"""

import json
import uuid
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from deplat.cli import app
from tests.integration.deplat_project import ROLE, emr_application, standin_runs

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_deploy_then_run_fx(local_stack, deplat_env):
    from deltalake import DeltaTable

    bucket = f"deplat-e2e-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    app_id = emr_application()
    env = deplat_env(outputs={"artifacts_bucket": bucket, "emr_application_id": app_id, "emr_job_role_arn": ROLE})
    runner = CliRunner()

    deployed = runner.invoke(app, ["deploy"])  # with the dependency archive, as in the cloud
    assert deployed.exit_code == 0, deployed.output
    result = runner.invoke(app, ["-o", "json", "run", "fx", "--wait"], terminal_width=200)
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    # Each step ran on the shipped job package and archive, on the EMR runtime's Python when found.
    from deplat.core.config import cache_dir
    from deplat.local.emr_runtime import find_emr_python

    emr_python = find_emr_python(cache_dir())
    banners = [line for log in sorted(standin_runs(app_id).glob("*/stdout"))
               for line in log.read_text().splitlines() if line.startswith("deplat job runtime:")]
    assert len(banners) == 2, banners
    for banner in banners:
        assert "/deplat_job-" in banner and ".zip/deplat_job/__init__.py" in banner
        if emr_python:
            assert "Python 3.9." in banner and f"({emr_python})" in banner
    assert [(s["step"], s["state"]) for s in run["steps"]] == [("fx_to_bronze", "SUCCESS"),
                                                               ("fx_bronze_to_silver", "SUCCESS")]
    silver_metrics = next(m for m in run["metrics"] if m["step"] == "fx_bronze_to_silver")
    assert silver_metrics["written"] > 0  # counted by the job

    silver = DeltaTable(str(env.lake / "silver" / "fx_rates")).to_pyarrow_table()
    assert silver.num_rows > 1000
