"""Snowflake declared types -> Spark types, and connector values -> Spark values, without loss.

Inputs are shaped like snowflake-connector-python 3.x output: `cursor.description` rows are
ResultMetadata 7-tuples (name, type_code, display_size, internal_size, precision, scale,
is_nullable); values are what its converter returns (int / Decimal for FIXED, pytz.FixedOffset
datetimes for TIMESTAMP_TZ, session-zone datetimes for LTZ, naive for NTZ, JSON text for VARIANT).
fakesnow reports TIMESTAMP_LTZ as TIMESTAMP_TZ and returns TZ values in UTC, so the offset cases
are covered here and not in the integration test."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import pytz
from pyspark.sql.types import (
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    TimestampNTZType,
    TimestampType,
)

from deplat_job.pipelines import snowflake_types as st

# cursor.description of: id NUMBER(38,0), amount NUMBER(12,4), ntz TIMESTAMP_NTZ, ltz TIMESTAMP_LTZ,
# tz TIMESTAMP_TZ, doc VARIANT, tags ARRAY, t TIME, f FLOAT
DESCRIPTION = (
    ("ID", 0, None, None, 38, 0, False),
    ("AMOUNT", 0, None, None, 12, 4, True),
    ("NTZ", 8, None, None, 0, 9, True),
    ("LTZ", 6, None, None, 0, 9, True),
    ("TZ", 7, None, None, 0, 9, True),
    ("DOC", 5, None, None, None, None, True),
    ("TAGS", 10, None, None, None, None, True),
    ("T", 12, None, None, 0, 9, True),
    ("F", 1, None, None, None, None, True),
)
COLUMNS = [d[0].lower() for d in DESCRIPTION]
LA = pytz.timezone("America/Los_Angeles")
# Snowflake's own VARIANT text (it indents objects by two spaces); kept byte for byte.
VARIANT = '{\n  "amount": 12345678901234567890.10,\n  "b": [\n    1,\n    2\n  ]\n}'
ROW = (2**53 + 1, Decimal("12345678.1234"), dt.datetime(2024, 3, 10, 2, 30, 0, 123456),
       LA.localize(dt.datetime(2024, 3, 10, 1, 0)), dt.datetime(2024, 3, 10, 2, 30, tzinfo=pytz.FixedOffset(330)),
       VARIANT, '[\n  "x"\n]', dt.time(12, 34, 56, 789000), 1.5)


def _fields():
    return [f for c in st.source_columns(DESCRIPTION) for f in st.spark_fields(c)]


def test_type_codes_are_the_connectors():
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    assert {k: FIELD_ID_TO_NAME[k] for k in st.FIELD_ID_TO_NAME} == st.FIELD_ID_TO_NAME


def test_declared_types_map_to_lossless_spark_types():
    types = {f.name: f.dataType for f in _fields()}
    assert types["id"] == DecimalType(38, 0)  # NUMBER(38,0) stays exact, not a long, never a double
    assert types["amount"] == DecimalType(12, 4)
    assert types["ntz"] == TimestampNTZType() and types["ltz"] == TimestampType()
    assert types["tz"] == TimestampType() and types["tz_offset_minutes"] == IntegerType()
    assert types["doc"] == types["tags"] == types["t"] == StringType()
    with pytest.raises(ValueError, match="GEOGRAPHY"):
        st.spark_fields(st.SourceColumn("g", "GEOGRAPHY"))
    with pytest.raises(ValueError, match="unknown Snowflake type code 99"):
        st.source_columns((("X", 99, None, None, None, None, True),))


def test_rows_keep_every_digit_instant_offset_and_json_text():
    typed = st.type_rows(_fields(), COLUMNS, [ROW], st.source_columns(DESCRIPTION))
    assert typed.errors == []
    row = dict(zip([f.name for f in _fields()], typed.rows[0]))
    assert row["id"] == Decimal(9007199254740993)  # 2^53 + 1: a double would give ...992
    assert row["amount"] == Decimal("12345678.1234")
    assert row["ntz"] == dt.datetime(2024, 3, 10, 2, 30, 0, 123456) and row["ntz"].tzinfo is None  # no shift
    assert row["ltz"] == dt.datetime(2024, 3, 10, 9, 0, tzinfo=dt.timezone.utc)  # PST -08:00, as an instant
    assert row["tz"] == dt.datetime(2024, 3, 9, 21, 0, tzinfo=dt.timezone.utc) and row["tz_offset_minutes"] == 330
    assert row["doc"] == VARIANT and json.loads(row["doc"])["b"] == [1, 2]
    assert row["tags"] == '[\n  "x"\n]' and row["t"] == "12:34:56.789000" and row["f"] == 1.5


@pytest.mark.parametrize("index, value, reason", [
    (0, 9007199254740993.0, "binary float"),  # a NUMBER that came through a double
    (1, Decimal("1.23456"), "rounded to scale 4"),
    (1, Decimal("123456789.0"), "does not fit decimal(12,4)"),
    (2, pytz.utc.localize(dt.datetime(2024, 1, 1)), "wall-clock"),
    (4, dt.datetime(2024, 1, 1), "with a time zone"),
    (5, {"a": 1}, "expected text (JSON)"),
])
def test_values_that_do_not_type_are_error_rows_with_a_reason(index, value, reason):
    row = list(ROW)
    row[index] = value
    typed = st.type_rows(_fields(), COLUMNS, [ROW, tuple(row)], st.source_columns(DESCRIPTION))
    assert len(typed.rows) == 1 and len(typed.errors) == 1
    raw, why = typed.errors[0]
    assert reason in why and why.startswith(COLUMNS[index])
    assert json.loads(raw) == {c: str(v) for c, v in zip(COLUMNS, row)}  # the whole source row, as read


def test_a_declared_narrower_type_is_honoured_and_overflow_is_an_error():
    # TPC-H declares its NUMBER(38,0) keys as LongType: values that fit stay exact, others are errors
    assert st.convert(2**63 - 1, LongType()) == 2**63 - 1
    with pytest.raises(st.UntypedValue, match="does not fit bigint"):
        st.convert(2**63, LongType())
    with pytest.raises(st.UntypedValue, match="whole number"):
        st.convert(Decimal("1.5"), LongType())
    assert st.convert(10**38 - 1, DecimalType(38, 0)) == Decimal(10**38 - 1)  # 38 digits, past the 28 default
    # the Arrow result path builds NUMBER(38,10) values digit by digit (arrow_context.DECIMAL128_to_decimal)
    wide = Decimal("1234567890123456789012345678.0123456789")
    assert str(st.convert(wide, DecimalType(38, 10))) == "1234567890123456789012345678.0123456789"
    assert st.convert(None, DecimalType(38, 0)) is None  # NULL stays NULL


def test_offset_is_whole_minutes_from_the_values_own_zone():
    assert st.offset_minutes(dt.datetime(2024, 1, 1, tzinfo=pytz.FixedOffset(-210))) == -210
    with pytest.raises(st.UntypedValue):
        st.offset_minutes(dt.datetime(2024, 1, 1))


# TPC-H orders as the connector describes it (fakesnow and Snowflake alike): NUMBER(38,0) keys
ORDERS_DESCRIPTION = (
    ("O_ORDERKEY", 0, None, None, 38, 0, False), ("O_CUSTKEY", 0, None, None, 38, 0, False),
    ("O_ORDERSTATUS", 2, None, 16777216, None, None, False), ("O_TOTALPRICE", 0, None, None, 15, 2, False),
    ("O_ORDERDATE", 3, None, None, None, None, False), ("O_ORDERPRIORITY", 2, None, 16777216, None, None, False),
    ("O_CLERK", 2, None, 16777216, None, None, False), ("O_SHIPPRIORITY", 0, None, None, 38, 0, False),
    ("O_COMMENT", 2, None, 16777216, None, None, False),
)


def test_tpch_chunk_keeps_declared_types_and_sends_overflow_to_errors(spark, tmp_path):
    from deplat_job.pipelines import common
    from deplat_job.pipelines import snowflake as sf
    from deplat_job.pipelines.table_schemas import TPCH_TABLES

    orders = TPCH_TABLES["orders"]
    columns = [d[0].lower() for d in ORDERS_DESCRIPTION]
    good = (1, 7, "O", Decimal("173665.47"), dt.date(2016, 1, 2), "5-LOW", "Clerk#1", 0, "c")
    too_big = (2**63, 7, "O", Decimal("1.00"), dt.date(2016, 1, 2), "5-LOW", "Clerk#1", 0, "c")
    float_price = (3, 7, "O", 1.1, dt.date(2016, 1, 2), "5-LOW", "Clerk#1", 0, "c")
    df, errors = sf.typed_chunk(spark, orders, columns, [good, too_big, float_price], ORDERS_DESCRIPTION)
    assert df.schema == orders.bronze_schema  # TPC-H's declared (narrower) types are kept
    assert [r["o_totalprice"] for r in df.collect()] == [Decimal("173665.47")]
    assert [reason for _, reason in errors] == [
        "o_orderkey: 9223372036854775808 does not fit bigint",
        "o_totalprice: 1.1 arrived as a binary float; NUMBER must stay exact"]
    lake = str(tmp_path / "lake")
    assert common.write_errors(sf.error_frame(spark, "orders", errors, "b1"), lake, "snowflake", "b1") == 2
    stored = spark.read.format("delta").load(f"{lake}/_errors/snowflake").collect()
    assert sorted(r["reason"] for r in stored) == sorted(reason for _, reason in errors)
    assert "9223372036854775808" in next(r["raw_record"] for r in stored if "bigint" in r["reason"])


def test_change_watermark_is_the_change_columns_max_minus_the_lookback(spark, tmp_path):
    from deplat_job.pipelines import snowflake as sf

    description = (("ID", 0, None, None, 38, 0, False), ("UPDATED_AT", 7, None, None, 0, 9, True),
                   ("LOCAL_TS", 8, None, None, 0, 9, True))
    spec = sf.spec_from_source("events", ("id",), description)
    assert spec.silver_table == "snowflake_events" and spec.primary_key == ("id",)
    rows = [(1, pytz.FixedOffset(120).localize(dt.datetime(2025, 6, 1, 14, 0)), dt.datetime(2025, 6, 1, 9, 0)),
            (2, pytz.utc.localize(dt.datetime(2025, 6, 1, 12, 30)), dt.datetime(2025, 6, 1, 23, 59))]
    df, errors = sf.typed_chunk(spark, spec, ["id", "updated_at", "local_ts"], rows, description)
    assert errors == []
    path = str(tmp_path / "bronze")
    df.write.format("delta").save(path)
    mark = sf.change_watermark(spark, path, "updated_at")
    assert mark == dt.datetime(2025, 6, 1, 12, 30, tzinfo=dt.timezone.utc)  # 14:00+02:00 is 12:00 UTC
    assert sf.lookback_start(mark, 3600) == dt.datetime(2025, 6, 1, 11, 30, tzinfo=dt.timezone.utc)
    assert sf.change_watermark(spark, path, "local_ts") == dt.datetime(2025, 6, 1, 23, 59)  # NTZ: no shift
    assert sf.lookback_start(dt.date(2025, 6, 2), 3600) == dt.date(2025, 6, 1)
    assert sf.spec_from_bronze("events", ("id",), spark.read.format("delta").load(path).schema).columns == spec.columns


def test_config_declares_tracking_per_table_and_the_jobs_parse_it():
    from pydantic import ValidationError

    from deplat.core.config import SnowflakeSettings, load_settings
    from deplat.registry import STEPS, config_args
    from deplat_job.pipelines.source_specs import parse_snowflake_tables

    settings = load_settings()  # config/deplat.yaml: TPC-H declared on rescan (it has no change column)
    flag, text = config_args(settings, STEPS["snowflake_to_bronze"])
    parsed = parse_snowflake_tables(text)
    assert flag == "--snowflake-tables" and list(parsed) == ["orders", "customer", "lineitem", "nation"]
    assert {t.mechanism for t in parsed.values()} == {"rescan"}
    assert config_args(settings, STEPS["fx_to_bronze"]) == ()
    assert config_args(settings, STEPS["snowflake_bronze_to_silver_merge"]) == (flag, text)
    tracked = SnowflakeSettings(tables={"Events": {"tracking": "change_column", "change_column": "UPDATED_AT",
                                                   "lookback_seconds": 900, "key": ["ID"]}})
    events = parse_snowflake_tables(tracked.job_args()[1])["events"]
    assert (events.mechanism, events.change_column, events.lookback_seconds, events.key) == (
        "change_column", "updated_at", 900, ("id",))
    with pytest.raises(ValidationError, match="change_column is required"):
        SnowflakeSettings(tables={"events": {"tracking": "change_column"}})
    with pytest.raises(ValueError, match="lookback_seconds"):
        parse_snowflake_tables('{"e": {"change_column": "u", "lookback_seconds": -1}}')
