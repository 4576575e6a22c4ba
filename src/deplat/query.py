"""`deplat query`: SQL over the lake. DuckDB over the local Delta tables; Athena in the cloud.

Tables are addressed as `<layer>.<table>` (bronze, silver, gold, and `_errors.<source>` for the
rejected rows) and, for silver and gold, under
the environment's Glue database names from the Terraform outputs (`glue_database_silver`, ...), so
a query written for Athena runs unchanged locally. Athena speaks Trino SQL; the few Trino forms
DuckDB lacks are added as DuckDB macros (`date_add(unit, n, ts)`); `current_date - interval '7'
day`, `date_diff(unit, a, b)` and `date_trunc(unit, ts)` mean the same in both dialects already.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat.engines.base import PollPolicy, RunState
from deplat_job.errors import ConfigError, JobFailedError

if TYPE_CHECKING:
    from deplat.core.context import Context

LAYERS = ("bronze", "silver", "gold", "_errors")  # _errors.<source>: the rejected rows, with a reason
GLUE_LAYERS = ("silver", "gold")  # the layers with a Glue database (terraform/main.tf)
DEFAULT_MAX_ROWS = 10_000

# Athena pricing (https://aws.amazon.com/athena/pricing/): USD 5.00 per TB scanned, billed per
# query rounded up to the nearest megabyte with a 10 MB minimum. TB = 10^12 bytes here.
USD_PER_TB = 5.0
_MB = 1024 * 1024
_MIN_BILLED_BYTES = 10 * _MB

# Trino's 3-argument date_add(unit, value, timestamp); DuckDB's own 2-argument form stays usable.
_TRINO_MACROS = """
CREATE OR REPLACE TEMP MACRO date_add(d, i) AS d + i,
  (unit, n, d) AS d + CASE lower(unit)
    WHEN 'millisecond' THEN to_milliseconds(CAST(n AS BIGINT))
    WHEN 'second' THEN to_seconds(CAST(n AS BIGINT))
    WHEN 'minute' THEN to_minutes(CAST(n AS BIGINT))
    WHEN 'hour' THEN to_hours(CAST(n AS BIGINT))
    WHEN 'day' THEN to_days(CAST(n AS INTEGER))
    WHEN 'week' THEN to_weeks(CAST(n AS INTEGER))
    WHEN 'month' THEN to_months(CAST(n AS INTEGER))
    WHEN 'quarter' THEN to_months(3 * CAST(n AS INTEGER))
    WHEN 'year' THEN to_years(CAST(n AS INTEGER)) END
"""

_QUOTED = re.compile(r"('(?:[^']|'')*')")
_QUALIFIED = re.compile(r'(?<![\w."])"?([A-Za-z_][\w]*)"?\s*\.\s*"?([A-Za-z_][\w]*)"?')


class QueryError(ConfigError):
    """Bad SQL or an unknown table (exit 2): the engine's message plus the known tables."""


class QueryCancelledError(JobFailedError):
    """The query was cancelled (Ctrl-C or by someone else in the console)."""


@dataclass
class QueryResult:
    """A query's rows and what it cost.

    `rows` are lists in `columns` order (Python values locally, Athena's strings in the cloud);
    `truncated` says more rows existed than `max_rows`; `bytes_scanned` and `cost_usd` are Athena's
    (None locally); `elapsed_s` is wall time in seconds; `readers` (local) names the reader of each
    table used (`duckdb-delta` or `delta-rs`).
    """

    engine: str
    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    elapsed_s: float = 0.0
    query_id: str | None = None
    bytes_scanned: int | None = None
    cost_usd: float | None = None
    tables: list[str] = field(default_factory=list)
    readers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "row_count": len(self.rows)}


# The runbook's Athena examples (Trino dialect), as written against the silver Glue database.
_RUNBOOK_EXAMPLES = {
    "fx_last_7_days": """
SELECT ccy, as_of_date, rate_to_base
FROM {silver}.fx_rates
WHERE as_of_date >= current_date - interval '7' day
ORDER BY as_of_date DESC, ccy
""",
    "top_customers_30_days": """
SELECT customer_id, COUNT(*) AS orders, SUM(total_amount) AS total_spend
FROM {silver}.orders
WHERE order_date >= date_add('day', -30, current_date)
GROUP BY customer_id
ORDER BY total_spend DESC, customer_id
LIMIT 10
""",
    "orders_with_fx": """
SELECT o.order_id, o.order_date, o.currency, o.total_amount, f.rate_to_base,
       ROUND(o.total_amount / f.rate_to_base, 2) AS amount_base
FROM {silver}.orders o
JOIN {silver}.fx_rates f ON f.ccy = o.currency AND f.as_of_date = o.order_date
ORDER BY o.order_date DESC, o.order_id
""",
}


def runbook_examples(silver_db: str = "silver") -> dict[str, str]:
    """name -> SQL of the runbook's three Athena examples, against `silver_db` (a Glue db or `silver`)."""
    return {name: sql.format(silver=silver_db).strip() for name, sql in _RUNBOOK_EXAMPLES.items()}


def athena_cost_usd(bytes_scanned: int) -> float:
    """USD for one Athena query that scanned `bytes_scanned` bytes (USD 5/TB, 10 MB minimum, per MB).

    Source: https://aws.amazon.com/athena/pricing/ . A query that scanned nothing (DDL, failed)
    is not billed.
    """
    if bytes_scanned <= 0:
        return 0.0
    billed = max(_MIN_BILLED_BYTES, -(-bytes_scanned // _MB) * _MB)
    return billed / 1e12 * USD_PER_TB


def _unquoted_parts(sql: str) -> list[tuple[bool, str]]:
    """(is_string_literal, text) pieces, so rewrites never touch '...' literals."""
    return [(i % 2 == 1, part) for i, part in enumerate(_QUOTED.split(sql))]


def referenced_tables(sql: str) -> set[tuple[str, str]]:
    """Every `schema.name` pair outside string literals (lower-cased); columns may be among them."""
    out: set[tuple[str, str]] = set()
    for literal, part in _unquoted_parts(sql):
        if not literal:
            out.update((a.lower(), b.lower()) for a, b in _QUALIFIED.findall(part))
    return out


def glue_databases(ctx: Context) -> dict[str, str]:
    """layer -> Glue database name, from the cached Terraform outputs (empty before `infra apply`)."""
    outputs = ctx.outputs(required=False)
    return {layer: outputs[f"glue_database_{layer}"] for layer in GLUE_LAYERS
            if outputs.get(f"glue_database_{layer}")}


def lake_tables(lake: Path) -> dict[str, Path]:
    """`<layer>.<table>` -> folder, for every Delta table (a folder with `_delta_log/`) in the lake."""
    found: dict[str, Path] = {}
    for layer in LAYERS:
        base = lake / layer
        if not base.is_dir():
            continue
        for table in sorted(base.iterdir()):
            if (table / "_delta_log").is_dir():
                found[f"{layer}.{table.name}"] = table
    return found


def duckdb_connect():
    """An in-memory DuckDB with the delta extension loaded offline and the Trino macros."""
    import duckdb

    from deplat.local.seed_snowflake import duckdb_extension_dir

    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{duckdb_extension_dir()}'")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("LOAD delta")
    con.execute(_TRINO_MACROS)
    return con


class LocalQueryEngine:
    """DuckDB `delta_scan` views over the local lake; only the tables a query names are bound."""

    name = "duckdb"

    def __init__(self, lake: Path, glue_dbs: dict[str, str] | None = None):
        self.lake = Path(lake)
        self.glue_dbs = glue_dbs or {}

    def tables(self) -> dict[str, Path]:
        """Every addressable name (layer and Glue database spellings) -> Delta folder."""
        names: dict[str, Path] = {}
        for qualified, path in lake_tables(self.lake).items():
            names[qualified] = path
            layer, table = qualified.split(".", 1)
            if layer in self.glue_dbs:
                names[f"{self.glue_dbs[layer]}.{table}"] = path
        return names

    def run(self, sql: str, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
        """Run `sql`, one read-only SELECT over the lake's tables; QueryError (exit 2) on bad SQL, an
        unknown table, a statement or file access Athena would not allow, or a table neither reader
        can read (its Delta features named)."""
        import shutil
        import tempfile

        import duckdb

        started = time.perf_counter()
        known = self.tables()
        used = sorted(f"{s}.{t}" for s, t in referenced_tables(sql) if f"{s}.{t}" in known)
        con = duckdb_connect()
        scratch = tempfile.mkdtemp(prefix="deplat-query-")
        try:
            readers = {name: bind_table(con, name, known[name]) for name in used}
            lock_down(con, [self.lake.resolve()], Path(scratch))
            check_read_only(con, sql, sorted(known))
            try:
                cur = con.execute(sql)
            except duckdb.PermissionException as exc:
                raise _outside_lake_error(str(exc).strip()) from None
            except duckdb.Error as exc:
                from deplat.recovery import lost_files_error, lost_files_in_folders

                lost = lost_files_in_folders({n: str(known[n]) for n in used})
                if lost:  # a data file gone from storage: name table, version and file (exit 3)
                    raise lost_files_error(lost) from None
                raise _query_error(str(exc).strip(), sorted(known)) from None
            columns = [d[0] for d in cur.description] if cur.description else []
            rows = [list(r) for r in cur.fetchmany(max_rows + 1)] if columns else []
        finally:
            con.close()
            shutil.rmtree(scratch, ignore_errors=True)
        truncated = len(rows) > max_rows
        return QueryResult(self.name, sql, columns, rows[:max_rows], truncated,
                           round(time.perf_counter() - started, 3), tables=used, readers=readers)


# --- binding a Delta table to a view ------------------------------------------------------------

DUCKDB_READER = "duckdb-delta"
DELTA_RS_READER = "delta-rs"


class UnreadableTableError(QueryError):
    """A Delta table neither local reader can read (exit 2): names the table and its features."""


def bind_table(con: Any, name: str, path: Path) -> str:
    """Create the view `name` (`<schema>.<table>`) over the Delta table at `path`; which reader serves it.

    DuckDB's delta extension first (fast, lazy, reads deletion vectors, column mapping in a legacy
    protocol, timestamp_ntz, checkpoints, CDF tables). Where its Delta kernel refuses the table (e.g.
    column mapping under a table-features writer protocol, as Delta Spark 3.3 writes for
    IcebergCompatV2 or a CDF table: "InvalidProtocolError (21)"), delta-rs's own query engine
    (`deltalake.QueryBuilder`) reads it into Arrow, in memory. Not delta-rs's pyarrow dataset: on
    column-mapped tables it returns every value NULL, and it refuses deletion vectors.
    UnreadableTableError (exit 2) naming the table and its protocol's features when both refuse.
    """
    import duckdb

    schema, table = name.split(".", 1)
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    view = f'"{schema}"."{table}"'
    quoted = str(path.resolve()).replace("'", "''")
    try:
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM delta_scan('{quoted}')")
        return DUCKDB_READER
    except duckdb.Error as exc:
        duckdb_refusal = str(exc).strip().partition("\n")[0]
    try:
        import pyarrow as pa
        from deltalake import DeltaTable, QueryBuilder

        reader = QueryBuilder().register("t", DeltaTable(str(path))).execute("SELECT * FROM t")
        data = pa.table(pa.RecordBatchReader.from_stream(reader))
    except Exception as exc:  # noqa: BLE001 - delta-rs raises several kinds; all mean "cannot read"
        features = delta_features(path)
        raise UnreadableTableError(
            f"table {name} ({path}) cannot be read locally; its Delta protocol: {features}",
            "read it with Spark (`deplat run`) or Athena; deplat query reads Delta through DuckDB's delta "
            "extension and delta-rs, and both refuse this table",
            detail=f"duckdb: {duckdb_refusal}\ndelta-rs: {str(exc).strip()}") from None
    arrow_name = f"__deplat_{schema}_{table}"
    con.register(arrow_name, data)
    con.execute(f'CREATE VIEW {view} AS SELECT * FROM "{arrow_name}"')
    return DELTA_RS_READER


def delta_features(path: Path) -> str:
    """The table's protocol as text, e.g. "reader v2, writer v7 [columnMapping, icebergCompatV2]",
    from its newest protocol action in `_delta_log/*.json` (Delta's PROTOCOL.md "Protocol Evolution")."""
    import json

    log = Path(path) / "_delta_log"
    for commit in sorted(log.glob("*.json"), reverse=True):
        for line in commit.read_text(errors="replace").splitlines():
            try:
                protocol = json.loads(line).get("protocol")
            except ValueError:
                continue
            if protocol:
                names = sorted({*protocol.get("readerFeatures", []), *protocol.get("writerFeatures", [])})
                return (f"reader v{protocol.get('minReaderVersion')}, writer v{protocol.get('minWriterVersion')}"
                        + (f" [{', '.join(names)}]" if names else ""))
    checkpoints = sorted(log.glob("*.checkpoint*.parquet"))
    return f"unknown (protocol in checkpoint {checkpoints[-1].name})" if checkpoints else "unknown (no protocol)"


# --- staying in the lake -------------------------------------------------------------------------

# Table functions a query may call: they read no file and no catalog. Every other one (read_csv, glob,
# delta_scan, read_text, duckdb_settings, ...) would reach past the lake's tables, which Athena cannot.
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})


def lock_down(con: Any, directories: list[Path], scratch: Path) -> None:
    """Lock `con` once its views exist: files only under `directories` (the lake) and `scratch`
    (DuckDB's spill folder, which it always allows), no other external access (no INSTALL/LOAD,
    ATTACH, COPY or file readers elsewhere), and no further configuration changes (SET, RESET,
    PRAGMA). Settings as documented in "Securing DuckDB" (duckdb.org, 1.4): `allowed_directories`,
    `enable_external_access`, `lock_configuration`; the order matters, as each later one freezes more."""
    dirs = ", ".join("'" + (str(d).rstrip("/") + "/").replace("'", "''") + "'" for d in directories)
    con.execute(f"SET temp_directory = '{str(scratch).replace(chr(39), chr(39) * 2)}'")
    con.execute(f"SET allowed_directories = [{dirs}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def check_read_only(con: Any, sql: str, known: list[str] | None = None) -> None:
    """QueryError (exit 2) unless `sql` is SELECT statements calling only ALLOWED_TABLE_FUNCTIONS.

    DuckDB's lock (lock_down) already refuses files outside the lake and any setting change; this
    check names the reason plainly and also closes what the lock leaves open: the delta extension
    reads a `_delta_log` itself, outside DuckDB's file system, so `DESCRIBE ... delta_scan('/x')`
    would show any table's schema, and metadata functions would show the engine's settings."""
    import json

    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise _query_error(str(exc).strip(), known or []) from None
    for statement in statements:
        kind = statement.type.name
        if kind != "SELECT":
            raise QueryError(f"query refused: {kind} statements are not allowed; deplat query runs SELECT "
                             "queries over the lake's tables only",
                             "Athena runs no COPY, ATTACH, INSTALL, LOAD, SET or PRAGMA either; "
                             "select from <layer>.<table>")
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [statement.query]).fetchone()[0])
        if tree.get("error"):
            raise QueryError(f"query refused: {tree.get('error_message', 'not a plain SELECT')}",
                             "deplat query runs SELECT queries over the lake's tables only")
        for name in sorted(_table_functions(tree) - ALLOWED_TABLE_FUNCTIONS):
            raise QueryError(f"query refused: the table function {name}() reads outside the lake's tables",
                             "select from <layer>.<table>; only "
                             f"{', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))} may be called in FROM")


def _table_functions(node: Any) -> set[str]:
    """Names of every table function in a json_serialize_sql tree (subqueries and CTEs included)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION":
            found.add(str((node.get("function") or {}).get("function_name", "")).lower())
        for value in node.values():
            found |= _table_functions(value)
    elif isinstance(node, list):
        for value in node:
            found |= _table_functions(value)
    return found


def _outside_lake_error(message: str) -> QueryError:
    first = message.partition("\n")[0]
    return QueryError(f"query refused: {first}",
                      "deplat query reads the lake's tables only (as Athena does); select from <layer>.<table>")


_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")
_DID_YOU_MEAN = re.compile(r"^\s*Did you mean .*$\n?", re.M)


def _query_error(message: str, known: list[str]) -> QueryError:
    """The engine's message, less DuckDB's own "Did you mean" (it searches its whole catalog and so
    suggests internal names such as information_schema.schemata or pg_enum); the lake's known tables
    are the hint, in text and in `-o json`, with a close match among them named first."""
    message = _DID_YOU_MEAN.sub("", message).strip()
    first, _, rest = message.partition("\n")
    hint = "check the SQL and the table names; "
    missing = _MISSING_TABLE.search(first)
    if missing and known:
        import difflib

        name = missing.group(1).strip('"').lower()
        by_table = {t.split(".", 1)[-1].lower(): t for t in known}
        close = difflib.get_close_matches(name, by_table, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {by_table[close[0]]}? "
    hint += f"known tables: {', '.join(known)}" if known else "no tables yet: run a pipeline first"
    return QueryError(f"query failed: {first}", hint, detail=rest.strip() or None)


# --- Athena --------------------------------------------------------------------------------------

# Athena QueryExecution states -> the engine poll state machine's states.
_ATHENA_STATES = {"QUEUED": "QUEUED", "RUNNING": "RUNNING", "SUCCEEDED": "SUCCESS",
                  "FAILED": "FAILED", "CANCELLED": "CANCELLED"}
_USER_ERROR = 2  # AthenaError.ErrorCategory: 1 system, 2 user, 3 other


class AthenaQueryEngine:
    """Athena in the environment's workgroup: start, poll, page through results, cancel.

    `client` is a boto3 Athena client; `glue` (optional) a Glue client used to name the known tables
    in errors and to map `<layer>.<table>` to the Glue databases. Clock and sleep are injectable.
    """

    name = "athena"

    def __init__(self, client: Any, workgroup: str, glue_dbs: dict[str, str] | None = None,
                 glue: Any = None, *, policy: PollPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 page_size: int = 1000):
        self.client = client
        self.workgroup = workgroup
        self.glue_dbs = glue_dbs or {}
        self.glue = glue
        self.policy = policy or PollPolicy(initial=0.5, factor=1.5, maximum=5.0)
        self._clock = clock
        self._sleep = sleep
        self.page_size = page_size
        self.polls = 0

    def tables(self) -> list[str]:
        """Tables in the Glue databases (both spellings); empty when Glue cannot be listed."""
        if self.glue is None:
            return []
        names: list[str] = []
        try:
            for layer, db in self.glue_dbs.items():
                for page in self.glue.get_paginator("get_tables").paginate(DatabaseName=db):
                    for t in page["TableList"]:
                        names += [f"{layer}.{t['Name']}", f"{db}.{t['Name']}"]
        except Exception:  # noqa: BLE001 - only decorates an error message
            return names
        return sorted(names)

    def rewrite(self, sql: str) -> str:
        """`<layer>.<table>` -> `"<glue db>"."<table>"` outside string literals."""
        if not self.glue_dbs:
            return sql

        def sub(m: re.Match) -> str:
            db = self.glue_dbs.get(m.group(1).lower())
            return f'"{db}"."{m.group(2)}"' if db else m.group(0)

        return "".join(part if literal else _QUALIFIED.sub(sub, part) for literal, part in _unquoted_parts(sql))

    def run(self, sql: str, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
        """Start the query, wait (Ctrl-C sends StopQueryExecution), then page through the results.

        Raises QueryError (exit 2) for a user error (bad SQL, unknown table), JobFailedError
        (exit 4) for other failures, QueryCancelledError (exit 4) when cancelled.
        """
        from deplat.engines.poll import Poller

        started = self._clock()
        qid = self.client.start_query_execution(QueryString=self.rewrite(sql),
                                                WorkGroup=self.workgroup)["QueryExecutionId"]
        poller = Poller(lambda: self._state(qid), policy=self.policy, clock=self._clock, sleep=self._sleep)
        try:
            state = poller.wait()
        except KeyboardInterrupt:
            self.client.stop_query_execution(QueryExecutionId=qid)
            raise QueryCancelledError(f"query {qid} cancelled (StopQueryExecution sent)") from None
        finally:
            self.polls = poller.calls
        execution = state.extra["execution"]
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        if state.state == "CANCELLED":
            raise QueryCancelledError(f"query {qid} was cancelled: {state.details or 'no reason given'}")
        if state.state == "FAILED":
            category = execution["Status"].get("AthenaError", {}).get("ErrorCategory")
            if category == _USER_ERROR:
                raise _query_error(f"{state.details} (query {qid})", self.tables())
            raise JobFailedError(f"query {qid} failed: {state.details}", "rerun it; check the workgroup")
        columns, rows, truncated = self._results(qid, max_rows)
        return QueryResult(self.name, sql, columns, rows, truncated, round(self._clock() - started, 3),
                           qid, scanned, athena_cost_usd(scanned))

    def _state(self, qid: str) -> RunState:
        execution = self.client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        status = execution["Status"]
        raw = status["State"]
        if raw not in _ATHENA_STATES:
            return RunState(raw, extra={"execution": execution})
        return RunState(_ATHENA_STATES[raw], status.get("StateChangeReason", ""),
                        extra={"execution": execution})

    def _results(self, qid: str, max_rows: int) -> tuple[list[str], list[list[Any]], bool]:
        columns: list[str] = []
        rows: list[list[Any]] = []
        kwargs: dict[str, Any] = {"QueryExecutionId": qid, "MaxResults": self.page_size}
        first = True
        while True:
            page = self.client.get_query_results(**kwargs)
            result = page["ResultSet"]
            if first:
                columns = [c["Name"] for c in result["ResultSetMetadata"]["ColumnInfo"]]
            for i, row in enumerate(result["Rows"]):
                values = [d.get("VarCharValue") for d in row["Data"]]
                # A SELECT's first row on the first page repeats the column names.
                if first and i == 0 and values == columns:
                    continue
                rows.append(values)
            first = False
            if len(rows) > max_rows:
                return columns, rows[:max_rows], True
            token = page.get("NextToken")
            if not token:
                return columns, rows, False
            kwargs["NextToken"] = token


def engine_for(ctx: Context) -> LocalQueryEngine | AthenaQueryEngine:
    """DuckDB over the lake folder locally; Athena in the environment's workgroup in the cloud."""
    dbs = glue_databases(ctx)
    if ctx.env.is_local:
        lake = Path(ctx.lake_uri)
        return LocalQueryEngine(lake, dbs)
    return AthenaQueryEngine(ctx.aws.client("athena"), ctx.output("athena_workgroup"), dbs,
                             ctx.aws.client("glue"))


def read_sql(sql: str | None, file: Path | None) -> str:
    """The SQL from the argument or from `--file`; ConfigError when neither or both are given."""
    if (sql is None) == (file is None):
        raise ConfigError("give the SQL as an argument or with --file (one of them)",
                          'e.g. deplat query "SELECT count(*) FROM silver.fx_rates"')
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"--file {file} does not exist")
        sql = file.read_text()
    sql = (sql or "").strip().rstrip(";").strip()
    if not sql:
        raise ConfigError("the query is empty")
    return sql


def run_query(ctx: Context, sql: str, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run `sql` on the environment's query engine (see engine_for)."""
    return engine_for(ctx).run(sql, max_rows)
