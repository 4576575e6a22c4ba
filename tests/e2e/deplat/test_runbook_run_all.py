"""The main job, end to end on the local env, as a user runs it: Terraform on moto, seeded sources,
`deplat deploy`, every pipeline run and waited for; then every layer is cross-checked against its
source.

The runs are the first of conftest's two runbooks (`runbook_twice`: a fresh lake in tmp, so the counts
are the runs' own), read from the runbook's JSON, which carries each pipeline's job runs and their
counted metrics as `deplat run -o json` gives them. The lake is read after the second runbook, which
changes no row count (test_runbook). Before, this module ran its own `run all` into a second
lake: the same jobs on the same sources, ~290 s more CI.
"""

import json
from pathlib import Path

import pytest

from deplat.registry import PIPELINES
from deplat.runbook import PIPELINE_STEPS

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.terraform]


@pytest.fixture(scope="module")
def lake(runbook_twice):
    records = {s["name"]: s for s in runbook_twice["first"]["steps"]}
    pipelines = [records[p] for p in PIPELINE_STEPS]
    run = {"steps": [j for p in pipelines for j in p["figures"]["jobs"]],
           "metrics": [m for p in pipelines for m in p["figures"]["metrics"]],
           "batches": {p["name"]: p["figures"]["batch_id"] for p in pipelines}}
    return {"path": runbook_twice["lake"], "run": run, "deplat": runbook_twice["deplat"]}


def _table(lake: Path, name: str):
    from deltalake import DeltaTable

    return DeltaTable(str(lake / name)).to_pyarrow_table()


def _errors(lake: dict, name: str, batch_id: str) -> int:
    """Rows of lake/_errors/<name> written by one batch (0 when the table was never written)."""
    path = lake["path"] / "_errors" / name
    if not (path / "_delta_log").is_dir():
        return 0
    return sum(1 for b in _table(lake["path"], f"_errors/{name}").column("batch_id").to_pylist() if b == batch_id)


def _metrics(run: dict) -> dict:
    return {m["step"]: m for m in run["metrics"]}


def test_every_step_succeeded_and_reported_counts(lake):
    states = [s["state"] for s in lake["run"]["steps"]]
    expected = [st.name for name in PIPELINE_STEPS for st in PIPELINES[name].steps]
    assert [s["step"] for s in lake["run"]["steps"]] == expected and set(states) == {"SUCCESS"}
    metrics = _metrics(lake["run"])
    assert all(metrics[s]["written"] > 0 for s in metrics), metrics


def test_every_step_accounts_for_every_row_it_read(lake):
    # Each count is counted on its own by the step, so a row lost between reading and writing shows.
    # Row-flow steps: read = written - derived + rejected + skipped (`derived`: rows a step makes, such
    # as fx's EUR reference rows). gold_aggregates writes aggregates: each order read is converted or
    # rejected. dq_check writes results about the rows it reads, not the rows: nothing to balance.
    def unaccounted(m):
        if m["step"] == "gold_aggregates":
            return m["read"] - m["converted_orders"] - m["rejected"]
        return m["read"] - (m["written"] - m.get("derived", 0) + m["rejected"] + m.get("skipped", 0))

    metrics = [m for m in lake["run"]["metrics"] if m["step"] != "dq_check"]
    assert {m["step"] for m in metrics} >= {"fx_to_bronze", "fx_bronze_to_silver", "orders_silver", "gold_aggregates"}
    unbalanced = {m["step"]: m for m in metrics if unaccounted(m)}
    assert not unbalanced, unbalanced


def test_fx_one_row_per_currency_per_ecb_business_day(lake):
    from deplat_job.sources.fx import PACKAGED, fetch, parse

    history = parse(fetch(PACKAGED))
    quoted = {(d, c) for d, c, v in history.cells if v and v.strip() not in ("", "N/A")}
    fx = _table(lake["path"], "silver/fx_rates").to_pylist()
    keys = {(str(r["as_of_date"]), r["ccy"]) for r in fx}
    assert len(keys) == len(fx)  # deduplicated: one row per (currency, day)
    assert {(d, c) for d, c in keys if c != "EUR"} == quoted
    assert len({d for d, _ in keys}) == len(history.dates)


def test_tpch_orders_match_dbgen(lake):
    from deplat.local.seed_snowflake import tpch_duckdb

    expected = tpch_duckdb(0.01).execute("SELECT count(*) FROM orders").fetchone()[0]
    assert _table(lake["path"], "silver/orders_tpch").num_rows == expected
    m = _metrics(lake["run"])["orders_silver"]
    assert m["kafka_present"]  # the runbook's stream ran first: silver.orders holds both sources
    # Every TPC-H order is in silver.orders (source tpch) or in its errors table with a reason.
    orders = _table(lake["path"], "silver/orders")
    in_silver = sum(1 for s in orders.column("source").to_pylist() if s == "tpch")
    assert in_silver == m["by_source"]["tpch"]
    assert in_silver + _errors(lake, "orders_tpch", lake["run"]["batches"]["gold"]) == expected


def test_dms_silver_equals_postgres(lake, local_stack):
    import psycopg

    from deplat.local.rds import conninfo

    with psycopg.connect(conninfo(local_stack.settings)) as conn:
        rows = conn.execute("SELECT order_id, status, amount::text FROM app.orders").fetchall()
    silver = _table(lake["path"], "silver/rds_orders").to_pylist()
    assert {(r["order_id"], r["status"], str(r["amount"])) for r in silver} == set(rows)


def test_salesforce_silver_matches_the_source(lake, local_stack):
    from deplat.local.standins.salesforce_server import salesforce_connection
    from deplat_job.sources.salesforce import SalesforceConfig, connect

    sf = connect(SalesforceConfig.from_json(json.dumps(salesforce_connection(local_stack.settings))))
    live = sf.query_all("SELECT Id FROM Account")["totalSize"]
    assert _table(lake["path"], "silver/salesforce_account").num_rows == live


def test_gold_daily_revenue_adds_up_to_silver_orders(lake):
    orders = _table(lake["path"], "silver/orders")
    gold = _table(lake["path"], "gold/daily_revenue").to_pylist()
    assert sum(r["orders"] for r in gold) + _metrics(lake["run"])["gold_aggregates"]["rejected"] == orders.num_rows


def test_rerun_changes_no_row_counts(lake):
    before = {t: _table(lake["path"], t).num_rows for t in ("bronze/snowflake_orders", "silver/orders_tpch",
                                                           "bronze/dms_app_orders", "silver/rds_orders")}
    lake["deplat"]("run", "snowflake", "--wait")
    lake["deplat"]("run", "dms", "--wait")
    after = {t: _table(lake["path"], t).num_rows for t in before}
    assert after == before
