"""The Snowflake path for real: the fakesnow server (persistent), TPC-H from DuckDB's dbgen loaded
with PUT + COPY INTO, read back in key-range chunks by snowflake-connector-python; then the two
snowflake jobs against it, with a failure mid-backfill, a resume, and a rerun."""

import importlib.util
import json
import os
import socket
import uuid
from pathlib import Path

import pytest

from deplat.core.config import LocalStackSettings
from deplat.local.seed_snowflake import load_tpch, tpch_duckdb
from deplat.local.stack import LocalStack
from deplat.local.standins import snowflake_server
from deplat_job.pipelines.common import parse_metrics
from deplat_job.sources import snowflake as source

ROOT = Path(__file__).resolve().parents[4]
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The stack's own fakesnow service on a free port, its DuckDB files in a temporary folder."""

    def __init__(self, root: Path):
        self.stack = LocalStack(root, LocalStackSettings(snowflake_port=_free_port()))
        self.port = self.stack.settings.snowflake_port

    def start(self):
        [status] = self.stack.up(["snowflake"])
        assert status.healthy, status

    def stop(self):
        self.stack.down(["snowflake"])

    @property
    def params(self):
        return snowflake_server.connection_params(self.port)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("fakesnow"))
    srv.start()
    load_tpch(srv.params)
    yield srv
    srv.stop()


def _dbgen_count(table: str) -> int:
    return tpch_duckdb().execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_connector_reads_tpch_orders_in_chunks_matching_dbgen(server):
    expected = _dbgen_count("orders")
    assert expected == 15000  # TPC-H sf=0.01
    with source.connect(server.params) as conn:
        chunks = list(source.SnowflakeReader(conn).chunks("orders", "o_orderkey", 7000))
    keys = [row[chunks[0].columns.index("o_orderkey")] for c in chunks for row in c.rows]
    assert len(chunks) == 3 and sum(len(c.rows) for c in chunks) == expected  # 7000 rows a chunk
    assert keys == sorted(set(keys))
    dates = [row[chunks[0].columns.index("o_orderdate")] for c in chunks for row in c.rows]
    assert min(dates).year == 2012 and max(dates).year == 2018  # dbgen's 1992-1998, shifted 20 years


def test_case_sparse_key_outlier_takes_a_handful_of_queries(server):
    import csv
    import time

    case = ROOT / "tests" / "data" / "cases" / "snowflake-sparse-key-outlier" / "orders.csv"
    rows = list(csv.reader(case.open()))
    with source.connect(server.params) as conn:
        cur = conn.cursor()
        cur.execute("CREATE OR REPLACE TABLE sparse_orders (o_orderkey NUMBER(38,0), o_custkey NUMBER(38,0), "
                    "o_orderstatus VARCHAR, o_totalprice NUMBER(15,2), o_orderdate DATE, o_orderpriority VARCHAR, "
                    "o_clerk VARCHAR, o_shippriority NUMBER(38,0), o_comment VARCHAR)")
        cur.executemany("INSERT INTO sparse_orders VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows[1:])
        reader = source.SnowflakeReader(conn)
        started = time.monotonic()
        chunks = list(reader.chunks("sparse_orders", "o_orderkey", 2))
        elapsed = time.monotonic() - started
    keys = [r[0] for c in chunks for r in c.rows]
    assert keys == [1, 2, 3, 10**12]
    assert reader.queries <= 4 and elapsed < 10  # bounds, boundaries, then one query per 2 rows


def test_reload_is_skipped_and_a_restart_keeps_the_data(server):
    tables, loaded = load_tpch(server.params)
    assert not loaded and tables["lineitem"] == _dbgen_count("lineitem")
    server.stop()
    server.start()
    with source.connect(server.params) as conn:
        assert conn.cursor().execute("SELECT count(*) FROM orders").fetchone()[0] == _dbgen_count("orders")


def _job(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(capsys):
    return parse_metrics(capsys.readouterr().out)[-1]


@pytest.mark.spark
def test_backfill_fails_resumes_and_reruns_without_duplicates(server, local_stack, spark, tmp_path,
                                                              monkeypatch, capsys):
    import boto3


    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5050")
    env = f"itest{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager").create_secret(Name=source.secret_name(env),
                                                 SecretString=json.dumps(server.params))
    lake = str(tmp_path / "lake")
    args = ["--lake", lake, "--env", env, "--tables", "orders,customer,nation", "--chunk-rows", "5000"]
    to_bronze, merge = _job("snowflake_to_bronze"), _job("snowflake_bronze_to_silver_merge")

    real_read = source.SnowflakeReader.read
    calls = []

    def flaky_read(self, table, key, key_range):
        calls.append((table, key_range.low))
        if table == "orders" and len(calls) == 2:
            raise ConnectionError("network blip")
        return real_read(self, table, key, key_range)

    monkeypatch.setattr(source.SnowflakeReader, "read", flaky_read)
    with pytest.raises(ConnectionError):
        to_bronze.main([*args, "--batch-id", "r1"])
    first_chunk = spark.read.format("delta").load(f"{lake}/bronze/snowflake_orders").count()
    assert first_chunk == 5000  # the first chunk is committed, the second is not

    to_bronze.main([*args, "--batch-id", "r2"])  # a rescan: the committed chunk is not appended again
    resumed = _metrics(capsys)["tables"]["orders"]
    assert (resumed["read"], resumed["written"], resumed["skipped"]) == (
        _dbgen_count("orders"), _dbgen_count("orders") - first_chunk, first_chunk)
    bronze = spark.read.format("delta").load(f"{lake}/bronze/snowflake_orders")
    assert bronze.count() == bronze.select("o_orderkey").distinct().count() == _dbgen_count("orders")

    merge.main(["--lake", lake, "--env", env, "--tables", "orders,customer,nation", "--batch-id", "m1"])
    merged = _metrics(capsys)
    assert merged["written"] == sum(_dbgen_count(t) for t in ("orders", "customer", "nation"))
    silver = spark.read.format("delta").load(f"{lake}/silver/orders_tpch")
    assert silver.count() == _dbgen_count("orders")

    to_bronze.main([*args, "--batch-id", "r3"])
    merge.main(["--lake", lake, "--env", env, "--tables", "orders,customer,nation", "--batch-id", "m2"])
    reruns = parse_metrics(capsys.readouterr().out)
    assert [(m["step"], m["written"]) for m in reruns] == [
        ("snowflake_to_bronze", 0), ("snowflake_bronze_to_silver_merge", 0)]
    assert all(m["read"] == m["written"] + m["rejected"] + m["skipped"] for m in reruns)
    for table in ("silver/orders_tpch", "bronze/snowflake_orders"):
        assert spark.read.format("delta").load(f"{lake}/{table}").count() == _dbgen_count("orders")
    assert not os.path.exists(f"{lake}/_errors/snowflake")


def test_seed_loads_the_local_service_and_publishes_its_connection_secret(local_stack, monkeypatch):
    """`seed_snowflake(ctx)`: the stack's fakesnow gets TPC-H; the secret the jobs read works."""
    import boto3

    from deplat.core.context import Context
    from deplat.local.seed_snowflake import seed_snowflake

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5050")
    ctx = Context("local")
    result = seed_snowflake(ctx)
    assert result.secret_name == "deplat/local/snowflake"
    assert result.tables["orders"] == _dbgen_count("orders")
    params = source.read_connection("local", boto3.client("secretsmanager"))
    assert params["protocol"] == "http" and params["host"] == "127.0.0.1"
    with source.connect(params) as conn:
        assert conn.cursor().execute("SELECT count(*) FROM customer").fetchone()[0] == _dbgen_count("customer")
    assert seed_snowflake(ctx).loaded is False  # idempotent: the second seed loads nothing
