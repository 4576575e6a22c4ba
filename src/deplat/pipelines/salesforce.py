"""Salesforce -> bronze (incremental on SystemModstamp) -> silver (current record per Id).

Bronze keeps every version it saw: the source's raw values as strings plus ingest metadata, one row
per (Id, SystemModstamp, IsDeleted), inserted with an insert-only MERGE so a re-read adds nothing.
The watermark (highest SystemModstamp loaded) lives in lake/_state/salesforce/<object> and moves
only after the bronze commit succeeded; each read starts `lookback` before it, because a record's
SystemModstamp can be older than its commit, and the MERGE drops what was already loaded.
Silver is the latest version per Id, deleted records removed, typed, partitioned by created date.

Python 3.9-compatible: this module runs on the EMR runtime.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from deplat.pipelines.common import add_ingest_metadata, table_path
from deplat.pipelines.source_specs import SALESFORCE_OBJECTS, SalesforceObject

SOURCE = "salesforce"
DEFAULT_LOOKBACK_SECONDS = 300
_SF_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


@dataclass(frozen=True)
class IngestResult:
    object: str
    read: int
    written: int
    watermark_before: datetime | None
    watermark_after: datetime | None


@dataclass
class SilverResult:
    current: Any  # DataFrame: the silver rows
    rejected: Any  # DataFrame: bad rows with _error_reason


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
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)  # true/false, numbers as JSON writes them


# -- bronze ----------------------------------------------------------------------------------------

def bronze_schema(obj: SalesforceObject):
    from pyspark.sql.types import StringType, StructField, StructType

    return StructType([StructField(f, StringType(), True) for f in obj.fields])


def records_to_bronze(spark, obj: SalesforceObject, records: Iterable[dict[str, Any]], batch_id: str):
    """API records -> bronze rows (raw strings, one per Id/SystemModstamp/IsDeleted, ingest metadata)."""
    seen = set()
    rows = []
    for rec in records:
        row = tuple(_raw(rec.get(f)) for f in obj.fields)
        key = (rec.get("Id"), rec.get("SystemModstamp"), rec.get("IsDeleted"))
        if key not in seen:
            seen.add(key)
            rows.append(row)
    df = spark.createDataFrame(rows, bronze_schema(obj))
    return add_ingest_metadata(df, SOURCE, batch_id)


def write_bronze(spark, df, path: str, oldest: datetime | None = None) -> int:
    """Insert the versions bronze does not hold yet; returns the rows inserted.

    `oldest` (the batch's lowest SystemModstamp) limits the MERGE's scan of bronze to that window.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        df.write.format("delta").mode("errorifexists").save(path)
        return df.count()
    cond = "t.Id = s.Id AND t.SystemModstamp = s.SystemModstamp AND t.IsDeleted <=> s.IsDeleted"
    if oldest is not None:
        cond += f" AND t.SystemModstamp >= '{format_sf_datetime(oldest)}'"
    table = DeltaTable.forPath(spark, path)
    before = table.history(1).collect()[0]["version"]
    table.alias("t").merge(df.alias("s"), cond).whenNotMatchedInsertAll().execute()
    last = table.history(1).collect()[0]
    if last["version"] == before:  # nothing to insert: Delta commits no new version
        return 0
    return int((last["operationMetrics"] or {}).get("numTargetRowsInserted", 0))


# -- watermark -------------------------------------------------------------------------------------

def watermark_path(lake: str, obj_name: str) -> str:
    return table_path(lake, "_state", f"{SOURCE}/{obj_name.lower()}")


def read_watermark(spark, lake: str, obj_name: str) -> datetime | None:
    """The highest SystemModstamp committed to bronze for the object, or None before the first load."""
    from delta.tables import DeltaTable

    path = watermark_path(lake, obj_name)
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    rows = spark.read.format("delta").load(path).select("watermark").collect()
    return parse_sf_datetime(rows[0]["watermark"]) if rows else None


def write_watermark(spark, lake: str, obj_name: str, watermark: datetime, batch_id: str) -> None:
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    schema = StructType([
        StructField("object", StringType(), False), StructField("watermark", StringType(), False),
        StructField("batch_id", StringType(), True), StructField("updated_at", TimestampType(), False),
    ])
    row = (obj_name, format_sf_datetime(watermark), batch_id, datetime.now(timezone.utc))
    (spark.createDataFrame([row], schema).coalesce(1).write.format("delta").mode("overwrite")
     .save(watermark_path(lake, obj_name)))


def ingest_increment(
    spark,
    lake: str,
    obj: SalesforceObject,
    fetch: Callable[[datetime | None], Iterable[dict[str, Any]]],
    batch_id: str,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    writer: Callable[..., int] | None = None,
) -> IngestResult:
    """Read what changed since the watermark, commit it to bronze, then advance the watermark.

    `fetch(since)` yields API records; `writer` (default write_bronze) commits them. If either
    raises, the watermark is left where it was and the next run reads the same window again.
    """
    before = read_watermark(spark, lake, obj.name)
    since = before - timedelta(seconds=lookback_seconds) if before is not None else None
    records: list[dict[str, Any]] = list(fetch(since))
    if not records:
        return IngestResult(obj.name, 0, 0, before, before)
    stamps = [parse_sf_datetime(r["SystemModstamp"]) for r in records]
    df = records_to_bronze(spark, obj, records, batch_id)
    written = (writer or write_bronze)(spark, df, table_path(lake, "bronze", obj.bronze_table), min(stamps))
    batch_max = max(stamps)
    after = batch_max if before is None else max(before, batch_max)
    write_watermark(spark, lake, obj.name, after, batch_id)
    return IngestResult(obj.name, len(records), written, before, after)


# -- silver ----------------------------------------------------------------------------------------

def typed_columns(columns, raw_name: Callable[[str], str]):
    """(typed Column expressions, error-reason expression) for declared columns over raw strings."""
    from pyspark.sql import functions as F

    typed, reasons = [], []
    for c in columns:
        raw = F.col(raw_name(c.source))
        value = raw if c.type == "string" else F.expr(f"try_cast(`{raw_name(c.source)}` AS {c.type})")
        typed.append(value.alias(c.name))
        if c.type != "string":
            reasons.append(F.when(raw.isNotNull() & (F.trim(raw) != "") & value.isNull(),
                                  F.concat(F.lit(f"unparsable {c.source} ({c.type}): "), raw)))
    return typed, reasons


def with_error_reason(df, reasons):
    """Add `_error_reason`: the failed checks joined by '; ', NULL when the row passed them all."""
    from pyspark.sql import functions as F

    joined = F.concat_ws("; ", *reasons)
    return df.withColumn("_error_reason", F.when(joined != "", joined))


def to_silver(bronze, obj: SalesforceObject) -> SilverResult:
    """Latest valid version per Id (by SystemModstamp, then ingest time); deleted records dropped.

    Rows with a missing Id or a value that does not cast to the declared type are rejected.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    typed, reasons = typed_columns(obj.columns, lambda source: source)
    deleted = F.expr("try_cast(IsDeleted AS boolean)")
    reasons = [F.when(F.col("Id").isNull() | (F.trim(F.col("Id")) == ""), F.lit("missing Id")),
               F.when(F.col("IsDeleted").isNotNull() & deleted.isNull(),
                      F.concat(F.lit("unparsable IsDeleted: "), F.col("IsDeleted"))),
               F.when(F.col("SystemModstamp").isNull(), F.lit("missing SystemModstamp"))] + reasons
    checked = with_error_reason(bronze, reasons)
    rejected = checked.filter(F.col("_error_reason").isNotNull())

    good = checked.filter(F.col("_error_reason").isNull()).select(
        *typed, deleted.alias("_is_deleted"), F.col("_ingest_ts"))
    order = Window.partitionBy(obj.key).orderBy(
        F.col("system_modstamp").desc(), F.col("_ingest_ts").desc(), F.col("_is_deleted").desc())
    current = (good.withColumn("_rank", F.row_number().over(order)).filter("_rank = 1")
               .filter(~F.coalesce(F.col("_is_deleted"), F.lit(False)))
               .withColumn(obj.partition_column, F.to_date(F.col(obj.partition_source)))
               .select(*[c.name for c in obj.columns], obj.partition_column))
    return SilverResult(current, rejected)
