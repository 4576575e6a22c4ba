"""Seed the local Snowflake stand-in with TPC-H and publish its connection as a secret.

TPC-H comes from DuckDB's own `dbgen` (the `tpch` extension shipped by PyPI `duckdb-ext-tpch`) and
is loaded the way one loads Snowflake: PUT Parquet files to a stage, then COPY INTO, through the
real `snowflake-connector-python`. TPC-H dates (1992-1998) predate the euro, whose ECB history
starts on 1999-01-04, so every date is shifted by DATE_SHIFT_YEARS (a multiple of 4: leap days
stay valid) so that orders fall inside the FX history the gold layer joins on.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat.local.standins import snowflake_server
from deplat_job.errors import LocalStackError
from deplat_job.sources.secret_store import secret_name, write_secret
from deplat_job.sources.snowflake import connect

if TYPE_CHECKING:
    from deplat.core.context import Context

DEFAULT_SCALE_FACTOR = 0.01
DATE_SHIFT_YEARS = 20
TPCH_TABLES = ("nation", "region", "customer", "orders", "lineitem", "part", "supplier", "partsupp")
_SNOWFLAKE_TYPES = {"BIGINT": "NUMBER(38,0)", "INTEGER": "NUMBER(38,0)", "VARCHAR": "VARCHAR", "DATE": "DATE"}


@dataclass
class SeedResult:
    scale_factor: float
    secret_name: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows in fakesnow
    loaded: bool = False  # False: the data was already there


def duckdb_extension_dir() -> str:
    """The `extensions` folder of the duckdb-ext-* wheels (they load offline from there)."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise LocalStackError("the DuckDB extension wheels are not installed",
                              "pip install 'deplat[query]' (duckdb-ext-tpch)")
    return str(Path(next(iter(spec.submodule_search_locations))) / "extensions")


def tpch_duckdb(scale_factor: float = DEFAULT_SCALE_FACTOR):
    """An in-memory DuckDB holding TPC-H at `scale_factor`, exactly as `dbgen` makes it."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{duckdb_extension_dir()}'")
    con.execute("LOAD tpch")
    con.execute(f"CALL dbgen(sf = {float(scale_factor)})")
    return con


def seed_snowflake(ctx: Context, scale_factor: float = DEFAULT_SCALE_FACTOR, force: bool = False) -> SeedResult:
    """Load TPC-H into the local fakesnow server (skipped when already there) and store the
    connection JSON in Secrets Manager as `deplat/<env>/snowflake`."""
    from deplat.local.services import SERVICES, port_open

    port = SERVICES["snowflake"].port(ctx.settings.local_stack)
    if not port_open(port):
        raise LocalStackError(f"the local Snowflake stand-in is not listening on 127.0.0.1:{port}",
                              "run `deplat local up`")
    params = snowflake_server.connection_params(port)
    ctx.reporter.info(f"TPC-H sf={scale_factor} -> fakesnow on port {port}")
    tables, loaded = load_tpch(params, scale_factor, force)
    result = SeedResult(scale_factor, secret_name(ctx.env.name, "snowflake"), tables, loaded)
    write_secret(ctx.aws.client("secretsmanager"), result.secret_name, params, create=True,
                 description="deplat local: connection to the fakesnow Snowflake stand-in")
    ctx.reporter.info(f"secret {result.secret_name} holds the local Snowflake connection")
    return result


def load_tpch(params: dict[str, Any], scale_factor: float = DEFAULT_SCALE_FACTOR,
              force: bool = False) -> tuple[dict[str, int], bool]:
    """Load TPC-H into the Snowflake at `params` unless its row counts already match dbgen's.

    Returns (table -> rows, whether anything was loaded)."""
    duck = tpch_duckdb(scale_factor)
    expected = {t: duck.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TPCH_TABLES}
    with connect(params) as conn:
        cur = conn.cursor()
        loaded = force or _counts(cur) != expected
        if loaded:
            _load(duck, cur)
        tables = _counts(cur)
    if tables != expected:
        raise LocalStackError("TPC-H row counts in fakesnow differ from dbgen's",
                              "rerun with force, or delete .deplat/stack/snowflake and restart it",
                              detail=json.dumps({"fakesnow": tables, "dbgen": expected}))
    return tables, loaded


def _counts(cur) -> dict[str, int]:
    cur.execute("SELECT lower(table_name) FROM information_schema.tables "
                f"WHERE table_schema = '{snowflake_server.SCHEMA}'")
    present = {name for (name,) in cur.fetchall()}
    out = {}
    for table in TPCH_TABLES:
        if table in present:
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = cur.fetchone()[0]
    return out


def _load(duck, cur) -> None:
    # fakesnow can neither replace a stage nor address a path in one: a fresh stage per table.
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="deplat-tpch-") as tmp:
        for table in TPCH_TABLES:
            columns = duck.execute(f"DESCRIBE {table}").fetchall()
            file = Path(tmp) / table / f"{table}.parquet"
            file.parent.mkdir()
            duck.execute(f"COPY ({_shifted_select(table, columns)}) TO '{file}' (FORMAT parquet)")
            ddl = ", ".join(f"{name} {_snowflake_type(dtype)} NOT NULL" for name, dtype, *_ in columns)
            cur.execute(f"CREATE OR REPLACE TABLE {table} ({ddl})")
            stage = f"deplat_seed_{run}_{table}"
            cur.execute(f"CREATE TEMPORARY STAGE {stage}")
            cur.execute(f"PUT 'file://{file}' @{stage}")
            cur.execute(f"COPY INTO {table} FROM @{stage} FILE_FORMAT = (TYPE = PARQUET) "
                        "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE")


def _shifted_select(table: str, columns: list[tuple]) -> str:
    dates = [name for name, dtype, *_ in columns if dtype == "DATE"]
    if not dates:
        return f"SELECT * FROM {table}"
    shifted = ", ".join(f"CAST({c} + INTERVAL {DATE_SHIFT_YEARS} YEAR AS DATE) AS {c}" for c in dates)
    return f"SELECT * REPLACE ({shifted}) FROM {table}"


def _snowflake_type(duck_type: str) -> str:
    if duck_type.startswith("DECIMAL"):
        return duck_type.replace("DECIMAL", "NUMBER")
    return _SNOWFLAKE_TYPES[duck_type]

