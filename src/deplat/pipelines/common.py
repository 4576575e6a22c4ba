"""Helpers every job uses: arguments, ingest metadata, the errors area, metrics, watermarks.

Python 3.9-compatible: this module runs on the EMR runtime.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import datetime, timezone

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


def write_silver(df, path: str, partition_column: str, partition_date: str | None = None) -> int:
    """Overwrite a silver table (or, with partition_date, only that partition via replaceWhere).

    Returns the number of rows written.
    """
    from pyspark.sql import functions as F

    out = df.filter(F.col(partition_column) == F.lit(partition_date).cast("date")) if partition_date else df
    out = out.cache()
    count = out.count()
    writer = out.write.format("delta").mode("overwrite").partitionBy(partition_column)
    if partition_date:
        writer = writer.option("replaceWhere", f"{partition_column} = DATE'{partition_date}'")
    else:
        writer = writer.option("overwriteSchema", "true")
    writer.save(path)
    out.unpersist()
    return count


def emit_metrics(step: str, read: int, written: int, rejected: int, **extra) -> dict[str, object]:
    """Print the row counts as one machine-readable line; the CLI picks it out of the driver log."""
    record = {"step": step, "read": int(read), "written": int(written), "rejected": int(rejected),
              "at": datetime.now(timezone.utc).isoformat(), **extra}
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
