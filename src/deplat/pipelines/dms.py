"""DMS CDC: landing files -> bronze (every change, once) -> silver (the current row per key).

Bronze appends the rows of files it has not ingested yet (the file name is kept in `_file`, so a
rerun over the same landing adds nothing). Silver orders each key's changes by the change's own
commit timestamp and sequence, never by file arrival: the latest change wins, a D removes the row,
and a later I/U re-creates it. Rows with an unknown Op, a missing key or values that do not cast go
to _errors/dms.

Python 3.9-compatible: this module runs on the EMR runtime.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deplat.pipelines.common import add_ingest_metadata, table_path
from deplat.pipelines.salesforce import SilverResult, typed_columns, with_error_reason
from deplat.pipelines.source_specs import DMS_OP, DMS_SEQ, DMS_TABLES, DMS_TS, DmsTable
from deplat.sources import dms as source

SOURCE = "dms"
OPS = ("I", "U", "D")


@dataclass(frozen=True)
class BronzeResult:
    table: str
    files: int
    read: int
    written: int


def spec(qualified: str) -> DmsTable:
    if qualified not in DMS_TABLES:
        raise KeyError(f"unknown DMS table {qualified!r}; declared: {', '.join(DMS_TABLES)}")
    return DMS_TABLES[qualified]


def new_files(listed: Iterable[str], processed: set[str]) -> list[str]:
    """The listed files whose name bronze has not ingested yet."""
    return [f for f in listed if source.file_name(f) not in processed]


def processed_files(spark, bronze_path: str) -> set[str]:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, bronze_path):
        return set()
    rows = spark.read.format("delta").load(bronze_path).select("_file").distinct().collect()
    return {r["_file"] for r in rows}


def to_bronze(raw, batch_id: str):
    """DMS rows (strings + _file) with ingest metadata."""
    return add_ingest_metadata(raw, SOURCE, batch_id)


def ingest_table(spark, lake: str, table: DmsTable, batch_id: str) -> BronzeResult:
    """Append the rows of the table's not-yet-ingested landing files to bronze."""
    bronze_path = table_path(lake, "bronze", table.bronze_table)
    listed = source.list_files(spark, source.table_dir(lake, table.schema, table.table))
    files = new_files(listed, processed_files(spark, bronze_path))
    if not files:
        return BronzeResult(table.qualified, 0, 0, 0)
    df = to_bronze(source.read_files(spark, files), batch_id).cache()
    count = df.count()
    df.write.format("delta").mode("append").option("mergeSchema", "true").save(bronze_path)
    df.unpersist()
    return BronzeResult(table.qualified, len(files), count, count)


def current_rows(changes, table: DmsTable) -> SilverResult:
    """The current row per key from a table's change rows (bronze), deletes applied.

    Order per key: commit timestamp, then change sequence, then file name, latest wins.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    typed, reasons = typed_columns(table.columns, lambda source_name: source_name)
    ts = F.expr(f"try_cast(`{DMS_TS}` AS timestamp)")
    op = F.col(DMS_OP)
    null = F.lit("NULL")
    checks = [
        F.when(op.isNull() | ~op.isin(*OPS), F.concat(F.lit("unknown Op: "), F.coalesce(op, null))),
        F.when(ts.isNull(), F.concat(F.lit(f"unparsable {DMS_TS}: "), F.coalesce(F.col(DMS_TS), null))),
    ]
    checks += [F.when(F.col(k).isNull() | (F.trim(F.col(k)) == ""), F.lit(f"missing key {k}"))
               for k in table.key]
    checked = with_error_reason(changes, checks + reasons)
    rejected = checked.filter(F.col("_error_reason").isNotNull())

    good = checked.filter(F.col("_error_reason").isNull()).select(
        *typed, op.alias("_op"), ts.alias("_ts"), F.col(DMS_SEQ).alias("_seq"), F.col("_file"))
    order = Window.partitionBy(*table.key).orderBy(
        F.col("_ts").desc(), F.col("_seq").desc_nulls_last(), F.col("_file").desc())
    latest = good.withColumn("_rank", F.row_number().over(order)).filter("_rank = 1")
    current = latest.filter(F.col("_op") != "D")
    if table.partition_column not in [c.name for c in table.columns]:
        current = current.withColumn(table.partition_column, F.to_date(F.col(table.partition_source)))
    cols = [c.name for c in table.columns]
    if table.partition_column not in cols:
        cols.append(table.partition_column)
    return SilverResult(current.select(*cols), rejected)
