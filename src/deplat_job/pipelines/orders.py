"""silver.orders: one row per order from every order source, each with an amount and a currency.

Sources: TPC-H orders (silver.orders_tpch, from the Snowflake pipeline) and, when the streaming
pipeline has written it, lake/bronze/orders_events.

TPC-H has no currency. A customer's currency is derived from its nation (TPC-H's fixed list of 25):
the nation's ISO 4217 currency when the ECB publishes a reference rate for it, else USD, the usual
invoicing currency in those markets. The rule is deterministic, so reruns agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from deplat_job.pipelines.table_schemas import KAFKA_ORDER_FIELDS, ORDERS, ORDERS_PARTITION, conform

NATION_CURRENCY = {
    "ALGERIA": "USD", "ARGENTINA": "USD", "BRAZIL": "BRL", "CANADA": "CAD", "EGYPT": "USD",
    "ETHIOPIA": "USD", "FRANCE": "EUR", "GERMANY": "EUR", "INDIA": "INR", "INDONESIA": "IDR",
    "IRAN": "USD", "IRAQ": "USD", "JAPAN": "JPY", "JORDAN": "USD", "KENYA": "USD", "MOROCCO": "USD",
    "MOZAMBIQUE": "USD", "PERU": "USD", "CHINA": "CNY", "ROMANIA": "RON", "SAUDI ARABIA": "USD",
    "VIETNAM": "USD", "RUSSIA": "RUB", "UNITED KINGDOM": "GBP", "UNITED STATES": "USD",
}
FALLBACK_CURRENCY = "USD"


@dataclass
class OrdersResult:
    orders: DataFrame  # ORDERS
    errors: DataFrame  # source columns + _error_reason
    read: DataFrame | None = None  # the input rows, to be counted on their own
    skipped: DataFrame | None = None  # valid input rows not written (an older event of the same order)


def customer_currency(customers: DataFrame, nations: DataFrame) -> DataFrame:
    """(customer_key, currency) for TPC-H customers, by their nation's name."""
    spark = customers.sparkSession
    mapping = spark.createDataFrame(sorted(NATION_CURRENCY.items()), "nation_name STRING, currency STRING")
    named = nations.select("nation_key", F.upper(F.trim("name")).alias("nation_name"))
    return (customers.select("customer_key", "nation_key")
            .join(named, "nation_key", "left")
            .join(F.broadcast(mapping), "nation_name", "left")
            .select("customer_key", F.coalesce("currency", F.lit(FALLBACK_CURRENCY)).alias("currency")))


def _with_month(df: DataFrame) -> DataFrame:
    return df.withColumn(ORDERS_PARTITION, F.date_format("order_date", "yyyy-MM"))


def tpch_orders(orders: DataFrame, currencies: DataFrame) -> OrdersResult:
    """silver.orders_tpch rows as silver.orders; orders of unknown customers are rejected."""
    joined = orders.join(currencies, orders["customer_key"] == currencies["customer_key"], "left").select(
        orders["*"], currencies["currency"])
    errors = (joined.filter(F.col("currency").isNull())
              .withColumn("_error_reason", F.lit("customer has no nation currency (unknown customer)")))
    valid = joined.filter(F.col("currency").isNotNull()).select(
        F.concat(F.lit("tpch-"), F.col("order_key").cast("string")).alias("order_id"),
        F.concat(F.lit("tpch-"), F.col("customer_key").cast("string")).alias("customer_id"),
        "order_date",
        F.col("total_price").alias("total_amount"),
        "currency",
        F.col("order_status").alias("status"),
        F.lit("tpch").alias("source"),
    )
    return OrdersResult(conform(_with_month(valid), ORDERS), errors, read=orders)


def _resolve(columns, field: str) -> str:
    for name in KAFKA_ORDER_FIELDS[field]:
        if name in columns:
            return name
    raise ValueError(f"bronze kafka_orders has none of {KAFKA_ORDER_FIELDS[field]} (for {field})")


def kafka_orders(bronze: DataFrame) -> OrdersResult:
    """Order events from bronze: validated, latest event per order_id wins."""
    cols = {f: _resolve(bronze.columns, f) for f in KAFKA_ORDER_FIELDS if f != "status"}
    status = next((c for c in KAFKA_ORDER_FIELDS["status"] if c in bronze.columns), None)
    amount = F.col(cols["amount"]).cast("decimal(18,2)")
    when = F.to_timestamp(F.col(cols["order_ts"]))
    currency = F.upper(F.trim(F.col(cols["currency"]).cast("string")))
    reason = (F.when(F.col(cols["order_id"]).isNull(), F.lit("missing order_id"))
              .when(F.col(cols["customer_id"]).isNull(), F.lit("missing customer_id"))
              .when(when.isNull(), F.lit("missing or invalid order time"))
              .when(amount.isNull(), F.lit("non-numeric amount"))
              .when(amount <= 0, F.lit("non-positive amount"))
              .when(currency.isNull() | ~currency.rlike("^[A-Z]{3}$"), F.lit("invalid currency code")))
    checked = bronze.withColumn("_error_reason", reason)
    errors = checked.filter(F.col("_error_reason").isNotNull())
    order = [F.col(cols["order_ts"]).desc()]
    if "_ingest_ts" in bronze.columns:
        order.append(F.col("_ingest_ts").desc())
    latest = Window.partitionBy(cols["order_id"]).orderBy(*order)
    ranked = checked.filter(F.col("_error_reason").isNull()).withColumn("_rank", F.row_number().over(latest))
    valid = (ranked.filter(F.col("_rank") == 1)
             .select(
                 F.concat(F.lit("kafka-"), F.col(cols["order_id"]).cast("string")).alias("order_id"),
                 F.col(cols["customer_id"]).cast("string").alias("customer_id"),
                 F.to_date(when).alias("order_date"),
                 amount.alias("total_amount"),
                 currency.alias("currency"),
                 (F.col(status).cast("string") if status else F.lit(None).cast("string")).alias("status"),
                 F.lit("kafka").alias("source"),
             ))
    return OrdersResult(conform(_with_month(valid), ORDERS), errors.drop("_rank"), read=bronze,
                        skipped=ranked.filter(F.col("_rank") > 1))


def build_orders(tpch: DataFrame, currencies: DataFrame, kafka: DataFrame | None = None,
                 partition_date: str | None = None) -> dict[str, OrdersResult]:
    """silver.orders per source (tpch, and kafka when its bronze exists), one date when given."""
    if partition_date is not None:
        tpch = tpch.filter(F.col("order_date") == F.lit(partition_date))
    results = {"tpch": tpch_orders(tpch, currencies)}
    if kafka is not None:
        if partition_date is not None:
            when = F.to_date(F.to_timestamp(F.col(_resolve(kafka.columns, "order_ts"))))
            kafka = kafka.filter(when == F.lit(partition_date))
        results["kafka"] = kafka_orders(kafka)
    return results


def write_orders(orders: DataFrame, path: str, partition_date: str | None = None) -> None:
    """Overwrite silver.orders (a rebuild from its sources), or replace one order_date."""
    writer = orders.write.format("delta").partitionBy(ORDERS_PARTITION).mode("overwrite")
    if partition_date is None:
        writer.option("overwriteSchema", "true").save(path)
    else:
        writer.option("replaceWhere", f"order_date = '{partition_date}'").save(path)
