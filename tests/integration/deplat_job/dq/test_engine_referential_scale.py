"""A referential DQ check against a reference table of 1,000,000 distinct values (issue 21 item 3).

The check runs as a join on the engine: no cap on the reference's size, no reference value on the
driver. GX has no cross-table expectation; the oracle here is its documented in-set semantics computed
independently: a left anti join of the checked column's non-NULL values against the reference's
non-NULL values (a NULL key is not judged, a NULL in the reference matches nothing). The check passes
when every key is referenced and fails with exactly one unexpected row when one key is missing.
"""

from __future__ import annotations

import pytest

from deplat_job.dq import engine
from deplat_job.dq.suite import parse_suite

pytestmark = pytest.mark.spark

N = 1_000_000
SUITE = {"table": "silver.orders", "expectations": [
    {"check": "referential", "column": "customer_id", "ref_table": "silver.customers", "ref_column": "id"}]}
LABEL = "referential(customer_id -> silver.customers.id)"


def _anti_join_count(spark, lake: str) -> int:
    """The oracle: non-NULL checked values with no equal non-NULL reference value."""
    orders = spark.read.format("delta").load(f"{lake}/silver/orders").where("customer_id IS NOT NULL")
    refs = spark.read.format("delta").load(f"{lake}/silver/customers").where("id IS NOT NULL")
    return orders.join(refs, orders["customer_id"] == refs["id"], "left_anti").count()


def test_a_million_value_reference_passes_and_one_missing_key_fails(spark, tmp_path):
    lake = str(tmp_path)
    # the reference: 1,000,000 distinct ids and a NULL (which must match nothing)
    spark.range(N).selectExpr("id").union(spark.sql("SELECT CAST(NULL AS BIGINT) AS id")) \
        .write.format("delta").save(f"{lake}/silver/customers")
    # every reference value once, and a NULL key (not judged)
    spark.range(N).selectExpr("id AS customer_id").union(spark.sql("SELECT CAST(NULL AS BIGINT)")) \
        .write.format("delta").save(f"{lake}/silver/orders")
    suite = parse_suite(SUITE, "orders")
    ok, _ = engine.check_suite(spark, lake, suite, gx_report=False)
    assert _anti_join_count(spark, lake) == 0
    assert ok.success and ok.rows == N + 1
    r = ok.results[0]
    assert (r.success, r.unexpected_count, r.element_count) == (True, 0, N + 1)

    spark.createDataFrame([(N,)], "customer_id BIGINT").write.format("delta").mode("append").save(
        f"{lake}/silver/orders")  # one key the reference lacks
    bad, validation = engine.check_suite(spark, lake, suite)
    assert _anti_join_count(spark, lake) == 1
    r = bad.results[0]
    assert not bad.success and bad.delta_version == 1
    assert (r.success, r.unexpected_count) == (False, 1)
    assert r.unexpected_percent == pytest.approx(100.0 / (N + 1), rel=1e-3)
    assert r.samples == [N] and r.computed_by == engine.COMPUTED_BY_JOIN_SAMPLES
    # the validation result names the reference instead of carrying its million values
    config = validation.results[0].expectation_config.to_json_dict()
    assert config["kwargs"]["value_set"] == {"$PARAMETER": "ref silver.customers.id"}
