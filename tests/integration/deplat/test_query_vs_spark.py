"""The runbook's three Athena examples through `deplat query` (DuckDB) equal Spark SQL over the same
Delta tables, written by delta-spark as the pipelines write them (silver schemas, partitioning)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from deplat.query import runbook_examples

pytestmark = pytest.mark.spark

SILVER_DB = "pyspark_de_project_silver"
RUNBOOK_QUERIES = runbook_examples(SILVER_DB)
TODAY = dt.date.today()


def _days(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


FX_ROWS = [(ccy, "EUR", Decimal(rate), _days(d)) for ccy, rate, d in (
    ("USD", "1.1000000000", 1), ("JPY", "150.5000000000", 1), ("USD", "1.0800000000", 6),
    ("USD", "1.0500000000", 8), ("GBP", "0.8500000000", 20), ("USD", "1.0100000000", 40),
    ("CHF", "0.9400000000", 3))]
ORDER_ROWS = [(oid, cust, _days(d), Decimal(amt), ccy) for oid, cust, d, amt, ccy in (
    ("o1", "c1", 1, "110.00", "USD"), ("o2", "c1", 6, "54.00", "USD"), ("o3", "c2", 1, "1505.00", "JPY"),
    ("o4", "c3", 20, "85.00", "GBP"), ("o5", "c2", 31, "999.00", "USD"), ("o6", "c4", 40, "10.10", "USD"),
    ("o7", "c3", 29, "1.00", "GBP"), ("o8", "c5", 3, "47.00", "CHF"), ("o9", "c5", 2, "1.00", "CHF"))]


@pytest.fixture(scope="module")
def spark_lake(spark, tmp_path_factory):
    from deplat_job.pipelines.table_schemas import FX_PARTITION, FX_RATES, ORDERS, ORDERS_PARTITION

    lake = tmp_path_factory.mktemp("qlake")
    fx = [(c, b, r, d, "official", "b1") for c, b, r, d in FX_ROWS]
    (spark.createDataFrame(fx, FX_RATES).write.format("delta").partitionBy(FX_PARTITION)
     .save(str(lake / "silver" / "fx_rates")))
    orders = [(o, c, d, a, ccy, "PAID", "tpch", d.strftime("%Y-%m")) for o, c, d, a, ccy in ORDER_ROWS]
    (spark.createDataFrame(orders, ORDERS).write.format("delta").partitionBy(ORDERS_PARTITION)
     .save(str(lake / "silver" / "orders")))
    return lake


def _spark_sql(sql: str, lake) -> str:
    """The same query for Spark: tables by path; Trino's date_add(unit, n, d) is Spark's
    date_add(d, n) (Spark 3.5's parser refuses a quoted unit)."""
    sql = re.sub(rf"{SILVER_DB}\.(\w+)", lambda m: f"delta.`{lake}/silver/{m.group(1)}`", sql)
    return re.sub(r"date_add\('day',\s*(-?\d+),\s*([\w()]+)\)", r"date_add(\2, \1)", sql)


def _norm(rows):
    out = []
    for row in rows:
        out.append(tuple(round(float(v), 6) if isinstance(v, (Decimal, float)) else v for v in row))
    return out


@pytest.mark.parametrize("name", sorted(RUNBOOK_QUERIES))
def test_runbook_query_equals_spark_sql(spark, spark_lake, name):
    from deplat.query import LocalQueryEngine

    sql = RUNBOOK_QUERIES[name]
    ours = LocalQueryEngine(spark_lake, {"silver": SILVER_DB}).run(sql)
    theirs = spark.sql(_spark_sql(sql, spark_lake))
    assert ours.columns == theirs.columns
    expected = _norm(tuple(r) for r in theirs.collect())
    assert expected, "the example must return rows for the comparison to mean something"
    assert _norm(ours.rows) == expected
