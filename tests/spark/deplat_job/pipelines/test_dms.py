"""DMS: test_decoding parsing, DMS file writing, bronze idempotency by file name, CDC ordering in silver."""

import csv
from datetime import datetime, timezone

import pytest

from deplat.local.dms_capture import (
    UNCHANGED_TOAST,
    Change,
    DmsCaptureError,
    parse_changes,
    parse_tuple,
    write_changes,
)
from deplat_job.pipelines import dms
from deplat_job.pipelines.common import table_path
from deplat_job.pipelines.source_specs import Column, DmsTable
from deplat_job.sources.dms import table_dir

ITEMS = DmsTable("shop", "items", ("item_id",),
                 (Column("item_id", "int", "item_id"), Column("name", "string", "name"),
                  Column("price", "decimal(10,2)", "price"), Column("created_at", "timestamp", "created_at")),
                 partition_column="created_date", partition_source="created_at")
COLS = ["item_id", "name", "price", "created_at"]
RAW_SCHEMA = ("Op string, _dms_ts string, _dms_seq string, item_id string, name string, price string, "
              "created_at string, _file string")


def test_parse_tuple_quotes_nulls_and_types():
    text = ("id[integer]:1 \"Weird Name\"[text]:'it''s, \"q\"\nline' "
            "ts[timestamp with time zone]:'2024-01-01 10:00:00+00' arr[integer[]]:'{1,2}' b[boolean]:true "
            "n[numeric]:null big[text]:unchanged-toast-datum")
    assert parse_tuple(text) == [
        ("id", "integer", "1"), ("Weird Name", "text", "it's, \"q\"\nline"),
        ("ts", "timestamp with time zone", "2024-01-01 10:00:00+00"), ("arr", "integer[]", "{1,2}"),
        ("b", "boolean", "true"), ("n", "numeric", None), ("big", "text", UNCHANGED_TOAST),
    ]


def _stream():
    return [
        ("0/10", "700", "BEGIN 700"),
        ("0/11", "700", "table shop.items: INSERT: item_id[integer]:1 name[text]:'a' price[numeric]:1.50"),
        ("0/12", "700", "table shop.items: UPDATE: item_id[integer]:1 name[text]:'b' price[numeric]:2.00"),
        ("0/20", "700", "COMMIT 700 (at 2024-05-01 10:00:00.123456+00)"),
        ("0/20", "701", "BEGIN 701"),
        ("0/21", "701", "table shop.items: UPDATE: old-key: item_id[integer]:1 new-tuple: item_id[integer]:9 "
                        "name[text]:'b' price[numeric]:2.00"),
        ("0/22", "701", "table shop.items: DELETE: item_id[integer]:9"),
        ("0/23", "701", "table shop.items: TRUNCATE: (no-flags)"),
        ("0/30", "701", "COMMIT 701 (at 2024-05-01 10:00:01+00)"),
    ]


def test_parse_changes_in_commit_order_with_key_change_split():
    changes, skipped = parse_changes(_stream(), {"shop.items": ("item_id",)})
    ops = [(c.op, c.values.get("item_id")) for c in changes]
    assert ops == [("I", "1"), ("U", "1"), ("D", "1"), ("U", "9"), ("D", "9")]
    assert skipped == {"TRUNCATE": 1}
    assert changes[0].commit_ts == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    seqs = [c.seq for c in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and all(len(s) == 35 for s in seqs)


def test_unchanged_toast_without_old_value_is_refused():
    rows = [("0/1", "5", "BEGIN 5"),
            ("0/2", "5", "table shop.items: UPDATE: item_id[integer]:1 name[text]:unchanged-toast-datum"),
            ("0/3", "5", "COMMIT 5 (at 2024-05-01 10:00:00+00)")]
    with pytest.raises(DmsCaptureError, match="REPLICA IDENTITY FULL"):
        parse_changes(rows)


def test_written_files_are_dms_format(tmp_path):
    changes, _ = parse_changes(_stream(), {"shop.items": ("item_id",)})
    [path] = write_changes(tmp_path, changes, {"shop.items": COLS}).values()
    assert path.parent == tmp_path / "shop" / "items" and path.name == "20240501-100000123456.csv"
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["Op", "_dms_ts", "_dms_seq", *COLS]
    assert [r[0] for r in rows[1:]] == ["I", "U", "D", "U", "D"]
    assert rows[1][1] == "2024-05-01 10:00:00.123456" and rows[1][3:] == ["1", "a", "1.50", "\\N"]  # NULL marker


def _change(op, key, ts, index=0, name="x", price="1.00", lsn=100):
    values = {"item_id": key, "name": name, "price": price, "created_at": f"2024-01-0{key} 00:00:00+00"}
    if op == "D":
        values = {"item_id": key}
    return Change("shop", "items", op, values, 1, lsn, ts, index)


def _land(lake, changes):
    return write_changes(tmp_landing(lake), changes, {"shop.items": COLS})["shop.items"]


def tmp_landing(lake):
    from pathlib import Path

    return Path(lake) / "_landing" / "dms"


def _t(second):
    return datetime(2024, 5, 1, 10, 0, second, tzinfo=timezone.utc)


def test_bronze_ingests_each_file_once(spark, tmp_path):
    lake = str(tmp_path)
    _land(lake, [_change("I", "1", _t(1)), _change("I", "2", _t(1), 1)])
    first = dms.ingest_table(spark, lake, ITEMS, "r1")
    assert (first.files, first.written) == (1, 2)
    assert dms.ingest_table(spark, lake, ITEMS, "r2").written == 0  # rerun: nothing new
    _land(lake, [_change("U", "1", _t(2))])
    third = dms.ingest_table(spark, lake, ITEMS, "r3")
    assert (third.files, third.written) == (1, 1)
    bronze = spark.read.format("delta").load(table_path(lake, "bronze", ITEMS.bronze_table))
    assert bronze.count() == 3 and bronze.select("_file").distinct().count() == 2


def test_current_rows_follow_change_time_not_file_arrival(spark, tmp_path):
    lake = str(tmp_path)
    # Landed in this order: the newest changes first, the older ones in a later file.
    _land(lake, [_change("U", "1", _t(30), name="latest", lsn=300),
                 _change("D", "2", _t(30), 1, lsn=300),
                 _change("I", "3", _t(30), 2, name="recreated", lsn=300)])
    dms.ingest_table(spark, lake, ITEMS, "r1")
    _land(lake, [_change("I", "1", _t(10), name="first", lsn=100),
                 _change("U", "1", _t(20), name="second", lsn=200),
                 _change("I", "2", _t(10), 1, name="to delete", lsn=100),
                 _change("I", "3", _t(10), 2, lsn=100),
                 _change("D", "3", _t(20), 1, lsn=200)])
    assert dms.ingest_table(spark, lake, ITEMS, "r2").written == 5
    bronze = spark.read.format("delta").load(table_path(lake, "bronze", ITEMS.bronze_table))
    result = dms.current_rows(bronze, ITEMS)
    current = {r["item_id"]: r["name"] for r in result.current.collect()}
    assert current == {1: "latest", 3: "recreated"}  # 2 deleted; 3 deleted then re-inserted
    assert result.rejected.count() == 0


def test_same_commit_time_is_ordered_by_sequence(spark):
    rows = [("U", "2024-05-01 10:00:00.000000", "00000000000000000100000000000000001", "1", "second", "2.00",
             "2024-01-01 00:00:00+00", "f1"),
            ("I", "2024-05-01 10:00:00.000000", "00000000000000000100000000000000000", "1", "first", "1.00",
             "2024-01-01 00:00:00+00", "f1"),
            ("D", "2024-05-01 10:00:00.000000", "00000000000000000100000000000000000", "2", None, None, None,
             "f1"),
            ("U", "2024-05-01 10:00:00.000000", "00000000000000000100000000000000001", "2", "after D", "3.00",
             "2024-01-02 00:00:00+00", "f1")]
    df = spark.createDataFrame(rows, RAW_SCHEMA)
    current = {r["item_id"]: r["name"] for r in dms.current_rows(df, ITEMS).current.collect()}
    assert current == {1: "second", 2: "after D"}  # U after D for the same key re-creates the row


def test_bad_change_rows_are_rejected_with_reasons(spark):
    rows = [("X", "2024-05-01 10:00:00", "1", "1", "a", "1.00", "2024-01-01 00:00:00+00", "f"),
            ("I", "2024-05-01 10:00:00", "1", None, "a", "1.00", "2024-01-01 00:00:00+00", "f"),
            ("I", "not a time", "1", "2", "a", "1.00", "2024-01-01 00:00:00+00", "f"),
            ("I", "2024-05-01 10:00:00", "1", "3", "a", "cheap", "2024-01-01 00:00:00+00", "f"),
            ("I", "2024-05-01 10:00:00", "1", "4", "ok", "1.00", "2024-01-04 00:00:00+00", "f")]
    df = spark.createDataFrame(rows, RAW_SCHEMA)
    result = dms.current_rows(df, ITEMS)
    assert [(r["item_id"], str(r["created_date"])) for r in result.current.collect()] == [(4, "2024-01-04")]
    reasons = sorted(r["_error_reason"] for r in result.rejected.collect())
    assert reasons == ["missing key item_id", "unknown Op: X", "unparsable _dms_ts: not a time",
                       "unparsable price (decimal(10,2)): cheap"]


def test_landing_layout_matches_dms():
    assert table_dir("s3://lake", "app", "orders") == "s3://lake/_landing/dms/app/orders"
