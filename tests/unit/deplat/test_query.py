"""`deplat query`: DuckDB over local Delta tables (no JVM) and the Athena path with botocore Stubber."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from deplat.query import (
    AthenaQueryEngine,
    LocalQueryEngine,
    QueryCancelledError,
    QueryError,
    athena_cost_usd,
    referenced_tables,
    runbook_examples,
)
from deplat_job.errors import ExitCode, JobFailedError

SILVER_DB = "pyspark_de_project_silver"
TODAY = dt.date.today()

RUNBOOK = runbook_examples(SILVER_DB)
FX_LAST_7_DAYS = RUNBOOK["fx_last_7_days"]
TOP_CUSTOMERS_30_DAYS = RUNBOOK["top_customers_30_days"]
ORDERS_WITH_FX = RUNBOOK["orders_with_fx"]


def _days(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


FX_ROWS = [(ccy, "EUR", Decimal(rate), _days(d)) for ccy, rate, d in (
    ("USD", "1.1000000000", 1), ("JPY", "150.5000000000", 1), ("USD", "1.0800000000", 6),
    ("USD", "1.0500000000", 8), ("GBP", "0.8500000000", 20), ("USD", "1.0100000000", 40))]
ORDER_ROWS = [(oid, cust, _days(d), Decimal(amt), ccy) for oid, cust, d, amt, ccy in (
    ("o1", "c1", 1, "110.00", "USD"), ("o2", "c1", 6, "54.00", "USD"), ("o3", "c2", 1, "1505.00", "JPY"),
    ("o4", "c3", 20, "85.00", "GBP"), ("o5", "c2", 31, "999.00", "USD"), ("o6", "c4", 40, "10.10", "USD"),
    ("o7", "c3", 29, "1.00", "GBP"))]


def write_small_lake(lake) -> None:
    """silver.fx_rates and silver.orders, the columns the runbook examples use, via delta-rs."""
    import pyarrow as pa
    from deltalake import write_deltalake

    fx = pa.table({
        "ccy": [r[0] for r in FX_ROWS], "base_ccy": [r[1] for r in FX_ROWS],
        "rate_to_base": pa.array([r[2] for r in FX_ROWS], pa.decimal128(24, 10)),
        "as_of_date": [r[3] for r in FX_ROWS]})
    write_deltalake(str(lake / "silver" / "fx_rates"), fx, partition_by=["as_of_date"])
    orders = pa.table({
        "order_id": [r[0] for r in ORDER_ROWS], "customer_id": [r[1] for r in ORDER_ROWS],
        "order_date": [r[2] for r in ORDER_ROWS],
        "total_amount": pa.array([r[3] for r in ORDER_ROWS], pa.decimal128(18, 2)),
        "currency": [r[4] for r in ORDER_ROWS]})
    write_deltalake(str(lake / "silver" / "orders"), orders)
    errors = pa.table({"reason": ["bad rate", "bad rate", "no date"], "raw_record": ["a", "b", "c"]})
    write_deltalake(str(lake / "_errors" / "ecb_fx"), errors)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    path = tmp_path_factory.mktemp("lake")
    write_small_lake(path)
    return path


@pytest.fixture
def engine(lake):
    return LocalQueryEngine(lake, {"silver": SILVER_DB, "gold": "pyspark_de_project_gold"})


def test_known_tables_under_layer_and_glue_names(engine):
    assert sorted(engine.tables()) == ["_errors.ecb_fx", f"{SILVER_DB}.fx_rates", f"{SILVER_DB}.orders",
                                       "silver.fx_rates", "silver.orders"]


def test_rejected_rows_are_queryable(engine):
    r = engine.run("SELECT reason, count(*) FROM _errors.ecb_fx GROUP BY 1 ORDER BY 1")
    assert r.rows == [["bad rate", 2], ["no date", 1]]


def test_fx_last_7_days(engine):
    r = engine.run(FX_LAST_7_DAYS)
    assert r.columns == ["ccy", "as_of_date", "rate_to_base"]
    assert [(c, d) for c, d, _ in r.rows] == [("JPY", _days(1)), ("USD", _days(1)), ("USD", _days(6))]


def test_top_customers_uses_trino_date_add(engine):
    r = engine.run(TOP_CUSTOMERS_30_DAYS)
    assert [(c, n, s) for c, n, s in r.rows] == [
        ("c2", 1, Decimal("1505.00")), ("c1", 2, Decimal("164.00")), ("c3", 2, Decimal("86.00"))]


def test_orders_joined_to_fx(engine):
    r = engine.run(ORDERS_WITH_FX)
    assert [row[0] for row in r.rows] == ["o1", "o3", "o2", "o4", "o6"]  # o5 (day 31): no fixing
    assert float(r.rows[1][5]) == 10.0  # 1505 JPY / 150.5


def test_layer_names_and_glue_names_agree(engine):
    a = engine.run("SELECT count(*) FROM silver.fx_rates").rows
    b = engine.run(f"SELECT count(*) FROM {SILVER_DB}.fx_rates").rows
    assert a == b == [[len(FX_ROWS)]]


def test_trino_date_add_units_and_duckdb_form(engine):
    r = engine.run("SELECT date_add('month', 1, DATE '2024-01-31'), date_add('hour', -2, TIMESTAMP "
                   "'2024-01-01 01:00:00'), date_add(DATE '2024-01-01', INTERVAL 3 DAY)")
    assert r.rows == [[dt.datetime(2024, 2, 29), dt.datetime(2023, 12, 31, 23), dt.datetime(2024, 1, 4)]]


def test_unknown_table_exit_2_lists_known_tables(engine):
    with pytest.raises(QueryError) as err:
        engine.run("SELECT * FROM silver.nope")
    assert err.value.exit_code == ExitCode.USAGE
    assert "nope" in err.value.message
    # the lake's tables are the hint (text and -o json), not DuckDB's catalog-wide "Did you mean"
    assert "silver.fx_rates" in err.value.hint and f"{SILVER_DB}.orders" in err.value.hint
    assert "Did you mean" not in f"{err.value.message} {err.value.detail}"


def test_unknown_table_suggests_a_lake_table_never_an_internal_one(engine):
    for sql in ("SELECT * FROM nope", "SELECT * FROM information_schema.schemat"):
        with pytest.raises(QueryError) as err:
            engine.run(sql)
        text = f"{err.value.message} {err.value.hint} {err.value.detail}"
        assert "Did you mean" not in text and "pg_" not in text and "schemata" not in text, text
        assert "known tables: " in err.value.hint
    with pytest.raises(QueryError) as err:
        engine.run("SELECT * FROM silver.fx_rate")
    assert err.value.hint.startswith("did you mean silver.fx_rates? known tables: ")


def test_bad_sql_exit_2(engine):
    with pytest.raises(QueryError) as err:
        engine.run("SELEC 1")
    assert "syntax error" in err.value.message.lower()


def test_row_cap_truncates(engine):
    r = engine.run("SELECT * FROM range(25)", max_rows=10)
    assert len(r.rows) == 10 and r.truncated


def test_string_literals_are_not_table_references():
    assert referenced_tables("SELECT 'silver.fake' FROM silver.orders o WHERE o.x = 1") == {
        ("silver", "orders"), ("o", "x")}


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(lake, deplat_env):
    return deplat_env(lake=lake, outputs={"glue_database_silver": SILVER_DB})


def _cli(*args):
    from typer.testing import CliRunner

    from deplat.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_json_csv_file_and_errors(cli_env, tmp_path):
    r = _cli("-o", "json", "query", "SELECT ccy FROM silver.fx_rates ORDER BY ccy LIMIT 2")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["rows"] == [["GBP"], ["JPY"]] and data["row_count"] == 2

    sql = tmp_path / "q.sql"
    sql.write_text(TOP_CUSTOMERS_30_DAYS + ";\n")
    r = _cli("query", "--file", str(sql), "--format", "csv")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[:2] == ["customer_id,orders,total_spend", "c2,1,1505.00"]

    r = _cli("query", "SELECT * FROM range(80)", "--limit", "5")
    assert r.exit_code == 0 and "showing 5 of 80 rows" in r.output

    r = _cli("query", "SELECT * FROM gold.nothing")
    assert r.exit_code == 2
    assert "known tables" in r.output and f"{SILVER_DB}.fx_rates" in r.output

    r = _cli("-o", "json", "query", "SELECT * FROM gold.nothing")
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert "known tables: " in err["hint"] and f"{SILVER_DB}.fx_rates" in err["hint"]


# --- Athena (botocore Stubber; moto's Athena runs no SQL) -----------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _athena():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("athena", region_name="us-east-1")
    return client, Stubber(client)


def _execution(state, reason=None, scanned=0, category=None):
    status = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    if category:
        status["AthenaError"] = {"ErrorCategory": category, "ErrorType": 1301}
    return {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status,
                               "Statistics": {"DataScannedInBytes": scanned}}}


def _page(rows, token=None, header=False):
    data = ([[{"VarCharValue": "ccy"}, {"VarCharValue": "n"}]] if header else []) + rows
    page = {"ResultSet": {"Rows": [{"Data": r} for r in data],
                          "ResultSetMetadata": {"ColumnInfo": [{"Name": "ccy", "Type": "varchar"},
                                                               {"Name": "n", "Type": "bigint"}]}}}
    if token:
        page["NextToken"] = token
    return page


def _row(ccy, n):
    return [{"VarCharValue": ccy}, {"VarCharValue": str(n)}]


def _start(stub, sql):
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"},
                      {"QueryString": sql, "WorkGroup": "wg"})


def test_athena_queued_running_succeeded_pages_and_cost():
    client, stub = _athena()
    clock = FakeClock()
    _start(stub, f'SELECT ccy, count(*) n FROM "{SILVER_DB}"."fx_rates" GROUP BY 1')
    for state in ("QUEUED", "QUEUED", "RUNNING", "RUNNING"):
        stub.add_response("get_query_execution", _execution(state), {"QueryExecutionId": "q-1"})
    stub.add_response("get_query_execution", _execution("SUCCEEDED", scanned=3 * 10**9))
    stub.add_response("get_query_results", _page([_row("USD", 1), _row("JPY", 2)], "t1", header=True),
                      {"QueryExecutionId": "q-1", "MaxResults": 2})
    stub.add_response("get_query_results", _page([_row("GBP", 3), _row("CHF", 4)], "t2"),
                      {"QueryExecutionId": "q-1", "MaxResults": 2, "NextToken": "t1"})
    stub.add_response("get_query_results", _page([_row("SEK", 5)]),
                      {"QueryExecutionId": "q-1", "MaxResults": 2, "NextToken": "t2"})
    engine = AthenaQueryEngine(client, "wg", {"silver": SILVER_DB}, clock=clock, sleep=clock.sleep,
                               page_size=2)
    with stub:
        r = engine.run("SELECT ccy, count(*) n FROM silver.fx_rates GROUP BY 1")
    stub.assert_no_pending_responses()
    assert r.columns == ["ccy", "n"]
    assert r.rows == [["USD", "1"], ["JPY", "2"], ["GBP", "3"], ["CHF", "4"], ["SEK", "5"]]
    assert not r.truncated and r.query_id == "q-1" and engine.polls == 5
    assert r.bytes_scanned == 3 * 10**9
    assert r.cost_usd == pytest.approx(2862 * 1024 * 1024 / 1e12 * 5)  # rounded up to whole MB
    assert clock.sleeps[0] == 0.5 and clock.sleeps[1] > clock.sleeps[0]  # backs off while QUEUED
    assert r.elapsed_s == pytest.approx(sum(clock.sleeps))


def test_athena_row_cap_stops_paging():
    client, stub = _athena()
    clock = FakeClock()
    _start(stub, "SELECT 1")
    stub.add_response("get_query_execution", _execution("SUCCEEDED", scanned=1))
    stub.add_response("get_query_results", _page([_row("A", 1), _row("B", 2)], "t1", header=True))
    stub.add_response("get_query_results", _page([_row("C", 3), _row("D", 4)], "t2"))
    engine = AthenaQueryEngine(client, "wg", clock=clock, sleep=clock.sleep, page_size=2)
    with stub:
        r = engine.run("SELECT 1", max_rows=3)
    stub.assert_no_pending_responses()  # the third page was never asked for
    assert [row[0] for row in r.rows] == ["A", "B", "C"] and r.truncated


def test_athena_user_error_exit_2_with_reason_and_known_tables():
    import boto3
    from botocore.stub import Stubber

    client, stub = _athena()
    glue = boto3.client("glue", region_name="us-east-1")
    glue_stub = Stubber(glue)
    glue_stub.add_response("get_tables", {"TableList": [{"Name": "fx_rates"}, {"Name": "orders"}]},
                           {"DatabaseName": SILVER_DB})
    clock = FakeClock()
    _start(stub, "SELECT * FROM nope")
    stub.add_response("get_query_execution", _execution("RUNNING"))
    stub.add_response("get_query_execution", _execution(
        "FAILED", "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.default.nope' does not exist",
        category=2))
    engine = AthenaQueryEngine(client, "wg", {"silver": SILVER_DB}, glue, clock=clock, sleep=clock.sleep)
    with stub, glue_stub, pytest.raises(QueryError) as err:
        engine.run("SELECT * FROM nope")
    assert err.value.exit_code == 2 and "TABLE_NOT_FOUND" in err.value.message
    assert "silver.orders" in err.value.hint and f"{SILVER_DB}.fx_rates" in err.value.hint


def test_athena_system_failure_exit_4():
    client, stub = _athena()
    clock = FakeClock()
    _start(stub, "SELECT 1")
    stub.add_response("get_query_execution", _execution("FAILED", "Internal error", category=1))
    with stub, pytest.raises(JobFailedError) as err:
        AthenaQueryEngine(client, "wg", clock=clock, sleep=clock.sleep).run("SELECT 1")
    assert err.value.exit_code == 4 and "Internal error" in err.value.message
    assert not isinstance(err.value, QueryError)


def test_athena_cancelled_elsewhere():
    client, stub = _athena()
    clock = FakeClock()
    _start(stub, "SELECT 1")
    stub.add_response("get_query_execution", _execution("RUNNING"))
    stub.add_response("get_query_execution", _execution("CANCELLED", "Query was cancelled by user"))
    with stub, pytest.raises(QueryCancelledError) as err:
        AthenaQueryEngine(client, "wg", clock=clock, sleep=clock.sleep).run("SELECT 1")
    assert "cancelled by user" in err.value.message


def test_athena_ctrl_c_stops_the_query():
    client, stub = _athena()
    clock = FakeClock()
    _start(stub, "SELECT 1")
    stub.add_response("get_query_execution", _execution("RUNNING"))
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})

    def interrupted_sleep(seconds):
        raise KeyboardInterrupt

    with stub, pytest.raises(QueryCancelledError) as err:
        AthenaQueryEngine(client, "wg", clock=clock, sleep=interrupted_sleep).run("SELECT 1")
    stub.assert_no_pending_responses()
    assert "StopQueryExecution" in err.value.message


def test_athena_rewrite_keeps_literals_and_unknown_schemas():
    engine = AthenaQueryEngine(None, "wg", {"silver": SILVER_DB, "gold": "g_db"})
    assert engine.rewrite("SELECT o.id, 'silver.x' FROM silver.orders o JOIN gold.t USING (id)") == (
        f'SELECT o.id, \'silver.x\' FROM "{SILVER_DB}"."orders" o JOIN "g_db"."t" USING (id)')


def test_athena_cost():
    assert athena_cost_usd(0) == 0.0
    assert athena_cost_usd(1) == pytest.approx(10 * 1024 * 1024 / 1e12 * 5)  # 10 MB minimum
    assert athena_cost_usd(10**12) == pytest.approx(5.0, rel=1e-3)


# --- staying in the lake (issue 23 part 4): what Athena cannot do, the local engine refuses (exit 2) --


@pytest.fixture
def outside(tmp_path):
    """A folder outside the lake with a readable CSV and a Delta table in it."""
    import pyarrow as pa
    from deltalake import write_deltalake

    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.csv").write_text("user,password\nroot,hunter2\n")
    write_deltalake(str(out / "other_table"), pa.table({"secret_column": [1]}))
    return out


ESCAPES = {
    "read_csv": "SELECT * FROM read_csv('{out}/secret.csv')",
    "read_csv_etc_passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "read_text": "SELECT * FROM read_text('/etc/hostname')",
    "replacement_scan": "SELECT * FROM '{out}/secret.csv'",
    "glob": "SELECT * FROM glob('/etc/*')",
    "glob_in_subquery": "SELECT 1 WHERE EXISTS (SELECT * FROM glob('{out}/*'))",
    "glob_in_cte": "WITH f AS (SELECT * FROM glob('{out}/*')) SELECT count(*) FROM f",
    "copy_to": "COPY (SELECT 1 AS x) TO '{out}/written.csv'",
    "copy_table_to": "COPY silver.fx_rates TO '{out}/written.csv'",
    "export_database": "EXPORT DATABASE '{out}/written'",
    "attach": "ATTACH '{out}/written.db'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "set": "SET threads = 1",
    "set_external_access": "SET enable_external_access = true",
    "reset_lock": "RESET lock_configuration",
    "pragma": "PRAGMA profiling_output = '{out}/written.txt'",
    "delta_scan_outside": "DESCRIBE SELECT * FROM delta_scan('{out}/other_table')",
    "settings": "SELECT * FROM duckdb_settings()",
    "second_statement": "SELECT 1; COPY (SELECT 1 AS x) TO '{out}/written.csv'",
    "create_view": "CREATE VIEW v AS SELECT * FROM read_csv('{out}/secret.csv')",
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_query_cannot_leave_the_lake(engine, outside, name):
    sql = ESCAPES[name].format(out=outside)
    with pytest.raises(QueryError) as err:
        engine.run(sql)
    assert err.value.exit_code == ExitCode.USAGE
    text = f"{err.value.message} {err.value.hint}"
    assert "refused" in err.value.message and "lake" in text, text
    assert "hunter2" not in text and "secret_column" not in text
    assert sorted(p.name for p in outside.iterdir()) == ["other_table", "secret.csv"]  # nothing written


def test_escapes_exit_2_on_the_cli_with_a_clear_message(cli_env, outside):
    for sql in (f"SELECT * FROM read_csv('{outside}/secret.csv')", f"COPY (SELECT 1) TO '{outside}/w.csv'",
                "INSTALL httpfs", "SET threads = 1"):
        r = _cli("query", sql)
        assert r.exit_code == 2, r.output
        assert "query refused" in r.output and "unexpected error" not in r.output and "hunter2" not in r.output
    assert not (outside / "w.csv").exists()


def test_duckdb_lock_holds_without_the_statement_check(lake, outside, tmp_path):
    """The lock alone (as `deplat query` sets it) keeps DuckDB in the lake, should a statement pass
    the read-only check: defence in depth."""
    import duckdb

    from deplat.query import bind_table, duckdb_connect, lock_down

    con = duckdb_connect()
    bind_table(con, "silver.fx_rates", lake / "silver" / "fx_rates")
    spill = tmp_path / "spill"
    spill.mkdir()
    lock_down(con, [lake.resolve()], spill)
    assert con.execute("SELECT count(*) FROM silver.fx_rates").fetchone() == (len(FX_ROWS),)
    for sql in (f"SELECT * FROM read_csv('{outside}/secret.csv')", "SELECT * FROM glob('/etc/*')",
                f"COPY (SELECT 1) TO '{outside}/w.csv'", f"ATTACH '{outside}/w.db'", "INSTALL httpfs"):
        with pytest.raises(duckdb.PermissionException):
            con.execute(sql)
    for sql in ("SET threads = 1", "SET enable_external_access = true", "RESET allowed_directories"):
        with pytest.raises(duckdb.InvalidInputException, match="configuration has been locked"):
            con.execute(sql)
    assert sorted(p.name for p in outside.iterdir()) == ["other_table", "secret.csv"]


def test_lake_queries_still_work_under_the_lock(engine):
    """range(), unnest() and generate_series() read no file; every runbook example still runs."""
    assert engine.run("SELECT sum(range) FROM range(4)").rows == [[6]]
    assert engine.run("SELECT unnest([1, 2])").rows == [[1], [2]]
    assert engine.run("SELECT count(*) FROM generate_series(1, 3)").rows == [[3]]
    for sql in RUNBOOK.values():
        assert engine.run(sql).readers == {t: "duckdb-delta" for t in engine.run(sql).tables}


def test_a_table_neither_reader_reads_is_refused_naming_table_and_feature(tmp_path):
    """Every feature Delta Spark 3.3 writes is read by one of the two readers
    (tests/integration/deplat/test_query_delta_features.py), so the refusal is shown on a table whose newest
    commit declares a reader feature from the future, as a newer writer would."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from deplat.query import UnreadableTableError

    table = tmp_path / "silver" / "from_the_future"
    write_deltalake(str(table), pa.table({"id": [1]}))
    protocol = {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["futureFeature"],
                "writerFeatures": ["futureFeature"]}
    (table / "_delta_log" / f"{1:020d}.json").write_text(
        json.dumps({"protocol": protocol}) + "\n" + json.dumps({"commitInfo": {"operation": "UPGRADE"}}) + "\n")
    with pytest.raises(UnreadableTableError) as err:
        LocalQueryEngine(tmp_path).run("SELECT count(*) FROM silver.from_the_future")
    assert err.value.exit_code == ExitCode.USAGE
    assert "silver.from_the_future" in err.value.message and "futureFeature" in err.value.message
    assert "unexpected" not in err.value.message.lower()
