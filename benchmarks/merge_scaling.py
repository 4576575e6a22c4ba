"""MERGE cost vs table size: the same 10k-row change set MERGEd into silver tables of 1x and 10x.

Target (DESIGN.md section 7): ratio <= 1.5. The tables are silver.orders_tpch-shaped, partitioned
by order month, 10k orders a month: 1x = 10 months (100k rows), 10x = 100 months (1M rows), i.e.
the bigger table has more history, as tables grow. The change set (5k updates of existing orders,
5k new orders) falls in the latest month. It goes through the pipeline's own merge_into (MERGE by
key + partition predicate). Each size is restored to its pre-merge version before every run; the
runs alternate between sizes so drift on a shared machine hits both alike. Prints the ratio last.
Usage: python benchmarks/merge_scaling.py [--runs N] [--per-month N] [--months N] [--change N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date

from deplat_job.pipelines.table_schemas import TPCH_TABLES

SPEC = TPCH_TABLES["orders"]
START = date(2012, 1, 1)


def _orders(spark, first_key: int, count: int, month_of, ingest_hours: int = 0):
    """`count` synthetic orders from key `first_key`; `month_of(col)` gives the month offset."""
    from pyspark.sql import functions as F

    ids = spark.range(first_key, first_key + count)
    month = month_of(F.col("id"))
    order_date = F.date_add(F.add_months(F.lit(START), month), (F.col("id") % 28).cast("int"))
    return ids.select(
        F.col("id").alias("order_key"),
        (F.col("id") % 1500).alias("customer_key"),
        F.lit("O").alias("order_status"),
        (F.col("id") % 100000 / 100).cast("decimal(15,2)").alias("total_price"),
        order_date.alias("order_date"),
        F.lit("1-URGENT").alias("order_priority"),
        F.concat(F.lit("Clerk#"), (F.col("id") % 1000).cast("string")).alias("clerk"),
        F.lit(0).alias("ship_priority"),
        F.lit("synthetic").alias("comment"),
        F.date_format(order_date, "yyyy-MM").alias("order_month"),
        (F.current_timestamp() + F.expr(f"INTERVAL {ingest_hours} HOURS")).alias("_ingest_ts"),
        F.lit("bench").alias("_batch_id"),
    )


def _build(spark, path: str, months: int, per_month: int) -> None:
    from deplat_job.pipelines.snowflake import ensure_table

    ensure_table(spark, path, SPEC.silver_schema, (SPEC.partition_column,))
    rows = _orders(spark, 0, months * per_month, lambda k: (k / per_month).cast("int"))
    rows.repartition(SPEC.partition_column).write.format("delta").mode("append").save(path)


def _change_set(spark, months: int, per_month: int, size: int):
    """Half updates of the latest month's orders, half new orders in that month."""
    from pyspark.sql import functions as F

    last = months - 1
    updates = _orders(spark, last * per_month, size // 2, lambda k: F.lit(last), ingest_hours=1)
    updates = updates.withColumn("order_status", F.lit("F"))
    inserts = _orders(spark, 10**9, size - size // 2, lambda k: F.lit(last), ingest_hours=1)
    return updates.unionByName(inserts).cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-month", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=10, help="months of the 1x table")
    parser.add_argument("--change", type=int, default=10_000, help="rows in the change set")
    args = parser.parse_args()

    from delta.tables import DeltaTable

    from deplat.local.jars import ensure_jars
    from deplat_job.pipelines.session import get_spark
    from deplat_job.pipelines.snowflake import merge_into

    spark = get_spark("merge-scaling", master="local[2]", jars=ensure_jars())
    sizes = {"1x": args.months, "10x": args.months * 10}
    with tempfile.TemporaryDirectory(prefix="deplat-merge-") as tmp:
        paths = {name: f"{tmp}/{name}" for name in sizes}
        changes = {}
        for name, months in sizes.items():
            start = time.perf_counter()
            _build(spark, paths[name], months, args.per_month)
            changes[name] = _change_set(spark, months, args.per_month, args.change)
            changes[name].count()
            print(f"built {name}: {months * args.per_month:,} rows, {months} partitions "
                  f"in {time.perf_counter() - start:.1f}s", flush=True)
        base_versions = {n: DeltaTable.forPath(spark, p).history(1).first()["version"]
                         for n, p in paths.items()}

        samples = {name: [] for name in sizes}
        detail = {}
        for run in range(args.runs + 1):  # run 0 warms the JVM up and is not counted
            for name in sizes:
                DeltaTable.forPath(spark, paths[name]).restoreToVersion(base_versions[name])
                start = time.perf_counter()
                detail[name] = merge_into(spark, paths[name], changes[name], SPEC)
                if run:
                    samples[name].append(time.perf_counter() - start)
        med = {name: statistics.median(values) for name, values in samples.items()}
        for name in sizes:
            r = detail[name]
            runs = ", ".join(f"{s:.2f}" for s in samples[name])
            print(f"{name:>4}: {sizes[name] * args.per_month:>9,} rows  merge median {med[name]:.2f}s "
                  f"(runs {runs})  inserted {r.inserted} updated {r.updated} "
                  f"partitions {r.partitions} files -{r.files_removed}/+{r.files_added}")
    spark.stop()
    ratio = med["10x"] / med["1x"]
    print(f"MERGE 10x/1x time ratio: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
