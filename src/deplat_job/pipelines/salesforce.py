"""Salesforce -> bronze (incremental on SystemModstamp) -> silver (current record per Id).

Bronze keeps every version it saw: the source's raw values as strings plus ingest metadata, one row
per (Id, SystemModstamp, IsDeleted), inserted with an insert-only MERGE so a re-read adds nothing.
Numbers arrive as Decimal (sources.salesforce.parse_json) and are kept as their exact decimal text.
The watermark (highest SystemModstamp loaded) lives in lake/_state/salesforce/<object> and moves
only after the bronze commit succeeded; each read starts `lookback` before it, because a record's
SystemModstamp can be older than its commit, and the MERGE drops what was already loaded.
Deletions the recycle bin no longer shows (purged) come from getDeleted over the same window and
land as deletion versions. A record can become visible later than the lookback (a long transaction
or a sharing recalculation stamps it when the work starts); a periodic late-row check (once per
`late_check_every`) reads a wider window, from the last check's watermark minus `late_window`, and
counts the versions bronze lacks that the regular window could not see (`late`); each check is
appended to lake/_state/salesforce/late_checks for `deplat checklist daily`. Any record that
becomes visible at most `late_window` after its SystemModstamp is caught by the next check.
The object's describe (field precision and scale) is kept in
lake/_state/salesforce/describe_<object>, and sizes silver's decimals.
Silver is the latest version per Id, deleted records removed, typed, partitioned by created date.

Python 3.9-compatible: this module runs on the EMR runtime.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

from deplat_job.pipelines.common import (
    CURRENT,
    REJECTED,
    add_ingest_metadata,
    table_path,
    typed_columns,
    with_error_reason,
    write_errors,
)
from deplat_job.pipelines.source_specs import SALESFORCE_OBJECTS, SIZED_BY_DESCRIBE, Column, SalesforceObject
from deplat_job.sources.salesforce import GET_DELETED_DAYS, DeleteLogUnavailableError

SOURCE = "salesforce"
# Salesforce's "Polling for Changes" guidance: poll no more often than every five minutes, the API
# truncates the seconds of a window, and a client should capture changes redundantly rather than
# leave gaps (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/polling_for_changes.htm).
# The default window therefore reaches back one recommended polling period plus the truncated
# minute: a record committed late by up to that much is read by the next run.
DEFAULT_LOOKBACK_SECONDS = 5 * 60 + 60
# Salesforce bounds neither a long transaction nor a sharing recalculation (getUpdated's
# latestDateCovered only says one is still running), so late rows are looked for once a day over a day.
DEFAULT_LATE_WINDOW_SECONDS = 24 * 3600
DEFAULT_LATE_CHECK_EVERY_SECONDS = 24 * 3600
LATE_IDS_KEPT = 20  # Ids named per check in the state table (the count is always whole)
# Records held on the driver at once: the read is committed to bronze chunk by chunk as queryMore
# pages in (5 pages of 2,000), so an object of any size never sits whole in driver memory.
CHUNK_RECORDS = 10_000
ID_CHUNK = 100_000  # live Ids held on the driver at once by ID reconciliation (~2 MB of 18-char Ids)
_SF_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
SUPERSEDED, DELETED = "superseded", "deleted"


@dataclass(frozen=True)
class IngestResult:
    object: str
    read: int  # records from queryAll + deletions from getDeleted
    written: int  # versions inserted into bronze (the MERGE's own count)
    watermark_before: datetime | None
    watermark_after: datetime | None
    skipped: int = 0  # versions bronze already held, or repeated within the batch
    rejected: int = 0  # records without an Id or a readable SystemModstamp (to _errors)
    deletions: int = 0  # of `read`: deletion versions (from getDeleted, or from ID reconciliation)
    reconciled: int = 0  # of `deletions`: Ids found gone by ID reconciliation (getDeleted could not answer)
    deletes_from: str = ""  # "getDeleted", "id_reconciliation" or "" (first load / not asked)
    late: int = 0  # of `written`: versions the regular window could not see (found by the late-row check)
    late_check_from: datetime | None = None  # start of the late-row check's window; None: no check ran
    late_behind_seconds: int | None = None  # the latest late version's distance behind the watermark
    late_ids: tuple[str, ...] = ()


@dataclass
class SilverResult:
    current: Any  # DataFrame: the silver rows
    rejected: Any  # DataFrame: bad rows with _error_reason
    classified: Any = None  # DataFrame: one `_fate` per bronze row


def spec(name: str) -> SalesforceObject:
    """The declared object (case-insensitive API name)."""
    for obj in SALESFORCE_OBJECTS.values():
        if obj.name.lower() == name.lower():
            return obj
    raise KeyError(f"unknown Salesforce object {name!r}; declared: {', '.join(SALESFORCE_OBJECTS)}")


def parse_sf_datetime(text: str) -> datetime:
    """Salesforce's 2024-03-05T10:20:30.000+0000 as an aware UTC datetime."""
    return datetime.strptime(text, _SF_TS_FORMAT).astimezone(timezone.utc)


def format_sf_datetime(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _raw(value: Any) -> str | None:
    """An API value as bronze's raw text: strings as they are, Decimal in plain positional form
    (exact: 9.007199254740993E15 -> 9007199254740993), true/false and ints as JSON writes them."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("a Salesforce number arrived as a binary float: parse responses with parse_json")
    return json.dumps(value)


def sized_columns(obj: SalesforceObject, describe: dict[str, dict[str, Any]]) -> tuple[Column, ...]:
    """The object's columns with each SIZED_BY_DESCRIBE type made decimal(precision, scale) from
    the describe call's field metadata. Raises ValueError when a field's size is unknown."""
    out = []
    for c in obj.columns:
        if c.type == SIZED_BY_DESCRIBE:
            meta = describe.get(c.source) or {}
            precision, scale = int(meta.get("precision") or 0), int(meta.get("scale") or 0)
            if not 0 < precision <= 38 or not 0 <= scale <= precision:
                raise ValueError(f"describe gives no usable precision/scale for {obj.name}.{c.source}: {meta}")
            c = dataclasses.replace(c, type=f"decimal({precision},{scale})")
        out.append(c)
    return tuple(out)


def describe_path(lake: str, obj_name: str) -> str:
    return table_path(lake, "_state", f"{SOURCE}/describe_{obj_name.lower()}")


def write_describe(spark, lake: str, obj_name: str, describe: dict[str, dict[str, Any]]) -> None:
    rows = [(name, str(m.get("type")), int(m.get("precision") or 0), int(m.get("scale") or 0))
            for name, m in sorted(describe.items())]
    (spark.createDataFrame(rows, "field STRING, type STRING, precision INT, scale INT").coalesce(1)
     .write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(describe_path(lake, obj_name)))


def read_describe(spark, lake: str, obj_name: str) -> dict[str, dict[str, Any]]:
    """The describe kept by the bronze step; ValueError before the first bronze run."""
    from delta.tables import DeltaTable

    path = describe_path(lake, obj_name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise ValueError(f"no describe of {obj_name} in {path}: run salesforce_to_bronze first")
    return {r["field"]: {"type": r["type"], "precision": r["precision"], "scale": r["scale"]}
            for r in spark.read.format("delta").load(path).collect()}


# -- bronze ----------------------------------------------------------------------------------------

def bronze_schema(obj: SalesforceObject):
    from pyspark.sql.types import StringType, StructField, StructType

    return StructType([StructField(f, StringType(), True) for f in obj.fields])


@dataclass
class BronzeBatch:
    frame: Any  # DataFrame of bronze rows (one per Id/SystemModstamp/IsDeleted)
    rows: int  # rows in `frame`
    duplicates: int  # records repeated within the batch
    rejected: list[tuple[str, str]]  # (reason, raw record JSON) for records without Id/SystemModstamp
    stamps: list[datetime]  # SystemModstamp of every kept record


def records_to_bronze(spark, obj: SalesforceObject, records: Iterable[dict[str, Any]], batch_id: str) -> BronzeBatch:
    """API records -> bronze rows (raw strings, one per Id/SystemModstamp/IsDeleted, ingest metadata).

    A record without an Id or with an unreadable SystemModstamp cannot be placed in a version
    order: it is returned in `rejected` (for _errors) instead of being dropped.
    """
    seen = set()
    rows, rejected, stamps, duplicates = [], [], [], 0
    for rec in records:
        try:
            stamp = parse_sf_datetime(rec["SystemModstamp"]) if rec.get("SystemModstamp") else None
        except ValueError:
            stamp = None
        if not rec.get("Id") or stamp is None:
            reason = "missing Id" if not rec.get("Id") else f"unreadable SystemModstamp: {rec.get('SystemModstamp')!r}"
            rejected.append((reason, json.dumps({k: _raw(v) for k, v in rec.items()}, sort_keys=True)))
            continue
        key = (rec.get("Id"), rec.get("SystemModstamp"), rec.get("IsDeleted"))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(tuple(_raw(rec.get(f)) for f in obj.fields))
        stamps.append(stamp)
    df = spark.createDataFrame(rows, bronze_schema(obj))
    return BronzeBatch(add_ingest_metadata(df, SOURCE, batch_id), len(rows), duplicates, rejected, stamps)


_VERSION = "t.Id = s.Id AND t.SystemModstamp = s.SystemModstamp AND t.IsDeleted <=> s.IsDeleted"


def write_bronze(spark, df, path: str, oldest: datetime | None = None) -> tuple[int, int]:
    """Insert the versions bronze does not hold yet; returns (inserted, already held).

    Both are counted: `inserted` by the MERGE's own metrics, `already held` by a join before it.
    `oldest` (the batch's lowest SystemModstamp) limits the scans of bronze to that window.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        df.write.format("delta").mode("errorifexists").save(path)
        metrics = DeltaTable.forPath(spark, path).history(1).collect()[0]["operationMetrics"] or {}
        return int(metrics.get("numOutputRows", 0)), 0
    cond = _VERSION
    window = f" AND t.SystemModstamp >= '{format_sf_datetime(oldest)}'" if oldest is not None else ""
    table = DeltaTable.forPath(spark, path)
    held = table.toDF().alias("t")
    if oldest is not None:
        held = held.filter(f"t.SystemModstamp >= '{format_sf_datetime(oldest)}'")
    already = df.alias("s").join(held, [df["Id"] == held["Id"], df["SystemModstamp"] == held["SystemModstamp"],
                                        df["IsDeleted"].eqNullSafe(held["IsDeleted"])], "left_semi").count()
    before = table.history(1).collect()[0]["version"]
    table.alias("t").merge(df.alias("s"), cond + window).whenNotMatchedInsertAll().execute()
    last = table.history(1).collect()[0]
    if last["version"] == before:  # nothing to insert: Delta commits no new version
        return 0, already
    return int((last["operationMetrics"] or {}).get("numTargetRowsInserted", 0)), already


# -- watermark -------------------------------------------------------------------------------------

def watermark_path(lake: str, obj_name: str) -> str:
    return table_path(lake, "_state", f"{SOURCE}/{obj_name.lower()}")


def _read_state_time(spark, path: str, column: str) -> datetime | None:
    """The time held in `column` of a one-row state table, or None when there is none yet."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    rows = spark.read.format("delta").load(path).select(column).collect()
    return parse_sf_datetime(rows[0][column]) if rows else None


def read_watermark(spark, lake: str, obj_name: str) -> datetime | None:
    """The highest SystemModstamp committed to bronze for the object, or None before the first load."""
    return _read_state_time(spark, watermark_path(lake, obj_name), "watermark")


def write_watermark(spark, lake: str, obj_name: str, watermark: datetime, batch_id: str) -> None:
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    schema = StructType([
        StructField("object", StringType(), False), StructField("watermark", StringType(), False),
        StructField("batch_id", StringType(), True), StructField("updated_at", TimestampType(), False),
    ])
    row = (obj_name, format_sf_datetime(watermark), batch_id, datetime.now(timezone.utc))
    (spark.createDataFrame([row], schema).coalesce(1).write.format("delta").mode("overwrite")
     .save(watermark_path(lake, obj_name)))


def deletes_covered_path(lake: str, obj_name: str) -> str:
    return table_path(lake, "_state", f"{SOURCE}/deletes_{obj_name.lower()}")


def read_deletes_covered(spark, lake: str, obj_name: str) -> datetime | None:
    """Until when deletions of the object have been looked up (getDeleted or ID reconciliation)."""
    return _read_state_time(spark, deletes_covered_path(lake, obj_name), "covered_until")


def write_deletes_covered(spark, lake: str, obj_name: str, until: datetime, batch_id: str) -> None:
    row = (obj_name, format_sf_datetime(until), batch_id)
    (spark.createDataFrame([row], "object STRING, covered_until STRING, batch_id STRING").coalesce(1)
     .write.format("delta").mode("overwrite").save(deletes_covered_path(lake, obj_name)))


def late_checks_path(lake: str) -> str:
    return table_path(lake, "_state", f"{SOURCE}/late_checks")


@dataclass(frozen=True)
class LateCheck:
    checked_at: datetime
    watermark: datetime | None  # the object's watermark after the checking run


def read_last_late_check(spark, lake: str, obj_name: str) -> LateCheck | None:
    """The object's latest late-row check (lake/_state/salesforce/late_checks), or None."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = late_checks_path(lake)
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    rows = (spark.read.format("delta").load(path).filter(F.col("object") == obj_name)
            .orderBy(F.col("checked_at").desc()).limit(1).collect())
    if not rows:
        return None
    at = rows[0]["checked_at"].astimezone(timezone.utc)  # PySpark gives a naive local time
    return LateCheck(at, parse_sf_datetime(rows[0]["watermark"]) if rows[0]["watermark"] else None)


def write_late_check(spark, lake: str, obj_name: str, batch_id: str, checked_at: datetime,
                     window_start: datetime | None, regular_start: datetime | None, watermark: datetime | None,
                     late: list[tuple[str, datetime]], behind_seconds: int | None) -> None:
    """Append one late-row check (UTC times; `late`: (Id, SystemModstamp) of each late version;
    window_start/regular_start None: a first load, which read everything)."""
    from pyspark.sql.types import (
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    schema = StructType([
        StructField("object", StringType(), False), StructField("batch_id", StringType(), True),
        StructField("checked_at", TimestampType(), False), StructField("window_start", StringType(), True),
        StructField("regular_start", StringType(), True), StructField("watermark", StringType(), True),
        StructField("late_rows", LongType(), False), StructField("late_ids", StringType(), True),
        StructField("max_behind_seconds", LongType(), True),
    ])
    ids = ",".join(sorted({i for i, _ in late})[:LATE_IDS_KEPT])
    row = (obj_name, batch_id, checked_at, window_start and format_sf_datetime(window_start),
           regular_start and format_sf_datetime(regular_start), watermark and format_sf_datetime(watermark),
           len(late), ids or None, behind_seconds)
    (spark.createDataFrame([row], schema).coalesce(1).write.format("delta").mode("append")
     .save(late_checks_path(lake)))


def _versions_not_in_bronze(spark, bronze_path: str, records: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
    """(Id, SystemModstamp) of the record versions bronze does not hold (same key as the MERGE)."""
    from delta.tables import DeltaTable

    versions = sorted({(r["Id"], r["SystemModstamp"], _raw(r.get("IsDeleted"))) for r in records})
    if DeltaTable.isDeltaTable(spark, bronze_path):
        df = spark.createDataFrame(versions, "Id STRING, SystemModstamp STRING, IsDeleted STRING")
        held = (spark.read.format("delta").load(bronze_path)
                .filter(f"SystemModstamp >= '{min(v[1] for v in versions)}'"))
        cond = [df["Id"] == held["Id"], df["SystemModstamp"] == held["SystemModstamp"],
                df["IsDeleted"].eqNullSafe(held["IsDeleted"])]
        versions = [(r["Id"], r["SystemModstamp"], None) for r in df.join(held, cond, "left_anti").collect()]
    return sorted({(i, parse_sf_datetime(stamp)) for i, stamp, _ in versions})


def ingest_increment(
    spark,
    lake: str,
    obj: SalesforceObject,
    fetch: Callable[[datetime | None], Iterable[dict[str, Any]]],
    batch_id: str,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    writer: Callable[..., tuple[int, int]] | None = None,
    fetch_deleted: Callable[[datetime, datetime], list[dict[str, Any]]] | None = None,
    now: datetime | None = None,
    fetch_ids: Callable[[], Iterable[str]] | None = None,
    late_window_seconds: int = DEFAULT_LATE_WINDOW_SECONDS,
    late_check_every_seconds: int = DEFAULT_LATE_CHECK_EVERY_SECONDS,
    chunk_records: int = CHUNK_RECORDS,
) -> IngestResult:
    """Read what changed since the watermark, commit it to bronze, then advance the watermark.

    `fetch`'s records are consumed lazily and committed `chunk_records` at a time (each chunk its
    own insert-only MERGE), so the driver holds at most one chunk; deletions are looked up after
    the last chunk, against bronze (which then holds this read's records too). A failure leaves
    the watermark where it was: the rerun reads the window again and the MERGE skips what a
    committed chunk already inserted (counted as skipped). A version repeated across chunks is
    counted as skipped by the MERGE, within a chunk as a duplicate: both are in `skipped`.

    `fetch(since)` yields API records; `fetch_deleted(start, end)` (getDeleted) the deletions in
    the same window, purged ones included (skipped on the first load: nothing to delete yet).
    When the window starts before getDeleted's reach (GET_DELETED_DAYS, or the API says so:
    DeleteLogUnavailableError), `fetch_ids()` (every live Id) reconciles instead: an Id whose
    latest version is live in bronze (which by then holds this run's records) and that the source
    no longer has gets a deletion version (`reconciled`; see reconcile_ids). `writer` (default
    write_bronze) commits them. If any raises, the watermark is left where it was and the next
    run reads the same window again.

    Late-row check: when the object's last check (a first load counts as one) is
    `late_check_every_seconds` old (0 = every run; late_window_seconds 0 = never), `fetch` reads from the last check's
    watermark (else this run's) minus `late_window_seconds` instead, and the versions older than
    the regular window that bronze lacks are counted as `late` (they are loaded like any other)
    and the check is recorded. A record visible at most `late_window_seconds` after its
    SystemModstamp is caught by the first check after it became visible.
    """
    end = now or datetime.now(timezone.utc)  # before the reads: a later deletion is the next window's
    before = read_watermark(spark, lake, obj.name)
    since = before - timedelta(seconds=lookback_seconds) if before is not None else None
    # Deletions are looked up from where the last lookup ended (a quiet org's record watermark
    # stays old while its deletions keep coming); state from before this existed: the watermark.
    covered = read_deletes_covered(spark, lake, obj.name) if fetch_deleted is not None else None
    start = covered - timedelta(seconds=lookback_seconds) if covered is not None else since
    late_start = None
    if before is not None and since is not None and late_window_seconds > 0:  # since: set with before
        last = read_last_late_check(spark, lake, obj.name)
        if last is None or end - last.checked_at >= timedelta(seconds=late_check_every_seconds):
            base = last.watermark if last is not None and last.watermark is not None else before
            late_start = min(base - timedelta(seconds=late_window_seconds), since)
    if chunk_records <= 0:
        raise ValueError("chunk_records must be positive")
    bronze_path = table_path(lake, "bronze", obj.bronze_table)
    late: list[tuple[str, datetime]] = []
    n_records = rejected = written = already = duplicates = 0
    newest: datetime | None = None

    def commit(chunk: list[dict[str, Any]]) -> None:
        nonlocal rejected, written, already, duplicates
        batch = records_to_bronze(spark, obj, chunk, batch_id)
        if batch.rejected:
            bad = spark.createDataFrame(batch.rejected, "_error_reason STRING, record STRING")
            rejected += write_errors(bad, lake, SOURCE, batch_id)
        duplicates += batch.duplicates
        if batch.rows:
            w, a = (writer or write_bronze)(spark, batch.frame, bronze_path, min(batch.stamps))
            written, already = written + w, already + a

    def take(chunk: list[dict[str, Any]]) -> None:
        nonlocal n_records, newest
        n_records += len(chunk)
        stamps = [parse_sf_datetime(r["SystemModstamp"]) for r in chunk if _readable(r.get("SystemModstamp"))]
        if stamps:
            newest = max(stamps) if newest is None else max(newest, max(stamps))
        if late_start is not None and since is not None:  # a late check implies since is set
            # What the regular query (SystemModstamp > since, whole seconds) could not have returned,
            # looked up before this chunk is committed (an earlier chunk's versions are held: not late).
            cutoff = since.replace(microsecond=0)
            old = [r for r in chunk if r.get("Id") and _readable(r.get("SystemModstamp"))
                   and parse_sf_datetime(r["SystemModstamp"]) <= cutoff]
            if old:
                late.extend(_versions_not_in_bronze(spark, bronze_path, old))
        commit(chunk)

    chunk: list[dict[str, Any]] = []
    for record in fetch(late_start or since):
        chunk.append(record)
        if len(chunk) >= chunk_records:
            take(chunk)
            chunk = []
    if chunk:
        take(chunk)
    chunk = []
    behind = int(max((before - s).total_seconds() for _, s in late)) if late and before is not None else None

    def record_check(watermark: datetime | None) -> None:
        # A first load reads everything visible: it counts as a check, and the first real one
        # comes a period later, reading from its watermark.
        if late_start is not None or (before is None and late_window_seconds > 0):
            write_late_check(spark, lake, obj.name, batch_id, end, late_start, since, watermark, late, behind)
    deletions: list[dict[str, Any]] = []
    deletes_from, reconciled = "", 0
    if fetch_deleted is not None and start is not None and before is not None:
        reachable = start >= end - timedelta(days=GET_DELETED_DAYS)
        if reachable:
            try:
                deletions, deletes_from = list(fetch_deleted(start, end)), "getDeleted"
            except DeleteLogUnavailableError:
                reachable = False
        if not reachable:
            if fetch_ids is None:
                raise DeleteLogUnavailableError(
                    f"getDeleted cannot cover {obj.name} since {format_sf_datetime(start)} and no ID "
                    "reconciliation was given")
            # bronze already holds this read's records (committed above): it is the candidates' source
            deletions = reconcile_ids(spark, bronze_path, fetch_ids, live_ids_path(lake, obj.name), now)
            deletes_from, reconciled = "id_reconciliation", len(deletions)
    read = n_records + len(deletions)
    if not read:
        if fetch_deleted is not None:
            write_deletes_covered(spark, lake, obj.name, end, batch_id)
        record_check(before)
        return IngestResult(obj.name, 0, 0, before, before, deletes_from=deletes_from, late_check_from=late_start)
    for i in range(0, len(deletions), chunk_records):
        commit(deletions[i:i + chunk_records])
    after = before
    if newest is not None:
        after = newest if before is None else max(before, newest)
    if after is not None and after != before:
        write_watermark(spark, lake, obj.name, after, batch_id)
    if fetch_deleted is not None:
        write_deletes_covered(spark, lake, obj.name, end, batch_id)
    record_check(after)
    return IngestResult(obj.name, read, written, before, after, skipped=already + duplicates,
                        rejected=rejected, deletions=len(deletions), reconciled=reconciled,
                        deletes_from=deletes_from, late=len(late), late_check_from=late_start,
                        late_behind_seconds=behind, late_ids=tuple(i for i, _ in late))


def live_ids_path(lake: str, obj_name: str) -> str:
    """Scratch table of the source's live Ids taken by ID reconciliation (parquet, replaced each time)."""
    return table_path(lake, "_state", f"{SOURCE}/live_ids_{obj_name.lower()}")


def reconcile_ids(spark, bronze_path: str, fetch_ids: Callable[[], Iterable[str]], scratch_path: str,
                  now: datetime | None = None, chunk_ids: int = ID_CHUNK) -> list[dict[str, Any]]:
    """Deletion versions for the Ids the source no longer has: ID reconciliation, for deletions
    getDeleted can no longer report (its window start is past the delete log's reach).

    Candidates are the Ids whose latest version in bronze is live (the caller commits the run's
    records to bronze first). The live Ids are read after those records, so a record created since
    is in neither and never a candidate. They are staged `chunk_ids` at a time into a parquet table
    at `scratch_path` (replaced, not appended to, by the first chunk) and compared on the engine
    with a left anti join: the driver holds at most one chunk of Ids, never the whole object; what
    it collects is the deleted Ids only. Each deletion is stamped with the time the Id list was
    taken (at least 1 ms after the Id's latest version, so it is the latest whatever the clocks):
    the silver step removes them. Returns [{"Id", "SystemModstamp", "IsDeleted": True}], by Id.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if chunk_ids <= 0:
        raise ValueError("chunk_ids must be positive")
    at = now or datetime.now(timezone.utc)
    chunk: list[tuple[str]] = []
    staged = 0

    def stage(rows: list[tuple[str]]) -> None:
        nonlocal staged
        (spark.createDataFrame(rows, "Id STRING").write.mode("overwrite" if staged == 0 else "append")
         .parquet(scratch_path))
        staged += 1

    for i in fetch_ids():
        chunk.append((i,))
        if len(chunk) >= chunk_ids:
            stage(chunk)
            chunk = []
    if chunk or staged == 0:  # an empty source still replaces the last run's list
        stage(chunk)
    chunk = []
    if not DeltaTable.isDeltaTable(spark, bronze_path):
        return []
    live = spark.read.parquet(scratch_path)
    bronze = spark.read.format("delta").load(bronze_path)
    order = Window.partitionBy("Id").orderBy(F.col("SystemModstamp").desc(), F.col("_ingest_ts").desc(),
                                             F.coalesce(F.col("IsDeleted") == "true", F.lit(False)).desc())
    held = (bronze.filter(F.col("Id").isNotNull()).withColumn("_rank", F.row_number().over(order))
            .filter((F.col("_rank") == 1) & ~F.coalesce(F.col("IsDeleted") == "true", F.lit(False))))
    latest: dict[str, datetime] = {}
    for row in held.join(live, "Id", "left_anti").select("Id", "SystemModstamp").collect():
        if _readable(row["SystemModstamp"]):
            latest[row["Id"]] = parse_sf_datetime(row["SystemModstamp"])
    return [{"Id": i, "SystemModstamp": format_sf_datetime(max(at, stamp + timedelta(milliseconds=1))),
             "IsDeleted": True}
            for i, stamp in sorted(latest.items())]


def _readable(stamp: Any) -> bool:
    try:
        return bool(stamp) and parse_sf_datetime(stamp) is not None
    except ValueError:
        return False


# -- silver ----------------------------------------------------------------------------------------

def to_silver(bronze, obj: SalesforceObject, describe: dict[str, dict[str, Any]]) -> SilverResult:
    """Latest version per Id (by SystemModstamp, then ingest time; a deletion wins a tie), deleted
    records dropped, typed with the decimals sized by `describe`.

    Rows with a missing Id, SystemModstamp or an unreadable IsDeleted cannot be ordered and are
    rejected. A latest version whose values do not type is rejected and holds its Id back from
    silver: an older version never silently becomes current.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    columns = sized_columns(obj, describe)
    typed, value_reasons = typed_columns(columns, lambda source: source)
    deleted = F.expr("try_cast(IsDeleted AS boolean)")
    stamp = F.expr("try_cast(SystemModstamp AS timestamp)")
    structural = [F.when(F.col("Id").isNull() | (F.trim(F.col("Id")) == ""), F.lit("missing Id")),
                  F.when(F.col("IsDeleted").isNotNull() & deleted.isNull(),
                         F.concat(F.lit("unparsable IsDeleted: "), F.col("IsDeleted"))),
                  F.when(stamp.isNull(), F.concat(F.lit("missing or unparsable SystemModstamp: "),
                                                  F.coalesce(F.col("SystemModstamp"), F.lit("NULL"))))]
    is_deleted = F.coalesce(deleted, F.lit(False))
    checked = with_error_reason(bronze, structural)
    unorderable = checked.filter(F.col("_error_reason").isNotNull())
    # A deletion version carries no values to type.
    reasons = structural + [F.when(~is_deleted, r) for r in value_reasons]
    ranked = (with_error_reason(checked.filter(F.col("_error_reason").isNull()).drop("_error_reason"), reasons)
              .withColumn("_stamp", stamp).withColumn("_is_deleted", is_deleted))
    order = Window.partitionBy("Id").orderBy(F.col("_stamp").desc(), F.col("_ingest_ts").desc(),
                                             F.col("_is_deleted").desc())
    ranked = ranked.withColumn("_rank", F.row_number().over(order))
    ranked = ranked.withColumn("_fate", F.when(F.col("_error_reason").isNotNull(), F.lit(REJECTED))
                               .when(F.col("_rank") > 1, F.lit(SUPERSEDED))
                               .when(F.col("_is_deleted"), F.lit(DELETED))
                               .otherwise(F.lit(CURRENT)))
    current = (ranked.filter(F.col("_fate") == CURRENT).select(*typed)
               .withColumn(obj.partition_column, F.to_date(F.col(obj.partition_source)))
               .select(*[c.name for c in columns], obj.partition_column))
    payload = bronze.columns + ["_error_reason"]
    rejected = unorderable.select(*payload).unionByName(ranked.filter(F.col("_fate") == REJECTED).select(*payload))
    classified = unorderable.select(F.lit(REJECTED).alias("_fate")).unionByName(ranked.select("_fate"))
    return SilverResult(current, rejected, classified)
