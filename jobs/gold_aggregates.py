"""gold_aggregates: silver.orders x silver.fx_rates -> lake/gold/{customer_spend, daily_revenue,
monthly_revenue_by_currency, top_customers, fx_monthly}, in the base currency of fx_rates.

Every gold table is rebuilt (overwrite): a rerun gives the same rows.
"""

from __future__ import annotations

from deplat_job.pipelines import common, gold
from deplat_job.pipelines.session import get_spark

STEP = "gold_aggregates"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    args = common.parse_args(parser, argv)
    spark = get_spark(STEP)
    orders = spark.read.format("delta").load(common.table_path(args.lake, "silver", "orders")).cache()
    fx = spark.read.format("delta").load(common.table_path(args.lake, "silver", "fx_rates"))
    base = gold.base_currency(fx)

    result = gold.convert(orders, fx)
    converted = result.orders.cache()
    spend = gold.customer_spend(converted).cache()
    tables = {
        "customer_spend": spend,
        "daily_revenue": gold.daily_revenue(converted),
        "monthly_revenue_by_currency": gold.monthly_revenue_by_currency(converted),
        "top_customers": gold.top_customers(spend),
        "fx_monthly": gold.fx_monthly(fx),
    }
    counts = {}
    for name, df in tables.items():
        df = df.cache()
        counts[name] = df.count()
        (df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
         .save(common.table_path(args.lake, "gold", name)))
    rejected = common.write_errors(result.errors, args.lake, "gold", args.batch_id)
    common.emit_metrics(STEP, read=orders.count(), written=sum(counts.values()), rejected=rejected,
                        tables=counts, base_currency=base, converted_orders=converted.count())


if __name__ == "__main__":
    main()
