"""DMS CDC: landing files -> bronze (every change, once) -> silver (the current row per key).

Bronze appends the rows of files it has not ingested yet (the file name is kept in `_file`, so a
rerun over the same landing adds nothing). Each file is read with its own header and mapped by
column name (sources.dms.read_files): a column a file lacks is NULL for its rows, a column new at
the source is added to bronze and silver (schema evolution) and reported.

Silver is the source's last committed change per key, in the source's own commit order: the
change sequence (`_dms_seq`, AR_H_CHANGE_SEQ: commit order across full load and CDC), then the
commit timestamp, then the file name. Full-load files without an Op column are inserts. DMS leaves
AR_H_CHANGE_SEQ empty in full-load rows and puts the transfer time, not a commit time, in their
timestamp column (S3Settings.TimestampColumnName), so a full-load row without a sequence orders
before every CDC change of its key by rule (CDC covers every change from the task's start, the
ones cached during the load included); an empty sequence in a CDC change is still an error. A delete
removes the key; a later insert/update re-creates it. A latest change whose values do not type
(after mapping the documented special values, source_specs.DMS_SPECIAL_VALUES) holds its key back
from silver and is reported as an error row: an older version never silently becomes current.
A key snapshot of the source (sources.dms.keys_dir, written by `deplat dr reconcile`) removes
ghost keys: keys whose last change is older than the snapshot and that the source no longer has
(a primary-key change that DMS's S3 target delivers as an update of the new key only).
A rejected change whose numeric value is well formed but does not fit the declared type (the
source column was widened, e.g. numeric(12,2) -> numeric(14,4): DMS's CSV carries no types) is
reported as schema drift: the column, the type its values need, and the keys held back.

Python 3.9-compatible: this module runs on the EMR runtime.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deplat_job.pipelines.common import add_ingest_metadata, table_path, typed_columns, typed_value, with_error_reason
from deplat_job.pipelines.source_specs import DMS_OP, DMS_SEQ, DMS_SPECIAL_VALUES, DMS_TABLES, DMS_TS, DmsTable
from deplat_job.sources import dms as source

SOURCE = "dms"
OPS = ("I", "U", "D")
METADATA = {DMS_OP, DMS_TS, DMS_SEQ, "_file", "_ingest_ts", "_source", "_batch_id", source.CORRUPT}
# Fates of a change row in the silver step; every bronze row gets exactly one.
WRITTEN, REJECTED, SUPERSEDED, DELETED, GHOST = "current", "rejected", "superseded", "deleted", "ghost"
_NUMBER_TEXT = r"^[+-]?[0-9]+([.][0-9]+)?$"
_INTEGRAL = {"tinyint", "smallint", "int", "integer", "bigint"}
DRIFT_KEYS_KEPT = 20  # keys named per drifted column (the count is always whole)
DRIFT_STATE = "dms/schema_drift_{table}"  # under <lake>/_state, per silver table; `catalog diff` reads it
_KEYS_FILE = re.compile(r"^KEYS-(?P<ts>\d{8}-\d{12})-(?P<seq>\d+)\.csv$")


@dataclass(frozen=True)
class BronzeResult:
    table: str
    files: int
    read: int  # data rows in the new landing files (counted on the files)
    written: int  # rows appended to bronze (the Delta commit's numOutputRows)
    new_columns: tuple[str, ...] = ()


@dataclass
class SilverResult:
    current: Any  # DataFrame: one typed row per live key (+ new source columns as strings)
    rejected: Any  # DataFrame: bad change rows with _error_reason
    classified: Any  # DataFrame: every change row with its `_fate`, for counting
    new_columns: list[str] = field(default_factory=list)  # source columns not declared (strings)
    drift_rows: Any = None  # DataFrame: rejected changes with the digits of each too-wide number
    drift_columns: list[Any] = field(default_factory=list)  # source_specs.Column checked for drift
    _drift: list[dict[str, Any]] | None = None

    def schema_drift(self) -> list[dict[str, Any]]:
        """Per numeric column whose rejected values are numbers too wide for the declared type:
        {"column", "declared", "needed" (the narrowest type holding the declared and seen values),
        "rejected_changes", "held_back" (keys whose latest change it is), "held_back_keys" (the
        first DRIFT_KEYS_KEPT, sorted)}. One Spark aggregate, computed once."""
        if self._drift is None:
            self._drift = _schema_drift(self.drift_rows, self.drift_columns)
        return self._drift

    def report(self) -> dict[str, Any]:
        return {"new_columns": self.new_columns, "schema_drift": self.schema_drift()}


@dataclass
class KeySnapshot:
    """The source's keys of one table at one point of its commit order."""

    keys: Any  # DataFrame: the key columns as strings
    ts: str  # DMS timestamp text of the snapshot
    seq: str  # change sequence of the snapshot (same scale as _dms_seq)
    file: str = ""


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
    """Append the rows of the table's not-yet-ingested landing files to bronze.

    `read` is counted on the files as read, `written` is the Delta commit's own row count: a
    difference between them is a loss the metrics show.
    """
    from delta.tables import DeltaTable

    bronze_path = table_path(lake, "bronze", table.bronze_table)
    listed = source.list_files(spark, source.table_dir(lake, table.schema, table.table))
    files = new_files(listed, processed_files(spark, bronze_path))
    if not files:
        return BronzeResult(table.qualified, 0, 0, 0)
    raw, columns = source.read_files(spark, files)
    if raw is None:
        return BronzeResult(table.qualified, len(files), 0, 0)
    raw = raw.cache()
    read = raw.count()
    known = set(spark.read.format("delta").load(bronze_path).columns) if DeltaTable.isDeltaTable(
        spark, bronze_path) else {c.source for c in table.columns}
    added = tuple(c for c in columns if c not in known and c not in METADATA)
    to_bronze(raw, batch_id).write.format("delta").mode("append").option("mergeSchema", "true").save(bronze_path)
    raw.unpersist()
    metrics = DeltaTable.forPath(spark, bronze_path).history(1).collect()[0]["operationMetrics"] or {}
    return BronzeResult(table.qualified, len(files), read, int(metrics.get("numOutputRows", 0)), added)


def _with_missing(df, names: Iterable[str]):
    from pyspark.sql import functions as F

    for name in names:
        if name not in df.columns:
            df = df.withColumn(name, F.lit(None).cast("string"))
    return df


def parse_keys_file(name: str) -> tuple[str, str]:
    """KEYS-<yyyymmdd-hhmmssffffff>-<seq>.csv -> (DMS timestamp text, change sequence)."""
    m = _KEYS_FILE.match(name)
    if not m:
        raise ValueError(f"not a key snapshot file name: {name!r}")
    t = m["ts"]
    return f"{t[:4]}-{t[4:6]}-{t[6:8]} {t[9:11]}:{t[11:13]}:{t[13:15]}.{t[15:]}", m["seq"]


def current_rows(changes, table: DmsTable, key_snapshot=None) -> SilverResult:
    """The current row per key from a table's change rows (bronze), deletes applied.

    `key_snapshot`: the source's keys at one point of its commit order, or None. A key whose last
    change is older than the snapshot and that the snapshot lacks is a ghost: removed, counted.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    declared = [c.source for c in table.columns]
    new_columns = sorted(c for c in changes.columns if c not in METADATA and c not in declared)
    df = _with_missing(changes, [*declared, DMS_OP, DMS_TS, DMS_SEQ, source.CORRUPT, "_file"])
    op = F.coalesce(F.upper(F.trim(F.col(DMS_OP))),
                    F.when(F.col("_file").startswith("LOAD"), F.lit("I")))  # full load without Op
    df = df.withColumn("_op", op)
    ts = F.expr(f"try_cast(`{DMS_TS}` AS timestamp)")
    seq = F.expr(f"try_cast(`{DMS_SEQ}` AS decimal(38,0))")
    unsequenced_load = (F.coalesce(F.col("_file").startswith("LOAD"), F.lit(False))
                        & (F.col(DMS_SEQ).isNull() | (F.trim(F.col(DMS_SEQ)) == "")))
    key_cols = [c for c in table.columns if c.source in table.key]
    value_cols = [c for c in table.columns if c.source not in table.key]
    _, key_reasons = typed_columns(key_cols, lambda s: s)
    typed, value_reasons = typed_columns(value_cols, lambda s: s, DMS_SPECIAL_VALUES,
                                         check=F.col("_op") != "D")
    null = F.lit("NULL")
    structural = [
        F.when(F.col(source.CORRUPT).isNotNull(), F.lit("malformed CSV line (field count differs from header)")),
        F.when(F.col("_op").isNull() | ~F.col("_op").isin(*OPS),
               F.concat(F.lit("unknown Op: "), F.coalesce(F.col(DMS_OP), null))),
        F.when(F.col(DMS_TS).isNotNull() & ts.isNull(), F.concat(F.lit(f"unparsable {DMS_TS}: "), F.col(DMS_TS))),
        F.when(F.col(DMS_SEQ).isNotNull() & seq.isNull() & ~unsequenced_load,
               F.concat(F.lit(f"unparsable {DMS_SEQ}: "), F.col(DMS_SEQ))),
        F.when(ts.isNull() & seq.isNull(), F.lit(f"no {DMS_SEQ} or {DMS_TS}: the change cannot be ordered")),
    ] + [F.when(F.col(k).isNull() | (F.trim(F.col(k)) == ""), F.lit(f"missing key {k}")) for k in table.key]
    checked = with_error_reason(df, structural + key_reasons)
    checked = checked.withColumn("_unorderable", F.col("_error_reason").isNotNull())
    checked = with_error_reason(checked.drop("_error_reason"), structural + key_reasons + value_reasons)

    ordered = checked.filter(~F.col("_unorderable")).select(
        "*", *[typed_value(c.source, c.type).alias(f"_k_{c.name}") for c in key_cols],
        ts.alias("_ts"), seq.alias("_seq"), F.when(unsequenced_load, 0).otherwise(1).alias("_phase"))
    kcols = [f"_k_{c.name}" for c in key_cols]
    order = Window.partitionBy(*kcols).orderBy(
        F.col("_phase").desc(), F.col("_seq").desc_nulls_last(), F.col("_ts").desc_nulls_last(),
        F.col("_file").desc())
    ranked = ordered.withColumn("_rank", F.row_number().over(order))
    is_latest = F.col("_rank") == 1
    ghost = F.lit(False)
    if key_snapshot is not None:
        snap = (key_snapshot.keys.select(*[typed_value(c.source, c.type).alias(f"_k_{c.name}") for c in key_cols])
                .distinct().withColumn("_in_source", F.lit(True)))
        ranked = ranked.join(snap, kcols, "left")
        older = (F.when(F.col("_seq").isNotNull(), F.col("_seq") < F.lit(key_snapshot.seq).cast("decimal(38,0)"))
                 .otherwise(F.col("_ts") < F.lit(key_snapshot.ts).cast("timestamp")))
        ghost = F.col("_in_source").isNull() & older
    fate = (F.when(F.col("_error_reason").isNotNull(), F.lit(REJECTED))
            .when(~is_latest, F.lit(SUPERSEDED))
            .when(F.col("_op") == "D", F.lit(DELETED))
            .when(ghost, F.lit(GHOST))
            .otherwise(F.lit(WRITTEN)))
    ranked = ranked.withColumn("_fate", fate)
    drift_columns = [c for c in value_cols if _numeric_base(c.type)]
    drift_rows = None
    if drift_columns:
        too_wide = []
        for i, c in enumerate(drift_columns):
            text = F.trim(F.col(c.source))
            bad = (text.rlike(_NUMBER_TEXT) & typed_value(c.source, c.type, DMS_SPECIAL_VALUES).isNull()
                   & (F.col("_op") != "D"))
            digits = F.length(F.regexp_replace(F.regexp_extract(text, r"^[+-]?([0-9]+)", 1), "^0+", ""))
            too_wide += [F.when(bad, digits).alias(f"_int_{i}"),
                         F.when(bad, F.length(F.regexp_extract(text, r"[.]([0-9]+)$", 1))).alias(f"_scale_{i}")]
        drift_rows = ranked.filter(F.col("_fate") == REJECTED).select(
            F.concat_ws("|", *[F.col(k) for k in table.key]).alias("_key"), (F.col("_rank") == 1).alias("_latest"),
            *too_wide)
    # A superseded change is bad only as a report; the key's latest change decides what is current.
    current = ranked.filter(F.col("_fate") == WRITTEN).select(
        *[F.col(k).alias(c.name) for k, c in zip(kcols, key_cols)], *typed,
        *[F.col(c) for c in new_columns])
    if table.partition_column not in [c.name for c in table.columns]:
        current = current.withColumn(table.partition_column, F.to_date(F.col(table.partition_source)))
    cols = [c.name for c in table.columns]
    if table.partition_column not in cols:
        cols.append(table.partition_column)
    current = current.select(*cols, *new_columns)

    unorderable = checked.filter(F.col("_unorderable")).withColumn("_fate", F.lit(REJECTED))
    payload = [c for c in changes.columns] + ["_error_reason"]
    rejected = (unorderable.select(*_present(payload, unorderable.columns))
                .unionByName(ranked.filter(F.col("_fate") == REJECTED)
                             .select(*_present(payload, ranked.columns))))
    classified = unorderable.select("_fate").unionByName(ranked.select("_fate"))
    return SilverResult(current, rejected, classified, new_columns, drift_rows, drift_columns)


def _numeric_base(type_: str) -> str:
    base = type_.split("(")[0].strip().lower()
    return base if base == "decimal" or base in _INTEGRAL else ""


def _needed_type(declared: str, int_digits: int, scale: int) -> str:
    m = re.match(r"decimal\((\d+),(\d+)\)", declared.replace(" ", "").lower())
    if m:
        precision, declared_scale = int(m.group(1)), int(m.group(2))
        scale = max(scale, declared_scale)
        int_digits = max(int_digits, precision - declared_scale)
    elif scale == 0 and int_digits <= 18:
        return "bigint"
    return f"decimal({int_digits + scale},{scale})" if int_digits + scale <= 38 else "wider than decimal(38)"


def _schema_drift(rows, columns) -> list[dict[str, Any]]:
    if rows is None or not columns:
        return []
    from pyspark.sql import functions as F

    def held(i: int):
        return F.col(f"_int_{i}").isNotNull() & F.col("_latest")

    aggs = []
    for i in range(len(columns)):
        aggs += [F.count(F.col(f"_int_{i}")).alias(f"n_{i}"), F.max(f"_int_{i}").alias(f"int_{i}"),
                 F.max(f"_scale_{i}").alias(f"scale_{i}"),
                 F.countDistinct(F.when(held(i), F.col("_key"))).alias(f"held_{i}")]
    found = rows.agg(*aggs).collect()[0]
    out = []
    for i, c in enumerate(columns):
        if not found[f"n_{i}"]:
            continue
        n_held = int(found[f"held_{i}"])
        # Only a few keys are named: the driver never holds a data-sized set.
        keys = [r["_key"] for r in rows.filter(held(i)).select("_key").distinct().orderBy("_key")
                .limit(DRIFT_KEYS_KEPT).collect()] if n_held else []
        out.append({"column": c.name, "declared": c.type,
                    "needed": _needed_type(c.type, int(found[f"int_{i}"] or 0), int(found[f"scale_{i}"] or 0)),
                    "rejected_changes": int(found[f"n_{i}"]), "held_back": n_held, "held_back_keys": keys})
    return out


def write_drift_state(spark, lake: str, table: DmsTable, drift: list[dict[str, Any]], batch_id: str) -> None:
    """Replace the table's drift state (<lake>/_state/dms/schema_drift_<silver table>) with this run's
    SilverResult.schema_drift(): empty when the source's values fit again."""
    rows = [(d["column"], d["declared"], d["needed"], int(d["rejected_changes"]), int(d["held_back"]),
             ", ".join(d["held_back_keys"]) + (", ..." if d["held_back"] > len(d["held_back_keys"]) else ""),
             batch_id) for d in drift]
    schema = ("column STRING, declared STRING, needed STRING, rejected_changes BIGINT, held_back BIGINT, "
              "held_back_keys STRING, batch_id STRING")
    (spark.createDataFrame(rows, schema).coalesce(1).write.format("delta").mode("overwrite")
     .option("overwriteSchema", "true")
     .save(table_path(lake, "_state", DRIFT_STATE.format(table=table.silver_table))))


def drift_note(table: str, drift: list[dict[str, Any]]) -> str:
    """One line for the run summary from SilverResult.schema_drift() ('' when there is none)."""
    parts = []
    for d in drift:
        n = d["held_back"]
        keys = ", ".join(d["held_back_keys"]) + (", ..." if n > len(d["held_back_keys"]) else "")
        held = f"{n} key{'' if n == 1 else 's'} held back from silver: {keys}" if n else "no key held back"
        parts.append(f"{d['column']} values need {d['needed']} (declared {d['declared']}); {held}")
    return f"schema drift in {table}: " + "; ".join(parts) if parts else ""


def _present(wanted: list[str], available: list[str]) -> list[str]:
    return [c for c in wanted if c in available]


def count_fates(classified) -> dict[str, int]:
    """{fate: rows} over a SilverResult.classified frame (one Spark job)."""
    counts = {r["_fate"]: int(r["count"]) for r in classified.groupBy("_fate").count().collect()}
    return {f: counts.get(f, 0) for f in (WRITTEN, REJECTED, SUPERSEDED, DELETED, GHOST)}


def key_snapshot(spark, lake: str, table: DmsTable) -> KeySnapshot | None:
    """The newest key snapshot landed for the table, or None."""
    found = source.read_key_snapshot(spark, lake, table.schema, table.table)
    if found is None:
        return None
    keys, name = found
    ts, seq = parse_keys_file(name)
    return KeySnapshot(keys, ts, seq, name)


@dataclass
class LandedSnapshot:
    table: str
    file: str
    source_keys: int  # keys read from the source
    written: int  # key lines in the landed file (counted on the file's text)
    snapshot_seq: str
    ghost_keys: int | None  # silver keys the snapshot lacks now (None: no declared/silver table)

    def report(self) -> dict[str, Any]:
        return {"file": self.file, "source_keys": self.source_keys, "written": self.written,
                "snapshot_seq": self.snapshot_seq, "ghost_keys": self.ghost_keys}


def land_key_snapshot(spark, lake: str, snapshot, table: DmsTable | None = None) -> LandedSnapshot:
    """Write a key snapshot (sources.rds.KeySnapshot) where the silver step reads it, and preview
    the ghosts: the keys the declared table's silver holds that the source no longer has (the next
    dms_bronze_to_silver removes those whose last change precedes the snapshot)."""
    path, text = source.key_snapshot_file(lake, snapshot)
    source.write_text(spark, path, text)
    written = text.count("\n") - 1
    ghosts = None
    silver = table_path(lake, "silver", table.silver_table) if table is not None else None
    if silver is not None and table is not None:
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        if DeltaTable.isDeltaTable(spark, silver):
            names = {c.source: c.name for c in table.columns}
            keys = list(snapshot.columns)
            snap = spark.createDataFrame(snapshot.rows, StructType([StructField(k, StringType()) for k in keys]))
            held = spark.read.format("delta").load(silver).select(
                *[F.col(names.get(k, k)).cast("string").alias(k) for k in keys])
            ghosts = held.join(snap, keys, "left_anti").count()
    return LandedSnapshot(snapshot.table, path, len(snapshot.rows), written, snapshot.seq, ghosts)
