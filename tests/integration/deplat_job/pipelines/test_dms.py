"""The dms_key_snapshot job on the local engine (spark-submit of the deployed artifacts, as EMR runs
it) against the local PostgreSQL, with the RDS credentials from (moto's) Secrets Manager by name:
it lands the key snapshot, and the next DMS silver step removes the ghost of case
dms-pk-update-no-delete (order 30000 became 30077 without a delete event)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat_job.pipelines import dms
from deplat_job.pipelines.common import SilverItem, bronze_to_silver, table_path
from deplat_job.pipelines.source_specs import DMS_TABLES
from tests.integration.deplat_project import ROOT, make_project

pytestmark = [pytest.mark.integration, pytest.mark.spark]

CASE = Path(__file__).resolve().parents[3] / "data" / "cases" / "dms-pk-update-no-delete" / "landing"


@pytest.fixture
def source(local_stack):
    """A scratch schema in the RDS stand-in holding the case's source state: order 30077 only."""
    import psycopg

    from deplat.local.rds import conninfo, ensure_database

    settings = local_stack.settings
    ensure_database(settings)
    schema = f"it_{uuid.uuid4().hex[:8]}"
    conn = psycopg.connect(conninfo(settings), autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"CREATE TABLE {schema}.orders (order_id bigint PRIMARY KEY, status text)")
    conn.execute(f"INSERT INTO {schema}.orders VALUES (30077, 'PAID')")
    yield settings, schema
    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def _land_case(lake: str, schema: str, settings) -> None:
    """The case's DMS files for the scratch table. Their change sequences are synthetic
    (1e8, 2e8 on the WAL scale); placed just below this server's WAL position, in the same order,
    they are what they stand for: changes committed before the snapshot the job takes next."""
    import csv

    import psycopg

    from deplat.local.rds import conninfo
    from deplat_job.sources.rds import lsn_to_int

    with psycopg.connect(conninfo(settings)) as conn:
        now = lsn_to_int(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
    files = {f.name: list(csv.reader(f.open(newline=""))) for f in sorted(CASE.rglob("*.csv"))}
    seqs = sorted({row[2] for rows in files.values() for row in rows[1:]})
    placed = {s: f"{now - len(seqs) + i:020d}{s[20:]}" for i, s in enumerate(seqs)}
    folder = Path(dms.source.table_dir(lake, schema, "orders"))
    folder.mkdir(parents=True)
    for name, rows in files.items():
        assert rows[0][2] == "_dms_seq"
        with (folder / name).open("w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([rows[0], *[[*r[:2], placed[r[2]], *r[3:]] for r in rows[1:]]])


def test_snapshot_job_on_the_local_engine_lands_keys_and_the_ghost_goes(source, spark, tmp_path, monkeypatch):
    import boto3

    from deplat.core.context import Context
    from deplat.local.rds import rds_secret
    from deplat.runs import RunService
    from deplat_job.sources.secret_store import write_secret

    settings, schema = source
    make_project(tmp_path, monkeypatch, {"dms_key_snapshot": (ROOT / "jobs" / "dms_key_snapshot.py").read_text()})
    assert CliRunner().invoke(app, ["deploy", "--no-deps-archive"]).exit_code == 0
    secret = f"deplat/it/{schema}/rds"
    sm = boto3.client("secretsmanager", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    write_secret(sm, secret, rds_secret(settings), create=True)
    lake = str(tmp_path / "lake")
    table = dataclasses.replace(DMS_TABLES["app.orders"], schema=schema)
    _land_case(lake, schema, settings)

    def silver_step(batch):
        dms.ingest_table(spark, lake, table, batch)
        item = SilverItem(table.qualified, table.bronze_table, table.silver_table, table.partition_column,
                          table.key, lambda b: dms.current_rows(b, table, dms.key_snapshot(spark, lake, table)))
        totals, per_table = bronze_to_silver(spark, lake, dms.SOURCE, [item], batch, None)
        rows = spark.read.format("delta").load(table_path(lake, "silver", table.silver_table)).collect()
        return per_table[table.qualified], sorted(r["order_id"] for r in rows)

    _, before = silver_step("b1")
    assert before == [30000, 30077]  # the ghost, before any reconciliation

    ctx = Context()
    run = RunService(ctx).run("reconcile", extra_args=("--tables", f"app.orders,{schema}.orders",
                                                         "--secret-name", secret, "--seq-scale", "wal"))
    [step] = run.steps
    assert step.state == "SUCCESS", step.details
    [metrics] = [m for m in step.metrics if m["step"] == "dms_key_snapshot"]
    case, declared = metrics["tables"][f"{schema}.orders"], metrics["tables"]["app.orders"]
    assert (case["source_keys"], case["written"], case["ghost_keys"]) == (1, 1, None)
    # silver.rds_orders in this lake is the scratch table's (30000, 30077): app.orders has neither
    assert declared["ghost_keys"] == 2
    import psycopg

    from deplat.local.rds import conninfo

    with psycopg.connect(conninfo(settings)) as conn:
        assert declared["source_keys"] == conn.execute("SELECT count(*) FROM app.orders").fetchone()[0]
    landed = Path(case["file"])
    assert landed.parent == Path(dms.source.keys_dir(lake, schema, "orders"))
    assert landed.read_text() == "order_id\n30077\n" and metrics["read"] == metrics["written"]

    report, after = silver_step("b2")
    assert after == [30077]
    assert report["fates"]["ghost"] == 1
