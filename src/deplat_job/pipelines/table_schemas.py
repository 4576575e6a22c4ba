"""Typed schemas and table declarations of the fx, snowflake (TPC-H), orders and gold pipelines.

Declared once here; jobs and transforms refer to these names. Python 3.9-compatible (EMR).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (
    DataType,
    DateType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def conform(df, schema: StructType):
    """`df` with exactly the columns of `schema`, in its order, cast to its types."""
    from pyspark.sql import functions as F

    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


MONEY = DecimalType(18, 2)
RATE = DecimalType(24, 10)  # units of a currency per 1 unit of the base currency
ECB_RATE = DecimalType(20, 8)  # as published: units of a currency per 1 EUR

INGEST_FIELDS = [
    StructField("_ingest_ts", TimestampType(), False),
    StructField("_source", StringType(), False),
    StructField("_batch_id", StringType(), False),
]

# --- fx -------------------------------------------------------------------------------------

# Bronze keeps the ECB file's cells as text, one row per (date, currency): bad values survive
# to be rejected, with a reason, by the silver step.
FX_BRONZE_RAW = StructType([
    StructField("rate_date", StringType(), True),
    StructField("currency", StringType(), True),
    StructField("rate", StringType(), True),
    StructField("source_file", StringType(), True),
])

FX_RATES = StructType([
    StructField("ccy", StringType(), False),
    StructField("base_ccy", StringType(), False),
    StructField("rate_to_base", RATE, False),
    StructField("as_of_date", DateType(), False),
    StructField("rate_category", StringType(), False),
    StructField("_batch_id", StringType(), False),
])
FX_PARTITION = "as_of_date"

# --- snowflake (TPC-H) ------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceTable:
    """A TPC-H table as extracted from Snowflake and as kept in silver.

    `columns` maps the source column to (silver column, type). Bronze keeps the source names and
    types; silver renames them. `chunk_key` is the numeric column the extract is chunked on.
    """

    name: str
    chunk_key: str
    primary_key: tuple[str, ...]  # silver column names
    columns: tuple[tuple[str, str, DataType], ...]
    partition_source: str | None = None  # a silver date column; silver partitions by its month
    partition_column: str | None = None
    silver_name: str | None = None  # default <name>_tpch; tables declared only in config: snowflake_<name>

    @property
    def bronze_table(self) -> str:
        return f"snowflake_{self.name}"

    @property
    def silver_table(self) -> str:
        return self.silver_name or f"{self.name}_tpch"

    @property
    def bronze_schema(self) -> StructType:
        return StructType([StructField(src, typ, True) for src, _, typ in self.columns])

    @property
    def silver_schema(self) -> StructType:
        fields = [StructField(dst, typ, dst not in self.primary_key) for _, dst, typ in self.columns]
        if self.partition_column:
            fields.append(StructField(self.partition_column, StringType(), False))
        fields += [StructField("_ingest_ts", TimestampType(), False),
                   StructField("_batch_id", StringType(), False)]
        return StructType(fields)


_DEC = DecimalType(15, 2)
TPCH_TABLES: dict[str, SourceTable] = {t.name: t for t in (
    SourceTable(
        "orders", "o_orderkey", ("order_key",),
        (("o_orderkey", "order_key", LongType()), ("o_custkey", "customer_key", LongType()),
         ("o_orderstatus", "order_status", StringType()), ("o_totalprice", "total_price", _DEC),
         ("o_orderdate", "order_date", DateType()), ("o_orderpriority", "order_priority", StringType()),
         ("o_clerk", "clerk", StringType()), ("o_shippriority", "ship_priority", IntegerType()),
         ("o_comment", "comment", StringType())),
        partition_source="order_date", partition_column="order_month",
    ),
    SourceTable(
        "lineitem", "l_orderkey", ("order_key", "line_number"),
        (("l_orderkey", "order_key", LongType()), ("l_partkey", "part_key", LongType()),
         ("l_suppkey", "supplier_key", LongType()), ("l_linenumber", "line_number", LongType()),
         ("l_quantity", "quantity", _DEC), ("l_extendedprice", "extended_price", _DEC),
         ("l_discount", "discount", _DEC), ("l_tax", "tax", _DEC),
         ("l_returnflag", "return_flag", StringType()), ("l_linestatus", "line_status", StringType()),
         ("l_shipdate", "ship_date", DateType()), ("l_commitdate", "commit_date", DateType()),
         ("l_receiptdate", "receipt_date", DateType()), ("l_shipinstruct", "ship_instruct", StringType()),
         ("l_shipmode", "ship_mode", StringType()), ("l_comment", "comment", StringType())),
        partition_source="ship_date", partition_column="ship_month",
    ),
    # Dimensions: small, unpartitioned; their MERGE is by key alone.
    SourceTable(
        "customer", "c_custkey", ("customer_key",),
        (("c_custkey", "customer_key", LongType()), ("c_name", "name", StringType()),
         ("c_address", "address", StringType()), ("c_nationkey", "nation_key", LongType()),
         ("c_phone", "phone", StringType()), ("c_acctbal", "account_balance", _DEC),
         ("c_mktsegment", "market_segment", StringType()), ("c_comment", "comment", StringType())),
    ),
    SourceTable(
        "nation", "n_nationkey", ("nation_key",),
        (("n_nationkey", "nation_key", LongType()), ("n_name", "name", StringType()),
         ("n_regionkey", "region_key", LongType()), ("n_comment", "comment", StringType())),
    ),
)}
DEFAULT_TPCH_TABLES = ("orders", "customer", "lineitem", "nation")

# --- orders + gold ----------------------------------------------------------------------------

ORDERS = StructType([
    StructField("order_id", StringType(), False),
    StructField("customer_id", StringType(), False),
    StructField("order_date", DateType(), False),
    StructField("total_amount", MONEY, False),
    StructField("currency", StringType(), False),
    StructField("status", StringType(), True),
    StructField("source", StringType(), False),
    StructField("order_month", StringType(), False),
])
ORDERS_PARTITION = "order_month"

# What orders_silver reads from lake/bronze/orders_events (the streaming issue's order events):
# silver column -> accepted bronze column names, first match wins.
KAFKA_ORDER_FIELDS: dict[str, tuple[str, ...]] = {
    "order_id": ("order_id",),
    "customer_id": ("customer_id",),
    "amount": ("amount", "total_amount"),
    "currency": ("currency",),
    "order_ts": ("order_ts", "order_date", "event_ts", "event_time"),
    "status": ("status", "order_status"),
}

CUSTOMER_SPEND = StructType([
    StructField("customer_id", StringType(), False),
    StructField("currency", StringType(), False),
    StructField("base_ccy", StringType(), False),
    StructField("orders", LongType(), False),
    StructField("spend_local", MONEY, False),
    StructField("spend_base", MONEY, False),
    StructField("first_order_date", DateType(), False),
    StructField("last_order_date", DateType(), False),
])
