"""Snowflake (TPC-H) transforms on small DataFrames: key ranges, idempotent chunk appends, the
state table, silver typing/dedup/bad rows, and MERGE by key confined to the touched partitions."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from deplat_job.pipelines.table_schemas import TPCH_TABLES
from deplat_job.sources.snowflake import KeyRange, key_ranges, ranges_from_boundaries

ORDERS = TPCH_TABLES["orders"]
T0 = datetime(2024, 1, 1, 12, 0, 0)


def test_key_ranges_cover_min_to_max_half_open():
    assert key_ranges(1, 10, 4) == [KeyRange(1, 5), KeyRange(5, 9), KeyRange(9, 11)]
    assert key_ranges(7, 7, 100) == [KeyRange(7, 8)]
    with pytest.raises(ValueError):
        key_ranges(1, 2, 0)


def test_ranges_from_boundaries_follow_the_keys_not_their_span():
    # the case snowflake-sparse-key-outlier: keys 1, 2, 3 and 10^12, two rows per chunk
    assert ranges_from_boundaries([1, 3], 10**12) == [KeyRange(1, 3), KeyRange(3, 10**12 + 1)]
    assert ranges_from_boundaries([5, 5, 1], 9) == [KeyRange(1, 5), KeyRange(5, 10)]


def _order(key, day, price="10.00", status="O", cust=1):
    return (key, cust, status, Decimal(price), day, "1-URGENT", "Clerk#1", 0, "c")


def _bronze(spark, rows, ingest_ts=T0, batch="b1", version=None):
    from pyspark.sql import functions as F

    from deplat_job.pipelines import snowflake as sf

    df = sf.chunk_frame(spark, ORDERS, [c for c, _, _ in ORDERS.columns], rows)
    df = (df.withColumn("_ingest_ts", F.lit(ingest_ts)).withColumn("_source", F.lit("snowflake"))
          .withColumn("_batch_id", F.lit(batch)))
    if version is not None:
        df = df.withColumn("_commit_version", F.lit(version).cast("long"))
    return df


def test_chunk_frame_matches_columns_by_name(spark):
    from deplat_job.pipelines import snowflake as sf

    cols = [c for c, _, _ in ORDERS.columns]
    row = _order(1, date(2024, 1, 2))
    df = sf.chunk_frame(spark, ORDERS, list(reversed(cols)), [tuple(reversed(row))])
    assert df.first()["o_orderkey"] == 1 and df.first()["o_totalprice"] == Decimal("10.00")
    with pytest.raises(ValueError, match="lacks columns"):
        sf.chunk_frame(spark, ORDERS, cols[:-1], [row[:-1]])


def test_append_changed_picks_up_updates_and_late_keys_and_reruns_append_nothing(spark, tmp_path):
    from deplat_job.pipelines import snowflake as sf

    path = str(tmp_path / "bronze")
    sf.ensure_table(spark, path, sf.bronze_schema(ORDERS), change_feed=True)
    whole = KeyRange(1, 100)
    first = sf.append_changed(_bronze(spark, [_order(1, date(2024, 1, 2)), _order(5, date(2024, 1, 3))]),
                              path, ORDERS, whole)
    assert (first.appended, first.unchanged) == (2, 0)
    # A rescan: order 1 unchanged, order 5 updated, order 3 committed late below the highest key.
    rescan = [_order(1, date(2024, 1, 2)), _order(5, date(2024, 1, 3), price="99.00"), _order(3, date(2024, 1, 2))]
    second = sf.append_changed(_bronze(spark, rescan, ingest_ts=T0 + timedelta(hours=1)), path, ORDERS, whole)
    assert (second.appended, second.unchanged) == (2, 1)
    again = sf.append_changed(_bronze(spark, rescan, ingest_ts=T0 + timedelta(hours=2)), path, ORDERS, whole)
    assert (again.appended, again.unchanged) == (0, 3)
    # A change back to an earlier value is a change too (compared with the latest version only).
    back = sf.append_changed(_bronze(spark, [_order(5, date(2024, 1, 3))], ingest_ts=T0 + timedelta(hours=3)),
                             path, ORDERS, whole)
    assert back.appended == 1 and spark.read.format("delta").load(path).count() == 5


def test_state_table_upserts_watermarks(spark, tmp_path):
    from deplat_job.pipelines import snowflake as sf

    path = str(tmp_path / "state")
    assert sf.read_state(spark, path) == {}
    sf.write_state(spark, path, "extract/orders", 20001, "r1")
    sf.write_state(spark, path, "merge/orders", 3, "r1")
    sf.write_state(spark, path, "extract/orders", 40001, "r2")
    assert sf.read_state(spark, path) == {"extract/orders": 40001, "merge/orders": 3}


def test_to_silver_types_dedups_and_rejects(spark):
    from deplat_job.pipelines import snowflake as sf

    rows = [_order(1, date(2024, 1, 2), "10.00"), _order(2, date(2024, 2, 3)),
            _order(None, date(2024, 1, 2)), _order(3, None)]
    changes = _bronze(spark, rows, version=1).unionByName(
        _bronze(spark, [_order(1, date(2024, 1, 2), "12.50")], T0 + timedelta(hours=1), "b2", version=2))
    result = sf.to_silver(ORDERS, changes)
    silver = {r["order_key"]: r for r in result.rows.collect()}
    assert set(silver) == {1, 2}
    assert silver[1]["total_price"] == Decimal("12.50") and silver[1]["_batch_id"] == "b2"
    assert silver[2]["order_month"] == "2024-02"
    assert result.rows.schema.names == ORDERS.silver_schema.names
    reasons = sorted(r["_error_reason"] for r in result.errors.collect())
    assert reasons == ["missing order_date", "missing primary key order_key"]


def _silver_files(spark, path):
    out = {}
    for f in spark.read.format("delta").load(path).inputFiles():
        out.setdefault(f.split("order_month=")[1].split("/")[0], set()).add(f)
    return out


def test_merge_by_key_touches_only_the_change_sets_partitions(spark, tmp_path):
    from delta.tables import DeltaTable

    from deplat_job.pipelines import snowflake as sf

    path = str(tmp_path / "orders_tpch")
    months = [date(2024, m, 10) for m in (1, 2, 3)]
    initial = [_order(k, months[k % 3]) for k in range(1, 31)]
    first = sf.merge_into(spark, path, sf.to_silver(ORDERS, _bronze(spark, initial, version=1)).rows, ORDERS)
    assert (first.inserted, first.updated) == (30, 0)
    assert first.partitions == ["2024-01", "2024-02", "2024-03"]
    before = _silver_files(spark, path)

    # Updates of keys 3 and 6 (k % 3 == 0: January) and two inserts, all in January.
    change = [_order(3, months[0], "99.00", "F"), _order(6, months[0], "98.00", "F"),
              _order(100, months[0]), _order(101, months[0])]
    rows = sf.to_silver(ORDERS, _bronze(spark, change, T0 + timedelta(days=1), "b2", version=2)).rows
    second = sf.merge_into(spark, path, rows, ORDERS)
    assert (second.inserted, second.updated, second.partitions) == (2, 2, ["2024-01"])
    after = _silver_files(spark, path)
    assert after["2024-02"] == before["2024-02"] and after["2024-03"] == before["2024-03"]

    table = spark.read.format("delta").load(path)
    assert table.count() == 32
    updated = table.filter("order_key = 3").first()
    assert updated["total_price"] == Decimal("99.00") and updated["order_status"] == "F"
    predicate = DeltaTable.forPath(spark, path).history(1).first()["operationParameters"]["predicate"]
    assert "order_month" in predicate and "2024-01" in predicate

    again = sf.merge_into(spark, path, rows, ORDERS)  # the same change set again: a no-op
    assert (again.inserted, again.updated) == (0, 0)
    assert spark.read.format("delta").load(path).count() == 32

    stale = sf.to_silver(ORDERS, _bronze(spark, [_order(3, months[0], "1.00")], T0, "old", version=0)).rows
    assert sf.merge_into(spark, path, stale, ORDERS).updated == 0  # an older row never wins
    assert spark.read.format("delta").load(path).filter("order_key = 3").first()["total_price"] == 99


def test_change_feed_returns_only_unmerged_versions(spark, tmp_path):
    from deplat_job.pipelines import snowflake as sf

    path = str(tmp_path / "bronze")
    sf.ensure_table(spark, path, sf.bronze_schema(ORDERS), change_feed=True)  # version 0
    sf.append_changed(_bronze(spark, [_order(1, date(2024, 1, 2))]), path, ORDERS, KeyRange(1, 2))  # v1
    sf.append_changed(_bronze(spark, [_order(2, date(2024, 1, 2)), _order(3, date(2024, 1, 2))]),
                      path, ORDERS, KeyRange(2, 4))  # version 2
    changes, latest = sf.changes_since(spark, path, None)
    assert latest == 2 and changes.count() == 3
    changes, latest = sf.changes_since(spark, path, 1)
    assert sorted(r["o_orderkey"] for r in changes.collect()) == [2, 3]
    assert sf.changes_since(spark, path, 2) == (None, 2)
