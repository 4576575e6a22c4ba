"""FX transforms: ECB cells -> bronze rows -> silver.fx_rates in a chosen base currency.

rate_to_base = units of `ccy` per 1 unit of the base currency. The ECB publishes units per 1 EUR,
so for a base B: rate_to_base(c) = ecb(c) / ecb(B), with ecb(EUR) = 1. Every ECB business day
also gets an EUR row (and the base itself, at 1), so any currency converts through one join.
rate_category: `base` (the base currency itself), `reference` (an ECB rate, base EUR), `cross`
(derived through EUR for another base).

`N/A` cells are the ECB's "no rate published": counted as not_quoted, not errors. Empty,
non-numeric and non-positive rates, bad dates and bad currency codes go to _errors with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from deplat_job.pipelines.conflicts import retry_on_conflict
from deplat_job.pipelines.table_schemas import ECB_RATE, FX_BRONZE_RAW, FX_PARTITION, FX_RATES, RATE, conform

SOURCE = "ecb_fx"
DEFAULT_BASE = "EUR"
NOT_QUOTED = "N/A"
ROWS_PER_FILE = 1_000_000  # silver files hold up to this many rows (~15 MB of Parquet)


@dataclass
class FxSilver:
    """The silver step's outputs (lazy DataFrames)."""

    rates: DataFrame  # FX_RATES
    errors: DataFrame  # bronze columns + _error_reason
    not_quoted: DataFrame  # N/A cells: no rate published that day
    duplicates: DataFrame  # valid cells superseded by a later ingest of the same (date, ccy)


def bronze_frame(spark: SparkSession, cells, source_file: str) -> DataFrame:
    """ECB cells (date, currency, raw rate) as a DataFrame of the bronze raw schema."""
    rows = [(d, c, r, source_file) for d, c, r in cells]
    return spark.createDataFrame(rows, FX_BRONZE_RAW)


def partition_filter(df: DataFrame, column: str, partition_date: str | None) -> DataFrame:
    return df if partition_date is None else df.filter(F.col(column) == F.lit(partition_date))


def _reasoned(bronze: DataFrame) -> DataFrame:
    raw = F.trim(F.col("rate"))
    value = raw.cast(ECB_RATE)
    day = F.to_date(F.col("rate_date"), "yyyy-MM-dd")
    reason = (
        F.when(day.isNull(), F.lit("invalid date"))
        .when(F.col("currency").isNull() | ~F.col("currency").rlike("^[A-Z]{3}$"),
              F.lit("invalid currency code"))
        .when(F.col("rate").isNull() | (raw == ""), F.lit("missing rate"))
        .when(raw == NOT_QUOTED, F.lit(NOT_QUOTED))
        .when(value.isNull(), F.lit("non-numeric rate"))
        .when(value <= 0, F.lit("non-positive rate"))
    )
    return (bronze.withColumn("as_of_date", day).withColumn("ecb_rate", value)
            .withColumn("_error_reason", reason))


def build_fx_rates(bronze: DataFrame, base: str = DEFAULT_BASE, batch_id: str = "") -> FxSilver:
    """Validate, deduplicate and rebase bronze cells into silver.fx_rates rows."""
    base = base.upper()
    checked = _reasoned(bronze)
    not_quoted = checked.filter(F.col("_error_reason") == NOT_QUOTED).select(*bronze.columns)
    bad = checked.filter(F.col("_error_reason").isNotNull() & (F.col("_error_reason") != NOT_QUOTED))
    valid = checked.filter(F.col("_error_reason").isNull())

    latest = Window.partitionBy("as_of_date", "currency").orderBy(
        F.col("_ingest_ts").desc_nulls_last(), F.col("ecb_rate").desc())
    ranked = valid.withColumn("_rank", F.row_number().over(latest))
    duplicates = ranked.filter(F.col("_rank") > 1).select(*bronze.columns)
    unique = ranked.filter(F.col("_rank") == 1).select(
        F.col("currency").alias("ccy"), "as_of_date", "ecb_rate")

    eur = unique.select("as_of_date").distinct().select(
        F.lit("EUR").alias("ccy"), "as_of_date", F.lit(1).cast(ECB_RATE).alias("ecb_rate"))
    all_ccy = unique.filter(F.col("ccy") != "EUR").unionByName(eur)
    base_rates = all_ccy.filter(F.col("ccy") == base).select(
        "as_of_date", F.col("ecb_rate").alias("_base_rate"))
    joined = all_ccy.join(base_rates, "as_of_date", "left")

    category = (F.when(F.col("ccy") == base, F.lit("base"))
                .when(F.lit(base) == "EUR", F.lit("reference"))
                .otherwise(F.lit("cross")))
    rates = conform(joined.filter(F.col("_base_rate").isNotNull()).select(
        "ccy",
        F.lit(base).alias("base_ccy"),
        (F.col("ecb_rate") / F.col("_base_rate")).cast(RATE).alias("rate_to_base"),
        "as_of_date",
        category.alias("rate_category"),
        F.lit(batch_id).alias("_batch_id"),
    ), FX_RATES)
    no_base_days = joined.filter(F.col("_base_rate").isNull()).select("as_of_date").distinct()
    orphaned = (ranked.filter(F.col("_rank") == 1)
                .join(no_base_days, "as_of_date", "left_semi")
                .withColumn("_error_reason", F.lit(f"no {base} rate on this date")))
    errors = bad.select(*bronze.columns, "_error_reason").unionByName(
        orphaned.select(*bronze.columns, "_error_reason"))
    return FxSilver(rates=rates, errors=errors, not_quoted=not_quoted, duplicates=duplicates)


def write_silver(rates: DataFrame, path: str, partition_date: str | None = None,
                 files: int = 1) -> None:
    """Overwrite silver.fx_rates, or with a partition date replace just that date's rows.

    The table is not partitioned: the whole ECB history is ~300k rows (a few MB) and grows by
    ~10k rows a year, so day partitions only made ~7,000 one-file folders. Rows are range-split
    by as_of_date into `files` files and sorted, so each file covers a disjoint date range and its
    min/max statistics let readers and a one-date replaceWhere skip the others. replaceWhere on a
    data column (not a partition column) is supported since Delta 2.0
    (spark.databricks.delta.replaceWhere.dataColumns.enabled, default true).
    """
    day = FX_PARTITION
    if partition_date is None:
        out = rates.repartitionByRange(max(1, files), F.col(day)).sortWithinPartitions(day, "ccy")
        writer = out.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    else:
        # replaceWhere fails the write if a row falls outside the predicate: scope is enforced.
        out = rates.repartition(1).sortWithinPartitions(day, "ccy")
        writer = out.write.format("delta").mode("overwrite").option("replaceWhere", f"{day} = DATE'{partition_date}'")
    # Dates of a backfill run at once and rewrite the same files: a conflict is retried (conflicts.py).
    retry_on_conflict(lambda: writer.save(path), "silver.fx_rates")


def write_bronze(df: DataFrame, path: str, partition_date: str | None = None) -> None:
    """The ECB history is a full snapshot: overwrite; one date replaces only that date's rows."""
    writer = df.write.format("delta").mode("overwrite")
    if partition_date is not None:
        writer = writer.option("replaceWhere", f"rate_date = '{partition_date}'")
    retry_on_conflict(lambda: writer.save(path), "bronze.fx_rates")

