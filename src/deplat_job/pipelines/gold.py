"""Gold aggregates over silver.orders and silver.fx_rates, in the base currency of fx_rates.

An order converts at its currency's rate on its order_date; the ECB publishes no rate on weekends
and TARGET holidays, so the latest rate at most FX_LOOKBACK_DAYS before the order date is used
(the usual "last published fixing" rule). Orders with no rate in that window are rejected to
_errors/gold, never dropped silently. amount_base = total_amount / rate_to_base (units per 1 base).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from deplat_job.pipelines.table_schemas import CUSTOMER_SPEND, MONEY, conform

FX_LOOKBACK_DAYS = 7
TOP_CUSTOMERS = 100


@dataclass
class Converted:
    orders: DataFrame  # silver.orders + rate_date, rate_to_base, base_ccy, amount_base
    errors: DataFrame  # silver.orders + _error_reason


def base_currency(fx: DataFrame) -> str:
    """The one base currency of silver.fx_rates."""
    bases = [r[0] for r in fx.select("base_ccy").distinct().collect()]
    if len(bases) != 1:
        raise ValueError(f"silver.fx_rates must have exactly one base currency, found {bases}")
    return bases[0]


def convert(orders: DataFrame, fx: DataFrame) -> Converted:
    """Each order with the latest rate of its currency on or up to FX_LOOKBACK_DAYS before its date."""
    # An equi-join on (currency, candidate date) instead of a range join: 8 candidates per order.
    window = F.sequence(F.date_sub("order_date", FX_LOOKBACK_DAYS), F.col("order_date"))
    candidates = orders.select("order_id", "currency", "order_date", F.explode(window).alias("rate_date"))
    rates = fx.select(F.col("ccy").alias("currency"), F.col("as_of_date").alias("rate_date"),
                      "rate_to_base", "base_ccy")
    latest = Window.partitionBy("order_id").orderBy(F.col("rate_date").desc())
    matched = (candidates.join(rates, ["currency", "rate_date"])
               .withColumn("_rank", F.row_number().over(latest)).filter(F.col("_rank") == 1)
               .select("order_id", "rate_date", "rate_to_base", "base_ccy"))
    joined = orders.join(matched, "order_id", "left")
    converted = (joined.filter(F.col("rate_to_base").isNotNull())
                 .withColumn("amount_base", (F.col("total_amount") / F.col("rate_to_base")).cast(MONEY)))
    errors = (joined.filter(F.col("rate_to_base").isNull()).select(*orders.columns)
              .withColumn("_error_reason", F.concat(
                  F.lit("no fx rate for "), F.col("currency"),
                  F.lit(f" within {FX_LOOKBACK_DAYS} days before the order date"))))
    return Converted(converted, errors)


def customer_spend(converted: DataFrame) -> DataFrame:
    """Per customer: orders, spend in its own currency and in the base currency."""
    spend = converted.groupBy("customer_id", "currency", "base_ccy").agg(
        F.count("*").alias("orders"),
        F.sum("total_amount").alias("spend_local"),
        F.sum("amount_base").alias("spend_base"),
        F.min("order_date").alias("first_order_date"),
        F.max("order_date").alias("last_order_date"),
    )
    return conform(spend, CUSTOMER_SPEND)


def daily_revenue(converted: DataFrame) -> DataFrame:
    """Per order date: orders, distinct customers, revenue in the base currency."""
    return converted.groupBy("order_date", "base_ccy").agg(
        F.count("*").alias("orders"),
        F.countDistinct("customer_id").alias("customers"),
        F.sum("amount_base").cast(MONEY).alias("revenue_base"),
    )


def monthly_revenue_by_currency(converted: DataFrame) -> DataFrame:
    """Per month and order currency: revenue in that currency and in the base currency."""
    return converted.groupBy("order_month", "currency", "base_ccy").agg(
        F.count("*").alias("orders"),
        F.sum("total_amount").cast(MONEY).alias("revenue_local"),
        F.sum("amount_base").cast(MONEY).alias("revenue_base"),
    )


def top_customers(spend: DataFrame, n: int = TOP_CUSTOMERS) -> DataFrame:
    """The `n` customers with the highest spend in the base currency, ranked."""
    rank = Window.orderBy(F.col("spend_base").desc(), F.col("customer_id"))
    return spend.withColumn("rank", F.row_number().over(rank)).filter(F.col("rank") <= n)


def fx_monthly(fx: DataFrame) -> DataFrame:
    """Per month and currency: average, min, max and last rate against the base."""
    month = F.date_format("as_of_date", "yyyy-MM")
    last = Window.partitionBy("month", "ccy").orderBy(F.col("as_of_date").desc())
    return (fx.withColumn("month", month)
            .withColumn("_last", F.first("rate_to_base").over(last))
            .groupBy("month", "ccy", "base_ccy").agg(
                F.avg("rate_to_base").cast("decimal(24,10)").alias("avg_rate"),
                F.min("rate_to_base").alias("min_rate"),
                F.max("rate_to_base").alias("max_rate"),
                F.max("_last").alias("last_rate"),
                F.count("*").alias("fixings")))
