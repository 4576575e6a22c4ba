"""A Snowflake table with a change column and the types that lose data when handled loosely
(NUMBER(38,0) above 2^53, NUMBER(12,4), TIMESTAMP_NTZ/LTZ/TZ, VARIANT), read through the real
snowflake-connector-python from the local fakesnow stand-in, through both snowflake jobs into silver:
an updated row and a row committed late with a key below the maximum both land; a rerun lands nothing.

fakesnow stores TIMESTAMP_LTZ and TIMESTAMP_TZ alike (reported as TIMESTAMP_TZ, values in UTC), so
the per-row offset of TIMESTAMP_TZ is covered by tests/spark/deplat_job/pipelines/test_snowflake_types.py instead."""

import datetime as dt
import importlib.util
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from deplat.local.standins import snowflake_server
from deplat_job.pipelines.common import parse_metrics
from deplat_job.sources import snowflake as source

ROOT = Path(__file__).resolve().parents[4]
pytestmark = [pytest.mark.integration, pytest.mark.spark]

T0 = dt.datetime(2025, 6, 1, 12, 0, 0)
BIG = 2**53 + 1  # a double holds ...992
TABLES = {"events": {"tracking": "change_column", "change_column": "updated_at", "lookback_seconds": 3600,
                     "key": ["id"]}}
INSERT = ("INSERT INTO events SELECT %s, %s, %s, %s::TIMESTAMP_NTZ, %s::TIMESTAMP_LTZ, %s::TIMESTAMP_TZ, "
          "parse_json(%s), %s::TIMESTAMP_LTZ")


def _job(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(key, amount, updated, big=BIG):
    return (key, big + key, amount, f"2025-03-30 02:30:00.{key:06d}", "2025-03-30 02:30:00+00:00",
            "2025-03-30 02:30:00+00:00", json.dumps({"k": key, "n": 12345678901234567890}),
            f"{updated:%Y-%m-%d %H:%M:%S}+00:00")


@pytest.fixture
def snowflake_schema(local_stack):
    """A schema of its own in the stack's fakesnow (TPC-H's SF0_01 untouched), dropped afterwards."""
    params = snowflake_server.connection_params(local_stack.settings.snowflake_port)
    name = f"ITEST_{uuid.uuid4().hex[:8].upper()}"
    with source.connect(params) as conn:
        conn.cursor().execute(f"CREATE SCHEMA {snowflake_server.DATABASE}.{name}")
    params = {**params, "schema": name}
    yield params
    with source.connect(params) as conn:
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS {snowflake_server.DATABASE}.{name} CASCADE")


def test_updated_and_late_rows_land_typed_without_loss(snowflake_schema, spark, tmp_path, monkeypatch, capsys):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5050")
    env = f"itest{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager").create_secret(Name=source.secret_name(env),
                                                 SecretString=json.dumps(snowflake_schema))
    with source.connect(snowflake_schema) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE events (id NUMBER(38,0), big NUMBER(38,0), amount NUMBER(12,4), "
                    "ntz TIMESTAMP_NTZ, ltz TIMESTAMP_LTZ, tz TIMESTAMP_TZ, doc VARIANT, updated_at TIMESTAMP_LTZ)")
        for key, minute in ((1, 0), (2, 1), (10, 2)):
            cur.execute(INSERT, _row(key, "12345678.1234", T0 + dt.timedelta(minutes=minute)))

    lake = str(tmp_path / "lake")
    args = ["--lake", lake, "--env", env, "--snowflake-tables", json.dumps(TABLES)]
    to_bronze, merge = _job("snowflake_to_bronze"), _job("snowflake_bronze_to_silver_merge")

    def run(batch):
        to_bronze.main([*args, "--batch-id", f"b{batch}", "--chunk-rows", "2"])
        merge.main([*args, "--batch-id", f"m{batch}"])
        return parse_metrics(capsys.readouterr().out)

    first = run(1)
    assert [(m["step"], m["read"], m["written"]) for m in first] == [
        ("snowflake_to_bronze", 3, 3), ("snowflake_bronze_to_silver_merge", 3, 3)]
    assert first[0]["tables"]["events"]["since"] == "None"  # no watermark yet: everything

    silver_path = f"{lake}/silver/snowflake_events"
    schema = {f.name: f.dataType.simpleString() for f in spark.read.format("delta").load(silver_path).schema}
    assert (schema["id"], schema["big"], schema["amount"], schema["ntz"], schema["doc"]) == (
        "decimal(38,0)", "decimal(38,0)", "decimal(12,4)", "timestamp_ntz", "string")
    assert schema["tz"] == "timestamp" and schema["tz_offset_minutes"] == "int"
    row = spark.read.format("delta").load(silver_path).filter("id = 1").first()
    assert row["big"] == Decimal(BIG + 1) and row["amount"] == Decimal("12345678.1234")
    assert row["ntz"] == dt.datetime(2025, 3, 30, 2, 30, 0, 1)  # a wall-clock value, no zone shift
    assert json.loads(row["doc"]) == {"k": 1, "n": 12345678901234567890}

    with source.connect(snowflake_schema) as conn:
        cur = conn.cursor()
        # an update of an existing key, and a row committed late: key 5 < max key 10, its change
        # time T0+1.5min before the watermark (T0+2min) but inside the one-hour lookback
        cur.execute("UPDATE events SET amount = 99.0001, updated_at = %s::TIMESTAMP_LTZ WHERE id = 2",
                    (f"{T0 + dt.timedelta(minutes=30):%Y-%m-%d %H:%M:%S}+00:00",))
        cur.execute(INSERT, _row(5, "0.0001", T0 + dt.timedelta(minutes=1, seconds=30)))

    second = run(2)
    bronze_step = second[0]["tables"]["events"]
    assert bronze_step["since"].startswith("2025-06-01 11:02:00")  # watermark T0+2min minus 3600 s
    assert (second[0]["read"], second[0]["written"], second[0]["skipped"]) == (4, 2, 2)
    assert (second[1]["tables"]["events"]["inserted"], second[1]["tables"]["events"]["updated"]) == (1, 1)
    silver = {r["id"]: r for r in spark.read.format("delta").load(silver_path).collect()}
    assert sorted(silver) == [1, 2, 5, 10]
    assert silver[2]["amount"] == Decimal("99.0001") and silver[5]["big"] == Decimal(BIG + 5)

    third = run(3)  # a rerun re-reads the lookback window and changes nothing
    assert [(m["written"], m["rejected"]) for m in third] == [(0, 0), (0, 0)]
    assert all(m["read"] == m["written"] + m["rejected"] + m["skipped"] for m in first + second + third)
    assert spark.read.format("delta").load(silver_path).count() == 4
