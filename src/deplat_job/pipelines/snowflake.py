"""Snowflake (TPC-H) -> bronze -> silver: chunked reads, changed rows only, MERGE by key.

How changes are found is declared per table in config (`snowflake.tables`, parsed by
source_specs.parse_snowflake_tables). TPC-H has no change-tracking column (`rescan`), so its
tables are re-read whole every run in key-range chunks laid out by the real key distribution
(sources.snowflake.SnowflakeReader.chunks). A table with a change column (`change_column`) is read
from bronze's maximum of that column minus a lookback window (SnowflakeReader.changed_since).
Either way a row is appended to bronze only when it differs from bronze's latest version of that
key (a content hash over the source columns): updated rows and rows committed late with a key
below any earlier maximum are picked up, and a rerun appends nothing. Values are typed from the
source's declared types without loss (snowflake_types); a value that does not type sends its row
to lake/_errors/snowflake with the reason. Bronze has the Change Data Feed on; the
silver step MERGEs only the bronze versions it has not merged yet, restricted to the partitions
those rows touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from deplat_job.pipelines.common import first_row
from deplat_job.pipelines.snowflake_types import OFFSET_SUFFIX, source_columns, spark_fields, type_rows
from deplat_job.pipelines.source_specs import parse_snowflake_tables
from deplat_job.pipelines.table_schemas import INGEST_FIELDS, TPCH_TABLES, SourceTable, conform

SOURCE = "snowflake"
STATE_TABLE = "snowflake"  # lake/_state/snowflake: name -> value
DEFAULT_CHUNK_ROWS = 20000


# --- state: a small Delta table, so the same code works on a local path and on S3 -------------

def read_state(spark: SparkSession, path: str) -> dict[str, int]:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return {}
    return {r["name"]: int(r["value"]) for r in spark.read.format("delta").load(path).collect()}


def write_state(spark: SparkSession, path: str, name: str, value: int, batch_id: str) -> None:
    """Upsert one watermark (one Delta commit: atomic)."""
    from delta.tables import DeltaTable

    row = spark.createDataFrame([(name, int(value), batch_id)], "name STRING, value BIGINT, batch_id STRING")
    row = row.withColumn("updated_at", F.current_timestamp())
    if not DeltaTable.isDeltaTable(spark, path):
        row.write.format("delta").save(path)
        return
    (DeltaTable.forPath(spark, path).alias("t").merge(row.alias("s"), "t.name = s.name")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())


def extract_state_key(table: str) -> str:
    return f"extract/{table}"


def merge_state_key(table: str) -> str:
    return f"merge/{table}"


# --- bronze ---------------------------------------------------------------------------------

def bronze_schema(spec: SourceTable) -> StructType:
    return StructType(spec.bronze_schema.fields + INGEST_FIELDS)


def ensure_table(spark: SparkSession, path: str, schema: StructType, partition_by: tuple[str, ...] = (),
                 change_feed: bool = False) -> None:
    from delta.tables import DeltaTable

    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    if change_feed:
        builder = builder.property("delta.enableChangeDataFeed", "true")
    builder.execute()


def typed_chunk(spark: SparkSession, spec: SourceTable, columns: list[str], rows: list[tuple],
                description: tuple = ()) -> tuple[DataFrame, list[tuple[str, str]]]:
    """Rows as read from Snowflake typed into the bronze schema (columns matched by name), and the
    rows that do not type without loss as (raw JSON, reason) (snowflake_types.type_rows).

    `description` is the cursor's: the declared source types, so e.g. a NUMBER(38,0) value beyond
    a declared LongType, or a NUMBER that arrives as a float, is an error row, not a wrong value."""
    schema = spec.bronze_schema
    missing = [f.name for f in schema.fields if f.name not in columns
               and not (f.name.endswith(OFFSET_SUFFIX) and f.name[: -len(OFFSET_SUFFIX)] in columns)]
    if missing:
        raise ValueError(f"Snowflake table {spec.name} lacks columns {missing}")
    typed = type_rows(list(schema.fields), columns, rows, source_columns(description) if description else None)
    return spark.createDataFrame(typed.rows, schema), typed.errors


def chunk_frame(spark: SparkSession, spec: SourceTable, columns: list[str], rows: list[tuple],
                description: tuple = ()) -> DataFrame:
    """`typed_chunk`'s rows; ValueError when any row does not type (for callers with no errors area)."""
    df, errors = typed_chunk(spark, spec, columns, rows, description)
    if errors:
        raise ValueError(f"{len(errors)} rows of {spec.name} do not type: {errors[0][1]}")
    return df


def error_frame(spark: SparkSession, table: str, errors: list[tuple[str, str]], batch_id: str) -> DataFrame:
    """Untypeable source rows for common.write_errors: table, raw row (JSON text), reason."""
    return spark.createDataFrame([(table, raw, reason, batch_id) for raw, reason in errors],
                                 "_table STRING, _raw STRING, _error_reason STRING, _batch_id STRING")


def spec_from_source(name: str, key: tuple[str, ...], description: tuple) -> SourceTable:
    """A table declared only in config: bronze and silver columns follow the source's declared
    types (snowflake_types.spark_fields), silver is `silver.snowflake_<name>`, unpartitioned."""
    if not key:
        raise ValueError(f"snowflake table {name}: declare its primary key (`key:`) in config")
    fields = [f for c in source_columns(description) for f in spark_fields(c)]
    return _spec(name, key, fields)


def spec_from_bronze(name: str, key: tuple[str, ...], schema: StructType) -> SourceTable:
    """The same spec rebuilt from the bronze table's schema (the silver step has no connection)."""
    ingest = {f.name for f in INGEST_FIELDS}
    return _spec(name, key, [f for f in schema.fields if f.name not in ingest])


def _spec(name: str, key: tuple[str, ...], fields) -> SourceTable:
    names = [f.name for f in fields]
    missing = [k for k in key if k not in names]
    if missing:
        raise ValueError(f"snowflake table {name}: key columns {missing} are not in the table")
    return SourceTable(name, key[0], tuple(key), tuple((f.name, f.name, f.dataType) for f in fields),
                       silver_name=f"snowflake_{name}")


def change_watermark(spark: SparkSession, path: str, column: str):
    """Bronze's maximum of the change column (None when empty): committed rows only, so the
    watermark moves with the bronze commit itself and a failed run cannot advance it.

    A TimestampType maximum comes back as an aware UTC datetime (epoch microseconds, not PySpark's
    local-time conversion); TIMESTAMP_NTZ, DATE and numbers as they are."""
    import datetime as dt

    from pyspark.sql.types import TimestampType

    df = spark.read.format("delta").load(path)
    if isinstance(df.schema[column].dataType, TimestampType):
        micros = first_row(df.agg(F.unix_micros(F.max(column))), f"max({column}) of {path}")[0]
        if micros is None:
            return None
        return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=int(micros))
    return first_row(df.agg(F.max(column)), f"max({column}) of {path}")[0]


def lookback_start(watermark, lookback_seconds: int):
    """Where the next change-column read starts: the watermark minus the lookback window."""
    import datetime as dt

    if watermark is None:
        return None
    if isinstance(watermark, dt.datetime):
        return watermark - dt.timedelta(seconds=lookback_seconds)
    if isinstance(watermark, dt.date):
        return watermark - dt.timedelta(days=-(-lookback_seconds // 86400))
    raise ValueError(f"change column values must be TIMESTAMP_* or DATE, got {type(watermark).__name__}")


def row_hash(df: DataFrame, spec: SourceTable):
    """A content hash of the source columns (SHA-256 of their JSON), to tell changed rows apart."""
    return F.sha2(F.to_json(F.struct(*[F.col(src) for src, _, _ in spec.columns])), 256)


def _source_key(spec: SourceTable) -> list[str]:
    by_silver = {dst: src for src, dst, _ in spec.columns}
    return [by_silver[k] for k in spec.primary_key]


@dataclass
class AppendResult:
    appended: int  # rows committed to bronze (the Delta commit's own count)
    unchanged: int  # rows equal to bronze's latest version of their key (counted by a join)


def append_changed(df: DataFrame, path: str, spec: SourceTable, key_range) -> AppendResult:
    """Append the chunk's rows that are new or differ from bronze's latest version of their key.

    `key_range` (low, high: half-open on the chunk key) limits the comparison to that slice; None
    (rows picked by a change column) compares with every key's latest version.
    """
    from delta.tables import DeltaTable

    keys = _source_key(spec)
    chunk_key = spec.chunk_key
    bronze = DeltaTable.forPath(df.sparkSession, path).toDF()
    if key_range is not None:
        bronze = bronze.filter((F.col(chunk_key) >= F.lit(key_range.low)) & (F.col(chunk_key) < F.lit(key_range.high)))
    latest = (bronze.withColumn("_rank", F.row_number().over(
        Window.partitionBy(*keys).orderBy(F.col("_ingest_ts").desc())))
        .filter(F.col("_rank") == 1).select(*keys, row_hash(bronze, spec).alias("_hash")))
    hashed = df.withColumn("_hash", row_hash(df, spec)).cache()
    unchanged = hashed.join(latest, [*keys, "_hash"], "left_semi").count()
    fresh = hashed.join(latest, [*keys, "_hash"], "left_anti").drop("_hash").cache()
    if fresh.isEmpty():
        hashed.unpersist()
        fresh.unpersist()
        return AppendResult(0, unchanged)
    fresh.write.format("delta").mode("append").save(path)
    hashed.unpersist()
    fresh.unpersist()
    metrics = DeltaTable.forPath(df.sparkSession, path).history(1).collect()[0]["operationMetrics"] or {}
    return AppendResult(int(metrics.get("numOutputRows", 0)), unchanged)


# --- silver -----------------------------------------------------------------------------------

@dataclass
class SilverChanges:
    rows: DataFrame  # silver schema, one row per primary key
    errors: DataFrame  # bronze columns + _error_reason
    superseded: DataFrame | None = None  # valid rows replaced by a later row of the same key


def changes_since(spark: SparkSession, bronze_path: str, merged_version: int | None
                  ) -> tuple[DataFrame | None, int]:
    """Bronze rows committed after `merged_version` (Change Data Feed) and the latest version."""
    from delta.tables import DeltaTable

    latest = first_row(DeltaTable.forPath(spark, bronze_path).history(1).select("version"),
                       f"history of {bronze_path}")[0]
    start = 0 if merged_version is None else merged_version + 1
    if start > latest:
        return None, latest
    changes = (spark.read.format("delta").option("readChangeFeed", "true")
               .option("startingVersion", start).option("endingVersion", latest).load(bronze_path)
               .filter(F.col("_change_type").isin("insert", "update_postimage")))
    return changes, latest


def to_silver(spec: SourceTable, changes: DataFrame) -> SilverChanges:
    """Rename and type bronze rows, reject rows without a key (or partition date), keep the
    latest row per primary key (by bronze commit version, then ingest time)."""
    renamed = changes.select(
        *[F.col(src).cast(typ).alias(dst) for src, dst, typ in spec.columns],
        "_ingest_ts", "_batch_id",
        *[c for c in ("_commit_version",) if c in changes.columns],
        *[F.col(src).alias(f"_raw_{src}") for src, _, _ in spec.columns],
    )
    reason = F.lit(None).cast("string")
    if spec.partition_source:
        reason = F.when(F.col(spec.partition_source).isNull(), F.lit(f"missing {spec.partition_source}"))
    for key in reversed(spec.primary_key):
        reason = F.when(F.col(key).isNull(), F.lit(f"missing primary key {key}")).otherwise(reason)
    checked = renamed.withColumn("_error_reason", reason)

    errors = checked.filter(F.col("_error_reason").isNotNull()).select(
        *[F.col(f"_raw_{src}").alias(src) for src, _, _ in spec.columns], "_ingest_ts", "_batch_id",
        "_error_reason")
    valid = checked.filter(F.col("_error_reason").isNull())
    if spec.partition_column:
        if spec.partition_source is None:
            raise ValueError(f"{spec.name}: partition_column {spec.partition_column} needs a partition_source")
        valid = valid.withColumn(spec.partition_column, F.date_format(spec.partition_source, "yyyy-MM"))
    order = [F.col("_ingest_ts").desc()]
    if "_commit_version" in valid.columns:
        order.insert(0, F.col("_commit_version").desc())
    latest = Window.partitionBy(*spec.primary_key).orderBy(*order)
    ranked = valid.withColumn("_rank", F.row_number().over(latest))
    rows = ranked.filter(F.col("_rank") == 1)
    return SilverChanges(rows=conform(rows, spec.silver_schema), errors=errors,
                         superseded=ranked.filter(F.col("_rank") > 1))


@dataclass
class MergeResult:
    inserted: int = 0
    updated: int = 0
    partitions: list[str] = field(default_factory=list)
    files_removed: int = 0
    files_added: int = 0
    stale: int = 0  # rows not applied: silver already holds a row of that key ingested as late or later


def merge_into(spark: SparkSession, path: str, rows: DataFrame, spec: SourceTable) -> MergeResult:
    """MERGE `rows` into the silver table by primary key, scanning only the partitions they touch.

    A row's partition derives from an immutable business date (order/ship date), so a key never
    moves partition and the partition predicate cannot miss a match. A matched row is replaced
    only by a row ingested later: replaying a change set changes nothing. Into an empty table
    (the first load) the rows are appended instead: the same inserts without the join.
    """
    from delta.tables import DeltaTable

    partition_by = (spec.partition_column,) if spec.partition_column else ()
    ensure_table(spark, path, spec.silver_schema, partition_by)
    condition = " AND ".join(f"t.{k} = s.{k}" for k in spec.primary_key)
    partitions: list[str] = []
    if spec.partition_column:
        partitions = sorted(r[0] for r in rows.select(spec.partition_column).distinct().collect())
        if not partitions:
            return MergeResult()
        listed = ", ".join(f"'{p}'" for p in partitions)
        condition += f" AND t.{spec.partition_column} IN ({listed})"
    target = DeltaTable.forPath(spark, path)
    if first_row(target.detail(), f"detail of {path}").numFiles == 0:
        # First load: nothing to match, so the MERGE's join and rewrite are pure cost; an append
        # inserts exactly what whenNotMatchedInsertAll would.
        rows.select(*target.toDF().columns).write.format("delta").mode("append").save(path)
        m = first_row(target.history(1).select("operationMetrics"), f"history of {path}")[0] or {}
        return MergeResult(inserted=int(m.get("numOutputRows", 0)), partitions=partitions,
                           files_added=int(m.get("numFiles", 0)))
    held = target.toDF()
    if spec.partition_column:
        held = held.filter(F.col(spec.partition_column).isin(partitions))
    held = held.select(*spec.primary_key, F.col("_ingest_ts").alias("_held_ts"))
    stale = (rows.join(held, list(spec.primary_key), "inner")
             .filter(F.col("_ingest_ts") <= F.col("_held_ts")).count())
    (target.alias("t").merge(rows.alias("s"), condition)
     .whenMatchedUpdateAll(condition="s._ingest_ts > t._ingest_ts")
     .whenNotMatchedInsertAll()
     .execute())
    metrics = first_row(target.history(1).select("operation", "operationMetrics"), f"history of {path}")
    m = metrics["operationMetrics"] or {}
    return MergeResult(
        inserted=int(m.get("numTargetRowsInserted", 0)),
        updated=int(m.get("numTargetRowsUpdated", 0)),
        partitions=partitions,
        files_removed=int(m.get("numTargetFilesRemoved", 0)),
        files_added=int(m.get("numTargetFilesAdded", 0)),
        stale=stale,
    )


def add_table_args(parser) -> None:
    """The table selection both Snowflake jobs take: --tables and --snowflake-tables (from config)."""
    parser.add_argument("--tables", default=None,
                        help="comma-separated tables (default: every table in --snowflake-tables)")
    parser.add_argument("--snowflake-tables", default=None,
                        help="JSON {table: {tracking, change_column, lookback_seconds, key}} from config")


def selected_tables(parser, args) -> tuple[dict, list[str]]:
    """(table -> its declared change tracking, the tables to process, lower-case). A table must be
    declared, and one outside TPC-H needs its `key:`; otherwise parser.error (exit 2)."""
    try:
        tracking = parse_snowflake_tables(args.snowflake_tables)
    except ValueError as exc:
        parser.error(str(exc))
    tables = ([t.strip().lower() for t in args.tables.split(",") if t.strip()] if args.tables
              else list(tracking))
    unknown = [t for t in tables if t not in tracking or (t not in TPCH_TABLES and not tracking[t].key)]
    if unknown:
        parser.error(f"unknown tables {unknown}; declared: {sorted(tracking)} (a table outside TPC-H "
                     "needs `key:` in config)")
    return tracking, tables
