"""orders_silver: silver.orders_tpch (+ lake/bronze/orders_events when present) -> lake/silver/orders.

A rebuild from its sources (overwrite), or --partition-date replaces one order_date.
"""

from __future__ import annotations

from functools import reduce

from delta.tables import DeltaTable

from deplat_job.pipelines import common
from deplat_job.pipelines import orders as op
from deplat_job.pipelines.session import get_spark

STEP = "orders_silver"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    args = common.parse_args(parser, argv)
    spark = get_spark(STEP)

    def load(layer: str, table: str):
        path = common.table_path(args.lake, layer, table)
        return spark.read.format("delta").load(path) if DeltaTable.isDeltaTable(spark, path) else None

    tpch = load("silver", "orders_tpch")
    if tpch is None:
        raise RuntimeError("silver/orders_tpch is missing: run the snowflake pipeline first")
    currencies = op.customer_currency(load("silver", "customer_tpch"), load("silver", "nation_tpch"))
    kafka = load("bronze", "orders_events")  # written by kafka_orders_stream
    results = op.build_orders(tpch, currencies, kafka, args.partition_date)

    orders = reduce(lambda a, b: a.unionByName(b), [r.orders for r in results.values()]).cache()
    written = orders.count()
    op.write_orders(orders, common.table_path(args.lake, "silver", "orders"), args.partition_date)
    rejected = sum(common.write_errors(r.errors, args.lake, f"orders_{name}", args.batch_id)
                   for name, r in results.items())
    read = sum(r.read.count() for r in results.values())
    skipped = sum(r.skipped.count() for r in results.values() if r.skipped is not None)
    by_source = {r["source"]: r["count"] for r in orders.groupBy("source").count().collect()}
    common.emit_metrics(STEP, read=read, written=written, rejected=rejected, skipped=skipped,
                        by_source=by_source, kafka_present=kafka is not None,
                        partition_date=args.partition_date)


if __name__ == "__main__":
    main()
