"""salesforce_to_bronze never holds a whole object on the driver (issue 21 item 3): ingest_increment
consumes the queryMore pages lazily and commits `chunk_records` records at a time (CHUNK_RECORDS by
default). Measured: the most records fetched but not yet committed at any moment; before the change
it was the whole object (one commit of N). ID reconciliation likewise stages the live Ids in chunks
(before: one Python set of every Id)."""

from __future__ import annotations

from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import table_path

ACCOUNT = sfp.spec("Account")
N, CHUNK = 2_500, 1_000  # 2.5 chunks (the mechanism; the default is CHUNK_RECORDS)


def _record(i: int) -> dict:
    stamp = f"2024-03-{1 + i % 28:02d}T00:00:{i % 60:02d}.000+0000"
    return {"Id": f"001{i:015d}", "Name": f"acct {i}", "Type": "Partner", "Industry": "Energy",
            "BillingCountry": "DE", "AnnualRevenue": "10.5", "NumberOfEmployees": 3,
            "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp, "IsDeleted": False}


def test_an_object_and_its_live_ids_are_handled_chunk_by_chunk_with_the_driver_holding_at_most_one(spark, tmp_path):
    lake = str(tmp_path)
    fetched = committed = 0
    held: list[int] = []

    def fetch(since):
        nonlocal fetched
        for i in range(N):
            fetched += 1
            yield _record(i)

    def writer(spark_, df, path, oldest):
        nonlocal committed
        held.append(fetched - committed)  # records fetched and not yet in bronze, at this commit
        inserted, already = sfp.write_bronze(spark_, df, path, oldest)
        committed += inserted + already
        return inserted, already

    first = sfp.ingest_increment(spark, lake, ACCOUNT, fetch, "b1", writer=writer, late_window_seconds=0,
                                 chunk_records=CHUNK)
    assert (first.read, first.written, first.skipped, first.rejected) == (N, N, 0, 0)
    assert held == [CHUNK, CHUNK, N - 2 * CHUNK]
    bronze = spark.read.format("delta").load(table_path(lake, "bronze", ACCOUNT.bronze_table))
    assert bronze.count() == N and bronze.select("Id").distinct().count() == N
    assert sfp.read_watermark(spark, lake, "Account") == sfp.parse_sf_datetime("2024-03-28T00:00:59.000+0000")

    # a rerun of the same window commits nothing new, chunk by chunk too
    fetched = committed = 0
    held.clear()
    again = sfp.ingest_increment(spark, lake, ACCOUNT, fetch, "b2", writer=writer, lookback_seconds=40 * 86400,
                                 late_window_seconds=0, chunk_records=CHUNK)
    assert (again.read, again.written, again.skipped) == (N, 0, N)
    assert held == [CHUNK, CHUNK, N - 2 * CHUNK]
    assert 0 < sfp.CHUNK_RECORDS <= 10_000  # the default: 5 queryMore pages of 2,000

    # ID reconciliation stages the live Ids chunk by chunk too and compares them on the engine:
    # when an Id is pulled, every full chunk before it is already on disk (the driver holds one chunk).
    scratch = str(tmp_path / "live_ids")
    gone = {_record(i)["Id"] for i in range(0, N, 25)}  # 100 Ids the source no longer has
    on_disk: list[int] = []

    def fetch_ids():
        for n, i in enumerate(i for i in range(N) if _record(i)["Id"] not in gone):
            if n and n % CHUNK == 0:
                on_disk.append(spark.read.parquet(scratch).count())
            yield _record(i)["Id"]

    at = sfp.parse_sf_datetime("2024-05-01T00:00:00.000+0000")
    deletions = sfp.reconcile_ids(spark, table_path(lake, "bronze", ACCOUNT.bronze_table), fetch_ids, scratch,
                                  now=at, chunk_ids=CHUNK)
    assert on_disk == [CHUNK, 2 * CHUNK]
    assert spark.read.parquet(scratch).count() == N - len(gone)
    assert [d["Id"] for d in deletions] == sorted(gone)
    assert {(d["SystemModstamp"], d["IsDeleted"]) for d in deletions} == {("2024-05-01T00:00:00.000+0000", True)}
