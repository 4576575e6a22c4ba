"""`deplat optimize` and `deplat dr restore --yes` end to end on the local env: deployed artifacts,
the maintenance and restore jobs run on EMR Serverless (moto's stand-in), figures read back from the
driver logs.

A fresh moto bucket, DEPLAT_HOME and lake in tmp (nothing touches the repo's .deplat/); the table
is written with delta-rs so only the two jobs start a JVM (~1 min)."""

import json
import uuid
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from deplat.cli import app
from tests.integration.deplat_project import ROLE, emr_application

ROOT = Path(__file__).resolve().parents[4]

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_optimize_then_restore_through_the_engine(local_stack, deplat_env):
    from deltalake import DeltaTable, write_deltalake

    bucket = f"deplat-ops-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1").create_bucket(Bucket=bucket)
    env = deplat_env(outputs={"artifacts_bucket": bucket, "emr_application_id": emr_application(),
                              "emr_job_role_arn": ROLE})
    path = str(env.lake / "silver" / "t")
    for i in range(3):  # v0..v2: three small files
        write_deltalake(path, pa.table({"id": [i, i + 10], "v": [f"a{i}", f"b{i}"]}), mode="append")
    good = sorted(DeltaTable(path).to_pyarrow_table().to_pylist(), key=lambda r: r["id"])
    runner = CliRunner()

    assert runner.invoke(app, ["deploy", "--no-deps-archive"]).exit_code == 0
    assert runner.invoke(app, ["optimize", "--retention-hours", "1"]).exit_code == 7

    result = runner.invoke(app, ["-o", "json", "optimize", "--table", "silver.t"])
    assert result.exit_code == 0, result.output
    (table,) = json.loads(result.stdout)["tables"]
    assert (table["table"], table["action"], table["files_before"], table["files_after"]) == \
        ("silver.t", "compaction", 3, 1)
    assert table["version_after"] == 5 and DeltaTable(path).version() == 5  # OPTIMIZE, VACUUM START/END

    write_deltalake(path, pa.table({"id": [99], "v": ["oops"]}), mode="overwrite")  # v6: a bad load
    refused = runner.invoke(app, ["dr", "restore", "silver.t", "--version", "5"], terminal_width=200)
    assert refused.exit_code == 7 and DeltaTable(path).version() == 6
    assert "commits undone" in refused.output

    restored = runner.invoke(app, ["-o", "json", "dr", "restore", "silver.t", "--version", "5", "--yes"])
    assert restored.exit_code == 0, restored.output
    doc = json.loads(restored.stdout)
    assert doc["restored"] and doc["version_after"] == 7 and doc["files_after"] == 1
    assert (doc["preview"]["current"]["rows"], doc["preview"]["target"]["rows"]) == (1, 6)
    table_now = DeltaTable(path)
    assert table_now.history(1)[0]["operation"] == "RESTORE"
    assert sorted(table_now.to_pyarrow_table().to_pylist(), key=lambda r: r["id"]) == good
