"""Helpers every job uses: arguments, ingest metadata, the errors area, metrics, watermarks.

Python 3.9-compatible: this module runs on the EMR runtime.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row

METRICS_PREFIX = "DEPLAT_METRICS "


def job_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every job takes; a job adds its own on the returned parser."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lake", required=True, help="lake root: a local path or s3://bucket")
    parser.add_argument("--partition-date", default=None, help="YYYY-MM-DD: (re)process one partition")
    parser.add_argument("--batch-id", default=None, help="batch id stamped in ingest metadata (not the engine run id)")
    parser.add_argument("--env", default="local", help="environment name (for secret names)")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    args.lake = args.lake.rstrip("/")
    args.batch_id = args.batch_id or uuid.uuid4().hex[:12]
    return args


def first_row(df: DataFrame, what: str) -> Row:
    """`df.first()` of a frame that always has a row (an aggregate, a Delta table's history or
    DESCRIBE DETAIL): a clear error naming `what` if it has none, not an AttributeError on None."""
    row = df.first()
    if row is None:
        raise RuntimeError(f"{what}: expected a row, got none")
    return row


def table_path(lake: str, layer: str, table: str) -> str:
    """lake/{bronze,silver,gold}/<table>, lake/_errors/<source>, lake/_state/<name>."""
    return f"{lake.rstrip('/')}/{layer}/{table}"


def add_ingest_metadata(df, source: str, batch_id: str):
    """Bronze rows carry where and when they came from."""
    from pyspark.sql import functions as F

    return (
        df.withColumn("_ingest_ts", F.current_timestamp())
        .withColumn("_source", F.lit(source))
        .withColumn("_batch_id", F.lit(batch_id))
    )


def write_errors(df, lake: str, source: str, batch_id: str) -> int:
    """Record rejected rows (with their `_error_reason` and raw record) in lake/_errors/<source>.

    Returns how many rows were rejected. A row already recorded (same reason, same raw record) is
    not appended again, so rerunning a step over the same input leaves the errors area unchanged.
    Bad rows are never dropped silently.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if "_error_reason" not in df.columns:
        raise ValueError("error rows need an _error_reason column")
    payload_cols = [c for c in df.columns if c != "_error_reason"]
    out = df.select(
        F.col("_error_reason").alias("reason"),
        F.to_json(F.struct(*[F.col(c) for c in payload_cols])).alias("raw_record"),
        F.lit(source).alias("source"),
        F.lit(batch_id).alias("batch_id"),
        F.current_timestamp().alias("rejected_at"),
    ).cache()
    count = out.count()
    path = table_path(lake, "_errors", source)
    if count:
        fresh = out
        if DeltaTable.isDeltaTable(out.sparkSession, path):
            known = out.sparkSession.read.format("delta").load(path).select("reason", "raw_record").distinct()
            fresh = out.join(known, ["reason", "raw_record"], "left_anti")
        fresh.write.format("delta").mode("append").save(path)
    out.unpersist()
    return count


@dataclass(frozen=True)
class SilverWrite:
    """What `write_silver` changed: rows written (inserted or replaced) and rows removed."""

    written: int
    removed: int = 0


def write_silver(df, path: str, partition_column: str, partition_date: str | None = None,
                 key: tuple[str, ...] | list[str] | None = None) -> SilverWrite:
    """Write the current rows of a silver table: all of it, or one partition date.

    Without `partition_date` the table is overwritten (schema and layout included). The table is
    not partitioned: these are small tables (hundreds to millions of rows) where a folder per day
    made one tiny file per day (silver.rds_orders: 318 files for ~1,000 rows). Rows are range-split
    by `partition_column` and sorted, so each file covers a disjoint date range whose min/max
    statistics let readers and a one-date rewrite skip the others; adaptive query execution sizes
    the files (spark.sql.adaptive.advisoryPartitionSizeInBytes, 64 MB by default). A table written
    partitioned by an earlier version is rewritten unpartitioned by the next full write
    (overwriteSchema). With `partition_date`, the rows whose `partition_column` equals the date are
    written (replaceWhere on a data column: Delta 2.0+, replaceWhere.dataColumns.enabled). A date
    whose value can change at the source (an order's date) would leave a stale copy of a moved row
    under a plain replaceWhere of the new date; so when `key` is given the reprocess is one Delta MERGE by key over the
    keys that are in the date's partition now (in `df`) or were there before (in the table): rows
    are inserted or updated (moved) wherever their key is, and keys of the old partition that are no
    longer current are deleted. Columns new in `df` are added to the table (schema evolution).
    `df` must hold every current row when `key` is given, not only the date's.
    Counts come from the Delta commit's operation metrics.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    spark = df.sparkSession
    day = F.lit(partition_date).cast("date") if partition_date else None
    if partition_date and key and day is not None and DeltaTable.isDeltaTable(spark, path):
        key = list(key)
        target = DeltaTable.forPath(spark, path)
        before = target.toDF().filter(F.col(partition_column) == day).select(*key)
        touched = df.filter(F.col(partition_column) == day).select(*key).union(before).distinct()
        source = (touched.join(df.withColumn("_present", F.lit(True)), key, "left")
                  .withColumn("_present", F.coalesce(F.col("_present"), F.lit(False))))
        cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in key)
        cols: dict[str, str | Column] = {f"`{c}`": f"s.`{c}`" for c in df.columns}
        (target.alias("t").merge(source.alias("s"), cond).withSchemaEvolution()
         .whenMatchedDelete(condition="NOT s._present")
         .whenMatchedUpdate(set=cols)
         .whenNotMatchedInsert(condition="s._present", values=cols)
         .execute())
        metrics = target.history(1).collect()[0]["operationMetrics"] or {}
        written = int(metrics.get("numTargetRowsInserted", 0)) + int(metrics.get("numTargetRowsUpdated", 0))
        return SilverWrite(written, int(metrics.get("numTargetRowsDeleted", 0)))

    out = df.filter(F.col(partition_column) == day) if partition_date else df
    out = out.repartitionByRange(F.col(partition_column)).sortWithinPartitions(partition_column)
    writer = out.write.format("delta").mode("overwrite")
    if partition_date:
        writer = writer.option("replaceWhere", f"{partition_column} = DATE'{partition_date}'")
        writer = writer.option("mergeSchema", "true")
    else:
        writer = writer.option("overwriteSchema", "true")
    writer.save(path)
    metrics = DeltaTable.forPath(spark, path).history(1).collect()[0]["operationMetrics"] or {}
    # A one-date replaceWhere on a data column rewrites the files holding that date: the rows it
    # copied over unchanged are in numOutputRows too, and counted apart as numCopiedRows.
    written = int(metrics.get("numOutputRows", 0)) - int(metrics.get("numCopiedRows", 0) or 0)
    return SilverWrite(written, int(metrics.get("numDeletedRows", 0) or 0))


def emit_metrics(step: str, read: int, written: int, rejected: int, skipped: int = 0,
                 **extra) -> dict[str, object]:
    """Print the row counts as one machine-readable line; the CLI picks it out of the driver log.

    Each count is counted on its own (never derived from the others), so that
    read == written + rejected + skipped is a check that can fail: `skipped` are rows read and
    deliberately not written (a change superseded by a later one, a version already loaded).
    """
    record = {"step": step, "read": int(read), "written": int(written), "rejected": int(rejected),
              "skipped": int(skipped), "at": datetime.now(timezone.utc).isoformat(), **extra}
    sys.stdout.write(METRICS_PREFIX + json.dumps(record, default=str) + "\n")
    sys.stdout.flush()
    return record


def parse_metrics(log_text: str) -> list[dict[str, object]]:
    """Every DEPLAT_METRICS record in a driver log, in order."""
    out = []
    for line in log_text.splitlines():
        if line.startswith(METRICS_PREFIX):
            try:
                out.append(json.loads(line[len(METRICS_PREFIX):]))
            except ValueError:
                continue
    return out


# -- typing raw source strings (shared by the DMS and Salesforce silver steps) -----------------

_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIMESTAMP_TEXT = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
                   r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$")


def typed_value(raw_name: str, type_: str, special: dict[str, dict[str, str]] | None = None):
    """One raw string column cast to a Spark SQL type, NULL when it does not type.

    Spark's string-to-date cast ignores what follows the date ('0044-03-15 BC' would become the
    year 44 AD), so dates and timestamps must match their ISO text form in full first. `special`
    maps a type's documented special values (lower-case text -> a value of the type), e.g.
    PostgreSQL's 'infinity'. An empty string of a non-string type is NULL: no such value exists.
    """
    from pyspark.sql import functions as F

    raw = F.col(raw_name)
    if type_ == "string":
        return raw
    text = F.trim(raw)
    value = F.expr(f"try_cast(trim(`{raw_name}`) AS {type_})")
    base = type_.split("(")[0].strip().lower()
    if base == "date":
        value = F.when(text.rlike(_DATE_TEXT), value)
    elif base == "timestamp":
        value = F.when(text.rlike(_TIMESTAMP_TEXT), value)
    elif base == "decimal":
        # A cast rounds extra fractional digits away (1234.565 -> 1234.57): only an exact value types.
        m = re.match(r"decimal\((\d+),\s*(\d+)\)", type_.replace(" ", "").lower())
        if m:
            precision, scale = int(m.group(1)), int(m.group(2))
            wide = f"decimal(38,{38 - (precision - scale)})"
            exact = F.expr(f"try_cast(trim(`{raw_name}`) AS {wide})")
            value = F.when(value.cast(wide) == exact, value)
    for text_value, mapped in ((special or {}).get(base) or {}).items():
        value = F.when(F.lower(text) == text_value, F.lit(mapped).cast(type_)).otherwise(value)
    return value


def typed_columns(columns, raw_name, special: dict[str, dict[str, str]] | None = None, check=None):
    """(typed Column expressions, error-reason expressions) for declared columns over raw strings.

    `columns` are source_specs.Column; `raw_name(source)` names the raw column; `check` (a Column,
    default: always) limits when an untypeable value is an error (a DMS delete carries no values).
    """
    from pyspark.sql import functions as F

    typed, reasons = [], []
    for c in columns:
        raw = F.col(raw_name(c.source))
        value = typed_value(raw_name(c.source), c.type, special)
        typed.append(value.alias(c.name))
        if c.type != "string":
            bad = raw.isNotNull() & (F.trim(raw) != "") & value.isNull()
            if check is not None:
                bad = bad & check
            reasons.append(F.when(bad, F.concat(F.lit(f"unparsable {c.source} ({c.type}): "), raw)))
    return typed, reasons


def with_error_reason(df, reasons):
    """Add `_error_reason`: the failed checks joined by '; ', NULL when the row passed them all."""
    from pyspark.sql import functions as F

    joined = F.concat_ws("; ", *reasons)
    return df.withColumn("_error_reason", F.when(joined != "", joined))


# -- the bronze -> silver loop (shared by the DMS and Salesforce silver steps) -------------------

CURRENT, REJECTED = "current", "rejected"  # `_fate` values; any other fate is a skip


@dataclass(frozen=True)
class SilverItem:
    """One table of a bronze -> silver step. `transform(bronze)` returns an object with
    `.current` (the silver rows), `.rejected` (rows + _error_reason), `.classified` (one `_fate`
    per bronze row: CURRENT, REJECTED or a reason for skipping it) and optionally `.report()`."""

    name: str
    bronze_table: str
    silver_table: str
    partition_column: str
    key: tuple[str, ...]
    transform: object


def bronze_to_silver(spark, lake: str, source: str, items, batch_id: str,
                     partition_date: str | None = None) -> tuple[dict[str, int], dict[str, object]]:
    """Rebuild each item's silver table from its whole bronze table (or one partition date).

    Returns (totals: read, written, rejected, skipped; per item: its counts and fates). `read` is
    the bronze row count, `written` the silver commit's own count, `rejected` the rows recorded in
    _errors/<source>, `skipped` the rows classified as superseded, deleted or removed; in a
    partition run, current rows outside the rewritten keys are skipped too (`outside_partition`).
    """
    from delta.tables import DeltaTable

    totals = {"read": 0, "written": 0, "rejected": 0, "skipped": 0}
    per_item: dict[str, object] = {}
    for item in items:
        bronze_path = table_path(lake, "bronze", item.bronze_table)
        if not DeltaTable.isDeltaTable(spark, bronze_path):
            per_item[item.name] = "no bronze yet"
            continue
        bronze = spark.read.format("delta").load(bronze_path).cache()
        result = item.transform(bronze)
        read = bronze.count()
        fates = {r["_fate"]: int(r["count"]) for r in result.classified.groupBy("_fate").count().collect()}
        write = write_silver(result.current, table_path(lake, "silver", item.silver_table),
                             item.partition_column, partition_date, item.key)
        rejected = write_errors(result.rejected, lake, source, batch_id)
        skipped = sum(n for fate, n in fates.items() if fate not in (CURRENT, REJECTED))
        outside = fates.get(CURRENT, 0) - write.written if partition_date else 0
        counts = {"read": read, "written": write.written, "rejected": rejected, "skipped": skipped + outside,
                  "removed_from_silver": write.removed, "fates": fates}
        if partition_date:
            counts["outside_partition"] = outside
        report = getattr(result, "report", None)
        if callable(report):
            counts.update(report())  # while bronze is still cached
        bronze.unpersist()
        per_item[item.name] = counts
        for k in totals:
            totals[k] += counts[k]
    return totals, per_item
