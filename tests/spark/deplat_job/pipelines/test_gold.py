"""silver.orders and gold on small DataFrames: nation -> currency, Kafka events, the fx join
(weekend orders use the last fixing, no rate -> rejected), base-currency aggregates."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from deplat_job.pipelines.orders import NATION_CURRENCY
from deplat_job.pipelines.table_schemas import ORDERS, TPCH_TABLES


def test_every_tpch_nation_has_a_currency():
    assert len(NATION_CURRENCY) == 25
    assert NATION_CURRENCY["GERMANY"] == "EUR" and NATION_CURRENCY["JAPAN"] == "JPY"


def _silver(spark, name, rows):
    return spark.createDataFrame(rows, TPCH_TABLES[name].silver_schema.names)


def _tpch(spark):
    ts = datetime(2024, 1, 1)
    nations = _silver(spark, "nation", [(7, "GERMANY", 3, "", ts, "b"), (12, "JAPAN", 2, "", ts, "b"),
                                        (14, "KENYA", 0, "", ts, "b")])
    customers = _silver(spark, "customer", [
        (1, "c1", "", 7, "", Decimal("0"), "", "", ts, "b"),
        (2, "c2", "", 12, "", Decimal("0"), "", "", ts, "b"),
        (3, "c3", "", 14, "", Decimal("0"), "", "", ts, "b"),
    ])
    orders = _silver(spark, "orders", [
        (10, 1, "O", Decimal("100.00"), date(2024, 1, 5), "", "", 0, "", "2024-01", ts, "b"),  # Friday
        (11, 2, "F", Decimal("1500.00"), date(2024, 1, 6), "", "", 0, "", "2024-01", ts, "b"),  # Saturday
        (12, 3, "O", Decimal("50.00"), date(2024, 1, 5), "", "", 0, "", "2024-01", ts, "b"),
        (13, 99, "O", Decimal("5.00"), date(2024, 1, 5), "", "", 0, "", "2024-01", ts, "b"),  # no customer
    ])
    return orders, customers, nations


def test_tpch_orders_get_their_customers_nation_currency(spark):
    from deplat_job.pipelines import orders as op

    orders, customers, nations = _tpch(spark)
    results = op.build_orders(orders, op.customer_currency(customers, nations))
    rows = {r["order_id"]: r for r in results["tpch"].orders.collect()}
    currencies = {k: r["currency"] for k, r in rows.items()}
    assert currencies == {"tpch-10": "EUR", "tpch-11": "JPY", "tpch-12": "USD"}
    assert rows["tpch-11"]["customer_id"] == "tpch-2" and rows["tpch-11"]["order_month"] == "2024-01"
    assert results["tpch"].orders.schema.names == ORDERS.names
    assert [r["order_key"] for r in results["tpch"].errors.collect()] == [13]
    assert "kafka" not in results

    one_day = op.build_orders(orders, op.customer_currency(customers, nations), None, "2024-01-06")
    assert [r["order_id"] for r in one_day["tpch"].orders.collect()] == ["tpch-11"]


def test_kafka_events_latest_wins_and_bad_events_are_rejected(spark):
    from deplat_job.pipelines import orders as op

    cols = "order_id STRING, customer_id STRING, amount STRING, currency STRING, order_ts STRING, " \
           "status STRING, _ingest_ts TIMESTAMP"
    t = datetime(2024, 1, 1)
    events = spark.createDataFrame([
        ("A", "c1", "10.50", "gbp", "2024-01-02T10:00:00", "NEW", t),
        ("A", "c1", "12.00", "GBP", "2024-01-02T11:00:00", "PAID", t),
        ("B", "c2", "-1", "USD", "2024-01-02T10:00:00", "NEW", t),
        ("C", "c2", "5", "US", "2024-01-02T10:00:00", "NEW", t),
        ("D", None, "5", "USD", "2024-01-02T10:00:00", "NEW", t),
        ("E", "c3", "abc", "USD", "2024-01-02T10:00:00", "NEW", t),
        ("F", "c3", "5", "USD", "not a time", "NEW", t),
    ], cols)
    result = op.kafka_orders(events)
    rows = result.orders.collect()
    assert [(r["order_id"], r["total_amount"], r["currency"], r["status"], r["order_date"]) for r in rows] == [
        ("kafka-A", Decimal("12.00"), "GBP", "PAID", date(2024, 1, 2))]
    reasons = {r["order_id"]: r["_error_reason"] for r in result.errors.collect()}
    assert reasons == {"B": "non-positive amount", "C": "invalid currency code", "D": "missing customer_id",
                       "E": "non-numeric amount", "F": "missing or invalid order time"}
    with pytest.raises(ValueError, match="order_id"):
        op.kafka_orders(events.drop("order_id"))


def _fx(spark, base="EUR"):
    from deplat_job.pipelines.table_schemas import FX_RATES

    rows = [
        ("JPY", base, Decimal("150"), date(2024, 1, 5), "reference", "b"),
        ("USD", base, Decimal("1.25"), date(2024, 1, 5), "reference", "b"),
        ("EUR", base, Decimal("1"), date(2024, 1, 5), "base", "b"),
        ("JPY", base, Decimal("100"), date(2023, 12, 1), "reference", "b"),  # too old for any order
    ]
    return spark.createDataFrame(rows, FX_RATES)


def test_gold_converts_with_the_last_fixing_and_rejects_orders_without_rate(spark):
    from deplat_job.pipelines import gold
    from deplat_job.pipelines import orders as op

    orders, customers, nations = _tpch(spark)
    silver = op.build_orders(orders, op.customer_currency(customers, nations))["tpch"].orders
    kenya_late = silver.filter("order_id = 'tpch-12'").selectExpr(
        "'tpch-14' AS order_id", "customer_id", "DATE'2024-03-01' AS order_date", "total_amount", "currency",
        "status", "source", "'2024-03' AS order_month")
    silver = silver.unionByName(kenya_late)
    fx = _fx(spark)
    assert gold.base_currency(fx) == "EUR"

    result = gold.convert(silver, fx)
    conv = {r["order_id"]: r for r in result.orders.collect()}
    assert conv["tpch-10"]["amount_base"] == Decimal("100.00")
    assert conv["tpch-11"]["rate_date"] == date(2024, 1, 5)  # Saturday order: Friday's fixing
    assert conv["tpch-11"]["amount_base"] == Decimal("10.00")  # 1500 JPY / 150
    assert conv["tpch-12"]["amount_base"] == Decimal("40.00")  # 50 USD / 1.25
    assert [(r["order_id"], r["_error_reason"]) for r in result.errors.collect()] == [
        ("tpch-14", "no fx rate for USD within 7 days before the order date")]

    spend = {r["customer_id"]: r for r in gold.customer_spend(result.orders).collect()}
    assert spend["tpch-2"]["spend_local"] == Decimal("1500.00") and spend["tpch-2"]["spend_base"] == 10
    assert spend["tpch-2"]["base_ccy"] == "EUR" and spend["tpch-2"]["orders"] == 1
    daily = {r["order_date"]: r for r in gold.daily_revenue(result.orders).collect()}
    assert daily[date(2024, 1, 5)]["revenue_base"] == Decimal("140.00")
    assert daily[date(2024, 1, 5)]["orders"] == 2 and daily[date(2024, 1, 6)]["customers"] == 1
    top = gold.top_customers(gold.customer_spend(result.orders), n=2).collect()
    assert [(r["rank"], r["customer_id"]) for r in top] == [(1, "tpch-1"), (2, "tpch-3")]
    monthly = gold.monthly_revenue_by_currency(result.orders).filter("currency = 'JPY'").first()
    assert monthly["revenue_local"] == Decimal("1500.00") and monthly["revenue_base"] == 10

    mixed = fx.unionByName(_fx(spark, "USD"))
    with pytest.raises(ValueError, match="one base currency"):
        gold.base_currency(mixed)


def test_fx_monthly_summarises_each_currency(spark):
    from deplat_job.pipelines import gold
    from deplat_job.pipelines.table_schemas import FX_RATES

    fx = spark.createDataFrame([
        ("USD", "EUR", Decimal("1.1"), date(2024, 1, 2), "reference", "b"),
        ("USD", "EUR", Decimal("1.3"), date(2024, 1, 31), "reference", "b"),
        ("USD", "EUR", Decimal("1.2"), date(2024, 1, 15), "reference", "b"),
    ], FX_RATES)
    row = gold.fx_monthly(fx).first()
    assert (row["month"], row["ccy"], row["fixings"]) == ("2024-01", "USD", 3)
    assert row["avg_rate"] == Decimal("1.2") and row["last_rate"] == Decimal("1.3")
    assert (row["min_rate"], row["max_rate"]) == (Decimal("1.1"), Decimal("1.3"))
