"""Salesforce transforms on small DataFrames: bronze dedup, watermark discipline, latest-per-Id silver."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import table_path, write_silver
from deplat_job.sources.salesforce import build_soql

ACCOUNT = sfp.spec("Account")
DESCRIBE = {"AnnualRevenue": {"type": "currency", "precision": 18, "scale": 2}}


def _acct(id_, stamp, name="Acme", deleted=False, revenue=Decimal("1000.5"), created="2024-02-03T04:05:06.000+0000"):
    return {"Id": id_, "Name": name, "Type": "Partner", "Industry": "Energy", "BillingCountry": "DE",
            "AnnualRevenue": revenue, "NumberOfEmployees": 12, "CreatedDate": created,
            "LastModifiedDate": stamp, "SystemModstamp": stamp, "IsDeleted": deleted}


def test_soql_is_incremental_and_ordered():
    since = datetime(2024, 5, 6, 7, 8, 9, 999000, tzinfo=timezone.utc)
    assert build_soql("Account", ["Id", "Name"], since) == (
        "SELECT Id, Name FROM Account WHERE SystemModstamp > 2024-05-06T07:08:09Z "
        "ORDER BY SystemModstamp, Id")
    assert "WHERE" not in build_soql("Account", ["Id"], None)


def test_salesforce_datetimes_round_trip():
    text = "2024-03-05T10:20:30.123+0000"
    assert sfp.format_sf_datetime(sfp.parse_sf_datetime(text)) == text


def test_bronze_rows_are_raw_strings_deduplicated(spark):
    stamp = "2024-03-01T00:00:00.000+0000"
    records = [_acct("001A", stamp), _acct("001A", stamp), _acct("001B", stamp)]
    batch = sfp.records_to_bronze(spark, ACCOUNT, records, "b1")
    df = batch.frame
    rows = {r["Id"]: r for r in df.collect()}
    assert len(df.collect()) == 2 and (batch.rows, batch.duplicates) == (2, 1)
    assert rows["001A"]["AnnualRevenue"] == "1000.5" and rows["001A"]["IsDeleted"] == "false"
    assert {"_ingest_ts", "_source", "_batch_id"} <= set(df.columns)
    assert all(dict(df.dtypes)[f] == "string" for f in ACCOUNT.fields)


def test_silver_latest_version_per_id_with_deletes_and_bad_rows(spark):
    records = [
        _acct("001A", "2024-03-01T00:00:00.000+0000", name="old"),
        _acct("001A", "2024-03-02T00:00:00.000+0000", name="new"),
        _acct("001B", "2024-03-01T00:00:00.000+0000"),
        _acct("001B", "2024-03-05T00:00:00.000+0000", deleted=True),  # deleted later: gone from silver
        _acct("001C", "2024-03-01T00:00:00.000+0000", revenue="lots"),  # does not cast: rejected
        _acct("001D", "2024-03-01T00:00:00.000+0000", created="2024-07-08T00:00:00.000+0000"),
    ]
    bronze = sfp.records_to_bronze(spark, ACCOUNT, records, "b1").frame
    result = sfp.to_silver(bronze, ACCOUNT, DESCRIBE)
    current = {r["account_id"]: r for r in result.current.collect()}
    assert set(current) == {"001A", "001D"}
    assert current["001A"]["name"] == "new"
    assert str(current["001A"]["annual_revenue"]) == "1000.50"
    assert str(current["001D"]["created_date"]) == "2024-07-08"
    types = dict(result.current.dtypes)
    assert types["annual_revenue"] == "decimal(18,2)" and types["system_modstamp"] == "timestamp"
    reasons = sorted(r["_error_reason"] for r in result.rejected.collect())
    assert reasons == ["unparsable AnnualRevenue (decimal(18,2)): lots"]
    no_id = sfp.records_to_bronze(spark, ACCOUNT, [_acct(None, "2024-03-01T00:00:00.000+0000")], "b1")
    assert no_id.rows == 0 and [r for r, _ in no_id.rejected] == ["missing Id"]


def _records(*ids, stamp="2024-03-01T00:00:00.000+0000"):
    return [_acct(i, stamp) for i in ids]


def test_watermark_not_created_when_first_commit_fails(spark, tmp_path):
    lake = str(tmp_path)
    blocked = tmp_path / "bronze" / ACCOUNT.bronze_table
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a plain file where the Delta table should go")
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException

    with pytest.raises((AnalysisException, Py4JJavaError)):  # Delta cannot commit over the plain file
        sfp.ingest_increment(spark, lake, ACCOUNT, lambda since: _records("001A"), "b1")
    assert sfp.read_watermark(spark, lake, "Account") is None


def test_watermark_advances_only_after_a_successful_commit(spark, tmp_path):
    lake = str(tmp_path)
    first = sfp.ingest_increment(spark, lake, ACCOUNT, lambda since: _records("001A", "001B"), "b1")
    assert (first.read, first.written) == (2, 2)
    wm1 = sfp.read_watermark(spark, lake, "Account")
    assert wm1 == datetime(2024, 3, 1, tzinfo=timezone.utc)

    later = _records("001C", stamp="2024-04-01T00:00:00.000+0000")

    def failing_commit(*args, **kwargs):
        raise RuntimeError("commit failed")

    with pytest.raises(RuntimeError):
        sfp.ingest_increment(spark, lake, ACCOUNT, lambda since: later, "b2", writer=failing_commit)
    assert sfp.read_watermark(spark, lake, "Account") == wm1

    def failing_fetch(since):
        yield later[0]
        raise ConnectionError("queryMore failed mid-way")

    with pytest.raises(ConnectionError):
        sfp.ingest_increment(spark, lake, ACCOUNT, failing_fetch, "b3")
    assert sfp.read_watermark(spark, lake, "Account") == wm1

    seen_since = []

    def fetch(since):
        seen_since.append(since)
        return later + _records("001A")  # 001A re-read by the lookback: not written twice

    ok = sfp.ingest_increment(spark, lake, ACCOUNT, fetch, "b4", lookback_seconds=60)
    assert seen_since == [datetime(2024, 2, 29, 23, 59, tzinfo=timezone.utc)]
    assert (ok.read, ok.written, ok.skipped) == (2, 1, 1)
    assert sfp.read_watermark(spark, lake, "Account") == datetime(2024, 4, 1, tzinfo=timezone.utc)
    bronze = spark.read.format("delta").load(table_path(lake, "bronze", ACCOUNT.bronze_table))
    assert bronze.count() == 3

    again = sfp.ingest_increment(spark, lake, ACCOUNT, fetch, "b5", lookback_seconds=60)
    assert again.written == 0 and bronze.count() == 3


def test_error_rows_are_recorded_once(spark, tmp_path):
    from deplat_job.pipelines.common import write_errors

    lake = str(tmp_path)
    bad = [_acct("001X", "2024-03-01T00:00:00.000+0000", revenue="lots")]
    rejected = sfp.to_silver(sfp.records_to_bronze(spark, ACCOUNT, bad, "b1").frame, ACCOUNT, DESCRIBE).rejected.cache()
    for run in ("r1", "r2"):  # a rerun still reports the rejected row, but records it only once
        assert write_errors(rejected, lake, "salesforce", run) == 1
    errors = spark.read.format("delta").load(table_path(lake, "_errors", "salesforce")).collect()
    assert [e["reason"] for e in errors] == ["unparsable AnnualRevenue (decimal(18,2)): lots"]


def test_partition_date_rewrites_only_that_partition(spark, tmp_path):
    path = str(tmp_path / "silver")
    records = [_acct("001A", "2024-03-01T00:00:00.000+0000", created="2024-01-01T10:00:00.000+0000"),
               _acct("001B", "2024-03-01T00:00:00.000+0000", created="2024-01-02T10:00:00.000+0000")]
    silver = sfp.to_silver(sfp.records_to_bronze(spark, ACCOUNT, records, "b1").frame, ACCOUNT, DESCRIBE).current
    assert write_silver(silver, path, "created_date").written == 2

    changed = [_acct("001A", "2024-03-02T00:00:00.000+0000", name="renamed",
                     created="2024-01-01T10:00:00.000+0000"),
               _acct("001B", "2024-03-02T00:00:00.000+0000", name="not this one",
                     created="2024-01-02T10:00:00.000+0000")]
    silver2 = sfp.to_silver(sfp.records_to_bronze(spark, ACCOUNT, changed, "b2").frame, ACCOUNT, DESCRIBE).current
    assert write_silver(silver2, path, "created_date", partition_date="2024-01-01").written == 1
    names = {r["account_id"]: r["name"] for r in spark.read.format("delta").load(path).collect()}
    assert names == {"001A": "renamed", "001B": "Acme"}
